"""Shared fixtures: a fresh database per test, the shared data directory, and a
live app client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.web.app import create_app
from tests.browser import browser_page, chromium, live_server  # noqa: F401 (fixtures)
from tests.smtp_server import SMTPServer

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
FIXTURES = SHARED / "fixtures"
DATA = SHARED / "data"
ARXIV_CS = DATA / "arxiv-cs-2025.jsonl.gz"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'paperfeed.db'}",
        secret_key="test-secret-key-not-for-production",
        arxiv_delay_seconds=0.0,
        digest_scheduler=False,  # tests that want it start it themselves
    )


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.database_url_resolved)
    yield database
    database.dispose()


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db)) as test_client:
        yield test_client


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Point the CLI (which reads settings from the environment) at the test database."""
    from paperfeed.config import get_settings

    monkeypatch.setenv("PAPERFEED_DATABASE_URL", settings.database_url_resolved)
    monkeypatch.setenv("PAPERFEED_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PAPERFEED_SECRET_KEY", settings.secret_key)
    get_settings.cache_clear()
    yield settings
    get_settings.cache_clear()


@pytest.fixture
def smtp_server(settings: Settings) -> Iterator[SMTPServer]:
    """A real SMTP server on 127.0.0.1; ``settings`` are pointed at it."""
    with SMTPServer() as server:
        settings.smtp_host = "127.0.0.1"
        settings.smtp_port = server.port
        yield server


# A real HTTP server replaying recorded responses, for the network sources.
from tests.fixture_server import fixture_server  # noqa: E402, F401
