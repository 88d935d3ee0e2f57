"""Metadata ingest rate: all papers of the arXiv cs export into a fresh database,
then the same file again (every paper unchanged). Embeddings are not involved.

    python bench/ingest.py                       # fresh SQLite file in a temp dir
    python bench/ingest.py --database-url postgresql+psycopg://... --backend postgres
    python bench/ingest.py --synthetic 1000000 [--backend postgres ...]

--synthetic N ingests N papers of bench/search.py's synthetic corpus (made
from the real ones), written once as JSON lines to
bench/cache/synthetic-<N>.jsonl.gz, so the same reader, parser and pipeline
run as for the real file.

Prints papers/s for both passes, then the rate of linking the stored papers
to their authors and organizations (``services.authors.link_pending``'s
batches, issue 24): a pass of its own after ingest, as the ingest queue
leaves it. The target (issue 2) is >= 5,000 papers/s for
the first pass on the 2-core machine.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from paperfeed.db import Database
from paperfeed.db import authors as author_store
from paperfeed.db import code as code_store
from paperfeed.db import papers as paper_store
from paperfeed.ingest.jsonl import read_jsonl
from paperfeed.ingest.pipeline import IngestReport, ingest
from paperfeed.services import code_links
from paperfeed.tuning import IngestTuning

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared/data/arxiv-cs-2025.jsonl.gz"


def synthetic_file(size: int) -> Path:
    """bench/search.py's synthetic corpus of ``size`` papers as JSON lines in
    the arxiv-cs-2025 format, written once (to a temp name, then renamed)."""
    path = HERE / "cache" / f"synthetic-{size}.jsonl.gz"
    if path.is_file():
        return path
    sys.path.append(str(HERE))
    import numpy as np

    from search import Synthetic, real_records

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    started = time.perf_counter()
    synth = Synthetic(real_records(), np.empty((0, 0), dtype=np.float32))  # text only
    with gzip.open(partial, "wt", encoding="utf-8", compresslevel=1) as out:
        for i in range(size):
            paper = synth.paper(i)[0]
            record = {
                "id": paper.id,
                "title": paper.title,
                "abstract": paper.abstract,
                "authors": paper.authors,
                "categories": paper.categories,
                "listing_date": paper.listing_date.isoformat() if paper.listing_date else None,
            }
            out.write(json.dumps(record) + "\n")
    partial.rename(path)
    print(f"wrote     {path} ({size:,} papers) in {time.perf_counter() - started:.0f}s")
    return path


def run(db: Database, data: Path, *, code: bool = True) -> tuple[IngestReport, float]:
    """The report (wall-clock rate) and the rate per CPU-second of this process,
    which moves less when other work shares the cores. ``code``: with the
    code-link extraction every ``services.ingest.store`` runs (issue 24)."""
    started = time.perf_counter()
    cpu = time.process_time()
    report = ingest(db, read_jsonl(data), on_batch=code_links.record if code else None)
    report.seconds = time.perf_counter() - started  # include the last commit
    return report, report.read / max(time.process_time() - cpu, 1e-9)


def link(db: Database) -> tuple[int, float, float]:
    """Drain the author queue the fresh pass filled, as link_pending does:
    (papers linked, seconds, papers per CPU-second)."""
    size = IngestTuning().link_batch_size
    started = time.perf_counter()
    cpu = time.process_time()
    done = 0
    while True:
        with db.begin() as conn:
            linked = author_store.link_batch(conn, size).papers
        if not linked:
            break
        done += linked
    seconds = time.perf_counter() - started
    return done, seconds, done / max(time.process_time() - cpu, 1e-9)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temp dir")
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument(
        "--no-code-links",
        action="store_true",
        help="leave out the code-link extraction (to measure what it costs)",
    )
    parser.add_argument(
        "--synthetic", type=int, metavar="N", help="ingest N synthetic papers instead of --data"
    )
    args = parser.parse_args()
    if args.backend == "postgres" and not args.database_url:
        parser.error("--backend postgres needs --database-url")
    if args.synthetic:
        args.data = synthetic_file(args.synthetic)

    with tempfile.TemporaryDirectory(prefix="paperfeed-bench-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        db = Database(url)
        with db.connect() as conn:
            if paper_store.count_papers(conn):
                print(f"error: {url} already holds papers; give an empty database", file=sys.stderr)
                return 2
        print(f"data      {args.data}")
        print(f"database  {db.backend} ({'temp file' if not args.database_url else 'given URL'})")
        print(
            f"machine   {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}, load average {os.getloadavg()[0]:.1f} at start"
        )
        print(
            f"code links {'off' if args.no_code_links else 'extracted (as services.ingest.store)'}"
        )
        first, first_cpu = run(db, args.data, code=not args.no_code_links)
        print(f"fresh     {first.summary()}; {first_cpu:,.0f} papers per CPU-second")
        linked, link_seconds, link_cpu = link(db)
        link_rate = linked / max(link_seconds, 1e-9)
        print(
            f"link      {linked:,} papers to their authors in {link_seconds:.1f}s: "
            f"{link_rate:,.0f} papers/s; {link_cpu:,.0f} papers per CPU-second"
        )
        second, second_cpu = run(db, args.data, code=not args.no_code_links)
        print(f"re-ingest {second.summary()}; {second_cpu:,.0f} papers per CPU-second")
        with db.connect() as conn:
            stored = paper_store.count_papers(conn)
            linked = code_store.stats(conn)
        db.dispose()
        print(
            f"code      {linked['papers_with_code']} papers with code, {linked['links']} links, "
            f"{linked['repositories']} GitHub repositories"
        )
        print(f"stored    {stored} papers; load average {os.getloadavg()[0]:.1f} at end")
        print(
            f"RESULT fresh={first.rate:,.0f} papers/s reingest={second.rate:,.0f} papers/s "
            f"(per CPU-second: fresh={first_cpu:,.0f} reingest={second_cpu:,.0f}) "
            f"link={link_rate:,.0f} papers/s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
