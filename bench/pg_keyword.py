"""PostgreSQL keyword search alone, on a built corpus: wall time and backend CPU
per search, and which searches fell back to rare-term pruning.

    .venv/bin/python bench/pg_keyword.py --database-url postgresql+psycopg://... \\
        [--queries 1000] [--save hits.json] [--compare other-hits.json]

The queries are bench/search.py's (titles and 2-5 word phrases drawn from the
corpus by a seeded generator), run through ``PgLexicalIndex.search`` with the
hybrid ranking's depth (100), the part of a PostgreSQL search that the
posting lists serve. ``--save`` writes each query's hit ids; ``--compare``
prints the top-10 and top-100 agreement with a saved run (all queries, and
titles of 10+ words), so a change in candidate selection can be weighed.
Backend CPU is read from /proc for the one connection's server process, so
run it on the database's machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.append(str(HERE))


def _backend_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _agreement(
    run: dict[str, list[str]], other: dict[str, list[str]], k: int, queries: list[str]
) -> float:
    return sum(
        len(set(run[q][:k]) & set(other[q][:k])) / max(1, min(k, len(other[q]))) for q in queries
    ) / max(1, len(queries))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--save", type=Path)
    parser.add_argument("--compare", type=Path)
    args = parser.parse_args()
    os.environ["PAPERFEED_BENCH_DATABASE_URL"] = args.database_url
    import search as bench  # noqa: E402 (reads the URL above at import)
    from paperfeed.db import Database
    from paperfeed.index import pg_keyword
    from paperfeed.query import parse
    from paperfeed.search import DEFAULT_FUSION, DEFAULT_WEIGHTS

    queries = bench.make_queries(bench.CACHE / "pg-keyword", args.queries)
    db = Database(args.database_url, auto_migrate=False)
    index = pg_keyword.PgLexicalIndex(db)
    index.stats.get()
    fallbacks = [0]
    scored = pg_keyword.PgLexicalIndex._scored

    def counted(self, *a, **k):  # type: ignore[no-untyped-def]
        fallbacks[-1] += 1
        return scored(self, *a, **k)

    pg_keyword.PgLexicalIndex._scored = counted  # type: ignore[method-assign]

    def one(query: str) -> list[str]:
        rendered = index.combine(index.render(parse(query).root, DEFAULT_WEIGHTS), None)
        hits, _ = index.search(rendered, limit=DEFAULT_FUSION.depth)
        return [paper_id for paper_id, _ in hits]

    with db.connect() as conn:  # the pool's one connection: its server process
        pid = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
    for query in queries[:20]:  # warm-up
        one(query)
    walls, backend, client, fell = [], [], [], []
    hits: dict[str, list[str]] = {}
    for query in queries:
        fallbacks.append(0)
        before = _backend_cpu_seconds(pid)
        started, cpu = time.perf_counter(), time.process_time()
        hits[query] = one(query)
        walls.append((time.perf_counter() - started) * 1000)
        client.append((time.process_time() - cpu) * 1000)
        backend.append((_backend_cpu_seconds(pid) - before) * 1000)
        fell.append(fallbacks[-1])
    db.dispose()
    print(
        f"{len(queries)} queries: wall p50 {_pct(walls, 0.5):.1f} / p90 {_pct(walls, 0.9):.1f} / "
        f"p99 {_pct(walls, 0.99):.1f} / mean {statistics.mean(walls):.1f} ms; backend CPU mean "
        f"{statistics.mean(backend):.1f} ms (clock ticks); "
        f"client CPU p50 {_pct(client, 0.5):.1f} ms"
    )
    slow = [w for w, f in zip(walls, fell, strict=True) if f]
    print(
        f"fell back to rare-term pruning: {len(slow)} searches, "
        f"{sum(slow):.0f} ms of {sum(walls):.0f}"
    )
    for wall, query in sorted(zip(walls, queries, strict=True), reverse=True)[:5]:
        print(f"  {wall:6.1f} ms  {query[:90]}")
    if args.save:
        args.save.write_text(json.dumps(hits))
    if args.compare:
        other = json.loads(args.compare.read_text())
        shared = [q for q in queries if q in other]
        long = [q for q in shared if len(q.split()) >= 10]
        print(
            f"against {args.compare.name} ({len(shared)} queries): top-10 "
            f"{_agreement(hits, other, 10, shared):.3f}, "
            f"top-100 {_agreement(hits, other, 100, shared):.3f}; "
            f"titles of 10+ words ({len(long)}): top-10 {_agreement(hits, other, 10, long):.3f}"
        )


if __name__ == "__main__":
    main()
