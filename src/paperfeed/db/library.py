"""A reader's library as a whole: private notes, the rows an import writes,
everything an export reads, and deleting an account.

As in db/readers.py, every query takes the acting reader's id into its own
WHERE clause. Deleting an account walks every table of ``tables.metadata``
with a foreign key to ``readers.id`` and follows that key's own ON DELETE rule,
so a table added later is handled by declaring its rule, and a key declared
without one stops the deletion instead of leaving rows behind.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, Table, delete, func, or_, select, update

from paperfeed.db.papers import _insert
from paperfeed.db.readers import owns_collection
from paperfeed.db.tables import (
    collection_papers,
    collections,
    hides,
    login_tokens,
    metadata,
    notes,
    papers,
    rate_limit_events,
    readers,
    role_changes,
    saved_searches,
    saves,
    submissions,
    subscriptions,
    votes,
)

# ---------------------------------------------------------------- notes


def _note_key(reader_id: int, paper_id: str, collection_id: int | None) -> Any:
    where = [notes.c.reader_id == reader_id, notes.c.paper_id == paper_id]
    if collection_id is None:
        where.append(notes.c.collection_id.is_(None))
    else:
        where.append(notes.c.collection_id == collection_id)
    return where


def in_own_collection(conn: Connection, reader_id: int, collection_id: int, paper_id: str) -> bool:
    row = conn.execute(
        select(collection_papers.c.paper_id)
        .join(collections, collections.c.id == collection_papers.c.collection_id)
        .where(
            collections.c.id == collection_id,
            collections.c.reader_id == reader_id,
            collection_papers.c.paper_id == paper_id,
        )
    ).first()
    return row is not None


def set_note(
    conn: Connection,
    reader_id: int,
    paper_id: str,
    collection_id: int | None,
    body: str,
    now: datetime,
) -> None:
    """Write the reader's note (the caller checked the paper and collection)."""
    where = _note_key(reader_id, paper_id, collection_id)
    changed = conn.execute(update(notes).where(*where).values(body=body, updated_at=now))
    if changed.rowcount == 0:
        conn.execute(
            notes.insert().values(
                reader_id=reader_id,
                paper_id=paper_id,
                collection_id=collection_id,
                body=body,
                created_at=now,
                updated_at=now,
            )
        )


def delete_note(conn: Connection, reader_id: int, paper_id: str, collection_id: int | None) -> bool:
    result = conn.execute(delete(notes).where(*_note_key(reader_id, paper_id, collection_id)))
    return bool(result.rowcount)


def get_note(
    conn: Connection, reader_id: int, paper_id: str, collection_id: int | None
) -> dict[str, Any] | None:
    row = conn.execute(select(notes).where(*_note_key(reader_id, paper_id, collection_id))).first()
    return dict(row._mapping) if row else None


def notes_on(
    conn: Connection, reader_id: int, paper_ids: Sequence[str], collection_id: int | None = None
) -> dict[str, str]:
    """paper id -> the reader's note on it (on the paper, or on the collection's item)."""
    if not paper_ids:
        return {}
    where = [notes.c.reader_id == reader_id, notes.c.paper_id.in_(list(paper_ids))]
    if collection_id is None:
        where.append(notes.c.collection_id.is_(None))
    else:
        where.append(notes.c.collection_id == collection_id)
    return dict(conn.execute(select(notes.c.paper_id, notes.c.body).where(*where)).all())


def _contains(column: Any, text: str) -> Any:
    return func.lower(column).contains(text.lower(), autoescape=True)


def list_notes(conn: Connection, reader_id: int, text: str = "") -> list[dict[str, Any]]:
    """The reader's notes, newest first, with the paper's title and the
    collection's name; ``text`` keeps those whose note or title contain it."""
    query = (
        select(
            notes.c.paper_id,
            notes.c.collection_id,
            notes.c.body,
            notes.c.created_at,
            notes.c.updated_at,
            papers.c.title,
            collections.c.name.label("collection_name"),
        )
        .join(papers, papers.c.id == notes.c.paper_id)
        .outerjoin(collections, collections.c.id == notes.c.collection_id)
        .where(notes.c.reader_id == reader_id)
        .order_by(notes.c.updated_at.desc(), notes.c.id.desc())
    )
    if text:
        query = query.where(or_(_contains(notes.c.body, text), _contains(papers.c.title, text)))
    return [dict(r._mapping) for r in conn.execute(query)]


def search_saved(
    conn: Connection, reader_id: int, text: str, *, limit: int = 200
) -> list[dict[str, Any]]:
    """The reader's saved papers whose title, abstract or note (on the paper)
    contain ``text``, newest save first."""
    note = notes.alias("paper_note")
    rows = conn.execute(
        select(papers, saves.c.created_at.label("flagged_at"))
        .join(saves, saves.c.paper_id == papers.c.id)
        .outerjoin(
            note,
            (note.c.paper_id == papers.c.id)
            & (note.c.reader_id == reader_id)
            & note.c.collection_id.is_(None),
        )
        .where(
            saves.c.reader_id == reader_id,
            or_(
                _contains(papers.c.title, text),
                _contains(papers.c.abstract, text),
                _contains(note.c.body, text),
            ),
        )
        .order_by(saves.c.created_at.desc(), papers.c.id)
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


# ---------------------------------------------------------------- import


def papers_by_doi(conn: Connection, dois: Sequence[str]) -> dict[str, str]:
    """lower-cased DOI -> paper id."""
    if not dois:
        return {}
    rows = conn.execute(
        select(func.lower(papers.c.doi), papers.c.id).where(
            func.lower(papers.c.doi).in_([d.lower() for d in dois])
        )
    )
    return {doi: paper_id for doi, paper_id in rows}


def save_papers(conn: Connection, reader_id: int, paper_ids: Iterable[str], now: datetime) -> int:
    """Save each paper (already saved ones stay as they were); returns how many were new."""
    new = 0
    for paper_id in paper_ids:
        inserted = conn.execute(
            _insert(conn, saves)
            .values(reader_id=reader_id, paper_id=paper_id, created_at=now)
            .on_conflict_do_nothing()
            .returning(saves.c.paper_id)
        ).first()
        new += inserted is not None
    return new


def fill_collection(
    conn: Connection, reader_id: int, collection_id: int, paper_ids: Iterable[str], now: datetime
) -> None:
    assert owns_collection(conn, reader_id, collection_id)
    for paper_id in paper_ids:
        conn.execute(
            _insert(conn, collection_papers)
            .values(collection_id=collection_id, paper_id=paper_id, added_at=now)
            .on_conflict_do_nothing()
        )


# ---------------------------------------------------------------- export


def _rows(conn: Connection, query: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(query)]


def flagged(conn: Connection, reader_id: int) -> dict[str, list[dict[str, Any]]]:
    """Every vote, save and hide of the reader: paper id and when."""
    return {
        name: _rows(
            conn,
            select(table.c.paper_id, table.c.created_at)
            .where(table.c.reader_id == reader_id)
            .order_by(table.c.created_at, table.c.paper_id),
        )
        for name, table in (("votes", votes), ("saves", saves), ("hides", hides))
    }


def saved_papers(conn: Connection, reader_id: int) -> list[dict[str, Any]]:
    """All the reader's saved papers (full rows), oldest save first."""
    return _rows(
        conn,
        select(papers)
        .join(saves, saves.c.paper_id == papers.c.id)
        .where(saves.c.reader_id == reader_id)
        .order_by(saves.c.created_at, papers.c.id),
    )


def own_collection_papers(
    conn: Connection, reader_id: int, collection_id: int | None = None
) -> list[dict[str, Any]]:
    """The papers (full rows) of the reader's collections, or of one of them,
    each with its ``collection_id``; nothing of another reader's."""
    query = (
        select(papers, collection_papers.c.collection_id, collection_papers.c.added_at)
        .join(collection_papers, collection_papers.c.paper_id == papers.c.id)
        .join(collections, collections.c.id == collection_papers.c.collection_id)
        .where(collections.c.reader_id == reader_id)
        .order_by(collection_papers.c.added_at, papers.c.id)
    )
    if collection_id is not None:
        query = query.where(collections.c.id == collection_id)
    return _rows(conn, query)


def reader_subscriptions(conn: Connection, reader_id: int, email: str) -> list[dict[str, Any]]:
    return _rows(
        conn,
        select(subscriptions).where(
            or_(subscriptions.c.reader_id == reader_id, subscriptions.c.email == email)
        ),
    )


# Columns an export never carries, whatever table they are in: credentials.
SECRET_COLUMNS = ("token_hash", "id_hash", "confirm_nonce")


def reader_columns() -> list[tuple[Table, Column[Any]]]:
    """Every (table, column) with a foreign key to readers.id."""
    found = []
    for table in metadata.sorted_tables:
        for column in table.columns:
            if any(fk.column is readers.c.id for fk in column.foreign_keys):
                found.append((table, column))
    return found


def rows_of(conn: Connection, table: Table, column: Column[Any], reader_id: int) -> list[dict]:
    """A table's rows that point at the reader, without secret columns."""
    kept = [c for c in table.columns if c.name not in SECRET_COLUMNS]
    return _rows(conn, select(*kept).where(column == reader_id))


# ---------------------------------------------------------------- deleting an account


class UnhandledReaderTable(RuntimeError):
    """A foreign key to readers.id with no ON DELETE rule: deleting an account
    would leave that table's rows behind (or fail on the key)."""


def delete_reader(conn: Connection, reader_id: int, email: str) -> dict[str, int]:
    """Remove the reader: rows keyed to them are deleted (ON DELETE CASCADE) or
    unlinked (SET NULL), and rows naming them by address (sign-in links, rate
    limits, digest subscriptions, the role audit trail) are deleted or
    anonymised. Returns rows touched per table. Run in one transaction."""
    touched: dict[str, int] = {}

    def count(name: str, result: Any) -> None:
        touched[name] = touched.get(name, 0) + max(int(result.rowcount or 0), 0)

    # Their submissions credit them by name on the paper.
    submitted = select(submissions.c.paper_id).where(submissions.c.reader_id == reader_id)
    count(
        "papers",
        conn.execute(update(papers).where(papers.c.id.in_(submitted)).values(submitted_by=None)),
    )
    count(
        "subscriptions",
        conn.execute(
            delete(subscriptions).where(
                or_(subscriptions.c.reader_id == reader_id, subscriptions.c.email == email)
            )
        ),
    )
    count("login_tokens", conn.execute(delete(login_tokens).where(login_tokens.c.email == email)))
    count(
        "rate_limit_events",
        conn.execute(delete(rate_limit_events).where(rate_limit_events.c.key == email)),
    )
    gone = f"deleted reader {reader_id}"
    count(
        "role_changes",
        conn.execute(update(role_changes).where(role_changes.c.email == email).values(email=gone)),
    )
    count(
        "role_changes",
        conn.execute(
            update(role_changes).where(role_changes.c.changed_by == email).values(changed_by=gone)
        ),
    )
    for table, column in reader_columns():
        if table is readers:
            continue
        rule = next(fk.ondelete for fk in column.foreign_keys if fk.column is readers.c.id)
        if (rule or "").upper() == "CASCADE":
            count(table.name, conn.execute(delete(table).where(column == reader_id)))
        elif (rule or "").upper() == "SET NULL":
            count(
                table.name,
                conn.execute(update(table).where(column == reader_id).values({column.name: None})),
            )
        else:
            raise UnhandledReaderTable(
                f"{table.name}.{column.name} references readers.id without ON DELETE "
                "CASCADE or SET NULL; say which, so deleting an account handles it"
            )
    count("readers", conn.execute(delete(readers).where(readers.c.id == reader_id)))
    return touched


def list_saved_searches(conn: Connection, reader_id: int) -> list[dict[str, Any]]:
    return _rows(conn, select(saved_searches).where(saved_searches.c.reader_id == reader_id))


def all_notes(conn: Connection, reader_id: int) -> list[dict[str, Any]]:
    return _rows(
        conn,
        select(
            notes.c.paper_id,
            notes.c.collection_id,
            notes.c.body,
            notes.c.created_at,
            notes.c.updated_at,
        )
        .where(notes.c.reader_id == reader_id)
        .order_by(notes.c.id),
    )
