"""Issue 24's authors in Debian chromium against a live server: from a paper
card to the author's page, follow them, the lists' "From authors I follow"
filter, and the digest's "From authors you follow" section, viewed in the
browser."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest

from paperfeed.app import Paperfeed
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.digest import runner
from paperfeed.services.ingest import store
from tests.browser import LiveServer, screenshot
from tests.helpers import make_paper
from tests.smtp_server import SMTPServer
from tests.test_browser_readers import sign_in_by_email

pytestmark = pytest.mark.browser

MONDAY = date(2025, 6, 2)


def seed(settings: Settings, db: Database) -> None:
    store(
        Paperfeed(settings, db),
        [
            make_paper(
                "2506.00001",
                title="Tracking by attention",
                authors=["Laura Leal-Taixé", "Cengiz Öztireli"],
                affiliations=[["TU Munich"], []],
                listing_date=MONDAY,
                upvotes=3,
            ),
            make_paper(
                "2506.00002",
                title="Graphs of everything",
                authors=["Ada Lovelace"],
                listing_date=MONDAY,
                upvotes=40,
            ),
            make_paper(
                "2506.00003",
                title="Segmenting moving things",
                authors=["L. Leal-Taixe", "Tat-Seng Chua"],
                listing_date=MONDAY,
                upvotes=1,
            ),
        ],
    )


def card_ids(page: Any) -> list[str]:
    ids = page.locator("article.paper-card").evaluate_all("els => els.map(e => e.id)")
    return [i.removeprefix("paper-") for i in ids]


@pytest.mark.slow
def test_author_page_follow_filter_and_digest(
    browser_page: Any,
    live_server: LiveServer,
    settings: Settings,
    db: Database,
    smtp_server: SMTPServer,
) -> None:
    page = browser_page
    seed(settings, db)
    email = "follower@example.org"
    sign_in_by_email(page, smtp_server, email)

    # From a card to the author's page.
    page.goto(f"/papers/date/{MONDAY.isoformat()}")
    page.locator("#paper-2506\\.00001").get_by_role("link", name="Laura Leal-Taixé").click()
    page.get_by_role("heading", name="Laura Leal-Taixé", level=1).wait_for()
    assert page.url.endswith("/authors/laura-leal-taixe")
    assert set(card_ids(page)) == {"2506.00001", "2506.00003"}  # "L. Leal-Taixe" too
    assert page.get_by_role("link", name="Cengiz Öztireli").count() >= 1  # co-authors
    screenshot(page, "author-page")

    # Follow.
    page.get_by_role("button", name="Follow").click()
    page.get_by_role("button", name="Unfollow").wait_for()

    # The list's filter.
    page.goto(f"/papers/date/{MONDAY.isoformat()}")
    assert set(card_ids(page)) == {"2506.00001", "2506.00002", "2506.00003"}
    page.get_by_role("link", name="From authors I follow").click()
    page.get_by_text("From authors I follow").first.wait_for()
    assert set(card_ids(page)) == {"2506.00001", "2506.00003"}
    screenshot(page, "from-authors-i-follow")

    # The paper page names the organization.
    page.goto("/papers/2506.00001")
    page.get_by_role("link", name="TU Munich").click()
    page.get_by_role("heading", name="TU Munich").wait_for()

    # The digest's section, viewed in the browser.
    page.goto("/digest/settings")
    page.get_by_role("button", name="Subscribe").click()
    report = runner.run(settings, db, periods=[MONDAY.isoformat()], personal=None)
    assert (report.sent, report.failed) == (1, 0)
    digest = smtp_server.inbox.to(email)[-1]
    html = next(
        part.get_content() for part in digest.walk() if part.get_content_type() == "text/html"
    )
    [view_url] = re.findall(r'href="([^"]+/digest/view/[^"]+)"', html)
    page.goto(view_url)
    section = page.get_by_role("heading", name="From authors you follow")
    section.wait_for()
    headings = page.locator("h2").all_inner_texts()
    assert headings[0] == "From authors you follow"
    # Each paper once in the digest; the followed ones in the first section.
    for pid in ("2506.00001", "2506.00002", "2506.00003"):
        assert page.locator(f'a[href$="/papers/{pid}"]').count() == 1
    text = page.locator("body").inner_text()
    followed_part = text.split("From authors you follow", 1)[1].split(headings[1], 1)[0]
    assert "Tracking by attention" in followed_part and "Segmenting moving things" in followed_part
    assert "Graphs of everything" not in followed_part
    screenshot(page, "digest-from-authors-you-follow")
