"""Term statistics and BM25 scoring of keyword searches on PostgreSQL."""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import func, select, text

from paperfeed.db.engine import Database
from paperfeed.db.tables import papers
from paperfeed.index.pg_query import SEARCH_VECTOR, sql_string

# ts_rank has no top-k pruning: it scores every matching row, and a query of
# many optional words matches most of the corpus (68k of 75k papers for a
# 12-word title: 13 s). So a ranked search first ranks only the papers that
# match the query's rarest terms, as many of them as fit PRUNE_BUDGET
# (index/pg_keyword.py) estimated rows, and widens to every match only when that leaves fewer
# results than asked for. A paper matching none of the rare terms matches only
# common ones, which is what a BM25 ranking (idf) puts last anyway; the result
# is always a subset of the query's matches, so its semantics (fields,
# phrases, exclusions, AND/OR) are unchanged. Term frequencies come from
# ts_stat over a sample of the papers, refreshed in the background when older
# than IndexTuning.stats_ttl.

STATS_SAMPLE_ROWS = 20000
LEXEME = re.compile(r"'((?:[^']|'')*)'")


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
            frozenset(w.replace("''", "'") for w in LEXEME.findall(b))
            for b in tsquery_text.split("|")
        }
        total = sum(min(self.share(w) for w in words) for words in branches if words)
        return min(1.0, total) * self.papers


class StatsCache:
    """One database's lexeme frequencies, from ts_stat over a sample of papers
    (all of them when few). Computed on first use; when older than ``ttl`` seconds,
    served as they are while a background thread recomputes them (seconds at
    75k papers: no search should wait for that)."""

    def __init__(self, db: Database, *, ttl: float) -> None:
        self.db = db
        self.ttl = ttl
        self._stats: TermStats | None = None
        self._first_lock = threading.Lock()
        self._flag_lock = threading.Lock()
        self._refreshing = threading.Event()  # set while a background refresh runs

    @property
    def refreshing(self) -> bool:
        return self._refreshing.is_set()

    def get(self, *, refresh: bool = False) -> TermStats:
        cached = self._stats
        if cached is None or refresh:
            # One thread computes, the others wait for it: a cold web worker's first
            # burst of searches each ran ts_stat over the sample at once (27 s
            # requests under 16 connections).
            with self._first_lock:
                cached = None if refresh else self._stats
                if cached is None:
                    cached = self._stats = _compute_stats(self.db)
            return cached
        if time.monotonic() - cached.fetched_at >= self.ttl:
            with self._flag_lock:
                start = not self._refreshing.is_set()
                self._refreshing.set()
            if start:
                threading.Thread(target=self._refresh, daemon=True).start()
        return cached

    def _refresh(self) -> None:
        try:
            self._stats = _compute_stats(self.db)
        except Exception:  # noqa: BLE001 (a failed refresh keeps the old stats; retried later)
            if self._stats is not None:
                self._stats = replace(self._stats, fetched_at=time.monotonic())
        finally:
            self._refreshing.clear()


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
_LABELS = re.compile(r"('(?:[^']|'')*'):[A-D]+")


def idf(papers_n: int, matches: float) -> float:
    return math.log(1.0 + (papers_n - matches + 0.5) / (matches + 0.5))


def bm25_sql(
    texts: Sequence[str],
    fields: Sequence[str],
    estimates: Sequence[float],
    stats: TermStats,
    title_boost: float,
) -> str:
    """The score as one SQL expression, written as text: every part is a
    constant (numbers, quoted tsquery literals), and SQLAlchemy compiling a
    tree of CASE/ts_rank nodes per term cost ~0.5 ms a term of client CPU."""
    v = SEARCH_VECTOR
    k1, b = BM25_K1, BM25_B
    # BM25's k1 * (1 - b + b * length / average), length = the paper's lexemes.
    norm = f"({k1 * (1.0 - b)!r} + {k1 * b / stats.avg_length!r} * length({v}))"
    body: list[str] = []
    title: list[str] = []
    for text_, field, matches in zip(texts, fields, estimates, strict=True):
        weight = round(idf(stats.papers, matches) * (k1 + 1.0), 6)
        match = f"{v} @@ {sql_string(text_)}::tsquery"
        first = text_.split(" | ")[0]
        if "<->" in first:
            tf = "1.0"  # a phrase: its frequency is not cheap to get; taken as 1
        else:
            # ts_rank of one lexeme with all weights 1 and no normalisation is
            # sum_{k<=tf} 1/k^2 / (pi^2/6), so 1/((pi^2/6)(1 - rank)) - 0.5 is
            # the term frequency to within ~5% (exact at tf 1 and 2, 3.02 at 3).
            unlabelled = _LABELS.sub(r"\1", first)
            lexeme = f"{sql_string(unlabelled)}::tsquery"
            rank = f"least(ts_rank('{{1,1,1,1}}'::float4[], {v}, {lexeme}, 0), 0.99)"
            tf = f"greatest(1.0 / (1.644934 * (1.0 - {rank})) - 0.5, 1.0)"
        # idf * tf * (k1 + 1) / (tf + norm), written with tf once.
        body.append(f"CASE WHEN {match} THEN {weight!r} / (1.0 + {norm} / {tf}) ELSE 0 END")
        if not field and title_boost > 0:
            title_only = _LABELS.sub(r"\1:A", text_)
            in_title = f"{v} @@ {sql_string(title_only)}::tsquery"
            boost = round(idf(stats.papers, matches) * title_boost, 6)
            title.append(f"CASE WHEN {in_title} THEN {boost!r} ELSE 0 END")
    if not body:
        return "0.0"
    return f"({' + '.join(body + title)})"


def estimate_matches(stats: TermStats, estimates: Sequence[float]) -> int:
    """Papers matching any of the terms, if they were independent."""
    missed = 1.0
    for e in estimates:
        missed *= 1.0 - e / max(1, stats.papers)
    return round(stats.papers * (1.0 - missed))
