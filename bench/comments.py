"""What discussion costs: rendering a comment (markdown-it-py + nh3), and one
page of a list sorted by "discussed" or trending with comment counts, on a
SQLite file of real arxiv-cs papers.

    PYTHONPATH=src nice -n 10 .venv/bin/python bench/comments.py [--papers 2000] [--comments 5000]

Prints the figures (medians of repeated runs); record them in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from paperfeed.app import Paperfeed
from paperfeed.config import Settings
from paperfeed.db import tables
from paperfeed.ingest import pipeline
from paperfeed.ingest.jsonl import paper_from_record
from paperfeed.readers import grant_role
from paperfeed.services import listings, markup
from paperfeed.trending import period_containing

CORPUS = (
    Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "arxiv-cs-2025.jsonl.gz"
)
COMMENT = (
    "Nice result. The bound in **Theorem 2** needs $\\|x\\|_2 \\le 1$, see "
    "[the appendix](https://example.org/appendix).\n\n> does it hold for $p > 2$?\n\n"
    "- one\n- two\n\n$$\\sum_i x_i^2$$"
)
DAY = date(2025, 6, 2)


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--papers", type=int, default=2000)
    parser.add_argument("--comments", type=int, default=5000)
    args = parser.parse_args()

    per = timed(lambda: [markup.render(COMMENT) for _ in range(200)], 5) / 200
    print(f"render one comment ({len(COMMENT)} chars): {per * 1e6:.0f} us")

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), secret_key="bench")
        app = Paperfeed(settings)
        papers = []
        with gzip.open(CORPUS, "rt", encoding="utf-8") as handle:
            for line in handle:
                paper = paper_from_record(json.loads(line), default_listing_date=DAY)
                paper.listing_date = DAY
                papers.append(paper)
                if len(papers) >= args.papers:
                    break
        pipeline.ingest(app.db, papers)
        reader = grant_role(app.db, "bench@example.org", "reader")
        rng = random.Random(1)
        now = datetime.now(UTC)
        rows = [
            {
                "thread": f"paper:{pid}",
                "paper_id": pid,
                "reader_id": reader.id,
                "body": COMMENT,
                "body_html": markup.render(COMMENT),
                "created_at": now,
            }
            for pid in (rng.choice(papers).id for _ in range(args.comments))
        ]
        with app.db.begin() as conn:
            conn.execute(tables.comments.insert(), rows)
        period = period_containing("day", DAY)
        for sort in ("trending", "newest", "discussed"):
            seconds = timed(
                lambda sort=sort: listings.list_papers(app, period, sort=sort, limit=50), 20
            )
            print(
                f"list page, sort={sort}, {args.papers} papers, {args.comments} comments: "
                f"{seconds * 1e3:.1f} ms"
            )


if __name__ == "__main__":
    main()
