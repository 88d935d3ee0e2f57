"""The search page in a real browser: Debian chromium driven by Playwright
against a real uvicorn server on 127.0.0.1, over real papers and their vectors."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from itertools import islice
from typing import Any

import pytest

from paperfeed.app import Paperfeed
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.ingest.jsonl import read_jsonl
from paperfeed.ingest.pipeline import ingest
from tests.conftest import ARXIV_CS, REPO

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture
def server(settings: Settings, db: Database) -> Iterator[str]:
    """A live server over 60 real papers, keyword-indexed and embedded."""
    pytest.importorskip("onnxruntime")
    import uvicorn

    from paperfeed.index.embedding import embed_pending
    from paperfeed.web.app import create_app

    ingest(db, islice(read_jsonl(ARXIV_CS), 60))
    paperfeed = Paperfeed(settings, db)
    paperfeed.indexes.sync_lexical()
    assert embed_pending(db, settings) == 60
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(paperfeed), log_level="warning", lifespan="off")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if uv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(timeout=10)
    sock.close()


def test_search_open_hit_and_see_similar_papers(server: str, db: Database, chromium: Any) -> None:
    from playwright.sync_api import expect

    from paperfeed.db import papers as paper_store

    first = next(read_jsonl(ARXIV_CS))
    words = " ".join(first.title.split()[:6])
    ARTIFACTS.mkdir(exist_ok=True)
    # The session's shared browser (tests/browser.py): a second sync_playwright
    # in the same thread would fail while the shared one is running.
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(server + "/")
        box = page.get_by_role("searchbox", name="Search papers")
        box.fill(words)
        box.press("Enter")
        page.wait_for_url("**/search?q=*")
        hits = page.locator(".search-hit")
        expect(hits.first).to_be_visible()
        expect(page.locator(".search-hit .snippet b").first).to_be_visible()  # highlighted
        page.screenshot(path=str(ARTIFACTS / "search-results.png"), full_page=True)
        title_link = hits.first.locator(".paper-title a")
        expect(title_link).to_have_text(first.title)
        title_link.click()
        page.wait_for_url(f"**/papers/{first.id}")
        expect(page.locator("h1")).to_have_text(first.title)
        similar = page.locator(".similar-papers .similar-item a")
        expect(page.get_by_role("heading", name="Similar papers")).to_be_visible()
        expect(similar).to_have_count(6)
        page.screenshot(path=str(ARTIFACTS / "paper-similar.png"), full_page=True)
        # The similar papers are real papers, not the paper itself, and they open.
        hrefs = [similar.nth(i).get_attribute("href") for i in range(6)]
        assert f"/papers/{first.id}" not in hrefs
        with db.connect() as conn:
            for href in hrefs:
                assert href and paper_store.get_paper(conn, href.removeprefix("/papers/"))
        similar.first.click()
        page.wait_for_url("**/papers/*")
        assert page.url.removeprefix(server) == hrefs[0]
    finally:
        context.close()
