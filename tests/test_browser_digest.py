"""The digest pages in Debian chromium against a live uvicorn server and a real
SMTP server (aiosmtpd) on 127.0.0.1: subscribe with an email address, confirm
from the emailed link, change the settings, get a digest (the runner, as
`paperfeed digest send` runs it), view it in the browser, unsubscribe."""

from __future__ import annotations

import re
from datetime import date
from email.message import EmailMessage
from typing import Any

import pytest

from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import digests as digest_store
from paperfeed.digest import runner
from tests.browser import LiveServer, screenshot
from tests.smtp_server import SMTPServer
from tests.test_browser_readers import seed_real_papers

pytestmark = pytest.mark.browser

MONDAY = date(2025, 6, 2)


def body(message: Any, kind: str) -> str:
    assert isinstance(message, EmailMessage)
    part = message.get_body(preferencelist=(kind,))
    assert part is not None
    return str(part.get_content())


@pytest.mark.slow
def test_subscribe_confirm_settings_digest_view_unsubscribe(
    browser_page: Any,
    live_server: LiveServer,
    settings: Settings,
    db: Database,
    smtp_server: SMTPServer,
):
    page = browser_page
    settings.smtp_retry_base_seconds = 0.0
    ids = seed_real_papers(db, MONDAY)  # imported upvotes 12, 11, ... 1: a known order
    inbox = smtp_server.inbox
    email = "digest.reader@example.org"

    # 1. Subscribe from the site, as an anonymous visitor (weekly, at first).
    page.goto("/")
    page.get_by_role("link", name="Email digest").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Weekly").check()
    screenshot(page, "digest-subscribe")
    page.get_by_role("button", name="Subscribe").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()

    # 2. The confirmation email arrives; its link opens a button (GET confirms nothing).
    [confirmation] = inbox.to(email)
    [confirm_url] = re.findall(
        rf"{re.escape(live_server.url)}/digest/confirm/\S+", body(confirmation, "plain")
    )
    page.goto(confirm_url)
    with db.connect() as conn:
        assert digest_store.get_subscription_by_email(conn, email)["confirmed_at"] is None
    page.get_by_role("button", name="Yes, send me digests").click()
    page.get_by_role("heading", name="You are subscribed").wait_for()
    assert "will get the weekly digest" in page.locator("main").inner_text()

    # 3. The settings page: daily instead of weekly, three trending papers, no
    #    saved-search section.
    page.get_by_role("link", name="Choose sections, counts and topics").click()
    page.get_by_role("heading", name="Digest settings").wait_for()
    page.get_by_label("Daily (weekdays)").check()
    page.get_by_label("Trending papers", exact=True).fill("3")
    page.get_by_label("Matches for my saved searches").uncheck()
    page.get_by_role("button", name="Save").click()
    page.get_by_role("status").filter(has_text="Saved.").wait_for()
    assert page.get_by_label("Daily (weekdays)").is_checked()
    assert page.get_by_label("Trending papers", exact=True).input_value() == "3"
    screenshot(page, "digest-settings")
    with db.connect() as conn:
        sub = digest_store.get_subscription_by_email(conn, email)
    assert (sub["frequency"], sub["trending_count"], sub["include_saved_searches"]) == (
        "daily",
        3,
        False,
    )

    # 4. A digest is sent: Monday's daily digest (a weekly subscriber would not be due).
    report = runner.run(settings, db, periods=[MONDAY.isoformat()], personal=None)
    assert (report.sent, report.failed, report.deferred) == (1, 0, 0)
    [_, digest] = inbox.to(email)
    html = body(digest, "html")
    paper_links = re.findall(rf'href="({re.escape(live_server.url)}/papers/[^"]+)"', html)
    assert paper_links == [f"{live_server.url}/papers/{pid}" for pid in ids[:3]]

    # 5. "View in browser" shows the same papers, and they link to their pages.
    [view_url] = re.findall(r'href="([^"]+/digest/view/[^"]+)"', html)
    page.goto(view_url)
    for pid in ids[:3]:
        assert page.locator(f'a[href$="/papers/{pid}"]').count() == 1
    screenshot(page, "digest-view")
    page.locator(f'a[href$="/papers/{ids[0]}"]').click()
    page.wait_for_url(f"**/papers/{ids[0]}")

    # 6. Unsubscribe: the footer link is the List-Unsubscribe URL; its page
    #    posts "List-Unsubscribe=One-Click", as a mail client does (RFC 8058).
    [unsubscribe_url] = re.findall(r'href="([^"]+/unsubscribe/[^"]+)"', html)
    assert f"<{unsubscribe_url}>" in str(digest["List-Unsubscribe"])
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    page.goto(unsubscribe_url)
    page.get_by_role("button", name="Unsubscribe").click()
    page.get_by_role("heading", name="Unsubscribed").wait_for()
    screenshot(page, "digest-unsubscribed")
    with db.connect() as conn:
        assert digest_store.get_subscription_by_email(conn, email)["unsubscribed_at"] is not None
    assert page.dialogs == []
    blocked = [e for e in page.console_errors if "Content Security Policy" in e]
    assert blocked == []


def test_forged_subscribe_from_another_site_is_refused(
    chromium: Any, live_server: LiveServer, db: Database, smtp_server: SMTPServer
):
    """A form that posts to /digest/subscribe with the visitor's session cookie
    but without the token (which another site cannot read) is refused, and
    nothing is mailed. (The form is put in a page of the site's own origin, so
    SameSite=Lax still sends the cookie: only the token stops it.)"""
    context = chromium.new_context(base_url=live_server.url)
    try:
        page = context.new_page()
        page.goto("/digest")  # the visitor has a session (and a token) here
        page.set_content(
            f'<form method="post" action="{live_server.url}/digest/subscribe">'
            '<input name="email" value="victim@example.org"><button>Go</button></form>'
        )
        page.get_by_role("button", name="Go").click()
        page.get_by_role("heading", name="Request refused").wait_for()
        assert inbox_empty(smtp_server)
        with db.connect() as conn:
            assert digest_store.get_subscription_by_email(conn, "victim@example.org") is None
    finally:
        context.close()


def inbox_empty(smtp_server: SMTPServer) -> bool:
    return smtp_server.inbox.messages == []
