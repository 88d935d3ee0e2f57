"""The queries behind the trending lists: which papers a day, week or month
lists, the votes that score them, and the neighbouring days that have papers.

The score itself is computed in ``paperfeed.trending`` (Python, not SQL), so
the same formula runs on SQLite and PostgreSQL without either's math functions.
Only papers with something to score (a vote, imported upvotes, or a curator's
"featured") are scored; the rest of a list follows in "newest" order straight
from an index, so a month of 5,000 papers costs one small query plus one page.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, bindparam, exists, func, or_, select

from paperfeed.db.code import has_code
from paperfeed.db.papers import _as_date, driver_cursor
from paperfeed.db.tables import author_follows, hides, paper_authors, papers, votes


@dataclass(frozen=True, slots=True)
class ListFilter:
    """Which papers a list shows: listed between ``start`` and ``end``
    (inclusive; None means unbounded), never hidden by a curator, and never
    hidden by ``reader_id`` ("not interested")."""

    start: date | None = None
    end: date | None = None
    reader_id: int | None = None
    submitter: str | None = None
    has_code: bool = False  # only papers that link to code (db.code.has_code)
    # Only papers by authors this reader follows (the "From authors I follow" filter).
    followed_by: int | None = None

    def clauses(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = [papers.c.hidden.is_(False)]
        if self.start is not None:
            where.append(papers.c.listing_date >= self.start)
        if self.end is not None:
            where.append(papers.c.listing_date <= self.end)
        if self.reader_id is not None:
            where.append(
                ~exists().where(
                    and_(hides.c.reader_id == self.reader_id, hides.c.paper_id == papers.c.id)
                )
            )
        if self.submitter is not None:
            where.append(papers.c.submitted_by == self.submitter)
        if self.has_code:
            where.append(has_code())
        if self.followed_by is not None:
            followed = select(author_follows.c.author_id).where(
                author_follows.c.reader_id == self.followed_by
            )
            where.append(
                papers.c.id.in_(
                    select(paper_authors.c.paper_id).where(paper_authors.c.author_id.in_(followed))
                )
            )
        return where


def _has_votes() -> ColumnElement[bool]:
    return exists().where(votes.c.paper_id == papers.c.id)


def _scorable() -> ColumnElement[bool]:
    """Papers that have anything a trending score counts. Its negation must be
    exactly the complement: unscored papers are listed from a separate query."""
    return or_(papers.c.featured.is_(True), papers.c.imported_upvotes > 0, _has_votes())


def newest_order() -> list[Any]:
    # Most recently listed first, then by arXiv v1 date, then id (arXiv ids grow
    # with time). ix_papers_newest (migration 0006) serves this order.
    return [
        papers.c.listing_date.desc(),
        papers.c.published.desc(),
        papers.c.id.desc(),
    ]


def count_listed(conn: Connection, where: ListFilter) -> int:
    query = select(func.count()).select_from(papers).where(*where.clauses())
    return int(conn.execute(query).scalar() or 0)


@dataclass(frozen=True, slots=True)
class Candidate:
    """What scoring one paper needs, without its title and abstract."""

    id: str
    featured: bool
    imported_upvotes: int
    featured_date: date | None
    listing_date: date | None
    published: datetime | None
    created_at: datetime
    vote_times: tuple[datetime, ...]


# Scoring a list reads every vote on its papers: ~2,000 rows for the latest
# week of the 75k-paper benchmark, most of that page's cost. The candidates
# are kept per pooled connection and reused while the database is unchanged.
# The key is exact, not a time-to-live. On SQLite: ``PRAGMA data_version``
# changes whenever another connection (any process) commits, and the
# connection's own ``total_changes`` whenever it writes itself. On PostgreSQL:
# the statement's snapshot (``pg_current_snapshot()``), which decides what a
# read sees: another commit anywhere in the cluster changes it; and a
# transaction that has written itself does not cache at all (its later writes
# leave its snapshot as it was). Only the candidates are kept: the scores are
# computed for each request's ``now``.
_CANDIDATES_KEY = "paperfeed.trending_candidates"
_CANDIDATES_PER_CONNECTION = 32  # lists (period and filter) kept per connection


def _data_version_key(conn: Connection) -> tuple[int, int] | str | None:
    """What changes whenever this connection could read other data, or None
    when its reads must not be cached (a PostgreSQL transaction that wrote)."""
    if conn.dialect.name == "sqlite":
        version = conn.exec_driver_sql("PRAGMA data_version").scalar()
        return int(version or 0), int(conn.connection.driver_connection.total_changes)  # type: ignore[union-attr]
    row = conn.exec_driver_sql(
        "SELECT pg_current_snapshot()::text, pg_current_xact_id_if_assigned() IS NULL"
    ).one()
    return str(row[0]) if row[1] else None


def scoring_candidates(conn: Connection, where: ListFilter) -> tuple[Candidate, ...]:
    """Every paper in the list that has votes, imported upvotes or is featured,
    with the times of its votes (a shared, immutable tuple: do not change it)."""
    key = _data_version_key(conn)
    if key is None:
        return _read_candidates(conn, where)
    cache: dict[ListFilter, tuple[tuple[int, int] | str, tuple[Candidate, ...]]]
    cache = conn.connection.info.setdefault(_CANDIDATES_KEY, {})
    hit = cache.get(where)
    if hit is not None and hit[0] == key:
        return hit[1]
    candidates = _read_candidates(conn, where)
    if where not in cache and len(cache) >= _CANDIDATES_PER_CONNECTION:
        cache.pop(next(iter(cache)))  # the oldest list
    cache[where] = (key, candidates)
    return candidates


def _read_candidates(conn: Connection, where: ListFilter) -> tuple[Candidate, ...]:
    rows = conn.execute(
        select(
            papers.c.id,
            papers.c.featured,
            papers.c.imported_upvotes,
            papers.c.featured_date,
            papers.c.listing_date,
            papers.c.published,
            papers.c.created_at,
        ).where(*where.clauses(), _scorable())
    ).all()
    if not rows:
        return ()
    times: dict[str, list[datetime]] = defaultdict(list)
    vote_rows = conn.execute(
        select(votes.c.paper_id, votes.c.created_at)
        .join(papers, papers.c.id == votes.c.paper_id)
        .where(*where.clauses())
    ).all()
    for paper_id, created_at in vote_rows:
        times[paper_id].append(created_at)
    return tuple(
        Candidate(
            paper_id,
            bool(featured),
            int(imported or 0),
            featured_date,
            listing_date,
            published,
            created_at,
            tuple(times.get(paper_id, ())),
        )
        for (
            paper_id,
            featured,
            imported,
            featured_date,
            listing_date,
            published,
            created_at,
        ) in rows
    )


def unscored_ids(conn: Connection, where: ListFilter, *, offset: int, limit: int) -> list[str]:
    """A page of the papers with nothing to score, newest first."""
    if limit <= 0:
        return []
    query = (
        select(papers.c.id)
        .where(
            *where.clauses(),
            papers.c.featured.is_(False),
            papers.c.imported_upvotes <= 0,
            ~_has_votes(),
        )
        .order_by(*newest_order())
        .offset(offset)
        .limit(limit)
    )
    return list(conn.execute(query).scalars())


def newest_ids(conn: Connection, where: ListFilter, *, offset: int, limit: int) -> list[str]:
    """A page of the list, newest first."""
    query = (
        select(papers.c.id)
        .where(*where.clauses())
        .order_by(*newest_order())
        .offset(offset)
        .limit(limit)
    )
    return list(conn.execute(query).scalars())


# Built once, with the ids as an expanding parameter (see db.papers.get_papers).
_IMPORTED_UPVOTES = select(papers.c.id, papers.c.imported_upvotes).where(
    papers.c.id.in_(bindparam("ids", expanding=True))
)


def vote_counts(conn: Connection, ids: Sequence[str]) -> dict[str, int]:
    """Readers' votes per paper (papers with none are absent)."""
    if not ids:
        return {}
    if conn.dialect.name == "sqlite":  # as db.papers.get_papers, for the same reason
        cursor = driver_cursor(conn)
        try:
            cursor.execute(_SQLITE_VOTE_COUNTS, (json.dumps(list(ids)),))
            return {paper_id: int(n) for paper_id, n in cursor}
        finally:
            cursor.close()
    with driver_cursor(conn) as cursor:
        cursor.execute(_POSTGRESQL_VOTE_COUNTS, (list(ids),))
        return {paper_id: int(n) for paper_id, n in cursor}


_SQLITE_VOTE_COUNTS = (
    "SELECT paper_id, count(*) FROM votes"
    " WHERE paper_id IN (SELECT value FROM json_each(?)) GROUP BY paper_id"
)
_POSTGRESQL_VOTE_COUNTS = (
    "SELECT paper_id, count(*) FROM votes WHERE paper_id = ANY(%s) GROUP BY paper_id"
)


def upvote_counts(conn: Connection, ids: Sequence[str]) -> dict[str, int]:
    """Upvotes per paper, the figure every page shows: the upvotes imported
    from the source (Hugging Face) plus Paperfeed readers' votes; 0 for a known
    paper with none, unknown ids absent."""
    if not ids:
        return {}
    counts = {
        row.id: int(row.imported_upvotes or 0)
        for row in conn.execute(_IMPORTED_UPVOTES, {"ids": list(ids)})
    }
    for paper_id, n in vote_counts(conn, ids).items():
        counts[paper_id] = counts.get(paper_id, 0) + n
    return counts


def vote_times_for(conn: Connection, paper_id: str) -> list[datetime]:
    return list(
        conn.execute(select(votes.c.created_at).where(votes.c.paper_id == paper_id)).scalars()
    )


def latest_listing_date(conn: Connection, *, on_or_before: date | None = None) -> date | None:
    """The newest day that lists a visible paper (on or before a day, if given)."""
    query = select(func.max(papers.c.listing_date)).where(papers.c.hidden.is_(False))
    if on_or_before is not None:
        query = query.where(papers.c.listing_date <= on_or_before)
    return _as_date(conn.execute(query).scalar())


def listing_dates_around(
    conn: Connection, start: date, end: date
) -> tuple[date | None, date | None]:
    """The last day before ``start`` and the first day after ``end`` that list a
    visible paper: where "previous" and "next" lead."""
    visible = papers.c.hidden.is_(False)
    before = conn.execute(
        select(func.max(papers.c.listing_date)).where(visible, papers.c.listing_date < start)
    ).scalar()
    after = conn.execute(
        select(func.min(papers.c.listing_date)).where(visible, papers.c.listing_date > end)
    ).scalar()
    return _as_date(before), _as_date(after)


def latest_listing_date_between(conn: Connection, start: date, end: date) -> date | None:
    value = conn.execute(
        select(func.max(papers.c.listing_date)).where(
            papers.c.hidden.is_(False),
            papers.c.listing_date >= start,
            papers.c.listing_date <= end,
        )
    ).scalar()
    return _as_date(value)
