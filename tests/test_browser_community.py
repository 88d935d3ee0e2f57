"""Discussion and reading groups in Debian chromium against a live uvicorn
server and a real SMTP server (aiosmtpd) on 127.0.0.1: two readers discuss a
paper (Markdown and KaTeX math, a reply), one gets the notice mail (the
notices job, as `paperfeed serve` runs it); a group is made, joined by its
invite link, schedules a session, and a member downloads its .ics."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar

from paperfeed.app import Paperfeed
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.jobs import JobSpec, execute
from tests.browser import LiveServer, screenshot
from tests.smtp_server import SMTPServer
from tests.test_browser_readers import seed_real_papers, sign_in_by_email

pytestmark = pytest.mark.browser

DAY = date(2025, 6, 2)


@pytest.mark.slow
def test_two_readers_discuss_and_a_group_meets(
    browser_page: Any,
    chromium: Any,
    live_server: LiveServer,
    settings: Settings,
    db: Database,
    smtp_server: SMTPServer,
    tmp_path: Path,
) -> None:
    alice = browser_page
    ids = seed_real_papers(db, DAY, count=3)
    sign_in_by_email(alice, smtp_server, "alice@example.org")
    bob_context = chromium.new_context(base_url=live_server.url)
    bob = bob_context.new_page()
    bob_dialogs: list[str] = []
    bob.on("dialog", lambda d: (bob_dialogs.append(d.message), d.dismiss()))
    sign_in_by_email(bob, smtp_server, "bob@example.org")

    # 1. Alice comments on a paper: Markdown, math, a link, and a \href that
    #    KaTeX (trust off) must not turn into a link.
    alice.goto(f"/papers/{ids[0]}")
    alice.get_by_label("Add a comment").fill(
        "Looks **solid**: $E = mc^2$, see [the code](https://example.org/code). "
        "$\\href{javascript:alert(1)}{click}$ <img src=x onerror=alert(1)>"
    )
    alice.get_by_role("button", name="Post comment").click()
    first = alice.locator("li.comment").first
    first.locator(".katex").first.wait_for()  # the math is typeset
    assert first.locator(".comment-body strong").inner_text() == "solid"
    link = first.get_by_role("link", name="the code")
    assert link.get_attribute("rel") == "nofollow ugc noopener"
    assert first.locator("a[href^='javascript']").count() == 0
    assert first.locator("img").count() == 0

    # 2. Bob replies from his own browser.
    bob.goto(f"/papers/{ids[0]}")
    bob.locator("li.comment").first.locator("summary").click()
    bob.get_by_label("Reply", exact=True).fill("Agreed, but what about *the baseline*?")
    bob.get_by_role("button", name="Reply", exact=True).click()
    bob.locator(".comment-body").get_by_text("what about").wait_for()
    assert "Discussion (2)" in bob.locator("#discussion-heading").inner_text()
    screenshot(bob, "community-discussion")

    # 3. The notices job mails Alice (a participant) Bob's reply, once.
    result = execute(Paperfeed(settings, db), JobSpec("comment-notices"))
    assert (result["sent"], result["refused"]) == (1, 0)
    [notice] = [
        m for m in smtp_server.inbox.to("alice@example.org") if "comments" in str(m["Subject"])
    ]
    text = notice.get_content()
    assert "what about *the baseline*?" in text
    assert notice["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.search(rf"{re.escape(live_server.url)}/papers/\S+", text)
    assert url
    alice.goto(url.group(0))
    alice.locator(".comment-body").get_by_text("what about").wait_for()

    # 4. Alice starts a reading group; Bob joins by its invite link.
    alice.get_by_role("link", name="Groups", exact=True).click()
    alice.get_by_label("Name").fill("Theory club")
    alice.get_by_role("button", name="Create group").click()
    alice.get_by_role("heading", name="Theory club").wait_for()
    invite = alice.get_by_label("Invite link").input_value()
    bob.goto(invite)
    bob.get_by_role("button", name="Join the group").click()
    bob.get_by_role("heading", name="Theory club").wait_for()

    # 5. Alice schedules a session with Bob presenting.
    alice.reload()
    alice.get_by_label("Date and time (UTC)").fill("2026-03-10T16:30")
    alice.get_by_label("Papers (arXiv ids, separated by spaces)").fill(ids[1])
    alice.get_by_label("Title").fill("Baselines week")
    alice.get_by_label("Presenter").select_option(label="bob")
    alice.get_by_role("button", name="Schedule").click()
    alice.get_by_text("Presented by bob").wait_for()

    # 6. Bob downloads the group's calendar and finds the session in it.
    bob.reload()
    with bob.expect_download() as download_info:
        bob.locator("a.calendar-link").click()
    saved = tmp_path / "group.ics"
    download_info.value.save_as(saved)
    [event] = Calendar.from_ical(saved.read_bytes()).walk("VEVENT")
    assert str(event["summary"]) == "Baselines week"
    assert event.decoded("dtstart") == datetime(2026, 3, 10, 16, 30, tzinfo=UTC)
    assert "Presenter: bob" in str(event["description"])
    screenshot(bob, "community-group")
    assert alice.dialogs == [] and bob_dialogs == []  # no payload ever ran
    bob_context.close()
