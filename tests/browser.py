"""Browser-test fixtures: a real uvicorn server on 127.0.0.1 (free port) over
the test database, and Debian chromium driven by Playwright.

Fixtures (registered in conftest.py):
- ``live_server``: a ``LiveServer`` for this test's ``settings``/``db``, with
  ``settings.base_url`` pointed at it (so emailed links work) and the SMTP
  settings pointed at the ``smtp_server`` fixture.
- ``chromium``: one headless browser per test session.
- ``browser_page``: a fresh context and page on the live server; JavaScript
  dialogs are recorded in ``page.dialogs`` (a list) and dismissed, so a test can
  assert that no XSS payload fired; console errors (such as Content-Security-Policy
  violations) are collected in ``page.console_errors``.
Screenshots go to ``ARTIFACTS`` (test-artifacts/, gitignored).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.web.app import create_app
from tests.machine import CHROMIUM, install_hint
from tests.smtp_server import SMTPServer

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


class LiveServer:
    """uvicorn serving create_app(settings, db) in a thread, on a socket bound
    before start (port 0), so there is no race for the port."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        settings.base_url = self.url
        config = uvicorn.Config(
            create_app(settings, db), log_level="warning", lifespan="on", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


@pytest.fixture
def live_server(settings: Settings, db: Database, smtp_server: SMTPServer) -> Iterator[LiveServer]:
    with LiveServer(settings, db) as server:
        yield server


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.is_file():  # `make test` installs it first (tests/machine.py)
        pytest.fail(install_hint(["chromium"]), pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium: Any, live_server: LiveServer) -> Iterator[Any]:
    context = chromium.new_context(base_url=live_server.url)
    page = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.dialogs = dialogs
    # Console errors, e.g. a script or style the Content-Security-Policy blocked.
    page.console_errors = []
    page.on(
        "console",
        lambda message: (
            page.console_errors.append(message.text) if message.type == "error" else None
        ),
    )
    yield page
    context.close()


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
