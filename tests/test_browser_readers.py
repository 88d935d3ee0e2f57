"""The reader's full path in Debian chromium against a live uvicorn server:
sign in via the emailed link (real aiosmtpd server), upvote on the list page,
save and collect on the paper page, submit an arXiv id, sign out. Plus: XSS
payloads fire no dialog, and the actions work with JavaScript off."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from paperfeed import readers as core
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.ingest import pipeline
from paperfeed.ingest.jsonl import paper_from_record
from tests.browser import LiveServer, screenshot
from tests.conftest import ARXIV_CS
from tests.fixture_server import FixtureServer
from tests.helpers import make_paper, real_records
from tests.readers_helpers import LINK_RE
from tests.smtp_server import SMTPServer

pytestmark = pytest.mark.browser

TODAY = datetime.now(UTC).date()


def seed_real_papers(db: Database, day: date, count: int = 12) -> list[str]:
    """Real arXiv papers listed on ``day``, with distinct imported upvotes
    (12, 11, ... 1) so the list has a known order."""
    papers = []
    for rank, record in enumerate(real_records(ARXIV_CS, count)):
        paper = paper_from_record(record, default_listing_date=day)
        paper.listing_date = day
        paper.upvotes = count - rank
        papers.append(paper)
    pipeline.ingest(db, papers)
    return [p.id for p in papers]


def list_order(page: Any) -> list[str]:
    ids = page.locator("article.paper-card").evaluate_all("els => els.map(e => e.id)")
    return [i.removeprefix("paper-") for i in ids]


def upvotes_of(page: Any, paper_id: str) -> int:
    card = page.locator(f'[id="paper-{paper_id}"]')
    return int(card.locator(".upvote-count").inner_text())


def sign_in_by_email(page: Any, smtp_server: SMTPServer, email: str) -> None:
    page.goto("/")
    page.get_by_role("link", name="Sign in", exact=True).click()
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Email me a sign-in link").click()
    page.get_by_role("heading", name="Check your email").wait_for()
    [message] = smtp_server.inbox.to(email)
    link = LINK_RE.search(message.get_content()).group(1)
    page.goto(link)
    page.get_by_role("button", name="Sign in to Paperfeed").click()
    page.get_by_role("button", name="Sign out").wait_for()


@pytest.mark.slow
def test_reader_full_path(
    browser_page: Any,
    live_server: LiveServer,
    settings: Settings,
    db: Database,
    smtp_server: SMTPServer,
    fixture_server: FixtureServer,
):
    page = browser_page
    ids = seed_real_papers(db, TODAY)
    fixture_server.add_arxiv_paper(
        "2511.01234",
        title="A freshly submitted paper",
        published=datetime.now(UTC).replace(microsecond=0) - timedelta(days=2),
    )
    # 1. Sign in through the link the real SMTP server received.
    sign_in_by_email(page, smtp_server, "reader@example.org")
    assert page.url == live_server.url + "/"
    assert page.get_by_role("link", name="reader", exact=True).is_visible()
    # 2. Upvote on the list page: the count changes in place (JavaScript), and
    #    the list, reloaded, shows it and keeps its order.
    before = list_order(page)
    assert before == ids
    target = ids[-1]
    assert upvotes_of(page, target) == 1
    card = page.locator(f'[id="paper-{target}"]')
    card.get_by_role("button", name=re.compile(r"^Upvote")).click()
    card.locator(".upvote-count", has_text="2").wait_for()
    assert card.get_by_role("button", name=re.compile(r"^Remove upvote")).is_visible()
    page.reload()
    assert upvotes_of(page, target) == 2
    after = list_order(page)
    # A fresh vote outweighs an equal number of older imported upvotes: the
    # paper passes the one that had one more imported upvote than it.
    assert after.index(target) < before.index(target)
    assert sorted(after) == sorted(before)
    screenshot(page, "list-page")
    # 3. Save a paper and create a collection, from the paper page.
    page.goto(f"/papers/{ids[0]}")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("button", name="Saved").wait_for()
    page.get_by_text("Add to collection").click()
    page.get_by_label("New collection").fill("Reading group")
    page.get_by_role("button", name="Add", exact=True).click()
    page.get_by_label("Collection", exact=True).wait_for()  # now offers the new collection
    screenshot(page, "paper-page")
    page.goto("/library")
    assert page.locator(f'[id="paper-{ids[0]}"]').is_visible()
    page.goto("/collections")
    page.get_by_role("link", name="Reading group").click()
    assert page.locator(f'[id="paper-{ids[0]}"]').is_visible()
    assert "Private collection" in page.content()
    reader = core.list_readers(db)[0]
    assert [p["id"] for p in core.library(db, reader)] == [ids[0]]
    # 4. Submit an arXiv id; the fixture arXiv server answers.
    page.get_by_role("link", name="Submit", exact=True).click()
    page.get_by_label("arXiv id or URL").fill("2511.01234")
    page.get_by_role("button", name="Submit", exact=True).click()
    status = page.get_by_role("status")
    status.wait_for()
    assert "A freshly submitted paper" in status.inner_text()
    assert fixture_server.requests_to("/api/query")
    page.goto("/")
    assert "2511.01234" in list_order(page)
    # 5. Sign out.
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("link", name="Sign in", exact=True).wait_for()
    page.goto("/account")
    assert "/signin" in page.url
    assert page.dialogs == []
    blocked = [e for e in page.console_errors if "Content Security Policy" in e]
    assert blocked == []  # the pages' own scripts and styles pass the policy


def test_actions_work_without_javascript(
    chromium: Any, live_server: LiveServer, db: Database, smtp_server: SMTPServer
):
    ids = seed_real_papers(db, TODAY, count=3)
    context = chromium.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in_by_email(page, smtp_server, "nojs@example.org")
        card = page.locator(f'[id="paper-{ids[1]}"]')
        card.get_by_role("button", name=re.compile(r"^Upvote")).click()
        assert page.url == live_server.url + "/"  # redirected back to the list
        assert upvotes_of(page, ids[1]) == 3
        page.locator(f'[id="paper-{ids[2]}"]').get_by_role("button", name="Not interested").click()
        hidden = page.locator(f'[id="paper-{ids[2]}"]')  # stays in the list, collapsed
        hidden.get_by_role("button", name="Hidden · undo").wait_for()
        assert not hidden.locator(".card-abstract").is_visible()
        page.goto("/library")
        page.get_by_role("button", name="Undo").click()
        page.goto("/")
        assert page.locator(f'[id="paper-{ids[2]}"] .card-abstract').is_visible()
    finally:
        context.close()


def test_xss_payloads_fire_no_dialog(browser_page: Any, db: Database, smtp_server: SMTPServer):
    payload = "<script>alert('t')</script><img src=x onerror=alert('i')>"
    pipeline.ingest(
        db,
        [
            make_paper(
                "2501.06666",
                title=f"Title {payload}",
                abstract=f"Abstract {payload}",
                authors=[f"Author {payload}", '"><svg onload=alert(1)>'],
                listing_date=TODAY,
                abs_url="javascript:alert('u')",
            )
        ],
    )
    page = browser_page
    sign_in_by_email(page, smtp_server, "x@example.org")
    reader = core.list_readers(db)[0]
    cid = core.create_collection(db, reader, f"Col {payload}", is_public=True)
    core.add_to_collection(db, reader, cid, "2501.06666")
    for path in ("/", "/papers/2501.06666", f"/collections/{cid}"):
        page.goto(path)
        page.wait_for_load_state("load")
        assert payload in page.locator("body").inner_text()  # shown as text
    page.goto("/papers/2501.06666")
    page.get_by_role("button", name=re.compile(r"^Upvote")).click()
    page.locator(".upvote-count", has_text="1").wait_for()
    page.goto("/signin?next=" + "javascript:alert(1)")
    assert page.dialogs == []
    # A script smuggled past escaping would also meet the policy: the browser
    # refuses inline scripts on these pages.
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'alert(1)'; document.body.appendChild(s); }"
    )
    assert page.dialogs == []
    assert any("Content Security Policy" in e for e in page.console_errors)
