"""What the readers' layer adds to a list page: latency of `/papers/date/D`
for an anonymous visitor and for a signed-in reader (upvote/save/hide/collect
forms on every card, the reader's votes, saves and hides loaded in one batch),
on loopback against a real uvicorn server over real arXiv papers.

    python bench/readers_http.py [--papers 20000] [--requests 300]

Prints p50/p95/p99 in milliseconds for both. Run it with `nice` on a shared
machine and say so next to the figures.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402

import httpx  # noqa: E402
from tests.browser import LiveServer  # noqa: E402
from tests.conftest import ARXIV_CS  # noqa: E402
from tests.helpers import real_records  # noqa: E402
from tests.readers_helpers import token_from_link  # noqa: E402

from paperfeed import readers as core  # noqa: E402
from paperfeed.config import Settings  # noqa: E402
from paperfeed.db import Database  # noqa: E402
from paperfeed.ingest import pipeline  # noqa: E402
from paperfeed.ingest.jsonl import paper_from_record  # noqa: E402


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    q = statistics.quantiles(ordered, n=100)
    return f"p50 {q[49]:.1f} ms  p95 {q[94]:.1f} ms  p99 {q[98]:.1f} ms  (n={len(ordered)})"


def timed_gets(client: httpx.Client, path: str, count: int) -> list[float]:
    client.get(path).raise_for_status()  # warm up
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--papers", type=int, default=20000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            database_url=f"sqlite:///{tmp}/bench.db",
            secret_key="bench",
        )
        db = Database(settings.database_url_resolved)
        papers = [
            paper_from_record(r, default_listing_date=None)
            for r in real_records(ARXIV_CS, args.papers)
        ]
        pipeline.ingest(db, papers)
        day, listed = Counter(p.listing_date for p in papers if p.listing_date).most_common(1)[0]
        on_day = [p.id for p in papers if p.listing_date == day]
        with LiveServer(settings, db) as server:
            reader = core.grant_role(db, "b@example.org", "reader")
            for i, paper_id in enumerate(on_day[:60]):
                core.set_flag(db, reader, ("vote", "save", "hide")[i % 3], paper_id, True)
            core.create_collection(db, reader, "Reading")
            path = f"/papers/date/{day}"
            print(f"{args.papers} papers, {listed} listed on {day}; GET {path}")
            with httpx.Client(base_url=server.url) as anonymous:
                print("anonymous:", percentiles(timed_gets(anonymous, path, args.requests)))
            with httpx.Client(base_url=server.url) as signed_in:
                link = core.create_magic_link(settings, db, "b@example.org")
                page = signed_in.get(f"/signin/verify?token={token_from_link(link)}")
                csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
                signed_in.post(
                    "/signin/verify", data={"token": token_from_link(link), "csrf_token": csrf}
                )
                assert signed_in.get("/api/me").status_code == 200
                print("signed in:", percentiles(timed_gets(signed_in, path, args.requests)))
        db.dispose()


if __name__ == "__main__":
    main()
