"""The keyword index on PostgreSQL: the database is the index (no sidecar files).

Queries are rendered to SQL (index/pg_query.py) and ranked by BM25 from
sampled term statistics (index/pg_stats.py). A ranked search reads the
leaders of its terms' impact-ordered posting lists first (index/pg_postings.py)
and, where they hold too few matches, the matches of its rarest terms. It
offers the methods of the tantivy sidecar (index/contracts.py), so ranking and
hybrid fusion run the same code on both backends.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from paperfeed.db import index_queue as queue
from paperfeed.db.engine import Database
from paperfeed.db.tables import papers
from paperfeed.index.contracts import DEFAULT_WEIGHTS, FieldWeights, Filters, Hits, KeywordQuery
from paperfeed.index.pg_postings import read_leaders
from paperfeed.index.pg_query import (
    TEXT_CONFIG,
    WORD,
    PgQuery,
    TermParser,
    all_of,
    categories_match,
    date_literal,
    fetch,
    has_code_sql,
    matches,
    render_node,
    sql_string,
    uncached,
)
from paperfeed.index.pg_stats import StatsCache, bm25_sql, estimate_matches, prune_terms
from paperfeed.query import Node, clean
from paperfeed.tuning import IndexTuning

PRUNE_BUDGET = 2000  # estimated rows ranked before widening
WIDEN_FACTOR = 8
WIDEN_LIMIT = 200_000  # estimated rows: past this, every term takes part
_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"  # private-use: query text never has them


def _best(
    hits: list[tuple[str, float]], more: list[tuple[str, float]], limit: int
) -> list[tuple[str, float]]:
    """The best ``limit`` of two rankings by the same score, each paper once."""
    merged = dict(hits)
    merged.update(more)
    return sorted(merged.items(), key=lambda h: (-h[1], h[0]))[:limit]


def _own(query: KeywordQuery) -> PgQuery:
    if not isinstance(query, PgQuery):
        raise TypeError(f"a {type(query).__name__} is not a PostgreSQL keyword query")
    return query


class PgLexicalIndex:
    """The keyword index on PostgreSQL (index/contracts.py's LexicalIndex).
    Owns what it learns of its database: parsed words, term statistics, and
    whether the posting table exists."""

    def __init__(self, db: Database, tuning: IndexTuning = IndexTuning()) -> None:
        self.db = db
        self.tuning = tuning
        self.parser = TermParser(db)
        self.stats = StatsCache(db, ttl=tuning.stats_ttl)
        self._has_postings_table: bool | None = None

    # Query building: search.py asks the index for its own query objects.
    def render(self, node: Node | None, weights: FieldWeights = DEFAULT_WEIGHTS) -> PgQuery | None:
        rendered = render_node(self.parser, node)
        if rendered is not None and weights.title != rendered.title_boost:
            rendered = replace(rendered, title_boost=float(weights.title))
        return rendered

    def filter_query(self, filters: Filters) -> PgQuery | None:
        conds: list[str] = []
        if filters.since:
            conds.append(f"papers.listing_date >= {date_literal(filters.since)}")
        if filters.until:
            conds.append(f"papers.listing_date <= {date_literal(filters.until)}")
        cats = [c.strip().lower() for c in filters.categories if c.strip()]
        if cats:
            conds.append(categories_match(cats))
        # An author with no letters matches none, as on the tantivy side.
        authors = [("author", clean(a)) for a in filters.authors if WORD.search(a)]
        parsed = self.parser.parse(authors)
        conds += [matches(parsed[key]) for key in authors]
        if len(authors) < len(filters.authors):
            conds.append("FALSE")
        if filters.has_code:
            conds.append(has_code_sql())
        return PgQuery(all_of(conds)) if conds else None

    def combine(self, scoring: KeywordQuery | None, *filters: KeywordQuery | None) -> PgQuery:
        conds = [_own(q).cond for q in (scoring, *filters) if q is not None]
        if scoring is None:
            return PgQuery(all_of(conds))
        return replace(_own(scoring), cond=all_of(conds))

    # Reading.
    @property
    def num_docs(self) -> int:
        with self.db.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(papers)).scalar_one())

    def search(
        self,
        query: KeywordQuery,
        *,
        limit: int,
        offset: int = 0,
        by_date: bool = False,
        budget: float | None = None,
    ) -> tuple[Hits, int]:
        """(paper id, score) best first (or newest first), and the match count:
        exact when every match was scored (newest first: counted up to
        ``tuning.count_cap``), estimated from term frequencies otherwise."""
        query = _own(query)
        budget = PRUNE_BUDGET if budget is None else budget
        need = limit + offset
        with uncached(self.db) as conn:
            if by_date or not query.terms:
                newest = self._by_date(conn, query, need, by_date=by_date)
                counted = fetch(
                    conn,
                    "SELECT count(*) FROM (SELECT 1 FROM papers "  # noqa: S608 (quoted, see fetch)
                    f"WHERE {query.cond} LIMIT {int(self.tuning.count_cap)}) AS m",
                )[0][0]
                total = int(counted)
                if total >= self.tuning.count_cap and query.terms:
                    stats = self.stats.get()
                    estimates = [stats.estimate(t) for t in query.terms]
                    total = max(total, estimate_matches(stats, estimates))
                return newest[offset:], total
            # A term of stop words only renders empty: it matches nothing.
            scoring = [(t, f) for t, f in zip(query.terms, query.fields, strict=True) if t]
            if not scoring:
                return [], 0
            texts = [t for t, _ in scoring]
            stats = self.stats.get()
            estimates = [stats.estimate(t) for t in texts]
            score = bm25_sql(texts, [f for _, f in scoring], estimates, stats, query.title_boost)
            # An unbounded budget asks for every match ranked (the tests' reference).
            led = (
                None
                if math.isinf(budget) or not self._has_postings(conn)
                else read_leaders(
                    conn, query.cond, texts, estimates, stats, score, need, self.tuning
                )
            )
            if led is not None and (led.complete or len(led.hits) >= need):
                total = led.found if led.complete else estimate_matches(stats, estimates)
                return led.hits[offset:], max(total, led.found)
            # Too few among the lists' leaders (a selective filter, a phrase or an
            # exclusion): the papers matching the rarest terms, as many as fit.
            step = budget
            hits: list[tuple[str, float]] = led.hits if led is not None else []
            found = 0
            chosen: list[int] | None = None
            if len(texts) > 1 and min(estimates) > step:
                # Only common terms: the papers matching all of them first (GIN
                # intersects the posting lists), the best under BM25 anyway.
                every = matches("(" + ") & (".join(texts) + ")")
                both, found = self._scored(conn, all_of([query.cond, every]), score, need)
                hits = _best(hits, both, need)
                chosen = []
            while len(hits) < need:
                chosen = prune_terms(estimates, step)
                cond = query.cond
                if chosen is not None:
                    rare = matches("(" + ") | (".join(texts[i] for i in chosen) + ")")
                    cond = all_of([cond, rare])
                wider, found = self._scored(conn, cond, score, need)
                # A capped wider pass may miss what a narrower one found: keep both.
                hits = _best(hits, wider, need)
                if chosen is None or step >= WIDEN_LIMIT:
                    break
                step *= WIDEN_FACTOR  # too few among the rarest terms: take more terms
            if chosen is None and found < self.tuning.candidate_cap:
                total = found  # every match was scored: the count is exact
            else:
                total = max(found, estimate_matches(stats, estimates))
        return hits[offset:], total

    def _has_postings(self, conn: Connection) -> bool:
        """Whether the database has the posting table of migration 0013 (an
        older schema has not), looked up once."""
        if self._has_postings_table is None:
            found = fetch(conn, "SELECT to_regclass('lexical_postings') IS NOT NULL")
            self._has_postings_table = bool(found[0][0])
        return self._has_postings_table

    def _scored(
        self, conn: Connection, cond: str, score: str, limit: int
    ) -> tuple[list[tuple[str, float]], int]:
        """The best ``limit`` of at most ``tuning.candidate_cap`` matches of
        ``cond`` (bounds a query's cost whatever it matches), and how many
        matches were scored."""
        most = self.tuning.candidate_cap
        cap = f" LIMIT {int(most)}" if math.isfinite(most) else ""
        rows = fetch(
            conn,
            "SELECT c.id, c.score, count(*) OVER () AS found FROM ("  # noqa: S608 (quoted, see fetch)
            f"SELECT papers.id AS id, {score} AS score FROM papers WHERE {cond}{cap}"
            f") AS c ORDER BY c.score DESC, c.id LIMIT {int(limit)}",
        )
        return [(r.id, float(r.score)) for r in rows], int(rows[0].found) if rows else 0

    def _by_date(
        self, conn: Connection, query: PgQuery, limit: int, *, by_date: bool
    ) -> list[tuple[str, float]]:
        """Newest first (or, with nothing to score, by id), score 0."""
        order = "papers.listing_date DESC NULLS LAST, papers.id" if by_date else "papers.id"
        rows = fetch(
            conn,
            f"SELECT papers.id FROM papers WHERE {query.cond} "  # noqa: S608 (quoted, see fetch)
            f"ORDER BY {order} LIMIT {int(limit)}",
        )
        return [(r.id, 0.0) for r in rows]

    def matching(self, ids: Sequence[str], query: KeywordQuery) -> set[str]:
        query = _own(query)
        if not ids:
            return set()
        listed = ", ".join(sql_string(i) for i in ids)
        with uncached(self.db) as conn:
            rows = fetch(
                conn,
                f"SELECT papers.id FROM papers WHERE papers.id IN ({listed}) "  # noqa: S608 (quoted)
                f"AND {query.cond}",
            )
        return {r.id for r in rows}

    def snippets_html(
        self, query: KeywordQuery | None, texts: Sequence[str], max_chars: int = 260
    ) -> list[str]:
        """For each text, ts_headline's fragment with the query's terms in <b>;
        without a match, the text's beginning. Escaped here (one query per page)."""
        bodies = [clean(t).replace(_MARK_OPEN, " ").replace(_MARK_CLOSE, " ") for t in texts]
        fragments: list[str | None] = [None] * len(bodies)
        tsq = _own(query).tsquery_text if query is not None else None
        if tsq is not None and any(bodies):
            # Escaped before ts_headline, whose parser would drop "<tags>" from the
            # text; the markers (private-use characters) pass html.escape untouched.
            options = f"StartSel={_MARK_OPEN}, StopSel={_MARK_CLOSE}, MaxWords=40, MinWords=20"
            listed = ", ".join(sql_string(html.escape(b, quote=False)) for b in bodies)
            with uncached(self.db) as conn:
                rows = fetch(
                    conn,
                    f"SELECT doc.n, ts_headline({sql_string(TEXT_CONFIG)}::regconfig, doc.body, "  # noqa: S608
                    f"{sql_string(tsq)}::tsquery, {sql_string(options)}) "
                    f"FROM unnest(ARRAY[{listed}]::text[]) WITH ORDINALITY AS doc(body, n)",
                )
            for row in rows:
                n, fragment = int(row[0]), row[1]
                if fragment and _MARK_OPEN in fragment:
                    fragments[n - 1] = (
                        str(fragment).replace(_MARK_OPEN, "<b>").replace(_MARK_CLOSE, "</b>")
                    )
        out = []
        for body, fragment in zip(bodies, fragments, strict=True):
            if fragment is None:
                if len(body) > max_chars:
                    body = body[: max_chars - 1].rsplit(" ", 1)[0] + "…"
                fragment = html.escape(body, quote=False)
            out.append(fragment)
        return out

    # Writing: the generated column is always current, so the outbox needs no work.
    def sync(self, db: Database | None = None, *, batch: int = 20000) -> int:
        """Drain the index queue (kept by ingest for the sidecar backends)."""
        db = db or self.db
        total = 0
        while True:
            with db.begin() as conn:
                rows = queue.pending(conn, limit=batch)
                if not rows:
                    return total
                queue.done(conn, rows)
            total += len(rows)

    def sync_if_due(self, db: Database) -> None:
        return None  # nothing to catch up with: the database is the index
