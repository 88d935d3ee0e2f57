"""Reader storage: accounts, magic-link rows, rate-limit events, API tokens,
votes/saves/hides, collections, saved searches and submissions.

Every query on a reader's own data takes the acting reader's id and puts it in
the WHERE clause (or the INSERT ... SELECT) itself, so ownership cannot be
forgotten by a caller: another reader's row simply matches nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, delete, func, insert, literal, or_, select, update

from paperfeed.db.papers import _insert
from paperfeed.db.tables import (
    api_tokens,
    collection_papers,
    collections,
    hides,
    login_tokens,
    papers,
    rate_limit_events,
    reader_sessions,
    readers,
    role_changes,
    saved_searches,
    saves,
    submissions,
    votes,
)


def _new_id(result: Any) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


FLAG_TABLES: dict[str, Table] = {"vote": votes, "save": saves, "hide": hides}

# ---------------------------------------------------------------- readers


def get_reader(conn: Connection, reader_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(readers).where(readers.c.id == reader_id)).first()
    return dict(row._mapping) if row else None


def get_reader_by_email(conn: Connection, email: str) -> dict[str, Any] | None:
    row = conn.execute(select(readers).where(readers.c.email == email)).first()
    return dict(row._mapping) if row else None


def get_or_create_reader(conn: Connection, email: str, now: datetime) -> dict[str, Any]:
    # ON CONFLICT DO NOTHING: two sign-ins racing for a new address make one reader.
    conn.execute(
        _insert(conn, readers)
        .values(email=email, name=email.split("@")[0], role="reader", created_at=now)
        .on_conflict_do_nothing(index_elements=[readers.c.email])
    )
    reader = get_reader_by_email(conn, email)
    assert reader is not None
    return reader


def lock_reader(conn: Connection, reader_id: int) -> dict[str, Any] | None:
    """The reader's row, locked until the transaction ends (PostgreSQL; SQLite
    writers are serialized anyway), so a role change records the role it replaced."""
    row = conn.execute(select(readers).where(readers.c.id == reader_id).with_for_update()).first()
    return dict(row._mapping) if row else None


def set_role_by_id(conn: Connection, reader_id: int, role: str) -> bool:
    result = conn.execute(update(readers).where(readers.c.id == reader_id).values(role=role))
    return result.rowcount == 1


def record_role_change(
    conn: Connection,
    *,
    reader_id: int,
    email: str,
    old_role: str | None,
    new_role: str,
    changed_by_id: int | None,
    changed_by: str,
    now: datetime,
) -> None:
    conn.execute(
        insert(role_changes).values(
            reader_id=reader_id,
            email=email,
            old_role=old_role,
            new_role=new_role,
            changed_by_id=changed_by_id,
            changed_by=changed_by,
            changed_at=now,
        )
    )


def role_changes_log(conn: Connection, limit: int = 100) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(role_changes)
        .order_by(role_changes.c.changed_at.desc(), role_changes.c.id.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


def readers_with_roles(conn: Connection, roles: Sequence[str]) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(readers).where(readers.c.role.in_(list(roles))).order_by(readers.c.email)
    )
    return [dict(r._mapping) for r in rows]


# ---------------------------------------------------------------- sessions


def insert_session(
    conn: Connection, id_hash: str, reader_id: int, now: datetime, expires_at: datetime
) -> None:
    conn.execute(
        insert(reader_sessions).values(
            id_hash=id_hash, reader_id=reader_id, created_at=now, expires_at=expires_at
        )
    )


def reader_for_session(conn: Connection, id_hash: str, now: datetime) -> dict[str, Any] | None:
    """The reader of a live session: not revoked, not expired."""
    row = conn.execute(
        select(readers)
        .join(reader_sessions, reader_sessions.c.reader_id == readers.c.id)
        .where(
            reader_sessions.c.id_hash == id_hash,
            reader_sessions.c.revoked_at.is_(None),
            reader_sessions.c.expires_at > now,
        )
    ).first()
    return dict(row._mapping) if row else None


def revoke_session(conn: Connection, id_hash: str, now: datetime) -> None:
    conn.execute(
        update(reader_sessions)
        .where(reader_sessions.c.id_hash == id_hash, reader_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def forget_ended_sessions(conn: Connection, reader_id: int, now: datetime) -> None:
    """Delete the reader's expired or revoked sessions: nothing reads them again."""
    conn.execute(
        delete(reader_sessions).where(
            reader_sessions.c.reader_id == reader_id,
            or_(reader_sessions.c.revoked_at.is_not(None), reader_sessions.c.expires_at <= now),
        )
    )


def revoke_all_sessions(conn: Connection, reader_id: int, now: datetime) -> None:
    conn.execute(
        update(reader_sessions)
        .where(reader_sessions.c.reader_id == reader_id, reader_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def list_readers(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(readers).order_by(readers.c.id))
    return [dict(r._mapping) for r in rows]


# ---------------------------------------------------------------- magic links


def insert_login_token(
    conn: Connection, token_id: str, email: str, created_at: datetime, expires_at: datetime
) -> None:
    conn.execute(
        insert(login_tokens).values(
            id=token_id, email=email, created_at=created_at, expires_at=expires_at
        )
    )


def consume_login_token(conn: Connection, token_id: str, now: datetime) -> str | None:
    """Mark the token used and return its email, or None if it is unknown, used
    or expired. The conditional UPDATE is the lock: of two concurrent clicks on
    the same link exactly one sees rowcount 1."""
    result = conn.execute(
        update(login_tokens)
        .where(
            login_tokens.c.id == token_id,
            login_tokens.c.used_at.is_(None),
            login_tokens.c.expires_at > now,
        )
        .values(used_at=now)
    )
    if result.rowcount != 1:
        return None
    email = conn.execute(select(login_tokens.c.email).where(login_tokens.c.id == token_id)).scalar()
    return str(email)


def get_login_token(conn: Connection, token_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(login_tokens).where(login_tokens.c.id == token_id)).first()
    return dict(row._mapping) if row else None


# ---------------------------------------------------------------- rate limits


def count_events(conn: Connection, bucket: str, key: str, since: datetime) -> int:
    return int(
        conn.execute(
            select(func.count())
            .select_from(rate_limit_events)
            .where(
                rate_limit_events.c.bucket == bucket,
                rate_limit_events.c.key == key,
                rate_limit_events.c.created_at >= since,
            )
        ).scalar()
        or 0
    )


def record_event(conn: Connection, bucket: str, key: str, now: datetime, since: datetime) -> None:
    """Record one attempt and drop this key's events that fell out of the window."""
    conn.execute(
        delete(rate_limit_events).where(
            rate_limit_events.c.bucket == bucket,
            rate_limit_events.c.key == key,
            rate_limit_events.c.created_at < since,
        )
    )
    conn.execute(insert(rate_limit_events).values(bucket=bucket, key=key, created_at=now))


# ---------------------------------------------------------------- API tokens


def insert_api_token(
    conn: Connection, reader_id: int, name: str, token_hash: str, scopes: str, now: datetime
) -> int:
    result = conn.execute(
        insert(api_tokens).values(
            reader_id=reader_id, name=name, token_hash=token_hash, scopes=scopes, created_at=now
        )
    )
    return _new_id(result)


def list_api_tokens(conn: Connection, reader_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(
            api_tokens.c.id,
            api_tokens.c.name,
            api_tokens.c.created_at,
            api_tokens.c.last_used_at,
            api_tokens.c.revoked_at,
            api_tokens.c.scopes,
        )
        .where(api_tokens.c.reader_id == reader_id)
        .order_by(api_tokens.c.id.desc())
    )
    return [dict(r._mapping) for r in rows]


def revoke_api_token(conn: Connection, reader_id: int, token_id: int, now: datetime) -> bool:
    result = conn.execute(
        update(api_tokens)
        .where(
            api_tokens.c.id == token_id,
            api_tokens.c.reader_id == reader_id,
            api_tokens.c.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    return result.rowcount == 1


def revoke_all_api_tokens(conn: Connection, reader_id: int, now: datetime) -> None:
    conn.execute(
        update(api_tokens)
        .where(api_tokens.c.reader_id == reader_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def reader_for_token_hash(
    conn: Connection, token_hash: str, now: datetime
) -> dict[str, Any] | None:
    row = conn.execute(
        select(readers, api_tokens.c.id.label("token_id"), api_tokens.c.scopes)
        .join(api_tokens, api_tokens.c.reader_id == readers.c.id)
        .where(api_tokens.c.token_hash == token_hash, api_tokens.c.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    conn.execute(update(api_tokens).where(api_tokens.c.id == row.token_id).values(last_used_at=now))
    reader = dict(row._mapping)
    reader.pop("token_id")
    return reader


# ---------------------------------------------------------------- votes, saves, hides


def set_flag(
    conn: Connection, kind: str, reader_id: int, paper_id: str, on: bool, now: datetime
) -> bool:
    """Set or clear a vote/save/hide. Returns whether anything changed; the
    primary key (reader, paper) makes a second vote a no-op."""
    table = FLAG_TABLES[kind]
    if on:
        inserted = conn.execute(
            _insert(conn, table)
            .values(reader_id=reader_id, paper_id=paper_id, created_at=now)
            .on_conflict_do_nothing()
            .returning(table.c.paper_id)
        ).first()
        return inserted is not None
    result = conn.execute(
        delete(table).where(table.c.reader_id == reader_id, table.c.paper_id == paper_id)
    )
    return bool(result.rowcount)


def flags_for(conn: Connection, reader_id: int, paper_ids: Sequence[str]) -> dict[str, set[str]]:
    """paper id -> the reader's flags on it ({"vote", "save", "hide"})."""
    found: dict[str, set[str]] = {p: set() for p in paper_ids}
    if not paper_ids:
        return found
    for kind, table in FLAG_TABLES.items():
        rows = conn.execute(
            select(table.c.paper_id).where(
                table.c.reader_id == reader_id, table.c.paper_id.in_(list(paper_ids))
            )
        )
        for (paper_id,) in rows:
            found[paper_id].add(kind)
    return found


def flagged_papers(
    conn: Connection, kind: str, reader_id: int, *, limit: int = 200, offset: int = 0
) -> list[dict[str, Any]]:
    """The reader's saved (or hidden, or upvoted) papers, newest first."""
    table = FLAG_TABLES[kind]
    rows = conn.execute(
        select(papers, table.c.created_at.label("flagged_at"))
        .join(table, table.c.paper_id == papers.c.id)
        .where(table.c.reader_id == reader_id)
        .order_by(table.c.created_at.desc(), papers.c.id)
        .limit(limit)
        .offset(offset)
    )
    return [dict(r._mapping) for r in rows]


def flagged_ids(conn: Connection, kind: str, reader_id: int) -> set[str]:
    table = FLAG_TABLES[kind]
    return {
        r[0] for r in conn.execute(select(table.c.paper_id).where(table.c.reader_id == reader_id))
    }


# ---------------------------------------------------------------- collections

_collection_columns = (
    collections.c.id,
    collections.c.reader_id,
    collections.c.name,
    collections.c.description,
    collections.c.is_public,
    collections.c.created_at,
)


def _visible_to(viewer_id: int | None) -> Any:
    if viewer_id is None:
        return collections.c.is_public.is_(True)
    return or_(collections.c.is_public.is_(True), collections.c.reader_id == viewer_id)


def collection_name_taken(
    conn: Connection, reader_id: int, name: str, *, except_id: int | None = None
) -> bool:
    query = select(collections.c.id).where(
        collections.c.reader_id == reader_id, collections.c.name == name
    )
    if except_id is not None:
        query = query.where(collections.c.id != except_id)
    return conn.execute(query).first() is not None


def create_collection(
    conn: Connection,
    reader_id: int,
    name: str,
    description: str,
    is_public: bool,
    now: datetime,
) -> int:
    result = conn.execute(
        insert(collections).values(
            reader_id=reader_id,
            name=name,
            description=description,
            is_public=is_public,
            created_at=now,
        )
    )
    return _new_id(result)


def update_collection(
    conn: Connection, reader_id: int, collection_id: int, values: dict[str, Any]
) -> bool:
    if not values:
        return owns_collection(conn, reader_id, collection_id)
    result = conn.execute(
        update(collections)
        .where(collections.c.id == collection_id, collections.c.reader_id == reader_id)
        .values(**values)
    )
    return result.rowcount == 1


def delete_collection(conn: Connection, reader_id: int, collection_id: int) -> bool:
    result = conn.execute(
        delete(collections).where(
            collections.c.id == collection_id, collections.c.reader_id == reader_id
        )
    )
    return result.rowcount == 1


def owns_collection(conn: Connection, reader_id: int, collection_id: int) -> bool:
    row = conn.execute(
        select(collections.c.id).where(
            collections.c.id == collection_id, collections.c.reader_id == reader_id
        )
    ).first()
    return row is not None


def get_collection(
    conn: Connection, collection_id: int, viewer_id: int | None
) -> dict[str, Any] | None:
    """The collection if the viewer may see it (public, or their own); else None."""
    row = conn.execute(
        select(*_collection_columns, readers.c.name.label("owner_name"))
        .join(readers, readers.c.id == collections.c.reader_id)
        .where(collections.c.id == collection_id, _visible_to(viewer_id))
    ).first()
    return dict(row._mapping) if row else None


def list_collections(conn: Connection, reader_id: int) -> list[dict[str, Any]]:
    count = (
        select(func.count())
        .select_from(collection_papers)
        .where(collection_papers.c.collection_id == collections.c.id)
        .scalar_subquery()
    )
    rows = conn.execute(
        select(*_collection_columns, count.label("paper_count"))
        .where(collections.c.reader_id == reader_id)
        .order_by(collections.c.name)
    )
    return [dict(r._mapping) for r in rows]


def collection_papers_visible(
    conn: Connection, collection_id: int, viewer_id: int | None, *, limit: int = 500
) -> list[dict[str, Any]]:
    """The papers in a collection, if the viewer may see it (checked in the same query)."""
    rows = conn.execute(
        select(papers, collection_papers.c.added_at)
        .join(collection_papers, collection_papers.c.paper_id == papers.c.id)
        .join(collections, collections.c.id == collection_papers.c.collection_id)
        .where(collections.c.id == collection_id, _visible_to(viewer_id))
        .order_by(collection_papers.c.added_at.desc(), papers.c.id)
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


def add_to_collection(
    conn: Connection, reader_id: int, collection_id: int, paper_id: str, now: datetime
) -> bool:
    """INSERT ... SELECT from the reader's own collection: nothing is inserted
    when the collection is someone else's. Returns whether the collection is the
    reader's (adding a paper twice is fine)."""
    if not owns_collection(conn, reader_id, collection_id):
        return False
    source = select(collections.c.id, literal(paper_id), literal(now)).where(
        collections.c.id == collection_id, collections.c.reader_id == reader_id
    )
    conn.execute(
        _insert(conn, collection_papers)
        .from_select(["collection_id", "paper_id", "added_at"], source)
        .on_conflict_do_nothing()
    )
    return True


def remove_from_collection(
    conn: Connection, reader_id: int, collection_id: int, paper_id: str
) -> bool:
    if not owns_collection(conn, reader_id, collection_id):
        return False
    own = select(collections.c.id).where(
        collections.c.id == collection_id, collections.c.reader_id == reader_id
    )
    conn.execute(
        delete(collection_papers).where(
            collection_papers.c.collection_id.in_(own),
            collection_papers.c.paper_id == paper_id,
        )
    )
    return True


def collections_containing(conn: Connection, reader_id: int, paper_id: str) -> set[int]:
    rows = conn.execute(
        select(collections.c.id)
        .join(collection_papers, collection_papers.c.collection_id == collections.c.id)
        .where(collections.c.reader_id == reader_id, collection_papers.c.paper_id == paper_id)
    )
    return {int(r[0]) for r in rows}


# ---------------------------------------------------------------- saved searches


def create_saved_search(
    conn: Connection, reader_id: int, name: str, query: str, now: datetime
) -> int:
    result = conn.execute(
        insert(saved_searches).values(reader_id=reader_id, name=name, query=query, created_at=now)
    )
    return _new_id(result)


def list_saved_searches(conn: Connection, reader_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(saved_searches)
        .where(saved_searches.c.reader_id == reader_id)
        .order_by(saved_searches.c.id)
    )
    return [dict(r._mapping) for r in rows]


def get_saved_search(conn: Connection, reader_id: int, search_id: int) -> dict[str, Any] | None:
    row = conn.execute(
        select(saved_searches).where(
            saved_searches.c.id == search_id, saved_searches.c.reader_id == reader_id
        )
    ).first()
    return dict(row._mapping) if row else None


def update_saved_search(
    conn: Connection, reader_id: int, search_id: int, values: dict[str, Any]
) -> bool:
    if not values:
        return get_saved_search(conn, reader_id, search_id) is not None
    result = conn.execute(
        update(saved_searches)
        .where(saved_searches.c.id == search_id, saved_searches.c.reader_id == reader_id)
        .values(**values)
    )
    return result.rowcount == 1


def delete_saved_search(conn: Connection, reader_id: int, search_id: int) -> bool:
    result = conn.execute(
        delete(saved_searches).where(
            saved_searches.c.id == search_id, saved_searches.c.reader_id == reader_id
        )
    )
    return result.rowcount == 1


# ---------------------------------------------------------------- submissions


def record_submission(conn: Connection, paper_id: str, reader_id: int, now: datetime) -> bool:
    """The first reader to submit a paper is its submitter; returns whether this was first."""
    # RETURNING rather than rowcount: PostgreSQL drivers report a conflicting
    # INSERT ... ON CONFLICT DO NOTHING inconsistently.
    inserted = conn.execute(
        _insert(conn, submissions)
        .values(paper_id=paper_id, reader_id=reader_id, submitted_at=now)
        .on_conflict_do_nothing()
        .returning(submissions.c.paper_id)
    ).first()
    return inserted is not None


def list_submissions(conn: Connection, reader_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(papers, submissions.c.submitted_at)
        .join(submissions, submissions.c.paper_id == papers.c.id)
        .where(submissions.c.reader_id == reader_id)
        .order_by(submissions.c.submitted_at.desc())
    )
    return [dict(r._mapping) for r in rows]


def mark_submitted(
    conn: Connection, paper_id: str, submitter_name: str, day: Any, *, list_today: bool
) -> None:
    """Show the submitter on the paper; a paper new to Paperfeed is listed on the
    day it was submitted (an already-listed paper keeps its day)."""
    values: dict[str, Any] = {"submitted_by": submitter_name}
    conn.execute(
        update(papers)
        .where(papers.c.id == paper_id, papers.c.submitted_by.is_(None))
        .values(**values)
    )
    conn.execute(
        update(papers)
        .where(papers.c.id == paper_id, papers.c.featured_date.is_(None))
        .values(featured_date=day)
    )
    if list_today:
        conn.execute(update(papers).where(papers.c.id == paper_id).values(listing_date=day))


# ---------------------------------------------------------------- curation


def curated_papers(conn: Connection, *, limit: int = 500) -> list[dict[str, Any]]:
    """Papers curators featured or hid, most recently changed first."""
    rows = conn.execute(
        select(papers)
        .where(or_(papers.c.featured.is_(True), papers.c.hidden.is_(True)))
        .order_by(papers.c.modified_at.desc(), papers.c.id)
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]
