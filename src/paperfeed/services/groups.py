"""Reading groups: members with roles (owner, moderator, member), signed
invite links, a schedule of sessions (when, papers, presenter), a members-only
iCalendar feed, and day-before reminders.

Everything about a group is members-only: a non-member asking for a group, a
session or its discussion gets NotFound, as for someone else's private
collection. Owners and moderators schedule sessions and hand out invites;
owners change roles. Links carry itsdangerous tokens (digest.tokens): an
invite names the group and its current nonce (a new nonce revokes old
links); a calendar URL names the group and the member, and stops working
when they leave.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, time, timedelta
from typing import Any

from icalendar import Calendar, Event

from paperfeed import mail
from paperfeed.app import Paperfeed
from paperfeed.config import Settings
from paperfeed.db import groups as store
from paperfeed.db import papers as paper_store
from paperfeed.digest import tokens
from paperfeed.readers import Forbidden, NotFound, Reader, ReaderError, utcnow
from paperfeed.trending import as_utc

log = logging.getLogger(__name__)
INVITE = "group-invite"
CALENDAR = "group-calendar"
ROLES = ("owner", "moderator", "member")
MAX_PAPERS = 10
SESSION_HOURS = 1  # an event's length in calendars


def _base(settings: Settings) -> str:
    return settings.base_url.rstrip("/")


def _name(text: str, what: str) -> str:
    text = " ".join((text or "").split())
    if not text or len(text) > 200:
        raise ReaderError(f"A {what} needs a name of 1 to 200 characters.")
    return text


def create_group(app: Paperfeed, reader: Reader, name: str, description: str = "") -> int:
    with app.db.begin() as conn:
        return store.create_group(
            conn,
            reader.id,
            _name(name, "group"),
            (description or "")[:5000],
            secrets.token_urlsafe(16),
            utcnow(),
        )


def _group(conn: Any, reader: Reader, group_id: int, *, manage: bool = False) -> dict[str, Any]:
    group = store.get_group(conn, group_id, reader.id)
    if group is None:
        raise NotFound(f"no group {group_id}")
    if manage and group["my_role"] not in ("owner", "moderator"):
        raise Forbidden("Only the group's owners and moderators can do that.")
    return group


def my_groups(app: Paperfeed, reader: Reader) -> list[dict[str, Any]]:
    with app.db.connect() as conn:
        return store.groups_of(conn, reader.id)


def group_page(app: Paperfeed, reader: Reader, group_id: int) -> dict[str, Any]:
    """The group with its members and sessions (papers included), for members only."""
    with app.db.connect() as conn:
        group = _group(conn, reader, group_id)
        sessions = store.sessions(conn, group_id)
        papers = paper_store.get_papers(conn, [p for s in sessions for p in s["paper_ids"]])
        for session in sessions:
            session["papers"] = [papers[p] for p in session["paper_ids"] if p in papers]
        return {**group, "members": store.members(conn, group_id), "sessions": sessions}


def invite_link(app: Paperfeed, reader: Reader, group_id: int, *, renew: bool = False) -> str:
    """The group's invite link (owners and moderators); ``renew`` revokes the old ones."""
    with app.db.begin() as conn:
        group = _group(conn, reader, group_id, manage=True)
        nonce = group["invite_nonce"]
        if renew:
            nonce = secrets.token_urlsafe(16)
            store.set_nonce(conn, group_id, nonce)
    token = tokens.make(app.settings, INVITE, [group_id, nonce])
    return f"{_base(app.settings)}/groups/join/{token}"


def invitation(app: Paperfeed, token: str) -> dict[str, Any]:
    """The group an invite token names; InvalidToken if forged or revoked."""
    payload = tokens.read(app.settings, INVITE, token)
    with app.db.connect() as conn:
        group = store.group_by_nonce(conn, int(payload[0]), str(payload[1]))
    if group is None:
        raise tokens.InvalidToken("this invitation has been withdrawn")
    return group


def join(app: Paperfeed, reader: Reader, token: str) -> int:
    group = invitation(app, token)
    with app.db.begin() as conn:
        store.add_member(conn, group["id"], reader.id, "member", utcnow())
    return int(group["id"])


def leave(app: Paperfeed, reader: Reader, group_id: int) -> None:
    """Leave a group; the last owner must first make someone else owner."""
    with app.db.begin() as conn:
        group = _group(conn, reader, group_id)
        if group["my_role"] == "owner" and store.count_role(conn, group_id, "owner") == 1:
            if len(store.members(conn, group_id)) > 1:
                raise ReaderError(
                    "You are the group's only owner: make another member owner first."
                )
            store.delete_group(conn, group_id)  # the last member leaves: the group goes
            return
        store.remove_member(conn, group_id, reader.id)


def set_role(app: Paperfeed, reader: Reader, group_id: int, member_id: int, role: str) -> None:
    """Owners change members' roles ("remove" takes a member out); moderators
    may remove plain members."""
    if role not in (*ROLES, "remove"):
        raise ReaderError(f"unknown group role {role[:40]!r}; choose one of {', '.join(ROLES)}")
    with app.db.begin() as conn:
        group = _group(conn, reader, group_id, manage=True)
        target = next(
            (m for m in store.members(conn, group_id) if m["reader_id"] == member_id), None
        )
        if target is None:
            raise NotFound(f"no member {member_id} in this group")
        moderating = role == "remove" and target["role"] == "member"
        if group["my_role"] != "owner" and not moderating:
            raise Forbidden("Only the group's owners can change roles.")
        if target["role"] == "owner" and store.count_role(conn, group_id, "owner") == 1:
            raise ReaderError("A group keeps at least one owner: make another member owner first.")
        if role == "remove":
            store.remove_member(conn, group_id, member_id)
        else:
            store.set_role(conn, group_id, member_id, role)


# ---------------------------------------------------------------- sessions


def schedule(
    app: Paperfeed,
    reader: Reader,
    group_id: int,
    *,
    starts_at: datetime,
    paper_ids: list[str],
    presenter_id: int | None = None,
    title: str = "",
) -> int:
    """Add a session (owners and moderators): its papers must exist, its presenter be a member."""
    if starts_at.tzinfo is None:
        starts_at = starts_at.replace(tzinfo=UTC)
    wanted = [p.strip() for p in paper_ids if p.strip()]
    if not wanted or len(wanted) > MAX_PAPERS:
        raise ReaderError(f"A session needs 1 to {MAX_PAPERS} papers.")
    with app.db.begin() as conn:
        _group(conn, reader, group_id, manage=True)
        resolved = paper_store.resolve_ids(conn, wanted)
        found = paper_store.get_papers(conn, list(resolved.values()))
        missing = [p for p in wanted if resolved[p] not in found]
        if missing:
            raise NotFound(f"no paper {missing[0][:200]!r}")
        if presenter_id is not None and not store.is_member(conn, group_id, presenter_id):
            raise ReaderError(f"reader {presenter_id} is not a member of this group")
        return store.add_session(
            conn,
            group_id=group_id,
            starts_at=starts_at.astimezone(UTC),
            title=" ".join((title or "").split())[:200],  # it goes into mail subjects
            paper_ids=list(dict.fromkeys(resolved[p] for p in wanted)),
            presenter_id=presenter_id,
            created_at=utcnow(),
        )


def cancel(app: Paperfeed, reader: Reader, group_id: int, session_id: int) -> None:
    with app.db.begin() as conn:
        _group(conn, reader, group_id, manage=True)
        if not store.delete_session(conn, group_id, session_id):
            raise NotFound(f"no session {session_id} in this group")


def session(app: Paperfeed, reader: Reader, session_id: int) -> dict[str, Any]:
    with app.db.connect() as conn:
        found = store.get_session(conn, session_id, reader.id)
        if found is None:
            raise NotFound(f"no session {session_id}")
        papers = paper_store.get_papers(conn, found["paper_ids"])
    return {**found, "papers": [papers[p] for p in found["paper_ids"] if p in papers]}


# ---------------------------------------------------------------- calendar


def calendar_url(settings: Settings, group_id: int, reader_id: int) -> str:
    token = tokens.make(settings, CALENDAR, [group_id, reader_id])
    return f"{_base(settings)}/groups/{group_id}/calendar/{token}.ics"


def calendar(app: Paperfeed, group_id: int, token: str) -> bytes:
    """The group's schedule as iCalendar, for the member the token names."""
    payload = tokens.read(app.settings, CALENDAR, token)
    if int(payload[0]) != group_id:
        raise tokens.InvalidToken("this calendar link is not valid")
    with app.db.connect() as conn:
        group = store.get_group(conn, group_id, int(payload[1]))
        if group is None:  # they left, or the group is gone
            raise tokens.InvalidToken("this calendar link is no longer valid")
        sessions = store.sessions(conn, group_id)
        papers = paper_store.get_papers(conn, [p for s in sessions for p in s["paper_ids"]])
    base = _base(app.settings)
    cal = Calendar()
    cal.add("prodid", f"-//{app.settings.site_name}//reading groups//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"{group['name']} ({app.settings.site_name})")
    for s in sessions:
        titles = [papers[p]["title"] for p in s["paper_ids"] if p in papers]
        url = f"{base}/groups/{group_id}/sessions/{s['id']}"
        event = Event()
        event.add("uid", f"session-{s['id']}@{base.split('://')[-1]}")
        event.add("summary", s["title"] or (titles[0] if titles else "Reading group"))
        starts = as_utc(s["starts_at"])
        event.add("dtstart", starts)
        event.add("dtend", starts + timedelta(hours=SESSION_HOURS))
        event.add(
            "dtstamp",
            s["created_at"] if s["created_at"].tzinfo else s["created_at"].replace(tzinfo=UTC),
        )
        presenter = f"Presenter: {s['presenter_name']}\n" if s["presenter_name"] else ""
        event.add("description", presenter + "\n".join(titles) + f"\n{url}")
        event.add("url", url)
        cal.add_component(event)
    return bytes(cal.to_ical())


# ---------------------------------------------------------------- reminders


def send_reminders(app: Paperfeed, now: datetime | None = None) -> dict[str, int]:
    """Mail every member of a group whose session starts tomorrow (UTC); each
    session is claimed once, so a second run (or process) sends nothing."""
    now = now or utcnow()
    start = datetime.combine(now.date() + timedelta(days=1), time.min, tzinfo=UTC)
    with app.db.connect() as conn:
        rows = store.sessions_between(conn, start, start + timedelta(days=1))
        papers = paper_store.get_papers(conn, [p for r in rows for p in r["paper_ids"]])
    by_session: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_session.setdefault(row["id"], []).append(row)
    sent = 0
    for session_id, members in by_session.items():
        with app.db.begin() as conn:
            if not store.claim_reminder(conn, session_id, now):
                continue
        first = members[0]
        titles = "\n".join(f"- {papers[p]['title']}" for p in first["paper_ids"] if p in papers)
        url = f"{_base(app.settings)}/groups/{first['group_id']}/sessions/{session_id}"
        when = first["starts_at"].strftime("%A %d %B, %H:%M UTC")
        presenter = f"Presenter: {first['presenter_name']}\n" if first["presenter_name"] else ""
        with mail.smtp_connection(app.settings) as client:
            for member in members:
                message = mail.new_message(
                    app.settings,
                    to=member["member_email"],
                    subject=f"Tomorrow: {first['group_name'][:150]}, {first['title'] or 'session'}",
                    text=f"{first['group_name']} meets {when}.\n{presenter}\n{titles}\n\n{url}\n",
                )
                client.send_message(message)
                sent += 1
    return {"sessions": len(by_session), "sent": sent}
