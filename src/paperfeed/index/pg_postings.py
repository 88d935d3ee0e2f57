"""Keyword candidates from the impact-ordered posting lists (migration 0013).

The table is kept by triggers and rebuilt by db/postings.py; this module
only reads it: the papers leading each term's list, summed with the terms'
idf, and the best of those that match the whole query scored exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from paperfeed.db.postings import POSTINGS_STALE_KEY
from paperfeed.index.pg_query import fetch, sql_string
from paperfeed.index.pg_stats import LEXEME, TermStats, idf
from paperfeed.tuning import IndexTuning

# A list whose lexeme the sampled statistics put at this many times the
# postings read is taken as not read to its end (a sample of 20,000 papers
# puts a lexeme of 6,000 papers at 1M under 4,000 by chance about never).
TRUNCATED_SHARE = 3.0
LOOKED_UP = 8  # leaders looked up at most, per one rescored: those failing the query make room


def list_depths(lengths: Sequence[float], depth: int, budget: int, min_depth: int) -> list[int]:
    """How far down each posting list a search reads, given the lists'
    estimated lengths: ``depth``, unless the lists hold more than ``budget``
    postings in all; then the short ones are read whole and the long ones
    share what they leave, equally, but at least ``min_depth`` each."""
    out = [depth] * len(lengths)
    left = float(budget)
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    for k, i in enumerate(order):
        share = left / (len(order) - k)
        wanted = min(lengths[i], depth)
        if wanted > share:
            out[i] = max(min_depth, min(depth, int(share)))
            wanted = out[i]
        left -= wanted
    return out


@dataclass(frozen=True)
class Ranked:
    hits: list[tuple[str, float]]  # best first
    found: int  # matches scored
    complete: bool  # every match was scored: the hits are all of them


def read_leaders(
    conn: Connection,
    cond: str,
    texts: Sequence[str],
    estimates: Sequence[float],
    stats: TermStats,
    score: str,
    need: int,
    tuning: IndexTuning,
) -> Ranked | None:
    """The best ``need`` matches of ``cond`` among the papers that lead its
    terms' impact-ordered posting lists (migration 0013): the top
    ``tuning.postings_per_term`` of each term's list, summed with the terms'
    idf, and the best ``tuning.rescored`` of those that match the query scored exactly. None
    when a bulk load left the table stale: the caller prunes by rare terms."""
    # A stale table (a bulk load deferred it, migration 0014) is not read:
    # the one-time check makes every list empty, and the caller prunes.
    stale = f"EXISTS (SELECT 1 FROM meta WHERE key = {sql_string(POSTINGS_STALE_KEY)})"  # noqa: S608
    lists: list[str] = []  # (list number, lexeme, idf) rows of a VALUES list
    lengths: list[float] = []  # each list's estimated length
    for text_, matches in zip(texts, estimates, strict=True):
        weight = round(idf(stats.papers, matches), 6)
        # A term's branches (body, authors) may stem its words apart; each
        # branch's rarest lexeme lists every paper the branch matches
        # (a phrase matches no more than its rarest word).
        lexemes = {
            min(words, key=stats.share)
            for branch in text_.split(" | ")
            if (words := [w.replace("''", "'") for w in LEXEME.findall(branch)])
        }
        for lexeme in sorted(lexemes):
            lists.append(f"({len(lists)}, {sql_string(lexeme)}, {weight!r}::float8)")
            lengths.append(stats.share(lexeme) * stats.papers)
    longest = max(lengths, default=0.0)
    per_term = tuning.postings_per_term
    depths = list_depths(lengths, per_term, tuning.postings_budget, tuning.postings_min_depth)
    rescored = max(tuning.rescored, 2 * need)
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
    if longest >= TRUNCATED_SHARE * per_term or min(depths, default=0) < per_term:
        read_all = "FALSE"
    else:
        read_all = (
            "(SELECT coalesce(max(c), 0) FROM (SELECT count(*) AS c FROM top GROUP BY list) "  # noqa: S608 (numbers only)
            f"AS l) < {int(per_term)} "
            f"AND (SELECT count(DISTINCT paper_id) FROM top) <= {int(looked)} "
            f"AND (SELECT count(*) FROM candidates) < {int(rescored)}"
        )
    # Read once (the common case: a list is surely truncated), the lists
    # feed the aggregate straight from the index scans; a materialized CTE
    # wrote all their rows (~5k at 75k papers) to a tuplestore and read
    # them back: PostgreSQL CPU per search query 9.4 -> 8.1 ms at 75k
    # papers (docs/benchmarks.md, session 13). Counted too, they are kept.
    kept = "MATERIALIZED" if read_all != "FALSE" else "NOT MATERIALIZED"
    rows = fetch(
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
    return Ranked(hits, found, complete)
