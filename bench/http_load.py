"""HTTP benchmark: the list pages and /api/papers/search over loopback, with the
74,728 real papers in SQLite, against a real uvicorn server (2 workers).

    .venv/bin/python bench/http_load.py                 # builds the database once, then measures
    .venv/bin/python bench/http_load.py --requests 500  # more samples

What it does, all bounded and on 127.0.0.1 only:
1. Builds (once; reused afterwards) a SQLite database with every paper of
   ../shared/data/arxiv-cs-2025.jsonl.gz, 20,000 reader votes spread over the
   last 30 listing days and imported upvotes on 500 papers, and the lexical
   search index.
2. Starts ``uvicorn paperfeed.web.app:create_app --factory --workers 2``.
3. Latency: sequential GETs (one keep-alive connection) of the home page and
   day/week/month list pages, sorted by trending and by newest; p50/p95/p99.
4. Throughput: ``/api/papers/search?q=...`` with real query words, from
   ``--concurrency`` client threads, a fixed number of requests; requests/s.

Targets (issue 4): list page p99 <= 50 ms; search API >= 300 requests/s with 2
workers. The load generator shares the machine's cores with the server, so the
requests/s figure is a lower bound.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
DATA = SHARED / "data" / "arxiv-cs-2025.jsonl.gz"
WORK = REPO / "bench" / "results" / "http"

sys.path.insert(0, str(REPO))


def settings_for(work: Path):  # type: ignore[no-untyped-def]
    from paperfeed.config import Settings

    return Settings(
        data_dir=work,
        database_url=f"sqlite:///{work / 'paperfeed.db'}",
        secret_key="bench-secret-key-not-for-production",
    )


def build_database(work: Path) -> None:
    """The real corpus plus synthetic votes; skipped when already built."""
    from paperfeed.db import Database
    from paperfeed.db.tables import papers, readers, votes
    from paperfeed.index.lexical import sync_lexical
    from paperfeed.ingest.jsonl import read_jsonl
    from paperfeed.ingest.pipeline import ingest

    settings = settings_for(work)
    marker = work / "built.json"
    if marker.is_file():
        print(f"reusing {work / 'paperfeed.db'}", file=sys.stderr)
        return
    work.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url_resolved)
    started = time.perf_counter()
    report = ingest(db, read_jsonl(DATA))
    print(f"ingested {report.summary()} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    rng = random.Random(4)
    with db.begin() as conn:
        days = [
            d
            for (d,) in conn.execute(
                select(papers.c.listing_date)
                .group_by(papers.c.listing_date)
                .order_by(papers.c.listing_date.desc())
                .limit(30)
            )
        ]
        recent = list(
            conn.execute(select(papers.c.id).where(papers.c.listing_date.in_(days))).scalars()
        )
        now = datetime.now(UTC)
        conn.execute(
            readers.insert(),
            [{"email": f"bench{i}@example.org", "created_at": now} for i in range(2000)],
        )
        reader_ids = list(conn.execute(select(readers.c.id)).scalars())
        rows, seen = [], set()
        while len(rows) < 20_000:
            key = (rng.choice(reader_ids), rng.choice(recent))
            if key in seen:
                continue
            seen.add(key)
            at = now - timedelta(hours=rng.expovariate(1 / 72))
            rows.append({"reader_id": key[0], "paper_id": key[1], "created_at": at})
        conn.execute(votes.insert(), rows)
        for paper_id in rng.sample(recent, 500):
            conn.execute(
                papers.update()
                .where(papers.c.id == paper_id)
                .values(imported_upvotes=rng.randint(1, 120))
            )
        total = conn.execute(select(func.count()).select_from(papers)).scalar()
    started = time.perf_counter()
    indexed = sync_lexical(db, settings)
    print(f"indexed {indexed} papers in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    marker.write_text(
        json.dumps({"papers": total, "votes": len(rows), "days": [str(d) for d in days]})
    )
    db.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(work: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "PAPERFEED_DATABASE_URL": f"sqlite:///{work / 'paperfeed.db'}",
        "PAPERFEED_DATA_DIR": str(work),
        "PAPERFEED_SECRET_KEY": "bench-secret-key-not-for-production",
    }
    command = [
        sys.executable, "-m", "uvicorn", "paperfeed.web.app:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    server = subprocess.Popen(command, env=env, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):  # bounded wait for start-up (migrations, index open)
        try:
            if httpx.get(url + "/papers/date/2025-03-18", timeout=5).status_code == 200:
                return server, url
        except httpx.TransportError:
            pass
        if server.poll() is not None:
            raise SystemExit("the server exited during start-up")
        time.sleep(0.1)
    server.terminate()
    raise SystemExit("the server did not start")


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98], "max": ordered[-1]}


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its descendants (Linux /proc):
    what a request costs the server, which waiting for a busy core does not inflate."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        todo += [int(c) for c in children]
    return total


def measure_latency(
    url: str, paths: Sequence[str], requests: int, server_pid: int
) -> dict[str, float]:
    samples = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for path in paths:  # warm-up: one of each
            client.get(path).raise_for_status()
        cpu_before = tree_cpu_seconds(server_pid)
        for i in range(requests):
            path = paths[i % len(paths)]
            started = time.perf_counter()
            response = client.get(path)
            samples.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
        cpu_ms = (tree_cpu_seconds(server_pid) - cpu_before) * 1000 / requests
    return {**percentiles(samples), "cpu": cpu_ms}


def measure_throughput(
    url: str, paths: Sequence[str], requests: int, concurrency: int
) -> tuple[float, dict[str, float], int]:
    lock = threading.Lock()
    next_index = [0]
    samples: list[float] = []
    errors = [0]

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while True:
                with lock:
                    i = next_index[0]
                    if i >= requests:
                        return
                    next_index[0] += 1
                started = time.perf_counter()
                response = client.get(paths[i % len(paths)])
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    samples.append(elapsed)
                    if response.status_code != 200:
                        errors[0] += 1

    with httpx.Client(base_url=url, timeout=60) as client:  # warm-up
        for path in paths[: min(len(paths), 20)]:
            client.get(path)
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return requests / elapsed, percentiles(samples), errors[0]


def search_queries(count: int) -> list[str]:
    """Two- and three-word queries drawn from real titles."""
    rng = random.Random(7)
    words: list[list[str]] = []
    with gzip.open(DATA, "rt", encoding="utf-8") as handle:
        for i, line in enumerate(handle):
            if i >= 5000:
                break
            title = [w.strip(":,.()") for w in json.loads(line)["title"].split()]
            title = [w for w in title if len(w) > 3 and w.isalpha()]
            if len(title) >= 3:
                words.append(title)
    return [" ".join(rng.sample(rng.choice(words), rng.choice((2, 3)))) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--requests", type=int, default=300, help="latency samples per list kind")
    parser.add_argument("--search-requests", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    build_database(args.work)
    built = json.loads((args.work / "built.json").read_text())
    days = built["days"]
    server, url = start_server(args.work, args.workers)
    try:
        from paperfeed.trending import period_containing

        latest = datetime.fromisoformat(days[0]).date()
        lists = {
            "home /": ["/"],
            "day, trending": [f"/papers/date/{d}" for d in days[:10]],
            "day, newest": [f"/papers/date/{d}?sort=newest" for d in days[:10]],
            "week, trending": [period_containing("week", latest).path],
            "month, trending": [period_containing("month", latest).path],
            "day, page 3": [f"/papers/date/{d}?page=3" for d in days[:10]],
            "API daily_papers (50)": [
                f"/api/daily_papers?date={d}&sort=trending" for d in days[:10]
            ],
        }
        print(
            f"\n{built['papers']:,} papers, {built['votes']:,} votes; uvicorn, {args.workers} "
            f"workers, SQLite; {args.requests} sequential requests each"
        )
        print(
            f"{'list page':<24} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}"
            f" {'server CPU ms/req':>18}"
        )
        for name, paths in lists.items():
            stats = measure_latency(url, paths, args.requests, server.pid)
            print(f"{name:<24} {stats['p50']:8.1f} {stats['p95']:8.1f} {stats['p99']:8.1f} "
                  f"{stats['max']:8.1f} {stats['cpu']:18.1f}")  # fmt: skip

        queries = search_queries(500)
        paths = [
            str(httpx.URL("/api/papers/search", params={"q": q, "limit": 20})) for q in queries
        ]
        list_paths = [f"/papers/date/{d}" for d in days[:10]]
        print(f"\n{args.search_requests} requests from {args.concurrency} client threads each:")
        for name, load_paths in (
            (f"/api/papers/search (limit 20, {len(queries)} real-word queries)", paths),
            ("day list page", list_paths),
        ):
            cpu_before = tree_cpu_seconds(server.pid)
            rps, stats, errors = measure_throughput(
                url, load_paths, args.search_requests, args.concurrency
            )
            cpu_ms = (tree_cpu_seconds(server.pid) - cpu_before) * 1000 / args.search_requests
            # What two otherwise idle cores could serve if the server is CPU-bound.
            ceiling = args.workers * 1000 / cpu_ms if cpu_ms else float("inf")
            print(
                f"  {name}: {rps:.0f} requests/s; p50 {stats['p50']:.1f} ms, "
                f"p99 {stats['p99']:.1f} ms; {errors} non-200; server CPU {cpu_ms:.1f} ms/req "
                f"(CPU-bound ceiling with {args.workers} free cores: {ceiling:.0f} requests/s)"
            )
        # Other work on the machine inflates every figure; say how much there was.
        print(f"\nload average (1, 5, 15 min) at the end: {os.getloadavg()}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
