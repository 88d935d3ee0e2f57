"""Denser lists (issue 23) in Debian chromium: compact cards with the abstract
one click away, a density toggle that is remembered, j/k/o/s keys that leave
typing alone, "load more" on a real next-page link, a sticky one-row header
at 390 px, and a BibTeX block that fits the phone's width."""

from __future__ import annotations

import re
from typing import Any

import pytest

from paperfeed.db import Database
from paperfeed.ingest.pipeline import ingest
from tests.browser import LiveServer, screenshot
from tests.helpers import make_paper
from tests.smtp_server import SMTPServer
from tests.test_browser_readers import sign_in_by_email
from tests.ui_support import TODAY

pytestmark = pytest.mark.browser

COUNT = 60  # more than a page (50)


@pytest.fixture
def listed(db: Database) -> list[str]:
    ids = [f"2503.{n:05d}" for n in range(1, COUNT + 1)]
    ingest(
        db,
        [
            make_paper(
                pid,
                title=f"Paper {n}: " + "a long title that wraps " * (n % 3),
                abstract=f"First sentence of paper {n}. " + "More words follow here. " * 30,
                listing_date=TODAY,
                upvotes=COUNT - n,  # a known trending order: ids in order
                abs_url=f"https://arxiv.org/abs/{pid}",
                pdf_url=f"https://arxiv.org/pdf/{pid}",
            )
            for n, pid in enumerate(ids, start=1)
        ],
    )
    return ids


def cards(page: Any) -> list[str]:
    ids = page.locator("article.paper-card").evaluate_all("els => els.map(e => e.id)")
    return [i.removeprefix("paper-") for i in ids]


def current(page: Any) -> list[str]:
    return [
        i.removeprefix("paper-")
        for i in page.locator("article.is-current").evaluate_all("els => els.map(e => e.id)")
    ]


def test_compact_cards_density_keys_and_load_more(
    browser_page: Any, live_server: LiveServer, listed: list[str]
) -> None:
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto("/")
    first = page.locator(f'[id="paper-{listed[0]}"]')
    # Compact: the teaser shows, the abstract is one click away.
    assert first.locator(".teaser").inner_text() == "First sentence of paper 1."
    assert not first.locator(".paper-abstract").is_visible()
    first.locator("summary").click()
    assert first.locator(".paper-abstract").is_visible()
    first.locator("summary").click()

    # The density toggle, remembered across pages (a cookie the server reads).
    toggle = page.get_by_role("button", name="Show abstracts")
    assert toggle.get_attribute("aria-pressed") == "false"
    toggle.click()
    assert toggle.get_attribute("aria-pressed") == "true"
    assert page.locator(".paper-abstract:visible").count() == 50
    page.reload()
    assert page.locator("details.abstract-details[open]").count() == 50  # rendered open
    assert page.get_by_role("button", name="Show abstracts").get_attribute("aria-pressed") == (
        "true"
    )
    screenshot(page, "lists-comfortable")
    page.get_by_role("button", name="Show abstracts").click()
    page.reload()
    assert page.locator("details.abstract-details[open]").count() == 0

    # Keys: j/k move, o opens, s saves (signed out: to the sign-in page).
    page.keyboard.press("j")
    assert current(page) == [listed[0]]
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    assert current(page) == [listed[1]]
    assert page.evaluate("document.activeElement.id") == f"title-{listed[1]}"
    page.keyboard.press("o")
    page.wait_for_url(f"**/papers/{listed[1]}")
    page.go_back()
    page.keyboard.press("j")
    page.keyboard.press("s")
    page.wait_for_url(re.compile(r"/signin\?next="))
    page.go_back()
    # Typing in the search box is typing, not navigation.
    page.locator("#search-q").click()
    page.keyboard.type("jko")
    assert page.locator("#search-q").input_value() == "jko"
    assert current(page) == []
    assert page.url.endswith("/")

    # "Load more": the pager's link is a real, shareable next-page address.
    more = page.get_by_role("link", name=re.compile("More papers"))
    href = more.get_attribute("href")
    assert href is not None and "page=2" in href
    more.click()
    page.locator(f'[id="paper-{listed[-1]}"]').wait_for()
    assert cards(page) == listed
    assert page.url.endswith("page=2")
    assert page.evaluate("document.activeElement.id") == f"title-{listed[50]}"
    assert page.get_by_role("link", name=re.compile("More papers")).count() == 0


def test_load_more_link_works_without_javascript(
    chromium: Any, live_server: LiveServer, listed: list[str]
) -> None:
    context = chromium.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/")
        assert page.locator(".density-toggle").is_hidden()  # no toggle without its script
        page.get_by_role("link", name=re.compile("More papers")).click()
        assert page.url.endswith("page=2")
        assert cards(page) == listed[50:]
    finally:
        context.close()


def test_phone_header_is_one_sticky_row_and_bibtex_fits(
    chromium: Any, live_server: LiveServer, listed: list[str]
) -> None:
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}, is_mobile=True
    )
    try:
        page = context.new_page()
        page.goto("/")
        header = page.locator(".site-header")
        box = header.bounding_box()
        assert box is not None and box["height"] < 60, box
        # One row: every visible piece is centred on the header's middle line.
        centres = header.evaluate(
            "h => [...h.querySelectorAll(':scope > *')]"
            ".map(e => e.getBoundingClientRect()).filter(r => r.height > 0)"
            ".map(r => Math.round(r.top + r.height / 2))"
        )
        assert len(centres) >= 4 and max(centres) - min(centres) <= 4, centres
        page.evaluate("window.scrollTo(0, 3000)")
        assert page.evaluate("window.scrollY") > 2000
        box = header.bounding_box()
        assert box is not None and box["y"] == 0  # still at the top: sticky
        assert page.evaluate("document.documentElement.scrollWidth") == 390  # no sideways scroll
        cards_in_first_screen = page.evaluate(
            "[...document.querySelectorAll('article.paper-card')]"
            ".filter(c => c.offsetTop < 844).length"
        )
        assert cards_in_first_screen >= 3
        page.goto(f"/papers/{listed[0]}")
        bib = page.locator(".bibtex")
        bib.scroll_into_view_if_needed()
        fits = bib.evaluate(
            "b => ({right: b.getBoundingClientRect().right, inner: b.scrollWidth <= b.clientWidth})"
        )
        assert fits["right"] <= 390 and fits["inner"], fits
        assert page.evaluate("document.documentElement.scrollWidth") == 390
        screenshot(page, "lists-paper-390")
    finally:
        context.close()


def test_s_saves_the_current_paper_when_signed_in(
    browser_page: Any, live_server: LiveServer, listed: list[str], smtp_server: SMTPServer
) -> None:
    page = browser_page
    sign_in_by_email(page, smtp_server, "keys@example.org")
    page.goto("/")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("s")
    card = page.locator(f'[id="paper-{listed[1]}"]')
    card.get_by_role("button", name="Saved").wait_for()
    assert page.url.endswith("/")  # saved in place, no navigation
    page.goto("/library")
    assert cards(page) == [listed[1]]
