"""Code links in a real browser (Debian chromium, Playwright, a live uvicorn
server on 127.0.0.1): the trending-by-code list reached from the header, the
"With code only" filter on lists and in search, and the Code link with stars."""

from __future__ import annotations

from typing import Any

import pytest

from paperfeed.app import Paperfeed
from paperfeed.config import Settings
from paperfeed.db import Database
from tests.test_code_views import _seed

pytestmark = [pytest.mark.browser]


def _cards(page: Any) -> list[str]:
    return [
        (el.get_attribute("id") or "").removeprefix("paper-")
        for el in page.locator("article.paper-card").all()
    ]


def test_trending_by_code_and_the_has_code_filter(
    settings: Settings, db: Database, live_server: Any, browser_page: Any
) -> None:
    from playwright.sync_api import expect

    _seed(Paperfeed(settings, db))
    page = browser_page
    page.goto("/")
    page.get_by_role("link", name="Trending code").first.click()
    expect(page).to_have_url(f"{live_server.url}/trending/code")
    expect(page.locator("h1")).to_contain_text("Weekly papers")
    # +100 stars this week beats 5,005 stars of which 5 this week; the dataset
    # (no stars, 3 upvotes) follows; papers without code are not listed.
    assert _cards(page) == ["2503.00001", "2503.00004", "2503.00003"]
    first = page.locator("#paper-2503\\.00001")
    expect(first.locator("a.code-link")).to_have_attribute("href", "https://github.com/ada/graphs")
    expect(first.locator("a.code-link .stars")).to_have_text("★ 110")
    expect(first.locator(".stars-gained")).to_have_text("+100 stars")

    # The same week by trending score, then only the papers with code.
    page.locator("nav.sort-switch").get_by_role("link", name="Trending", exact=True).click()
    assert "2503.00002" in _cards(page) and "2503.00005" in _cards(page)
    page.get_by_role("link", name="With code only").click()
    expect(page.locator("a.code-filter")).to_have_attribute("aria-current", "true")
    assert sorted(_cards(page)) == ["2503.00001", "2503.00003", "2503.00004"]

    # Search: the checkbox, and has:code in the query.
    page.goto("/search")
    form = page.locator("form.search-filters")
    form.get_by_label("Query").fill("graph")
    form.get_by_label("With code only").check()
    form.get_by_role("button", name="Search").click()
    expect(page.locator("p.result-count")).to_contain_text("3 results")
    hit_links = page.locator(".search-hit h2 a")
    assert sorted(hit_links.all_inner_texts()) == [
        "Graph datasets on the Hub",
        "Graph transformers with code",
        "Popular graph library",
    ]
    expect(form.get_by_label("With code only")).to_be_checked()
    page.goto("/search")
    form.get_by_label("Query").fill("graph has:code -library")
    form.get_by_role("button", name="Search").click()
    expect(page.locator("p.result-count")).to_contain_text("2 results")

    # The paper page's Code button, with its stars.
    page.goto("/papers/2503.00004")
    code = page.locator("a.button.code-link")
    expect(code).to_have_attribute("href", "https://github.com/bob/popular-graphs")
    expect(code).to_contain_text("★ 5,005")
    assert page.dialogs == []
    assert page.console_errors == []
