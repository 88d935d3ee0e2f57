"""Reading groups: invites, roles, sessions, the members-only iCalendar feed
and discussion, day-before reminders through a real SMTP server, the
digest's group section, and non-members kept out (as other readers' private
collections are in test_security)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar

from paperfeed import readers as core
from paperfeed.app import Paperfeed
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.digest import compose as composer
from paperfeed.digest import runner
from paperfeed.digest.schedule import parse_period
from paperfeed.ingest import pipeline
from paperfeed.services import comments, groups
from tests.helpers import make_paper
from tests.readers_helpers import csrf_from, new_client, sign_in
from tests.smtp_server import SMTPServer

DAY = date(2025, 1, 15)
WHEN = datetime(2026, 3, 10, 16, 30, tzinfo=UTC)


@pytest.fixture
def papers(db: Database) -> list[str]:
    ids = ["2501.00001", "2501.00002"]
    pipeline.ingest(db, [make_paper(i, listing_date=DAY) for i in ids])
    return ids


def _form(client: TestClient, path: str, page: str, **data: str):
    csrf = csrf_from(client.get(page).text)
    return client.post(path, data={**data, "csrf_token": csrf}, follow_redirects=False)


def _group_with_member(client: TestClient, settings: Settings, db: Database):
    """Alice's group, with Bob joined through the invite link on the page."""
    alice = sign_in(client, settings, db, "alice@example.org")
    created = _form(client, "/groups", "/groups", name="Theory club", description="Fridays")
    group_id = int(created.headers["location"].rsplit("/", 1)[1])
    invite = re.search(
        r'class="invite-link" readonly value="([^"]+)"', client.get(f"/groups/{group_id}").text
    )
    assert invite, "the owner's page shows the invite link"
    path = invite.group(1).split(settings.base_url.rstrip("/"), 1)[1]
    bob_client = new_client(client)
    bob = sign_in(bob_client, settings, db, "bob@example.org")
    assert "Theory club" in bob_client.get(path).text
    joined = _form(bob_client, path, path)
    assert joined.headers["location"] == f"/groups/{group_id}"
    return alice, bob, bob_client, group_id


def test_a_group_schedules_a_session_and_members_subscribe_to_its_calendar(
    client: TestClient, settings: Settings, db: Database, papers: list[str]
) -> None:
    alice, bob, bob_client, group_id = _group_with_member(client, settings, db)
    page = f"/groups/{group_id}"
    # Members cannot schedule; owners and moderators can.
    refused = _form(
        bob_client, f"{page}/sessions", page, starts_at="2026-03-10T16:30", papers=papers[0]
    )
    assert refused.status_code == 403
    made = _form(
        client,
        f"{page}/sessions",
        page,
        starts_at="2026-03-10T16:30",
        papers=f"{papers[0]}, {papers[1]}",
        title="Attention week",
        presenter_id=str(bob.id),
    )
    assert made.status_code == 303
    session_path = made.headers["location"]
    session_page = bob_client.get(session_path).text
    assert "Attention week" in session_page and "Presented by bob" in session_page
    assert 'id="discussion"' in session_page
    # Bad input names the problem.
    for data, status, text in (
        ({"starts_at": "tomorrow", "papers": papers[0]}, 400, "not a date"),
        ({"starts_at": "2026-03-10T16:30", "papers": "2599.99999"}, 404, "no paper"),
        ({"starts_at": "2026-03-10T16:30", "papers": ""}, 400, "1 to 10 papers"),
    ):
        response = _form(client, f"{page}/sessions", page, **data)
        assert response.status_code == status and text in response.text
    # Bob's calendar: his own secret URL, parsed by icalendar.
    url = re.search(r'class="calendar-link" href="([^"]+)"', bob_client.get(page).text)
    assert url
    ics_path = url.group(1).split(settings.base_url.rstrip("/"), 1)[1]
    response = new_client(client).get(ics_path)  # calendar apps carry no session
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    [event] = Calendar.from_ical(response.content).walk("VEVENT")
    assert str(event["summary"]) == "Attention week"
    assert event.decoded("dtstart") == WHEN
    assert "Presenter: bob" in str(event["description"])
    assert session_path in str(event["url"])
    # Roles: the owner makes Bob a moderator; then he can schedule.
    assert _form(client, f"{page}/members/{bob.id}", page, role="moderator").status_code == 303
    again = _form(
        bob_client, f"{page}/sessions", page, starts_at="2026-03-17T16:30", papers=papers[1]
    )
    assert again.status_code == 303
    # Leaving ends the calendar URL too.
    assert _form(bob_client, f"{page}/leave", page).status_code == 303
    assert new_client(client).get(ics_path).status_code == 404
    # The only owner cannot leave a group that has members... but alone, the group goes.
    assert _form(client, f"{page}/leave", page).status_code == 303
    assert groups.my_groups(Paperfeed(settings, db), alice) == []


def test_a_groups_private_data_is_invisible_to_non_members(
    client: TestClient, settings: Settings, db: Database, papers: list[str]
) -> None:
    paperfeed = Paperfeed(settings, db)
    alice, bob, bob_client, group_id = _group_with_member(client, settings, db)
    session_id = groups.schedule(
        paperfeed, alice, group_id, starts_at=WHEN, paper_ids=[papers[0]], title="Secret session"
    )
    thread = comments.session_thread(session_id)
    comments.post(paperfeed, bob, thread, "members-only remark")
    mallory_client = new_client(client)
    mallory = sign_in(mallory_client, settings, db, "mallory@example.org")
    token = core.create_api_token(db, mallory, "m")[1]
    anonymous = new_client(client)
    base = f"/groups/{group_id}"
    # Pages: 404 for a non-member (and sign-in for anonymous visitors), never the content.
    for path in (base, f"{base}/sessions/{session_id}"):
        page = mallory_client.get(path)
        assert (
            page.status_code == 404
            and "Secret session" not in page.text
            and "Theory" not in page.text
        )
        assert anonymous.get(path, follow_redirects=False).status_code == 303
    assert "Theory club" not in mallory_client.get("/groups").text
    # Forms, with Mallory's own valid CSRF token.
    for path, data in (
        (f"{base}/sessions", {"starts_at": "2026-03-10T16:30", "papers": papers[0]}),
        (f"{base}/sessions/{session_id}/delete", {}),
        (f"{base}/members/{bob.id}", {"role": "remove"}),
        (f"{base}/invite", {}),
        (f"{base}/leave", {}),
        ("/discussions/comment", {"thread": thread, "body": "let me in"}),
        ("/discussions/follow", {"thread": thread, "on": "true"}),
    ):
        response = _form(mallory_client, path, "/groups", **data)
        assert response.status_code == 404, (path, response.status_code)
    # The discussion, through the service and the JSON API.
    with pytest.raises(core.NotFound):
        comments.thread(paperfeed, mallory, thread)
    with pytest.raises(core.NotFound):
        comments.thread(paperfeed, None, thread)
    [remark] = comments.thread(paperfeed, bob, thread)
    auth = {"Authorization": f"Bearer {token}"}
    for method, path in (
        ("PATCH", f"/api/comments/{remark['id']}"),
        ("DELETE", f"/api/comments/{remark['id']}"),
    ):
        response = mallory_client.request(method, path, json={"body": "x"}, headers=auth)
        assert response.status_code == 404
    # A curator who is not a member does not see it either.
    curator = core.grant_role(db, "cora@example.org", "curator")
    with pytest.raises(core.NotFound):
        comments.set_hidden(paperfeed, curator, remark["id"], True)
    # Not in the instance feed, nor in paper counts.
    assert "members-only remark" not in anonymous.get("/comments.xml").text
    assert comments.counts(paperfeed, [papers[0]]) == {}
    # Calendar URLs: Bob's for another group, and a forged one, are refused.
    other = groups.create_group(paperfeed, mallory, "Mallory's")
    bob_url = groups.calendar_url(settings, group_id, bob.id).split("/calendar/")[1]
    assert anonymous.get(f"/groups/{other}/calendar/{bob_url}").status_code == 404
    assert anonymous.get(f"/groups/{group_id}/calendar/forged.ics").status_code == 404
    mallory_url = groups.calendar_url(settings, group_id, mallory.id).split(settings.base_url)[1]
    assert anonymous.get(mallory_url).status_code == 404  # signed, but she is no member
    # A renewed invite link revokes the old one.
    old = groups.invite_link(paperfeed, alice, group_id)
    groups.invite_link(paperfeed, alice, group_id, renew=True)
    old_path = old.split(settings.base_url)[1]
    assert mallory_client.get(old_path).status_code == 400
    assert _form(mallory_client, old_path, "/groups").status_code == 400
    assert comments.thread(paperfeed, alice, thread)[0]["body"] == "members-only remark"


def test_members_get_a_reminder_the_day_before_and_a_digest_section(
    settings: Settings, db: Database, papers: list[str], smtp_server: SMTPServer
) -> None:
    paperfeed = Paperfeed(settings, db)
    alice = core.grant_role(db, "alice@example.org", "reader")
    bob = core.grant_role(db, "bob@example.org", "reader")
    group_id = groups.create_group(paperfeed, alice, "Theory club")
    token = groups.invite_link(paperfeed, alice, group_id).rsplit("/", 1)[1]
    groups.join(paperfeed, bob, token)
    groups.schedule(
        paperfeed, alice, group_id, starts_at=WHEN, paper_ids=[papers[1]], presenter_id=bob.id
    )
    two_days_before = WHEN - timedelta(days=2)
    assert groups.send_reminders(paperfeed, now=two_days_before)["sent"] == 0
    day_before = WHEN.replace(hour=8) - timedelta(days=1)
    assert groups.send_reminders(paperfeed, now=day_before) == {"sessions": 1, "sent": 2}
    assert groups.send_reminders(paperfeed, now=day_before + timedelta(hours=1))["sent"] == 0
    [to_bob] = smtp_server.inbox.to("bob@example.org")
    assert "Theory club" in str(to_bob["Subject"])
    assert "A paper about 2501.00002" in to_bob.get_content()
    # The digest of the day before lists the coming week's session first.
    period = parse_period(str(WHEN.date() - timedelta(days=4)))  # the Friday before
    sub = {
        "id": 1,
        "reader_id": bob.id,
        "personal_count": 0,
        "include_saved_searches": False,
        "search_count": 0,
        "trending_count": 5,
        "topics": None,
        "email": "bob@example.org",
    }
    with db.connect() as conn:
        period_papers = composer.PeriodPapers.load(conn, period)
    [(_, content)] = runner.compose_batch(
        db, [sub], period_papers, search_matches=lambda q: [], personal=None
    )
    group = content["sections"][0]
    assert group["title"] == "This week in your reading group"
    assert group["items"] == [
        {"id": papers[1], "note": "Theory club: Tue 10 Mar 16:30 UTC, presented by bob"}
    ]
    sub["reader_id"] = core.grant_role(db, "carol@example.org", "reader").id
    [(_, content)] = runner.compose_batch(
        db, [sub], period_papers, search_matches=lambda q: [], personal=None
    )
    assert all(s["key"] != "group" for s in content["sections"])  # not a member: no section


def test_group_api_for_members_and_not_for_others(
    client: TestClient, settings: Settings, db: Database, papers: list[str]
) -> None:
    paperfeed = Paperfeed(settings, db)
    alice = core.grant_role(db, "alice@example.org", "reader")
    bob = core.grant_role(db, "bob@example.org", "reader")
    mallory = core.grant_role(db, "mallory@example.org", "reader")

    def auth(reader: core.Reader, scopes: tuple[str, ...] = ("read", "write")) -> dict[str, str]:
        return {"Authorization": f"Bearer {core.create_api_token(db, reader, 't', scopes)[1]}"}

    as_alice, as_bob, as_mallory = auth(alice), auth(bob), auth(mallory)
    made = client.post("/api/groups", json={"name": "Theory club"}, headers=as_alice)
    assert made.status_code == 201 and made.json()["my_role"] == "owner"
    group_id = made.json()["id"]
    invite = groups.invite_link(paperfeed, alice, group_id).rsplit("/", 1)[1]
    joined = client.post("/api/groups/join", json={"token": invite}, headers=as_bob)
    assert joined.status_code == 200 and joined.json()["my_role"] == "member"
    assert (
        client.post("/api/groups/join", json={"token": "forged"}, headers=as_mallory).status_code
        == 400
    )
    body = {"starts_at": "2026-03-10T16:30:00Z", "paper_ids": [papers[0]], "presenter_id": bob.id}
    assert (
        client.post(f"/api/groups/{group_id}/sessions", json=body, headers=as_bob).status_code
        == 403
    )
    session = client.post(f"/api/groups/{group_id}/sessions", json=body, headers=as_alice)
    assert session.status_code == 201 and session.json()["presenter_name"] == "bob"
    session_id = session.json()["id"]
    naive = {**body, "starts_at": "2026-03-10T16:30:00"}  # a time needs its offset
    assert (
        client.post(f"/api/groups/{group_id}/sessions", json=naive, headers=as_alice).status_code
        == 422
    )
    comments_path = f"/api/groups/sessions/{session_id}/comments"
    posted = client.post(comments_path, json={"body": "see you there"}, headers=as_bob)
    assert posted.status_code == 201
    assert [c["body"] for c in client.get(comments_path, headers=auth(bob, ("read",))).json()] == [
        "see you there"
    ]
    detail = client.get(f"/api/groups/{group_id}", headers=as_bob).json()
    assert [s["id"] for s in detail["sessions"]] == [session_id]
    assert detail["calendar_url"].endswith(".ics")
    # Mallory: every read and write of the group is a 404, and her list is empty.
    assert client.get("/api/groups", headers=as_mallory).json() == []
    for method, path, json in (
        ("GET", f"/api/groups/{group_id}", None),
        ("POST", f"/api/groups/{group_id}/sessions", body),
        ("DELETE", f"/api/groups/{group_id}/sessions/{session_id}", None),
        ("DELETE", f"/api/groups/{group_id}/membership", None),
        ("GET", comments_path, None),
        ("POST", comments_path, {"body": "let me in"}),
        ("PATCH", f"/api/comments/{posted.json()['id']}", {"body": "mine now"}),
    ):
        response = client.request(method, path, json=json, headers=as_mallory)
        assert response.status_code == 404, (method, path, response.status_code)
        assert "Theory club" not in response.text and "see you there" not in response.text
    assert client.get(f"/api/groups/{group_id}").status_code == 401  # no credentials
    # Bob leaves: the group and its discussion are out of his reach too.
    assert client.delete(f"/api/groups/{group_id}/membership", headers=as_bob).status_code == 204
    assert client.get(comments_path, headers=as_bob).status_code == 404


def test_session_discussion_notices_reach_members_only(
    settings: Settings, db: Database, papers: list[str], smtp_server: SMTPServer
) -> None:
    paperfeed = Paperfeed(settings, db)
    alice = core.grant_role(db, "alice@example.org", "reader")
    bob = core.grant_role(db, "bob@example.org", "reader")
    group_id = groups.create_group(paperfeed, alice, "Theory club")
    groups.join(paperfeed, bob, groups.invite_link(paperfeed, alice, group_id).rsplit("/", 1)[1])
    session_id = groups.schedule(paperfeed, alice, group_id, starts_at=WHEN, paper_ids=[papers[0]])
    thread = comments.session_thread(session_id)
    t0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
    comments.post(paperfeed, bob, thread, "Bob is in", now=t0)
    comments.post(paperfeed, alice, thread, "Welcome", now=t0)
    assert comments.send_notices(paperfeed, now=t0)["sent"] == 1
    [notice] = smtp_server.inbox.to("bob@example.org")
    assert "Theory club" in str(notice["Subject"]) and "Welcome" in notice.get_content()
    assert f"/groups/{group_id}/sessions/{session_id}" in notice.get_content()
    groups.leave(paperfeed, bob, group_id)
    comments.post(paperfeed, alice, thread, "Only members read this", now=t0 + timedelta(hours=2))
    comments.send_notices(paperfeed, now=t0 + timedelta(hours=2))
    assert len(smtp_server.inbox.to("bob@example.org")) == 1  # he left: no more notices
