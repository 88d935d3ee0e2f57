"""Search quality on PostgreSQL: `paperfeed eval`'s measures for the tsvector side.

    nice -n 10 .venv/bin/python bench/pg_eval.py ../shared/data/scifact-dev \\
        --database-url postgresql+psycopg://postgres@/pf_eval?host=/tmp/pfpg-... \\
        [--cache-dir /tmp/pf-eval-cache] [--no-dense]

Loads the BEIR corpus into the given (empty) PostgreSQL database as papers,
then scores lexical search (paperfeed.search.rank over PgLexicalIndex, the
same path a search takes) with candidate pruning at its default budget and
with none (every match ranked), and the default hybrid fusion of each with the
exact dense run (the packaged MiniLM, as `paperfeed eval`). Prints one JSON
line per system and the per-query CPU time of the lexical runs.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, date, datetime
from pathlib import Path

from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db.tables import papers
from paperfeed.evaluate import (
    _embedder,
    dense_run,
    evaluate_run,
    fused_run,
    lexical_run,
    load_beir,
)
from paperfeed.index import pg_keyword
from paperfeed.search import DEFAULT_FUSION, Ranked
from paperfeed.tuning import IndexTuning


def load(db: Database, corpus: dict[str, dict[str, str]]) -> None:
    stamp = datetime.now(UTC)
    rows = [
        {
            "id": doc_id,
            "title": d["title"],
            "abstract": d["text"],
            "authors": [],
            "primary_category": "",
            "categories": [],
            "latest_version": 1,
            "listing_date": date(2025, 1, 1),
            "source": "beir",
            "imported_upvotes": 0,
            "withdrawn": False,
            "featured": False,
            "hidden": False,
            "title_key": d["title"].lower()[:500],
            "content_hash": doc_id,
            "created_at": stamp,
            "modified_at": stamp,
        }
        for doc_id, d in corpus.items()
    ]
    with db.begin() as conn:
        conn.execute(papers.delete())
        for s in range(0, len(rows), 2000):
            conn.execute(papers.insert(), rows[s : s + 2000])


def timed_lexical_run(
    index: pg_keyword.PgLexicalIndex, queries: dict[str, str]
) -> tuple[dict[str, Ranked], float]:
    """paperfeed eval's lexical run over PostgreSQL, and its client CPU ms per query."""
    started = time.process_time()
    run = lexical_run(index, queries)
    return run, (time.process_time() - started) / max(1, len(queries)) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--split")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--cache-dir", type=Path)
    parser.add_argument("--no-dense", action="store_true", help="Lexical only (no embedding).")
    parser.add_argument("--cap", type=float, help="IndexTuning.candidate_cap for the pruned run")
    parser.add_argument("--budget", type=float, help="pg_keyword.PRUNE_BUDGET for the pruned run")
    args = parser.parse_args()
    data = load_beir(args.dataset, args.split)
    settings = Settings(database_url=args.database_url)
    db = Database(settings.database_url_resolved)
    load(db, data.corpus)
    print(f"{data.name} {data.split}: {len(data.corpus):,} documents, {len(data.queries)} queries")
    runs: dict[str, dict[str, Ranked]] = {}
    default_budget = pg_keyword.PRUNE_BUDGET
    if args.budget:
        pg_keyword.PRUNE_BUDGET = default_budget = args.budget
    cap = args.cap or IndexTuning().candidate_cap
    for name, budget, run_cap in (
        ("pruned", default_budget, cap),
        ("unpruned", float("inf"), float("inf")),
    ):
        pg_keyword.PRUNE_BUDGET = budget
        index = pg_keyword.PgLexicalIndex(db, IndexTuning(candidate_cap=run_cap))
        index.stats.get()
        runs[name], cpu_ms = timed_lexical_run(index, data.queries)
        figures = evaluate_run(data.qrels, runs[name])
        print(
            json.dumps(
                {
                    "system": f"pg lexical {name} (budget {budget}, cap {run_cap})",
                    **figures,
                    "client_cpu_ms_per_query": round(cpu_ms, 2),
                }
            )
        )
    pg_keyword.PRUNE_BUDGET = default_budget
    embedder = None if args.no_dense else _embedder(settings)
    if embedder is not None:
        den = dense_run(data, settings, embedder, cache_dir=args.cache_dir, progress=print)
        for name, lex in runs.items():
            figures = evaluate_run(data.qrels, fused_run(lex, den, DEFAULT_FUSION))
            print(json.dumps({"system": f"pg hybrid {name}", **figures}))
    db.dispose()


if __name__ == "__main__":
    main()
