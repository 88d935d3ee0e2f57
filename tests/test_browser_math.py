"""Math everywhere a title or abstract appears (issue 23), in Debian chromium:
the lists, search titles and snippets, similar papers, "For you", a
collection and a digest's browser view typeset TeX with the vendored KaTeX;
dollars that are not math ("costs $5 and $10") stay text; a hostile title
stays text, with KaTeX's trust off (no javascript: link, no dialog)."""

from __future__ import annotations

from typing import Any

import pytest

from paperfeed.app import Paperfeed
from paperfeed.config import Settings
from paperfeed.db import Database
from tests.browser import LiveServer, screenshot
from tests.smtp_server import SMTPServer
from tests.test_browser_readers import sign_in_by_email
from tests.ui_support import HOSTILE_ID, TODAY, seed_papers, seed_reader_pages

pytestmark = pytest.mark.browser


def typeset(page: Any, selector: str) -> int:
    """How many KaTeX formulas ``selector`` holds once the page's scripts ran."""
    page.locator(f"{selector} .katex").first.wait_for()
    return int(page.locator(f"{selector} .katex").count())


def test_math_on_every_page_and_hostile_titles_stay_text(
    browser_page: Any,
    live_server: LiveServer,
    settings: Settings,
    db: Database,
    smtp_server: SMTPServer,
) -> None:
    page = browser_page
    seeded = seed_papers(db, settings)
    first = seeded.ids[0]

    page.goto(f"/papers/date/{TODAY.isoformat()}")
    card = f'[id="paper-{first}"]'
    assert typeset(page, f"{card} .paper-title") == 4  # $^K$, $top$, $K$ and D$^2$iT
    assert typeset(page, f"{card} .teaser") == 2  # the first sentence's two formulas
    screenshot(page, "math-list")
    # Dollars that are not math stay text, in the abstract and the hostile title.
    page.locator(f"{card} summary").click()
    abstract = page.locator(f"{card} .paper-abstract")
    assert typeset(page, f"{card} .paper-abstract") == 2
    assert "costs $5 and $10" in abstract.inner_text()

    hostile = page.locator(f'[id="paper-{HOSTILE_ID}"] .paper-title')
    text = hostile.inner_text()
    assert "<img src=x onerror=alert('img')>" in text and "<script>" in text
    assert "costs $5 and $10" in text
    assert hostile.locator("img, script").count() == 0
    assert page.locator('a[href^="javascript"], img[src="x"]').count() == 0
    # The \href formula is typeset without a link (trust off).
    assert hostile.locator(".katex a").count() == 0

    page.goto("/search?q=GSBAK&sort=date")
    assert typeset(page, ".search-hit .paper-title") >= 3
    assert typeset(page, ".search-hit .snippet") >= 1
    screenshot(page, "math-search")

    page.goto(f"/papers/{first}")
    assert typeset(page, "h1") == 4
    assert typeset(page, ".similar-list") >= 3
    page.goto(f"/papers/{first}/similar")
    assert typeset(page, ".similar-list") >= 3

    sign_in_by_email(page, smtp_server, "math@example.org")
    seed_reader_pages(Paperfeed(settings, db), seeded, "math@example.org")
    page.goto("/for-you")
    assert typeset(page, ".paper-list .paper-title") >= 3
    page.goto(f"/collections/{seeded.collection_id}")
    assert typeset(page, ".paper-list .paper-title") >= 3
    page.goto("/library")
    assert typeset(page, ".paper-list .paper-title") >= 3
    assert seeded.digest_view is not None
    page.goto(seeded.digest_view)
    assert typeset(page, ".paper") >= 3
    screenshot(page, "math-digest-view")
    assert page.dialogs == []


def test_math_stays_readable_text_without_javascript(
    chromium: Any, live_server: LiveServer, settings: Settings, db: Database
) -> None:
    seeded = seed_papers(db, settings, count=2)
    context = chromium.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"/papers/date/{TODAY.isoformat()}")
        title = page.locator(f'[id="paper-{seeded.ids[0]}"] .paper-title').inner_text()
        assert "GSBAK$^K$: $top$-$K$" in title
        assert page.locator(".katex").count() == 0
    finally:
        context.close()
