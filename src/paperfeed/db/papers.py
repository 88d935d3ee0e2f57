"""Paper storage: batched upserts with version history, and the reads every page needs."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Date,
    DateTime,
    Row,
    and_,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from paperfeed.db.tables import (
    author_queue,
    code_links,
    collection_papers,
    hides,
    index_queue,
    paper_aliases,
    paper_versions,
    papers,
    saves,
    submissions,
    votes,
)
from paperfeed.models import Paper, normalize_title, text_hash


def now() -> datetime:
    return datetime.now(UTC)


def _insert(conn: Connection, table: Any) -> Any:
    """The dialect's INSERT, which has on_conflict_do_nothing/do_update on both backends."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


@dataclass
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    # Records of a batch that named a paper an earlier record of it named too
    # (the later one was stored): every record is one of these four.
    duplicates: int = 0
    # Ids of papers whose record equalled what is stored (what derives from
    # their text, such as code links, need not be derived again).
    unchanged_ids: set[str] = field(default_factory=set)

    def add(self, other: UpsertCounts) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.duplicates += other.duplicates
        self.unchanged_ids |= other.unchanged_ids


# How much of a paper's metadata a source carries. A poorer source (an HF page:
# title and abstract only) fills gaps but never overwrites what a richer one
# said, and never takes over ``source``: that names the richest source seen,
# while ``sources`` lists every source that contributed.
SOURCE_RANK = {
    "arxiv-api": 4,
    "arxiv-oai": 4,
    "arxiv-snapshot": 4,
    "jsonl": 3,
    "hf-daily": 2,
    "hf-page": 1,
}
DEFAULT_SOURCE_RANK = 3  # a source this table does not know (a submission, a test...)
COMMUNITY_FIELDS = ("imported_upvotes", "submitted_by", "featured_date", "organization")


def source_rank(source: str | None) -> int:
    return SOURCE_RANK.get(source or "", DEFAULT_SOURCE_RANK)


def _merged_row(paper: Paper, existing: Row[Any] | None, stamp: datetime) -> dict[str, Any]:
    """The row to store. Sources are partial (an HF page has no dates, the HF API
    has upvotes but no DOI), so a missing value never erases a known one, an
    older version never overwrites a newer one, and a poorer source never
    overwrites a richer one (SOURCE_RANK); community fields (upvotes,
    submitter, featured date) come from whichever source has them."""
    row: dict[str, Any] = {
        "id": paper.id,
        "title": paper.title,
        "abstract": paper.abstract,
        "authors": list(paper.authors),
        "primary_category": paper.primary_category,
        "categories": list(paper.categories),
        "latest_version": paper.latest_version,
        "published": paper.published,
        "updated": paper.updated,
        "listing_date": paper.listing_date,
        "comment": paper.comment,
        "journal_ref": paper.journal_ref,
        "doi": paper.doi,
        "abs_url": paper.abs_url,
        "pdf_url": paper.pdf_url,
        "source": paper.source,
        "sources": [paper.source],
        "imported_upvotes": paper.upvotes or 0,
        "submitted_by": paper.submitted_by,
        "featured_date": paper.featured_date,
        "withdrawn": paper.withdrawn,
        "affiliations": paper.affiliations or None,
        "organization": paper.organization or None,
        "title_key": normalize_title(paper.title),
        "content_hash": paper.content_hash(),
        "modified_at": stamp,
    }
    if existing is None:
        row["text_hash"] = text_hash(paper.title, paper.abstract)
        row["created_at"] = stamp
        return row
    old = existing._mapping
    incoming_is_older = paper.latest_version < (old["latest_version"] or 0)
    poorer = incoming_is_older or source_rank(paper.source) < source_rank(old["source"])
    for key, value in list(row.items()):
        if key in ("content_hash", "text_hash", "modified_at", "id", "sources"):
            continue
        keep_old = poorer and key not in COMMUNITY_FIELDS
        value_missing = value in (None, "", [], 0) and old[key] not in (None, "", [])
        if keep_old or value_missing:
            row[key] = old[key]
    if old["listing_date"] and row["listing_date"]:
        # A paper is listed once: the first day it appeared.
        row["listing_date"] = min(old["listing_date"], row["listing_date"])
    row["imported_upvotes"] = max(paper.upvotes or 0, old["imported_upvotes"] or 0)
    # Of the merged title and abstract (a poorer source may not have replaced them).
    row["text_hash"] = text_hash(row["title"], row["abstract"])
    row["sources"] = sorted({*(old["sources"] or [old["source"]]), paper.source})
    return row


def _comparable(value: Any) -> Any:
    # SQLite hands DateTime(timezone=True) columns back naive (in UTC).
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _same_row(row: dict[str, Any], old: Row[Any]) -> bool:
    """Whether storing ``row`` would change nothing but bookkeeping columns."""
    mapping = old._mapping
    return all(
        _comparable(value) == _comparable(mapping[key])
        for key, value in row.items()
        if key not in ("content_hash", "modified_at", "created_at")
    )


def resolve_ids(conn: Connection, ids: Sequence[str]) -> dict[str, str]:
    """Map aliases (old slugs) to their paper ids; ids that are no alias map to themselves."""
    found = dict(
        conn.execute(
            select(paper_aliases.c.alias, paper_aliases.c.paper_id).where(
                paper_aliases.c.alias.in_(ids)
            )
        ).all()
    )
    return {i: found.get(i, i) for i in ids}


def upsert_papers(conn: Connection, batch: Sequence[Paper]) -> UpsertCounts:
    """Insert new papers and update changed ones, in the caller's transaction.

    Re-ingesting identical data writes nothing: each row carries a hash of what
    the source said, compared before writing. Every changed paper is queued for
    the sidecar indexes in the same transaction.
    """
    counts = UpsertCounts()
    if not batch:
        return counts
    # Later records for the same id in one batch win (a feed may repeat a paper).
    by_id: dict[str, Paper] = {}
    aliases = resolve_ids(conn, [p.id for p in batch])
    for paper in batch:
        paper.id = aliases[paper.id]
        by_id[paper.id] = paper
    counts.duplicates = len(batch) - len(by_id)
    existing = {
        row.id: row for row in conn.execute(select(papers).where(papers.c.id.in_(list(by_id))))
    }
    stamp = now()
    new_rows: list[dict[str, Any]] = []
    changed_rows: list[dict[str, Any]] = []
    versioned: list[Paper] = []
    for paper_id, paper in by_id.items():
        old = existing.get(paper_id)
        if old is not None and old.content_hash == paper.content_hash():
            counts.unchanged += 1
            counts.unchanged_ids.add(paper_id)
            continue
        row = _merged_row(paper, old, stamp)
        versioned.append(paper)
        if old is not None and _same_row(row, old):
            # Another source said what is already stored (two sources
            # alternating must not rewrite and re-index the paper each time).
            counts.unchanged += 1
            counts.unchanged_ids.add(paper_id)
            continue
        (new_rows if old is None else changed_rows).append(row)
    if new_rows:
        conn.execute(papers.insert(), new_rows)
        counts.inserted = len(new_rows)
    if changed_rows:
        stmt = _insert(conn, papers)
        columns = [c for c in changed_rows[0] if c not in ("id", "created_at")]
        stmt = stmt.on_conflict_do_update(
            index_elements=[papers.c.id],
            set_={c: stmt.excluded[c] for c in columns},
        )
        conn.execute(stmt, [{**r, "created_at": stamp} for r in changed_rows])
        counts.updated = len(changed_rows)
    touched = [r["id"] for r in new_rows + changed_rows]
    version_rows = [
        {"paper_id": p.id, "version": v.number, "created": v.created}
        for p in versioned
        for v in p.versions
    ]
    if version_rows:
        conn.execute(_insert(conn, paper_versions).on_conflict_do_nothing(), version_rows)
    if touched:
        queue_for_index(conn, touched)
        queue_for_authors(conn, touched)
    return counts


def queue_for_authors(conn: Connection, paper_ids: Sequence[str]) -> None:
    """Queue papers for author linking (see tables.author_queue)."""
    stamp = now()
    # Through the driver: SQLAlchemy's per-row parameter handling would cost
    # ingest more than the insert itself (docs/benchmarks.md, issue 24).
    insert = (
        "INSERT INTO author_queue (paper_id, queued_at) VALUES ({0}, {0}) ON CONFLICT DO NOTHING"
    )
    if conn.dialect.name == "sqlite":
        sql = insert.format("?")
        # SQLAlchemy's DateTime text on SQLite, so queued_at sorts as a time.
        value: Any = stamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    else:
        sql = insert.format("%s")
        value = stamp
    conn.exec_driver_sql(sql, [(i, value) for i in dict.fromkeys(paper_ids)])


def queue_for_index(conn: Connection, paper_ids: Sequence[str]) -> None:
    """Queue papers for the lexical sidecar (see tables.index_queue)."""
    if not paper_ids:
        return
    stamp = now()
    stmt = _insert(conn, index_queue)
    # Refresh queued_at on conflict: the indexer deletes a row only if its
    # queued_at is the one it read, so a change committed while it was
    # indexing the previous version stays queued (db/index_queue.py).
    stmt = stmt.on_conflict_do_update(
        index_elements=[index_queue.c.paper_id],
        set_={"queued_at": stmt.excluded.queued_at},
    )
    conn.execute(stmt, [{"paper_id": i, "queued_at": stamp} for i in dict.fromkeys(paper_ids)])


def find_by_title_key(conn: Connection, title_keys: Sequence[str]) -> dict[str, str]:
    """title_key -> paper id, preferring papers that have an arXiv id over slugs."""
    rows = conn.execute(
        select(papers.c.title_key, papers.c.id, papers.c.source).where(
            papers.c.title_key.in_(list(title_keys))
        )
    ).all()
    found: dict[str, str] = {}
    for key, paper_id, _source in rows:
        if key not in found or "/" in paper_id or paper_id[:4].isdigit():
            found[key] = paper_id
    return found


def merge_slug_into(conn: Connection, slug: str, paper_id: str) -> None:
    """Fold a slug paper into its arXiv twin: readers' votes, saves, hides,
    collections, code links and submissions move over, and the slug stays as an alias."""
    old = conn.execute(select(papers).where(papers.c.id == slug)).first()
    if old is None:
        return
    for table, owner in (
        (votes, "reader_id"),
        (saves, "reader_id"),
        (hides, "reader_id"),
        (collection_papers, "collection_id"),
        (code_links, "url"),
    ):
        twin = table.alias("twin")
        already = (
            select(twin.c.paper_id)
            .where(twin.c[owner] == table.c[owner], twin.c.paper_id == paper_id)
            .exists()
        )
        conn.execute(
            update(table).where(table.c.paper_id == slug, ~already).values(paper_id=paper_id)
        )
    has_submission = conn.execute(
        select(submissions.c.paper_id).where(submissions.c.paper_id == paper_id)
    ).first()
    if not has_submission:
        conn.execute(
            update(submissions).where(submissions.c.paper_id == slug).values(paper_id=paper_id)
        )
    conn.execute(
        update(papers)
        .where(papers.c.id == paper_id, papers.c.imported_upvotes < old.imported_upvotes)
        .values(imported_upvotes=old.imported_upvotes)
    )
    conn.execute(
        update(paper_aliases).where(paper_aliases.c.paper_id == slug).values(paper_id=paper_id)
    )
    conn.execute(delete(index_queue).where(index_queue.c.paper_id == slug))
    conn.execute(delete(code_links).where(code_links.c.paper_id == slug))
    conn.execute(delete(author_queue).where(author_queue.c.paper_id == slug))
    conn.execute(delete(papers).where(papers.c.id == slug))
    conn.execute(
        _insert(conn, paper_aliases).on_conflict_do_nothing(),
        [{"alias": slug, "paper_id": paper_id}],
    )
    # The sidecar indexes must drop the slug; the queue entry does that.
    queue_for_index(conn, [slug, paper_id])
    queue_for_authors(conn, [paper_id])


# ---------------------------------------------------------------- reads


def get_paper(conn: Connection, paper_id: str) -> dict[str, Any] | None:
    paper_id = resolve_ids(conn, [paper_id])[paper_id]
    row = conn.execute(select(papers).where(papers.c.id == paper_id)).first()
    if row is None:
        return None
    result = dict(row._mapping)
    result["versions"] = [
        dict(v._mapping)
        for v in conn.execute(
            select(paper_versions.c.version, paper_versions.c.created)
            .where(paper_versions.c.paper_id == paper_id)
            .order_by(paper_versions.c.version)
        )
    ]
    return result


def get_papers(conn: Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Papers by id, in one query; unknown ids are absent."""
    if not ids:
        return {}
    if conn.dialect.name == "sqlite":
        return _get_papers_sqlite(conn, ids)
    return _get_papers_postgresql(conn, ids)


# On SQLite, the same read straight through the connection's sqlite3 cursor,
# one constant statement (sqlite3 keeps it prepared) with the ids as one JSON
# parameter. SQLAlchemy's execution and row processing were most of the cost
# of reading a search request's 20 hits: 0.67 -> 0.36 ms with the vote counts
# (in-process, 400 sets of 20 ids). The converters give what SQLAlchemy's
# column types give on SQLite, naive datetimes included (tests/test_store.py
# compares the two paths).
def _sqlite_converter(column: Any) -> Callable[[Any], Any] | None:
    kind = column.type
    if isinstance(kind, JSON):
        return json.loads
    if isinstance(kind, DateTime):
        return datetime.fromisoformat
    if isinstance(kind, Date):
        return date.fromisoformat
    if isinstance(kind, Boolean):
        return bool
    return None


_PAPER_COLUMNS = tuple(c.name for c in papers.columns)
_PAPER_CONVERTERS = tuple(
    (i, f) for i, c in enumerate(papers.columns) if (f := _sqlite_converter(c)) is not None
)
# (The column names are the table's own, not input.)
_SQLITE_PAPERS_BY_ID = (
    "SELECT " + ", ".join(f'"{name}"' for name in _PAPER_COLUMNS)  # noqa: S608
    + " FROM papers WHERE id IN (SELECT value FROM json_each(?))"
)  # fmt: skip


def _get_papers_sqlite(conn: Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    cursor = driver_cursor(conn)
    try:
        cursor.execute(_SQLITE_PAPERS_BY_ID, (json.dumps(list(ids)),))
        found = {}
        for raw in cursor:
            values = list(raw)
            for i, convert in _PAPER_CONVERTERS:
                if values[i] is not None:
                    values[i] = convert(values[i])
            found[values[0]] = dict(zip(_PAPER_COLUMNS, values, strict=True))
        return found
    finally:
        cursor.close()


# On PostgreSQL, likewise through psycopg's cursor: one constant statement with
# the ids as one array, which psycopg prepares once per connection whatever
# their number, and no SQLAlchemy compilation or row processing. psycopg's
# values are SQLAlchemy's here (json, timestamptz, date, boolean), so no
# converters (tests/test_store.py compares the two paths on PostgreSQL too).
# Web worker CPU of a search request at 75k papers: docs/benchmarks.md, session 14.
_POSTGRESQL_PAPERS_BY_ID = (
    "SELECT " + ", ".join(f'"{name}"' for name in _PAPER_COLUMNS)  # noqa: S608
    + " FROM papers WHERE id = ANY(%s)"
)  # fmt: skip


def _get_papers_postgresql(conn: Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    with driver_cursor(conn) as cursor:
        cursor.execute(_POSTGRESQL_PAPERS_BY_ID, (list(ids),))
        return {row[0]: dict(zip(_PAPER_COLUMNS, row, strict=True)) for row in cursor}


def driver_cursor(conn: Connection) -> Any:
    """A cursor of the driver's connection under ``conn`` (sqlite3 or psycopg;
    same transaction)."""
    return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]


def papers_listed_on(
    conn: Connection, day: date, *, limit: int = 50, offset: int = 0
) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(papers)
        .where(and_(papers.c.listing_date == day, papers.c.hidden.is_(False)))
        .order_by(papers.c.imported_upvotes.desc(), papers.c.id)
        .limit(limit)
        .offset(offset)
    )
    return [dict(r._mapping) for r in rows]


def latest_listing_date(conn: Connection, *, on_or_before: date | None = None) -> date | None:
    query = select(func.max(papers.c.listing_date))
    if on_or_before is not None:
        query = query.where(papers.c.listing_date <= on_or_before)
    value = conn.execute(query).scalar()
    return _as_date(value)


def _as_date(value: Any) -> date | None:
    # SQLite hands back strings from aggregate functions.
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def count_papers(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(papers)).scalar() or 0)


def stats(conn: Connection) -> dict[str, Any]:
    by_source: dict[str, int] = dict(
        conn.execute(select(papers.c.source, func.count()).group_by(papers.c.source)).all()
    )
    first, last = conn.execute(
        select(func.min(papers.c.listing_date), func.max(papers.c.listing_date))
    ).one()
    return {
        "papers": sum(by_source.values()),
        "by_source": by_source,
        "versions": conn.execute(select(func.count()).select_from(paper_versions)).scalar(),
        "withdrawn": conn.execute(
            select(func.count()).select_from(papers).where(papers.c.withdrawn.is_(True))
        ).scalar(),
        "first_listing_date": _as_date(first),
        "last_listing_date": _as_date(last),
        "index_queue": conn.execute(select(func.count()).select_from(index_queue)).scalar(),
    }


def set_curation(
    conn: Connection, paper_id: str, *, featured: bool | None = None, hidden: bool | None = None
) -> None:
    values: dict[str, Any] = {}
    if featured is not None:
        values["featured"] = featured
    if hidden is not None:
        values["hidden"] = hidden
    if values:
        conn.execute(update(papers).where(papers.c.id == paper_id).values(**values))
