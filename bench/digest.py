"""Compose and send digests for N subscribers over the real corpus to a local
SMTP sink (aiosmtpd on 127.0.0.1, in its own process so it does not share our
GIL). Prints the time of the measured run (compose + claim + render + send),
its CPU time (user + sys), its peak RSS and the load average around it;
setup (ingest, subscriptions) is timed separately.

    nice -n 10 .venv/bin/python bench/digest.py [--subscribers 10000]

Each phase runs in a fresh process, so the peak RSS is that of the send run
alone, as `paperfeed digest send` would use it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "arxiv-cs-2025.jsonl.gz"

SINK = r"""
import sys, threading, socket
from aiosmtpd.controller import Controller
class Count:
    n = 0
    async def handle_DATA(self, server, session, envelope):
        Count.n += 1
        return "250 OK"
sock = socket.socket(); sock.bind(("127.0.0.1", 0)); port = sock.getsockname()[1]; sock.close()
c = Controller(Count(), hostname="127.0.0.1", port=port); c.start()
print(port, flush=True)
sys.stdin.read()  # until the parent closes our stdin
c.stop()
import resource
r = resource.getrusage(resource.RUSAGE_SELF)
print(Count.n, round(r.ru_utime + r.ru_stime, 1), flush=True)
"""


def settings_for(workdir: Path, port: int = 25) -> object:
    from paperfeed.config import Settings

    return Settings(
        data_dir=workdir / "data",
        database_url=f"sqlite:///{workdir / 'bench.db'}",
        secret_key="bench-secret",
        base_url="https://papers.example.org",
        smtp_port=port,
        smtp_retry_base_seconds=0.0,
        digest_scheduler=False,
    )


def setup(workdir: Path, data: Path, subscribers: int) -> dict[str, object]:
    from paperfeed.db import Database
    from paperfeed.db import digests as digest_store
    from paperfeed.ingest.jsonl import read_jsonl
    from paperfeed.ingest.pipeline import ingest

    settings = settings_for(workdir)
    db = Database(settings.database_url_resolved)  # type: ignore[attr-defined]
    started = time.perf_counter()
    report = ingest(db, read_jsonl(data))
    ingest_seconds = time.perf_counter() - started

    # The busiest weekday and its ISO week, so both digests have full lists.
    from sqlalchemy import func, select

    from paperfeed.db.tables import papers

    with db.connect() as conn:
        per_day = Counter(
            {
                str(d): n
                for d, n in conn.execute(
                    select(papers.c.listing_date, func.count()).group_by(papers.c.listing_date)
                )
            }
        )
    from datetime import date

    day = next(
        date.fromisoformat(d)
        for d, _ in per_day.most_common()
        if date.fromisoformat(d).weekday() < 5
    )
    year, week, _ = day.isocalendar()

    rng = random.Random(7)
    categories = ["cs.CL", "cs.CV", "cs.LG", "cs.AI", "cs.RO", "cs.CR"]
    keywords = ["diffusion", "reinforcement learning", "benchmark", "agent", "graph"]
    started = time.perf_counter()
    with db.begin() as conn:
        for i in range(subscribers):
            prefs: dict[str, object] = {
                "frequency": "weekly" if i % 5 == 0 else "daily",
                "trending_count": rng.choice([5, 10, 10, 20]),
            }
            roll = rng.random()
            if roll < 0.3:
                prefs["topics"] = {"categories": rng.sample(categories, 2), "keywords": []}
            elif roll < 0.4:
                prefs["topics"] = {"categories": [], "keywords": rng.sample(keywords, 2)}
            sub, _ = digest_store.request_subscription(
                conn, f"reader{i}@example.org", nonce=f"n{i}", preferences=prefs
            )
            digest_store.confirm_subscription(conn, sub["id"], f"n{i}")
    subscribe_seconds = time.perf_counter() - started
    db.dispose()
    return {
        "papers": report.inserted,
        "ingest_seconds": round(ingest_seconds, 1),
        "subscribe_seconds": round(subscribe_seconds, 1),
        "periods": [day.isoformat(), f"{year}-W{week:02d}"],
        "papers_on_day": per_day[day.isoformat()],
    }


def send(workdir: Path, port: int, periods: list[str]) -> dict[str, object]:
    from paperfeed.db import Database
    from paperfeed.digest import runner

    settings = settings_for(workdir, port)
    db = Database(settings.database_url_resolved)  # type: ignore[attr-defined]
    started = time.perf_counter()
    report = runner.run(settings, db, periods=periods, personal=None)  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    db.dispose()
    return {
        "seconds": round(seconds, 2),
        "sent": report.sent,
        "claimed": report.claimed,
        "skipped": report.skipped,
        "deferred": report.deferred,
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
    }


def child(phase: str, *args: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, __file__, phase, *args], check=True, capture_output=True, text=True
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_setup":
        print(json.dumps(setup(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_send":
        print(json.dumps(send(Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split(","))))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="paperfeed-bench-digest-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if (workdir / "bench.db").exists():
        sys.exit(f"{workdir / 'bench.db'} exists: give an empty --workdir")

    print(f"setup in {workdir}: ingest {args.data.name}, {args.subscribers} subscribers ...")
    prepared = child("_setup", str(workdir), str(args.data), str(args.subscribers))
    print(json.dumps(prepared))

    sink = subprocess.Popen(
        [sys.executable, "-c", SINK], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert sink.stdout is not None and sink.stdin is not None
    port = int(sink.stdout.readline())
    try:
        periods = prepared["periods"]
        assert isinstance(periods, list)
        load_before = os.getloadavg()[0]
        result = child("_send", str(workdir), str(port), ",".join(periods))
        result["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    finally:
        sink.stdin.close()
        received_text, sink_cpu = (sink.stdout.readline() or "0 0").split()
        received = int(received_text)
        sink.wait()
    result["received_by_sink"] = received
    result["sink_cpu_seconds"] = float(sink_cpu)
    print(json.dumps(result))
    print(
        f"digest send: {result['sent']} digests for {args.subscribers} subscribers over "
        f"{prepared['papers']} papers in {result['seconds']} s "
        f"({float(result['sent']) / float(result['seconds']):.0f}/s), "  # type: ignore[arg-type]
        f"CPU {result['cpu_seconds']} s (sink {sink_cpu} s), "
        f"peak RSS {result['peak_rss_mib']} MiB; sink received {received}; "
        f"1-min load average {result['load_average'][0]} before, "  # type: ignore[index]
        f"{result['load_average'][1]} after ({os.cpu_count()} CPUs)"  # type: ignore[index]
    )
    if os.environ.get("KEEP_BENCH_DIR") is None and args.workdir is None:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
