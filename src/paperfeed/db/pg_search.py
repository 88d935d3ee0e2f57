"""Search on PostgreSQL: the database is the index (no sidecar files).

Backend-specific by design (the only module with PostgreSQL-only SQL for search):

- Lexical: ``papers.search_vector``, a generated ``tsvector`` column (migration
  0008) with a GIN index. Title is weight A, abstract B (english stemming),
  authors C (the ``simple`` configuration: names are not stemmed). The search
  engineer's query AST (paperfeed.query) is rendered to SQL here, so the query
  language is the same on both backends: fields (title:, abstract:, author:,
  cat:), phrases, exclusions, AND/OR. A field becomes a weight restriction
  (``'graph':A``); a phrase the ``<->`` operator. PostgreSQL's own parser turns
  each term's words into a tsquery (one round trip per query, see
  ``_parse_terms``); the SQL then carries those tsqueries as quoted constants,
  so no user text is ever parsed as tsquery syntax or SQL.
- Dense: ``embeddings.embedding``, a pgvector column filled from the portable
  float32 ``vector`` column, with an HNSW index per dimension (an expression
  index on ``embedding::vector(dim)``, partial on ``dim``), searched by inner
  product (the vectors are unit length, so that is the cosine).

``PgLexicalIndex`` and ``PgVectorIndex`` offer the methods search.py and
similar.py call on the SQLite sidecars, so ranking and hybrid fusion run the
same code on both backends: this module only supplies the candidate lists.

Why the lexical SQL is written as text, not built with SQLAlchemy: its words
are constants (below), so every statement is new; building and compiling a
SQLAlchemy tree for it cost about half of a search's client CPU, and caching
the compiled forms filled memory the garbage collector then walked
(docs/benchmarks.md, sessions 6 and 7). Every value in it goes through
``_sql_string`` or is a number.
"""

from __future__ import annotations

import html
import math
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import String, bindparam, func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from paperfeed.db import index_queue as queue
from paperfeed.db.embeddings import bytes_to_vector
from paperfeed.db.engine import Database
from paperfeed.db.tables import embeddings, papers
from paperfeed.index.catch_up import BackgroundCatchUp
from paperfeed.query import And, Clauses, Node, Not, Or, Term, clean

SEARCH_VECTOR = "papers.search_vector"
_WORD = re.compile(r"\w+")
TEXT_CONFIG = "english"
NAME_CONFIG = "simple"


# ---------------------------------------------------------------- lexical


@dataclass(frozen=True)
class PgQuery:
    """A rendered query: which papers match, and the positive terms that score them."""

    cond: str  # SQL: a condition on a row of papers
    # Per positive term: its tsquery as text ("" when its words have no lexemes,
    # stop words only: such a term matches nothing and scores nothing).
    terms: tuple[str, ...] = ()
    # Per term: its field ("" for unfielded words), for the title boost.
    fields: tuple[str, ...] = ()
    title_boost: float = 0.25  # FieldWeights.title's default

    @property
    def tsquery_text(self) -> str | None:
        """One tsquery OR-ing the positive terms (for ts_headline)."""
        parts = [f"({t})" for t in self.terms if t]
        return " | ".join(parts) or None


_DIALECT = postgresql.dialect()
_QUOTE = String().literal_processor(_DIALECT)


def _sql_string(value: str) -> str:
    """``value`` as an SQL string literal (quotes doubled, by SQLAlchemy's own
    PostgreSQL literal rendering). Query words go into the SQL text, not a bound
    parameter: a literal is a constant at parse time, so the planner folds
    what is computed from it once per query. With a parameter (or a regconfig
    cast from text, which is only stable) it ran for every row a query looked
    at: 300 us a row for a 12-word title, most of a slow query."""
    assert _QUOTE is not None
    return str(_QUOTE(value.replace("\x00", "")))


def _matches(tsquery_text: str) -> str:
    """SQL: the paper matches this tsquery (a term of stop words matches none)."""
    if not tsquery_text:
        return "FALSE"
    return f"{SEARCH_VECTOR} @@ {_sql_string(tsquery_text)}::tsquery"


def _all(conds: Iterable[str]) -> str:
    return "(" + " AND ".join(["TRUE", *conds]) + ")"


def _any(conds: Iterable[str]) -> str:
    return "(" + " OR ".join(["FALSE", *conds]) + ")"


def _fetch(conn: Connection, sql: str) -> list[Any]:
    """Run one statement of this module's literal SQL. No bound parameters:
    every value is already quoted in it, so a "%" in a query word is doubled
    for the driver's placeholder syntax and reaches PostgreSQL as itself."""
    return list(conn.exec_driver_sql(sql.replace("%", "%%"), ()).all())


def _categories_match(values: Sequence[str]) -> str:
    """Any of the paper's categories, or their archive ("cs" for "cs.LG"), is in ``values``."""
    listed = ", ".join(_sql_string(v) for v in values)
    return (
        "EXISTS (SELECT 1 FROM json_array_elements_text(papers.categories) AS cat(value) "  # noqa: S608 (quoted)
        f"WHERE lower(cat.value) IN ({listed}) "
        f"OR lower(split_part(cat.value, '.', 1)) IN ({listed}))"
    )


# How each kind of term is parsed: (configuration, weight labels) per branch.
# The body is title and abstract (A, B), as tantivy's; authors are C.
_BRANCHES: dict[str, tuple[tuple[str, str], ...]] = {
    "author": ((NAME_CONFIG, "C"),),
    "title": ((TEXT_CONFIG, "A"),),
    "abstract": ((TEXT_CONFIG, "AB"),),
    "": ((TEXT_CONFIG, "AB"), (NAME_CONFIG, "C")),
}
# Parsed terms kept per process: words recur across searches (and a search
# renders its query twice, for the dense side's constraint).
_PARSED_LIMIT = 20000
_LEXEME_SQL = _sql_string("'(?:[^']|'')*'")  # a quoted lexeme in tsquery text
# Keyed by database too: another server may have other text search dictionaries.
_parsed: dict[tuple[str, str, str], str] = {}


def _parse_terms(db: Database, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(field, words) -> the tsquery text of ``words`` as a phrase, parsed by
    PostgreSQL's own parser (as the indexed text was: hyphenated words, numbers,
    stop words all line up), each lexeme labelled with the field's weights
    ('graph' -> 'graph':A); an unfielded term ORs the body's and the authors'.
    One round trip for all the terms not parsed before."""
    found: dict[tuple[str, str], str] = {}
    missing: list[tuple[str, str]] = []
    for key in dict.fromkeys(keys):
        known = _parsed.get((db.url, *key))
        if known is None:
            missing.append(key)
        else:
            found[key] = known
    if missing:
        selects = []
        for n, (field, words) in enumerate(missing):
            branches = [
                "regexp_replace(phraseto_tsquery("
                f"{_sql_string(config)}::regconfig, {_sql_string(words)})::text, "
                f"{_LEXEME_SQL}, {_sql_string(chr(92) + '&:' + labels)}, 'g')::tsquery"
                for config, labels in _BRANCHES[field]
            ]
            selects.append(f"SELECT {n} AS n, ({' || '.join(branches)})::text AS q")
        with _uncached(db) as conn:
            rows = _fetch(conn, " UNION ALL ".join(selects))
        if len(_parsed) + len(missing) > _PARSED_LIMIT:
            _parsed.clear()  # rarely: a plain bound, not an LRU
        for row in rows:
            key = missing[int(row[0])]
            found[key] = _parsed[(db.url, *key)] = str(row[1] or "")
    return found


def _text_terms(node: Node | None) -> Iterator[tuple[str, str]]:
    """The (field, words) of every term of ``node`` that PostgreSQL parses."""
    if node is None:
        return
    if isinstance(node, Term):
        if node.field != "cat" and _WORD.search(node.text):
            yield (node.field or "", clean(node.text))
    elif isinstance(node, Not):
        yield from _text_terms(node.child)
    elif isinstance(node, And | Or):
        for child in node.children:
            yield from _text_terms(child)
    else:
        assert isinstance(node, Clauses)
        for child in (*node.must, *node.should, *node.must_not):
            yield from _text_terms(child)


class _Renderer:
    """The query AST as SQL, with every term's tsquery already parsed."""

    def __init__(self, parsed: dict[tuple[str, str], str]) -> None:
        self.parsed = parsed

    def term(self, term: Term) -> PgQuery | None:
        if term.field == "cat":
            value = term.text.strip().lower()
            return PgQuery(_categories_match([value])) if value else None
        if not _WORD.search(term.text):
            return None
        field = term.field or ""
        tsq = self.parsed[(field, clean(term.text))]
        return PgQuery(_matches(tsq), (tsq,), (field,))

    def node(self, node: Node | None) -> PgQuery | None:
        if node is None:
            return None
        if isinstance(node, Term):
            return self.term(node)
        if isinstance(node, Not):
            inner = self.node(node.child)
            return _bool([], [], [inner]) if inner is not None else None
        if isinstance(node, And):
            must: list[PgQuery] = []
            must_not: list[PgQuery] = []
            for child in node.children:
                if isinstance(child, Not):
                    if (q := self.node(child.child)) is not None:
                        must_not.append(q)
                elif (q := self.node(child)) is not None:
                    must.append(q)
            return _bool(must, [], must_not)
        if isinstance(node, Or):
            return _bool([], [q for c in node.children if (q := self.node(c)) is not None], [])
        assert isinstance(node, Clauses)
        return _bool(
            [q for c in node.must if (q := self.node(c)) is not None],
            [q for c in node.should if (q := self.node(c)) is not None],
            [q for c in node.must_not if (q := self.node(c)) is not None],
        )


def _bool(must: list[PgQuery], should: list[PgQuery], must_not: list[PgQuery]) -> PgQuery | None:
    """Lucene's semantics, as the tantivy side: with a must, shoulds only score;
    without one, one should must match; only exclusions: all but those."""
    if not must and not should and not must_not:
        return None
    conds = [q.cond for q in must]
    if should and not must:
        conds.append(_any(q.cond for q in should))
    conds += [f"NOT ({q.cond})" for q in must_not]
    return PgQuery(
        _all(conds),
        tuple(t for q in must + should for t in q.terms),
        tuple(f for q in must + should for f in q.fields),
    )


def render_node(db: Database, node: Node | None) -> PgQuery | None:
    """``node`` as SQL for this database (one round trip to parse new words)."""
    return _Renderer(_parse_terms(db, _text_terms(node))).node(node)


# ---------------------------------------------------------------- pruning
#
# ts_rank has no top-k pruning: it scores every matching row, and a query of
# many optional words matches most of the corpus (68k of 75k papers for a
# 12-word title: 13 s). So a ranked search first ranks only the papers that
# match the query's rarest terms, as many of them as fit PRUNE_BUDGET
# estimated rows, and widens to every match only when that leaves fewer
# results than asked for. A paper matching none of the rare terms matches only
# common ones, which is what a BM25 ranking (idf) puts last anyway; the result
# is always a subset of the query's matches, so its semantics (fields,
# phrases, exclusions, AND/OR) are unchanged. Term frequencies come from
# ts_stat over a sample of the papers, kept per database for STATS_TTL seconds.

PRUNE_BUDGET = 2000  # estimated rows ranked before widening
COUNT_CAP = 1000  # unscored (by date) searches: matches counted exactly; beyond, estimated
# Matches scored per pass at most: bounds a query's cost whatever it matches
# (a 3-word query of common words matches a third of the corpus). The rarest-
# terms condition makes the scored ones the likely best; the total is exact
# when every match was scored.
CANDIDATE_CAP: float = 2000
STATS_SAMPLE_ROWS = 20000
STATS_TTL = 600.0
_LEXEME = re.compile(r"'((?:[^']|'')*)'")


@dataclass(frozen=True)
class TermStats:
    """Document frequencies of lexemes, as fractions of the papers."""

    papers: int
    sampled: int
    df: dict[str, int]
    fetched_at: float
    avg_length: float = 100.0  # mean lexemes per paper (BM25's average length)

    def share(self, lexeme: str) -> float:
        # A lexeme absent from the sample is rarer than one sampled paper.
        return max(self.df.get(lexeme, 0), 0.5) / max(1, self.sampled)

    def estimate(self, tsquery_text: str) -> float:
        """Estimated matches of one rendered term: per OR branch, its rarest
        lexeme (a phrase matches no more than its rarest word); branches add up."""
        # The stats do not know weights: the same words in two branches (the
        # body's and the authors' labels) count once.
        branches = {
            frozenset(w.replace("''", "'") for w in _LEXEME.findall(b))
            for b in tsquery_text.split("|")
        }
        total = sum(min(self.share(w) for w in words) for words in branches if words)
        return min(1.0, total) * self.papers


_stats: dict[str, TermStats] = {}
_stats_lock = threading.Lock()
_first_lock = threading.Lock()
_refreshing: set[str] = set()


def term_stats(db: Database, *, refresh: bool = False) -> TermStats:
    """This database's lexeme frequencies, from ts_stat over a sample of papers
    (all of them when few). Computed on first use; when older than STATS_TTL,
    served as they are while a background thread recomputes them (seconds at
    75k papers: no search should wait for that)."""
    key = db.engine.url.render_as_string(hide_password=True)
    cached = _stats.get(key)
    if cached is None or refresh:
        # One thread computes, the others wait for it: a cold web worker's first
        # burst of searches each ran ts_stat over the sample at once (27 s
        # requests under 16 connections).
        with _first_lock:
            cached = None if refresh else _stats.get(key)
            if cached is None:
                cached = _stats[key] = _compute_stats(db)
        return cached
    if time.monotonic() - cached.fetched_at >= STATS_TTL:
        with _stats_lock:
            start = key not in _refreshing
            _refreshing.add(key)
        if start:
            threading.Thread(target=_refresh_stats, args=(db, key), daemon=True).start()
    return cached


def _refresh_stats(db: Database, key: str) -> None:
    try:
        _stats[key] = _compute_stats(db)
    except Exception:  # noqa: BLE001 (a failed refresh keeps the old stats; retried later)
        _stats[key] = replace(_stats[key], fetched_at=time.monotonic())
    finally:
        with _stats_lock:
            _refreshing.discard(key)


def _compute_stats(db: Database) -> TermStats:
    with db.connect() as conn:
        papers_n = int(conn.execute(select(func.count()).select_from(papers)).scalar_one())
        source = "SELECT search_vector FROM papers"
        if papers_n > STATS_SAMPLE_ROWS:
            percent = 100.0 * STATS_SAMPLE_ROWS / papers_n
            source += f" TABLESAMPLE SYSTEM ({percent:.6f}) REPEATABLE (7)"
        sampled_row = conn.execute(
            text(f"SELECT count(*), avg(length(search_vector)) FROM ({source}) AS s")  # noqa: S608 (no user text)
        ).one()
        sampled = int(sampled_row[0])
        avg_length = float(sampled_row[1] or 100.0)
        df = {
            str(r.word): int(r.ndoc)
            for r in conn.execute(text("SELECT word, ndoc FROM ts_stat(:q)"), {"q": source})
        }
    return TermStats(papers_n, sampled, df, time.monotonic(), max(1.0, avg_length))


def prune_terms(estimates: Sequence[float], budget: float) -> list[int] | None:
    """Indexes of the rarest terms whose estimated matches fit ``budget`` (at
    least the rarest one), or None when ranking them all costs little more."""
    order = sorted(range(len(estimates)), key=lambda i: estimates[i])
    chosen: list[int] = []
    spent = 0.0
    for i in order:
        if chosen and spent + estimates[i] > budget:
            break
        chosen.append(i)
        spent += estimates[i]
    everything = sum(estimates)
    if len(chosen) == len(estimates) or spent > everything / 2:
        return None
    return chosen


# Scoring: BM25 (k1 1.2, b 0.75, as tantivy's) with each term's frequency in a
# paper taken as 1: the tsvector tells whether a term matches (one binary search
# per term) but counting its occurrences means unnesting every candidate's
# vector. idf comes from the sampled document frequencies; a paper's length is
# its number of distinct lexemes. Unfielded words also score a title match,
# boosted by FieldWeights.title, as the tantivy side does.
BM25_K1 = 1.2
BM25_B = 0.75
WIDEN_FACTOR = 8
WIDEN_LIMIT = 200_000  # estimated rows: past this, every term takes part
_LABELS = re.compile(r"('(?:[^']|'')*'):[A-D]+")


def _idf(papers_n: int, matches: float) -> float:
    return math.log(1.0 + (papers_n - matches + 0.5) / (matches + 0.5))


def _bm25(
    texts: Sequence[str],
    fields: Sequence[str],
    estimates: Sequence[float],
    stats: TermStats,
    title_boost: float,
) -> str:
    """The score as one SQL expression, written as text: every part is a
    constant (numbers, quoted tsquery literals), and SQLAlchemy compiling a
    tree of CASE/ts_rank nodes per term cost ~0.5 ms a term of client CPU."""
    v = "papers.search_vector"
    k1, b = BM25_K1, BM25_B
    # BM25's k1 * (1 - b + b * length / average), length = the paper's lexemes.
    norm = f"({k1 * (1.0 - b)!r} + {k1 * b / stats.avg_length!r} * length({v}))"
    body: list[str] = []
    title: list[str] = []
    for text_, field, matches in zip(texts, fields, estimates, strict=True):
        weight = round(_idf(stats.papers, matches) * (k1 + 1.0), 6)
        match = f"{v} @@ {_sql_string(text_)}::tsquery"
        first = text_.split(" | ")[0]
        if "<->" in first:
            tf = "1.0"  # a phrase: its frequency is not cheap to get; taken as 1
        else:
            # ts_rank of one lexeme with all weights 1 and no normalisation is
            # sum_{k<=tf} 1/k^2 / (pi^2/6), so 1/((pi^2/6)(1 - rank)) - 0.5 is
            # the term frequency to within ~5% (exact at tf 1 and 2, 3.02 at 3).
            unlabelled = _LABELS.sub(r"\1", first)
            lexeme = f"{_sql_string(unlabelled)}::tsquery"
            rank = f"least(ts_rank('{{1,1,1,1}}'::float4[], {v}, {lexeme}, 0), 0.99)"
            tf = f"greatest(1.0 / (1.644934 * (1.0 - {rank})) - 0.5, 1.0)"
        # idf * tf * (k1 + 1) / (tf + norm), written with tf once.
        body.append(f"CASE WHEN {match} THEN {weight!r} / (1.0 + {norm} / {tf}) ELSE 0 END")
        if not field and title_boost > 0:
            title_only = _LABELS.sub(r"\1:A", text_)
            in_title = f"{v} @@ {_sql_string(title_only)}::tsquery"
            idf = round(_idf(stats.papers, matches) * title_boost, 6)
            title.append(f"CASE WHEN {in_title} THEN {idf!r} ELSE 0 END")
    if not body:
        return "0.0"
    return f"({' + '.join(body + title)})"


# The impact-ordered candidates (migration 0013): how far down each term's
# posting list a search reads, and how many of the best sums it scores
# exactly (at least twice the results asked for). Measured at 75k papers
# against an unpruned ranking (docs/benchmarks.md, session 8).
POSTINGS_PER_TERM = 2000
RESCORED = 200
# A list whose lexeme the sampled statistics put at this many times the
# postings read is taken as not read to its end (a sample of 20,000 papers
# puts a lexeme of 6,000 papers at 1M under 4,000 by chance about never).
TRUNCATED_SHARE = 3.0
LOOKED_UP = 8  # leaders looked up at most, in RESCORED: those failing the query make room
# Postings read in all: a long title's many long lists share it (list_depths).
# At 1M papers, 1,000 bench queries: keyword p99 25.5-30.7 -> 19.3-24.5 ms,
# top 10 as without it 0.995 (0.974 for titles of 10+ words); 12,000 gave
# 0.985 / 0.944, 8,000 0.954 / 0.887 (docs/benchmarks.md, session 12).
POSTINGS_BUDGET = 16000
POSTINGS_MIN_DEPTH = 500


def list_depths(lengths: Sequence[float], depth: int, budget: int) -> list[int]:
    """How far down each posting list a search reads, given the lists'
    estimated lengths: ``depth``, unless the lists hold more than ``budget``
    postings in all; then the short ones are read whole and the long ones
    share what they leave, equally, but at least POSTINGS_MIN_DEPTH each."""
    out = [depth] * len(lengths)
    left = float(budget)
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    for k, i in enumerate(order):
        share = left / (len(order) - k)
        wanted = min(lengths[i], depth)
        if wanted > share:
            out[i] = max(POSTINGS_MIN_DEPTH, min(depth, int(share)))
            wanted = out[i]
        left -= wanted
    return out


# A bulk load defers the posting table and rebuilds it once (migration 0014):
# the triggers' row-by-row index upkeep made storing 1M papers 3.4x slower.
POSTINGS_STALE_KEY = "lexical_postings_stale"
REBUILD_MEMORY_MB = 1024  # maintenance_work_mem for the rebuild's index sort
# Autovacuum after 2 % of the rows are new (5 % dead), not PostgreSQL's 20 %:
# searches read the lists with index-only scans, which visit the heap for every
# row on a page not yet vacuumed (migration 0015).
POSTINGS_STORAGE = (
    "autovacuum_vacuum_insert_scale_factor = 0.02, autovacuum_vacuum_scale_factor = 0.05"
)


def defer_postings(conn: Connection) -> None:
    """For the rest of this transaction, writes to papers leave the posting
    table alone and mark it stale (committed with them); ``rebuild_postings``
    makes it current again. Nothing on SQLite."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SELECT set_config('paperfeed.postings', 'deferred', true)")


def estimated_papers(conn: Connection) -> int:
    """The planner's estimate of the papers stored (no count of the table;
    0 before the first ANALYZE, and on SQLite, where nothing is deferred)."""
    if conn.dialect.name != "postgresql":
        return 0
    found = _fetch(conn, "SELECT reltuples FROM pg_class WHERE oid = 'papers'::regclass")
    return max(0, int(found[0][0])) if found else 0


def postings_stale(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    found = _fetch(conn, f"SELECT 1 FROM meta WHERE key = {_sql_string(POSTINGS_STALE_KEY)}")  # noqa: S608
    return bool(found)


def rebuild_postings(db: Database, *, force: bool = False) -> bool:
    """Rebuild the posting table from every paper if a deferred write left it
    stale (or ``force``); True if it did. Writers to papers wait meanwhile (a share lock);
    searches go on reading the old table (they skip it: it is marked stale)
    until the new one replaces it, in the same transaction as the mark's
    removal, then vacuums it. Minutes at 1M papers, so a bulk loader calls it
    once, at its end."""
    if db.backend != "postgresql":
        return False
    with db.begin() as conn:
        if not force and not postings_stale(conn):
            return False
        conn.exec_driver_sql("LOCK TABLE papers IN SHARE MODE")
        if not force and not postings_stale(conn):  # rebuilt by another while we waited
            return False
        conn.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{int(REBUILD_MEMORY_MB)}MB'")
        conn.exec_driver_sql("DROP TABLE IF EXISTS lexical_postings_next")
        conn.exec_driver_sql(
            "CREATE TABLE lexical_postings_next "
            "(lexeme text NOT NULL, impact real NOT NULL, paper_id text NOT NULL) "
            f"WITH ({POSTINGS_STORAGE})"
        )
        conn.exec_driver_sql(
            "INSERT INTO lexical_postings_next (lexeme, impact, paper_id) "
            "SELECT p.* FROM papers, paperfeed_postings(papers.search_vector, papers.id) AS p"
        )
        conn.exec_driver_sql(
            "CREATE INDEX ix_lexical_postings_next "
            "ON lexical_postings_next (lexeme, impact DESC, paper_id)"
        )
        conn.exec_driver_sql("DROP TABLE lexical_postings")
        conn.exec_driver_sql("ALTER TABLE lexical_postings_next RENAME TO lexical_postings")
        conn.exec_driver_sql("ALTER INDEX ix_lexical_postings_next RENAME TO ix_lexical_postings")
        conn.exec_driver_sql(
            f"DELETE FROM meta WHERE key = {_sql_string(POSTINGS_STALE_KEY)}"  # noqa: S608
        )
    # Until its pages are marked all-visible, every posting a search reads is
    # also read from the heap (at 75k papers, keyword searches on a rebuilt
    # table took half again as long until vacuumed).
    vacuum(db, "lexical_postings")
    return True


def vacuum(db: Database, table: str) -> None:
    """VACUUM (ANALYZE) ``table`` (a name of ours, not user input), outside any
    transaction: after a bulk write, so that neither the first searches nor
    the autovacuum that would follow pay for it."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}")


@dataclass(frozen=True)
class _Ranked:
    hits: list[tuple[str, float]]  # best first
    found: int  # matches scored
    complete: bool  # every match was scored: the hits are all of them


def _best(
    hits: list[tuple[str, float]], more: list[tuple[str, float]], limit: int
) -> list[tuple[str, float]]:
    """The best ``limit`` of two rankings by the same score, each paper once."""
    merged = dict(hits)
    merged.update(more)
    return sorted(merged.items(), key=lambda h: (-h[1], h[0]))[:limit]


def _estimate(stats: TermStats, estimates: Sequence[float]) -> int:
    """Papers matching any of the terms, if they were independent."""
    missed = 1.0
    for e in estimates:
        missed *= 1.0 - e / max(1, stats.papers)
    return round(stats.papers * (1.0 - missed))


_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"  # private-use: query text never has them


@contextmanager
def _uncached(db: Database) -> Iterator[Connection]:
    """A connection whose statements SQLAlchemy does not keep compiled.

    A search's SQL carries its words as literals (see ``_sql_string``), so it
    never comes again: caching it only filled the engine's compiled cache with
    500 statements, ~600k objects the garbage collector walked in every full
    collection. At 1M papers that was 300+ ms of client CPU in ~1 % of the
    searches, the whole p99 (docs/benchmarks.md, session 6)."""
    with db.connect() as conn:
        yield conn.execution_options(compiled_cache=None)


def _date_literal(value: date) -> str:
    return f"{_sql_string(value.isoformat())}::date"


# Whether a database has the posting table of migration 0013 (an older schema
# has not): per Database object, so a test's dropped database goes with it.
_has_postings_table: weakref.WeakKeyDictionary[Database, bool] = weakref.WeakKeyDictionary()


class PgLexicalIndex:
    """The lexical side of search on PostgreSQL (same methods as LexicalIndex)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # Query building: search.py asks the index for its own query objects.
    def render(self, node: Node | None, weights: Any = None) -> PgQuery | None:
        rendered = render_node(self.db, node)
        if rendered is not None and weights is not None:
            rendered = replace(rendered, title_boost=float(weights.title))
        return rendered

    def filter_query(self, filters: Any) -> PgQuery | None:
        conds: list[str] = []
        if filters.since:
            conds.append(f"papers.listing_date >= {_date_literal(filters.since)}")
        if filters.until:
            conds.append(f"papers.listing_date <= {_date_literal(filters.until)}")
        cats = [c.strip().lower() for c in filters.categories if c.strip()]
        if cats:
            conds.append(_categories_match(cats))
        # An author with no letters matches none, as on the tantivy side.
        authors = [("author", clean(a)) for a in filters.authors if _WORD.search(a)]
        parsed = _parse_terms(self.db, authors)
        conds += [_matches(parsed[key]) for key in authors]
        if len(authors) < len(filters.authors):
            conds.append("FALSE")
        return PgQuery(_all(conds)) if conds else None

    def combine(self, scoring: PgQuery | None, *filters: PgQuery | None) -> PgQuery:
        conds = [q.cond for q in (scoring, *filters) if q is not None]
        if scoring is None:
            return PgQuery(_all(conds))
        return replace(scoring, cond=_all(conds))

    # Reading.
    @property
    def num_docs(self) -> int:
        with self.db.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(papers)).scalar_one())

    def search(
        self,
        query: PgQuery,
        *,
        limit: int,
        offset: int = 0,
        by_date: bool = False,
        budget: float | None = None,
    ) -> tuple[list[tuple[str, float]], int]:
        """(paper id, score) best first (or newest first), and the match count:
        exact when every match was scored (newest first: counted up to
        COUNT_CAP), estimated from term frequencies otherwise."""
        budget = PRUNE_BUDGET if budget is None else budget
        need = limit + offset
        with _uncached(self.db) as conn:
            if by_date or not query.terms:
                newest = self._by_date(conn, query, need, by_date=by_date)
                counted = _fetch(
                    conn,
                    "SELECT count(*) FROM (SELECT 1 FROM papers "  # noqa: S608 (quoted, see _fetch)
                    f"WHERE {query.cond} LIMIT {int(COUNT_CAP)}) AS m",
                )[0][0]
                total = int(counted)
                if total >= COUNT_CAP and query.terms:
                    stats = term_stats(self.db)
                    estimates = [stats.estimate(t) for t in query.terms]
                    total = max(total, _estimate(stats, estimates))
                return newest[offset:], total
            # A term of stop words only renders empty: it matches nothing.
            scoring = [(t, f) for t, f in zip(query.terms, query.fields, strict=True) if t]
            if not scoring:
                return [], 0
            texts = [t for t, _ in scoring]
            stats = term_stats(self.db)
            estimates = [stats.estimate(t) for t in texts]
            score = _bm25(texts, [f for _, f in scoring], estimates, stats, query.title_boost)
            # An unbounded budget asks for every match ranked (the tests' reference).
            led = (
                None
                if math.isinf(budget)
                else self._from_postings(conn, query.cond, texts, estimates, stats, score, need)
            )
            if led is not None and (led.complete or len(led.hits) >= need):
                total = led.found if led.complete else _estimate(stats, estimates)
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
                every = _matches("(" + ") & (".join(texts) + ")")
                both, found = self._scored(conn, _all([query.cond, every]), score, need)
                hits = _best(hits, both, need)
                chosen = []
            while len(hits) < need:
                chosen = prune_terms(estimates, step)
                cond = query.cond
                if chosen is not None:
                    rare = _matches("(" + ") | (".join(texts[i] for i in chosen) + ")")
                    cond = _all([cond, rare])
                wider, found = self._scored(conn, cond, score, need)
                # A capped wider pass may miss what a narrower one found: keep both.
                hits = _best(hits, wider, need)
                if chosen is None or step >= WIDEN_LIMIT:
                    break
                step *= WIDEN_FACTOR  # too few among the rarest terms: take more terms
            if chosen is None and found < CANDIDATE_CAP:
                total = found  # every match was scored: the count is exact
            else:
                total = max(found, _estimate(stats, estimates))
        return hits[offset:], total

    def _from_postings(
        self,
        conn: Connection,
        cond: str,
        texts: Sequence[str],
        estimates: Sequence[float],
        stats: TermStats,
        score: str,
        need: int,
    ) -> _Ranked | None:
        """The best ``need`` matches of ``cond`` among the papers that lead its
        terms' impact-ordered posting lists (migration 0013): the top
        POSTINGS_PER_TERM of each term's list, summed with the terms' idf, and
        the best RESCORED of those that match the query scored exactly. None
        when the database has no posting table (an older schema) or a bulk
        load left it stale: the caller prunes by rare terms."""
        if not self._has_postings(conn):
            return None
        # A stale table (a bulk load deferred it, migration 0014) is not read:
        # the one-time check makes every list empty, and the caller prunes.
        stale = f"EXISTS (SELECT 1 FROM meta WHERE key = {_sql_string(POSTINGS_STALE_KEY)})"  # noqa: S608
        lists: list[str] = []  # (list number, lexeme, idf) rows of a VALUES list
        lengths: list[float] = []  # each list's estimated length
        for text_, matches in zip(texts, estimates, strict=True):
            idf = round(_idf(stats.papers, matches), 6)
            # A term's branches (body, authors) may stem its words apart; each
            # branch's rarest lexeme lists every paper the branch matches
            # (a phrase matches no more than its rarest word).
            lexemes = {
                min(words, key=stats.share)
                for branch in text_.split(" | ")
                if (words := [w.replace("''", "'") for w in _LEXEME.findall(branch)])
            }
            for lexeme in sorted(lexemes):
                lists.append(f"({len(lists)}, {_sql_string(lexeme)}, {idf!r}::float8)")
                lengths.append(stats.share(lexeme) * stats.papers)
        longest = max(lengths, default=0.0)
        depths = list_depths(lengths, POSTINGS_PER_TERM, POSTINGS_BUDGET)
        rescored = max(RESCORED, 2 * need)
        looked = LOOKED_UP * rescored
        # The lists as a LATERAL join over a VALUES list (one per depth read),
        # not one UNION branch per lexeme: the planner then plans one index scan,
        # not sixteen for a sixteen-word title (at 1M papers, keyword p99 42.5
        # -> 36.1 ms).
        by_depth: dict[int, list[str]] = {}
        for row, depth in zip(lists, depths, strict=True):
            by_depth.setdefault(depth, []).append(row)
        top = " UNION ALL ".join(
            "SELECT t.list, l.paper_id, t.idf * l.impact AS w "  # noqa: S608 (quoted)
            f"FROM (VALUES {', '.join(rows)}) AS t(list, lexeme, idf) "
            "CROSS JOIN LATERAL (SELECT paper_id, impact FROM lexical_postings "
            f"WHERE lexeme = t.lexeme ORDER BY impact DESC LIMIT {int(depth)}) AS l "
            f"WHERE NOT {stale}"
            for depth, rows in by_depth.items()
        )
        # The best sums that match the whole query, looked up best first: a
        # list's leaders may fail it (a filter, a phrase, a NOT, or an author
        # branch whose lexeme is also a stem in titles and abstracts: the
        # 'simple' configuration keeps "are" and "by" for names, and the
        # table does not know fields), and the next best take their place.
        # When too few of the best ``looked`` match, the caller falls back.
        candidates = (
            "SELECT p.id, p.score FROM (SELECT paper_id, sum(w) AS s FROM top "  # noqa: S608
            f"GROUP BY paper_id ORDER BY s DESC, paper_id LIMIT {int(looked)}) AS g "
            f"CROSS JOIN LATERAL (SELECT papers.id, {score} AS score FROM papers "
            f"WHERE papers.id = g.paper_id AND {cond}) AS p "
            f"ORDER BY g.s DESC, g.paper_id LIMIT {int(rescored)}"
        )
        # The first row says whether every list was read to its end and every
        # paper in them was looked up: then the matches are exactly the rows.
        # When a list is surely longer than what is read of it, that is known
        # without counting the lists again (a second pass over all their rows).
        if (
            longest >= TRUNCATED_SHARE * POSTINGS_PER_TERM
            or min(depths, default=0) < POSTINGS_PER_TERM
        ):
            read_all = "FALSE"
        else:
            read_all = (
                "(SELECT coalesce(max(c), 0) FROM (SELECT count(*) AS c FROM top GROUP BY list) "  # noqa: S608 (numbers only)
                f"AS l) < {int(POSTINGS_PER_TERM)} "
                f"AND (SELECT count(DISTINCT paper_id) FROM top) <= {int(looked)} "
                f"AND (SELECT count(*) FROM candidates) < {int(rescored)}"
            )
        # Read once (the common case: a list is surely truncated), the lists
        # feed the aggregate straight from the index scans; a materialized CTE
        # wrote all their rows (~5k at 75k papers) to a tuplestore and read
        # them back: PostgreSQL CPU per search query 9.4 -> 8.1 ms at 75k
        # papers (docs/benchmarks.md, session 13). Counted too, they are kept.
        kept = "MATERIALIZED" if read_all != "FALSE" else "NOT MATERIALIZED"
        rows = _fetch(
            conn,
            f"WITH top AS {kept} ({top}), "  # noqa: S608 (quoted)
            f"candidates AS MATERIALIZED ({candidates}) "
            f"SELECT NULL AS id, NULL AS score, {stale} AS stale, {read_all} AS complete, "
            "NULL AS found UNION ALL (SELECT id, score, NULL, NULL, count(*) OVER () "
            f"FROM candidates ORDER BY 2 DESC, 1 LIMIT {int(need)})",
        )
        if any(r.id is None and r.stale for r in rows):
            return None
        complete = any(r.id is None and r.complete for r in rows)
        hits = [(r.id, float(r.score)) for r in rows if r.id is not None]
        found = max((int(r.found) for r in rows if r.id is not None), default=0)
        return _Ranked(hits, found, complete)

    def _has_postings(self, conn: Connection) -> bool:
        # Looked up once per database per process, not per index object: search
        # opens one for every request.
        known = _has_postings_table.get(self.db)
        if known is None:
            found = _fetch(conn, "SELECT to_regclass('lexical_postings') IS NOT NULL")
            known = _has_postings_table[self.db] = bool(found[0][0])
        return known

    def _scored(
        self, conn: Connection, cond: str, score: str, limit: int
    ) -> tuple[list[tuple[str, float]], int]:
        """The best ``limit`` of at most CANDIDATE_CAP matches of ``cond``, and
        how many matches were scored."""
        cap = f" LIMIT {int(CANDIDATE_CAP)}" if math.isfinite(CANDIDATE_CAP) else ""
        rows = _fetch(
            conn,
            "SELECT c.id, c.score, count(*) OVER () AS found FROM ("  # noqa: S608 (quoted, see _fetch)
            f"SELECT papers.id AS id, {score} AS score FROM papers WHERE {cond}{cap}"
            f") AS c ORDER BY c.score DESC, c.id LIMIT {int(limit)}",
        )
        return [(r.id, float(r.score)) for r in rows], int(rows[0].found) if rows else 0

    def _by_date(
        self, conn: Connection, query: PgQuery, limit: int, *, by_date: bool
    ) -> list[tuple[str, float]]:
        """Newest first (or, with nothing to score, by id), score 0."""
        order = "papers.listing_date DESC NULLS LAST, papers.id" if by_date else "papers.id"
        rows = _fetch(
            conn,
            f"SELECT papers.id FROM papers WHERE {query.cond} "  # noqa: S608 (quoted, see _fetch)
            f"ORDER BY {order} LIMIT {int(limit)}",
        )
        return [(r.id, 0.0) for r in rows]

    def matching(self, ids: Sequence[str], query: PgQuery) -> set[str]:
        if not ids:
            return set()
        listed = ", ".join(_sql_string(i) for i in ids)
        with _uncached(self.db) as conn:
            rows = _fetch(
                conn,
                f"SELECT papers.id FROM papers WHERE papers.id IN ({listed}) "  # noqa: S608 (quoted)
                f"AND {query.cond}",
            )
        return {r.id for r in rows}

    def snippets_html(
        self, query: PgQuery | None, texts: Sequence[str], max_chars: int = 260
    ) -> list[str]:
        """For each text, ts_headline's fragment with the query's terms in <b>;
        without a match, the text's beginning. Escaped here (one query per page)."""
        bodies = [clean(t).replace(_MARK_OPEN, " ").replace(_MARK_CLOSE, " ") for t in texts]
        fragments: list[str | None] = [None] * len(bodies)
        tsq = query.tsquery_text if query is not None else None
        if tsq is not None and any(bodies):
            # Escaped before ts_headline, whose parser would drop "<tags>" from the
            # text; the markers (private-use characters) pass html.escape untouched.
            options = f"StartSel={_MARK_OPEN}, StopSel={_MARK_CLOSE}, MaxWords=40, MinWords=20"
            listed = ", ".join(_sql_string(html.escape(b, quote=False)) for b in bodies)
            with _uncached(self.db) as conn:
                rows = _fetch(
                    conn,
                    f"SELECT doc.n, ts_headline({_sql_string(TEXT_CONFIG)}::regconfig, doc.body, "  # noqa: S608
                    f"{_sql_string(tsq)}::tsquery, {_sql_string(options)}) "
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

    def sync_if_due(self, db: Database, every_seconds: float = 2.0) -> None:
        return None


# ---------------------------------------------------------------- dense

# The same graph parameters as the faiss sidecar (index/vectors.py), so both
# backends trade recall for speed alike.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 100
HNSW_EF_SEARCH = 64
# A sync with this many vectors missing, and at least BULK_SHARE of the rows of
# their dimension, drops the HNSW index, fills the column, then builds the
# index in one pass: inserting row by row into a live graph took 965 s for 75k
# vectors here, a build after the fill a fraction of that.
BULK_MIN_ROWS = 5000
BULK_SHARE = 0.25
COUNT_TTL = 300.0  # seconds a vector count is reused
SYNC_EVERY_SECONDS = 5.0  # how often a long-lived process looks for unfilled vectors
BULK_BATCH = 50000  # rows per COPY + UPDATE transaction in a bulk fill
# maintenance_work_mem for a build: pgvector builds the graph in memory and
# falls back to a much slower on-disk phase when it does not fit. Sized to the
# vectors (~4 bytes a dimension plus the neighbour lists), within these bounds.
BUILD_MEMORY_MIN_MB = 1024
BUILD_MEMORY_MAX_MB = 4096


def _vector_literal(vector: np.ndarray) -> str:
    values = np.asarray(vector, dtype=np.float32).ravel().tolist()
    return ("[" + ",".join(["%.7g"] * len(values)) + "]") % tuple(values)


def hnsw_index_name(dim: int) -> str:
    return f"ix_embeddings_hnsw_{int(dim)}"


def ensure_hnsw_index(db: Database, dim: int) -> None:
    """The HNSW index for vectors of ``dim`` dimensions (inner product), once."""
    dim = int(dim)
    with db.begin() as conn:
        rows = conn.execute(
            text("SELECT count(*) FROM embeddings WHERE dim = :d"), {"d": dim}
        ).scalar_one()
        need_mb = int(rows * (4 * dim + 8 * 2 * HNSW_M * 3) * 1.3 / 2**20)
        memory = min(BUILD_MEMORY_MAX_MB, max(BUILD_MEMORY_MIN_MB, need_mb))
        conn.execute(text(f"SET LOCAL maintenance_work_mem = '{memory}MB'"))
        conn.execute(
            text(
                f"CREATE INDEX IF NOT EXISTS {hnsw_index_name(dim)} ON embeddings "
                f"USING hnsw ((embedding::vector({dim})) vector_ip_ops) "
                f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}) WHERE dim = {dim}"
            )
        )


def drop_hnsw_index(db: Database, dim: int) -> None:
    """Before a bulk fill: searches meanwhile scan exactly (slower, still right)."""
    with db.begin() as conn:
        conn.execute(text(f"DROP INDEX IF EXISTS {hnsw_index_name(dim)}"))


def _dims_to_rebuild(db: Database) -> list[int]:
    """Dimensions whose missing vectors are a bulk load (see BULK_MIN_ROWS)."""
    with db.connect() as conn:
        # The common case (every few seconds, nothing missing) costs one probe
        # of the partial index on unsynced rows, not a count of the table.
        if (
            conn.execute(text("SELECT 1 FROM embeddings WHERE embedding IS NULL LIMIT 1")).first()
            is None
        ):
            return []
        rows = conn.execute(
            text(
                "SELECT dim, count(*) FILTER (WHERE embedding IS NULL) AS missing, "
                "count(*) AS total FROM embeddings GROUP BY dim"
            )
        ).all()
    return [
        int(r.dim) for r in rows if r.missing >= BULK_MIN_ROWS and r.missing >= BULK_SHARE * r.total
    ]


def _write_vectors(conn: Any, rows: Sequence[Any]) -> None:
    """Set ``embedding`` for ``rows`` (paper_id, model, dim, vector bytes): the
    vectors go in by binary COPY into a temporary table (pgvector's own binary
    format, no text to format or parse: that was most of a 75k fill's CPU),
    then one UPDATE joins it."""
    from pgvector.psycopg import register_vector

    raw = conn.connection.driver_connection
    register_vector(raw)
    conn.execute(
        text(
            "CREATE TEMPORARY TABLE IF NOT EXISTS pf_vectors_in "
            "(paper_id text, model text, embedding vector) ON COMMIT DELETE ROWS"
        )
    )
    with (
        raw.cursor() as cur,
        cur.copy(
            "COPY pf_vectors_in (paper_id, model, embedding) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(["text", "text", "vector"])
        for r in rows:
            copy.write_row((r.paper_id, r.model, bytes_to_vector(r.vector, r.dim)))
    conn.execute(
        text(
            "UPDATE embeddings AS e SET embedding = u.embedding FROM pf_vectors_in AS u "
            "WHERE e.paper_id = u.paper_id AND e.model = u.model"
        )
    )
    conn.execute(text("TRUNCATE pf_vectors_in"))


def _report_stats_at_commit(conn: Connection) -> None:
    """Have this transaction's table statistics reach ``pg_stat`` at its commit.

    PostgreSQL 15+ sends a backend's statistics at most once a second, so a
    bulk fill's dead rows could arrive after the VACUUM that follows it (on a
    small table it takes less than that) and be counted as dead again: an
    autovacuum would then walk the new HNSW graph for nothing, the cost the
    VACUUM is there to spare (and tests/test_pg_pruning.py saw the 400 dead
    rows of its corpus once in a full run). Older servers have no such call."""
    if (conn.dialect.server_version_info or (0,)) >= (15,):
        conn.exec_driver_sql("SELECT pg_stat_force_next_flush()")


_HNSW_SESSION_KEY = "paperfeed.hnsw_session"


def _hnsw_session(conn: Connection, ef_search: int, iterative_scan: str) -> None:
    """pgvector's search settings for this pooled connection's session, sent
    only when they differ from what it was last given (the connection's
    ``info`` lives as long as the server session). A search's settings were
    ``set_config(..., true)`` in a transaction of their own before: BEGIN, the
    settings and COMMIT, three round trips on every request for the same two
    values. Only this module's vector searches read these settings, and each
    sets its own, so what one leaves in the session misleads none."""
    wanted = (int(ef_search), iterative_scan)
    info = conn.info
    if info.get(_HNSW_SESSION_KEY) == wanted:
        return
    conn.execute(
        text(
            "SELECT set_config('hnsw.ef_search', :ef, false), "
            "set_config('hnsw.iterative_scan', :scan, false)"
        ),
        {"ef": str(wanted[0]), "scan": iterative_scan},
    )
    info[_HNSW_SESSION_KEY] = wanted


class PgVectorIndex:
    """Dense search on pgvector (same methods as the SQLite VectorIndex)."""

    def __init__(self, db: Database, model_id: str) -> None:
        self.db = db
        self.model_id = model_id
        self._count: tuple[float, int] | None = None
        self._synced_once = False  # the first look fills inline (sync_if_due)
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._background = BackgroundCatchUp("pgvector-fill", SYNC_EVERY_SECONDS)

    def __len__(self) -> int:
        # Cached for COUNT_TTL seconds (5 while there are none, so the first
        # vectors show up quickly): counting scans the table (seconds at 1M).
        now = time.monotonic()
        ttl = 5.0 if self._count is None or self._count[1] == 0 else COUNT_TTL
        if self._count is None or now - self._count[0] > ttl:
            with self._count_lock:  # one count at a time (concurrent requests)
                return self._recount(now, ttl)
        return self._count[1]

    def _recount(self, now: float, ttl: float) -> int:
        if self._count is None or now - self._count[0] > ttl:
            self.sync_if_due()
            with self.db.connect() as conn:
                n = conn.execute(
                    select(func.count())
                    .select_from(embeddings)
                    .where(embeddings.c.model == self.model_id, text("embedding IS NOT NULL"))
                ).scalar_one()
            self._count = (now, int(n))
        return self._count[1]

    def __contains__(self, paper_id: object) -> bool:
        self.sync_if_due()
        with self.db.connect() as conn:
            row = conn.execute(
                select(embeddings.c.paper_id).where(
                    embeddings.c.paper_id == str(paper_id),
                    embeddings.c.model == self.model_id,
                    text("embedding IS NOT NULL"),
                )
            ).first()
        return row is not None

    def sync_if_due(self) -> None:
        """Fill in vectors that other processes stored without filling (a
        worker fills its own): the first look in a process runs here, later
        ones every few seconds on a background thread, so no request waits
        for a COPY, an UPDATE and their HNSW inserts."""
        if not self._synced_once:
            self.sync(self.db)
        else:
            self._background.start_if_due(
                lambda: self.sync(self.db, stop=lambda: self._background.stopping)
            )

    def sync(
        self,
        db: Database | None = None,
        *,
        batch: int = 2000,
        stop: Callable[[], bool] | None = None,
    ) -> int:
        """Fill ``embedding`` from the portable ``vector`` bytes where it is missing
        (new or re-embedded rows: a trigger clears it when ``vector`` changes).
        ``stop``: checked before each batch (a background fill asked to stop at
        exit); the HNSW index is still (re)built for what was filled."""
        db = db or self.db
        total = 0
        with self._lock:
            self._synced_once = True
            dims: set[int] = set()
            rebuild = _dims_to_rebuild(db)
            for dim in rebuild:
                drop_hnsw_index(db, dim)
            while not (stop and stop()):
                with db.begin() as conn:
                    rows = conn.execute(
                        text(
                            "SELECT paper_id, model, dim, vector FROM embeddings "
                            "WHERE embedding IS NULL LIMIT :n FOR UPDATE SKIP LOCKED"
                        ),
                        {"n": batch if not rebuild else max(batch, BULK_BATCH)},
                    ).all()
                    if not rows:
                        break
                    _write_vectors(conn, rows)
                    if rebuild:
                        _report_stats_at_commit(conn)
                dims.update(int(r.dim) for r in rows)
                total += len(rows)
            if rebuild and total:
                # The fill's UPDATEs left a dead row per vector. Vacuumed now,
                # before the index exists, not by an autovacuum after, which
                # must also scan the whole HNSW graph: at 1M papers one ran
                # through the first searches after a build (their p99 188 ms,
                # 55 in the next run; docs/benchmarks.md, session 12).
                vacuum(db, "embeddings")
            for dim in dims | set(rebuild):
                ensure_hnsw_index(db, dim)
        if total:
            self._count = None
        return total

    def save(self) -> None:
        return None  # nothing outside the database

    def add(self, ids: Sequence[str], vectors: Any, hashes: Sequence[str] | None = None) -> None:
        """Vectors just stored with store_vectors: make them searchable now."""
        self.sync(self.db)

    def vectors_of(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        with self.db.connect() as conn:
            rows = conn.execute(
                select(embeddings.c.paper_id, embeddings.c.dim, embeddings.c.vector).where(
                    embeddings.c.model == self.model_id, embeddings.c.paper_id.in_(list(ids))
                )
            ).all()
        return {r.paper_id: bytes_to_vector(r.vector, r.dim) for r in rows}

    def search(
        self,
        vector: np.ndarray,
        k: int,
        *,
        allowed_ids: Iterable[str] | None = None,
        exclude: Iterable[str] = (),
    ) -> list[tuple[str, float]]:
        """The ``k`` nearest papers as (paper_id, cosine similarity), best first."""
        query = np.asarray(vector, dtype=np.float32).ravel()
        dim = int(query.shape[0])
        if k <= 0:
            return []
        self.sync_if_due()  # vectors stored since the last look become searchable
        # The expression and the dim predicate match the partial HNSW index.
        distance = f"(embedding::vector({dim})) <#> CAST(:q AS vector({dim}))"
        where = [f"dim = {dim}", "model = :model", "embedding IS NOT NULL"]
        params: dict[str, Any] = {"q": _vector_literal(query), "model": self.model_id, "k": k}
        excluded = list(exclude)
        if excluded:
            where.append("paper_id <> ALL(:exclude)")
            params["exclude"] = excluded
        if allowed_ids is not None:
            where.append("paper_id = ANY(:allowed)")
            params["allowed"] = list(allowed_ids)
        filtered = len(where) > 3  # an exclusion or an allow-list
        sql = (
            f"SELECT paper_id, -({distance}) AS score FROM embeddings "  # noqa: S608 (dim is an int)
            f"WHERE {' AND '.join(where)} ORDER BY {distance} LIMIT :k"
        )
        with self.db.connect() as conn:
            # Filtered searches keep walking the graph until k rows pass the filter.
            ef = max(HNSW_EF_SEARCH, min(1000, int(k)))
            _hnsw_session(conn, ef, "relaxed_order" if filtered else "off")
            stmt = text(sql)
            if "exclude" in params:
                stmt = stmt.bindparams(bindparam("exclude", expanding=False))
            rows = conn.execute(stmt, params).all()
        hits = [(r.paper_id, float(r.score)) for r in rows]
        if allowed_ids is not None:
            # relaxed_order may return slightly out of order: restore it.
            hits.sort(key=lambda h: -h[1])
        return hits
