"""Reading-group storage: groups, memberships and roles, sessions.

Every read of a group's private data takes the acting reader's id and joins
their membership in the same query, so a non-member's read matches nothing
(as collections do in db/readers.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from paperfeed.db.papers import _insert
from paperfeed.db.tables import group_members, group_sessions, readers, reading_groups


def create_group(
    conn: Connection, owner_id: int, name: str, description: str, nonce: str, now: datetime
) -> int:
    key = conn.execute(
        insert(reading_groups).values(
            name=name,
            description=description,
            invite_nonce=nonce,
            created_by=owner_id,
            created_at=now,
        )
    ).inserted_primary_key
    assert key is not None
    group_id = int(key[0])
    add_member(conn, group_id, owner_id, "owner", now)
    return group_id


def get_group(conn: Connection, group_id: int, reader_id: int) -> dict[str, Any] | None:
    """The group with the reader's ``my_role``, or None if it is not theirs."""
    row = conn.execute(
        select(reading_groups, group_members.c.role.label("my_role"))
        .join(group_members, group_members.c.group_id == reading_groups.c.id)
        .where(reading_groups.c.id == group_id, group_members.c.reader_id == reader_id)
    ).first()
    return dict(row._mapping) if row else None


def group_by_nonce(conn: Connection, group_id: int, nonce: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(reading_groups).where(
            reading_groups.c.id == group_id, reading_groups.c.invite_nonce == nonce
        )
    ).first()
    return dict(row._mapping) if row else None


def set_nonce(conn: Connection, group_id: int, nonce: str) -> None:
    conn.execute(
        update(reading_groups).where(reading_groups.c.id == group_id).values(invite_nonce=nonce)
    )


def groups_of(conn: Connection, reader_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(reading_groups, group_members.c.role.label("my_role"))
        .join(group_members, group_members.c.group_id == reading_groups.c.id)
        .where(group_members.c.reader_id == reader_id)
        .order_by(reading_groups.c.name)
    )
    return [dict(r._mapping) for r in rows]


def add_member(conn: Connection, group_id: int, reader_id: int, role: str, now: datetime) -> bool:
    """Add a member (nothing if they already are); True when added."""
    result = conn.execute(
        _insert(conn, group_members)
        .values(group_id=group_id, reader_id=reader_id, role=role, joined_at=now)
        .on_conflict_do_nothing(
            index_elements=[group_members.c.group_id, group_members.c.reader_id]
        )
    )
    return result.rowcount == 1


def members(conn: Connection, group_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(
            group_members.c.reader_id,
            group_members.c.role,
            group_members.c.joined_at,
            readers.c.name,
            readers.c.email,
        )
        .join(readers, readers.c.id == group_members.c.reader_id)
        .where(group_members.c.group_id == group_id)
        .order_by(readers.c.name, readers.c.id)
    )
    return [dict(r._mapping) for r in rows]


def set_role(conn: Connection, group_id: int, reader_id: int, role: str) -> bool:
    result = conn.execute(
        update(group_members)
        .where(group_members.c.group_id == group_id, group_members.c.reader_id == reader_id)
        .values(role=role)
    )
    return result.rowcount == 1


def remove_member(conn: Connection, group_id: int, reader_id: int) -> bool:
    result = conn.execute(
        delete(group_members).where(
            group_members.c.group_id == group_id, group_members.c.reader_id == reader_id
        )
    )
    return result.rowcount == 1


def count_role(conn: Connection, group_id: int, role: str) -> int:
    query = select(func.count()).where(
        group_members.c.group_id == group_id, group_members.c.role == role
    )
    return int(conn.execute(query).scalar() or 0)


def delete_group(conn: Connection, group_id: int) -> None:
    conn.execute(delete(reading_groups).where(reading_groups.c.id == group_id))


# ---------------------------------------------------------------- sessions


_SESSION = (
    select(
        group_sessions,
        reading_groups.c.name.label("group_name"),
        readers.c.name.label("presenter_name"),
    )
    .join(reading_groups, reading_groups.c.id == group_sessions.c.group_id)
    .outerjoin(readers, readers.c.id == group_sessions.c.presenter_id)
)


def add_session(conn: Connection, **values: Any) -> int:
    key = conn.execute(insert(group_sessions).values(**values)).inserted_primary_key
    assert key is not None
    return int(key[0])


def delete_session(conn: Connection, group_id: int, session_id: int) -> bool:
    result = conn.execute(
        delete(group_sessions).where(
            group_sessions.c.id == session_id, group_sessions.c.group_id == group_id
        )
    )
    return result.rowcount == 1


def get_session(conn: Connection, session_id: int, reader_id: int) -> dict[str, Any] | None:
    """A session of one of the reader's groups, with ``my_role``; else None."""
    row = conn.execute(
        _SESSION.add_columns(group_members.c.role.label("my_role"))
        .join(group_members, group_members.c.group_id == group_sessions.c.group_id)
        .where(group_sessions.c.id == session_id, group_members.c.reader_id == reader_id)
    ).first()
    return dict(row._mapping) if row else None


def sessions(conn: Connection, group_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        _SESSION.where(group_sessions.c.group_id == group_id).order_by(
            group_sessions.c.starts_at, group_sessions.c.id
        )
    )
    return [dict(r._mapping) for r in rows]


def sessions_between(
    conn: Connection, start: datetime, end: datetime, reader_ids: Sequence[int] | None = None
) -> list[dict[str, Any]]:
    """Sessions starting in [start, end), with each member's id as
    ``member_id`` (one row per session and member; only ``reader_ids`` if given)."""
    query = (
        _SESSION.add_columns(group_members.c.reader_id.label("member_id"))
        .join(group_members, group_members.c.group_id == group_sessions.c.group_id)
        .where(group_sessions.c.starts_at >= start, group_sessions.c.starts_at < end)
        .order_by(group_sessions.c.starts_at, group_sessions.c.id)
    )
    if reader_ids is not None:
        query = query.where(group_members.c.reader_id.in_(list(reader_ids)))
    member = readers.alias("member")
    query = query.add_columns(member.c.email.label("member_email")).join(
        member, member.c.id == group_members.c.reader_id
    )
    return [dict(r._mapping) for r in conn.execute(query)]


def claim_reminder(conn: Connection, session_id: int, now: datetime) -> bool:
    """Mark a session's reminder as sent; True for the one caller that did."""
    result = conn.execute(
        update(group_sessions)
        .where(group_sessions.c.id == session_id, group_sessions.c.reminded_at.is_(None))
        .values(reminded_at=now)
    )
    return result.rowcount == 1


def is_member(conn: Connection, group_id: int, reader_id: int) -> bool:
    query = select(group_members.c.role).where(
        group_members.c.group_id == group_id, group_members.c.reader_id == reader_id
    )
    return conn.execute(query).first() is not None


def session_group(conn: Connection, session_id: int) -> int | None:
    query = select(group_sessions.c.group_id).where(group_sessions.c.id == session_id)
    found = conn.execute(query).scalar()
    return int(found) if found is not None else None
