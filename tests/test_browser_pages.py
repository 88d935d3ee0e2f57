"""The list and paper pages in Debian chromium: KaTeX renders the math from the
vendored copy, nothing is fetched from another host, the pages work without
JavaScript, keyboard focus is visible, and small screens do not scroll sideways."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlparse

import pytest

from paperfeed.db import Database
from tests.browser import LiveServer, screenshot
from tests.trending_support import add_papers, vote

pytestmark = pytest.mark.browser

ABSTRACT = "We bound the error by $\\sum_{i=1}^{n} x_i^2 \\le \\epsilon$ and $O(n \\log n)$ time."


@pytest.fixture
def papers(db: Database) -> Database:
    add_papers(
        db,
        [("2503.00001", date(2025, 3, 18)), ("2503.00002", date(2025, 3, 18))],
        abstract=ABSTRACT,
        abs_url="https://arxiv.org/abs/2503.00001",
    )
    add_papers(db, [("2503.00003", date(2025, 3, 19))], title="Attention is $\\mathcal{O}(n)$")
    vote(db, "2503.00002", at=datetime.now(UTC))
    return db


def test_math_renders_from_local_katex(
    chromium: Any, live_server: LiveServer, papers: Database
) -> None:
    context = chromium.new_context(base_url=live_server.url, color_scheme="dark")
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    try:
        page = context.new_page()
        page.goto("/papers/2503.00001")
        page.locator(".abstract .katex").first.wait_for()
        assert page.locator(".abstract .katex").count() == 2
        # KaTeX's fonts and styles came from /static; nothing from another host.
        assert any("/static/vendor/katex/katex.min.js" in u for u in requested)
        hosts = {urlparse(u).hostname for u in requested if u.startswith("http")}
        assert hosts == {"127.0.0.1"}, hosts
        screenshot(page, "trending-paper-page-dark")
        page.goto("/papers/2503.00003")
        page.locator("h1 .katex").wait_for()
    finally:
        context.close()


def test_pages_work_without_javascript(
    chromium: Any, live_server: LiveServer, papers: Database
) -> None:
    from playwright.sync_api import expect

    context = chromium.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/papers/date/2025-03-18")
        cards = page.locator("article.paper-card").evaluate_all("els => els.map(e => e.id)")
        assert cards[0] == "paper-2503.00002"  # the voted paper trends first
        screenshot(page, "trending-day-list")
        page.get_by_role("link", name="Next: March 19, 2025").click()
        assert page.url.endswith("/papers/date/2025-03-19")
        page.get_by_role("link", name="Weekly").click()
        # The URL changes when the navigation commits; the cards come when the page has loaded.
        expect(page.locator("article.paper-card")).to_have_count(3)
        assert page.url.endswith("/papers/week/2025-W12")
        page.get_by_role("link", name="Newest").click()
        assert page.url.endswith("/papers/week/2025-W12?sort=newest")
        page.goto("/papers/2503.00001")
        assert "$\\sum_{i=1}^{n}" in page.locator(".abstract").inner_text()  # TeX stays readable
        assert "@misc{lovelace2025paperabout2503" in page.locator(".bibtex").inner_text()
    finally:
        context.close()


def test_keyboard_focus_and_small_screens(
    chromium: Any, live_server: LiveServer, papers: Database
) -> None:
    context = chromium.new_context(base_url=live_server.url, viewport={"width": 360, "height": 740})
    try:
        page = context.new_page()
        page.goto("/papers/date/2025-03-18")
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.textContent.trim()")
        assert focused == "Skip to content"
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none"
        overflow = page.evaluate(
            "document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"
        )
        assert overflow <= 0
        screenshot(page, "trending-day-list-mobile")
    finally:
        context.close()
