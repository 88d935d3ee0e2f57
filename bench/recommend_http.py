"""`POST /api/recommend` latency and the serve worker's memory, at 74,728 papers.

    python bench/recommend_http.py build DIR              # once: ingest + vectors
    python bench/recommend_http.py teasers DIR            # an older DIR: mark teasers done
    python bench/recommend_http.py run DIR [--src SRC ...] [--requests 100] [--soak 0]

`build` ingests ../shared/data/arxiv-cs-2025.jsonl.gz into a fresh SQLite
instance under DIR with the product's own `paperfeed ingest jsonl`, then stores
a seeded random unit vector for every paper under the configured model's id
(embedding 74,728 papers takes hours on two shared cores; a call's cost does
not depend on the vectors' values, only on their number and size).

`run` starts `paperfeed serve` (one worker) on that instance with the sources
in SRC first on the path (default: this checkout's src/); given several
`--src` (e.g. an exported older tree and this one), it starts one server per
tree and sends each library to each in turn, so before and after share the
machine's load. It ranks the last 30 listing
days for `--requests` distinct libraries of 5-20 papers listed before the pool
(seeded, so every run sends the same bodies), and prints p50/p99 of the
requests after the first (the first also fits what a process fits once) and
the worker's RSS. `--soak N` sends N distinct libraries instead and prints the
RSS after each 100.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import numpy as np

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent.parent / "shared" / "data" / "arxiv-cs-2025.jsonl.gz"
if not CORPUS.exists():
    CORPUS = Path("/work/shared/data/arxiv-cs-2025.jsonl.gz")
POOL_DAYS = 30


def _env(directory: Path, src: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PAPERFEED_DATA_DIR"] = str(directory / "data")
    env["PYTHONPATH"] = str(src)
    return env


def build(directory: Path) -> None:
    from sqlalchemy import select

    from paperfeed.config import Settings
    from paperfeed.db import Database
    from paperfeed.db import embeddings as vector_store
    from paperfeed.db.tables import papers
    from paperfeed.index.embedder import current_model_id

    directory.mkdir(parents=True, exist_ok=True)
    env = _env(directory, REPO / "src")
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "paperfeed", "ingest", "jsonl", str(CORPUS)], env=env, check=True
    )
    print(f"ingested in {time.perf_counter() - started:.1f} s")
    settings = Settings(data_dir=directory / "data")
    db = Database(settings.database_url_resolved)
    model = current_model_id(settings)
    rng = np.random.default_rng(7)
    with db.begin() as conn:
        rows = conn.execute(select(papers.c.id, papers.c.text_hash)).all()
        for start in range(0, len(rows), 5000):
            part = rows[start : start + 5000]
            vectors = rng.standard_normal((len(part), 384)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            vector_store.store_vectors(
                conn, model, [(r.id, r.text_hash, v) for r, v in zip(part, vectors, strict=True)]
            )
    _mark_teasers_done(db, model)
    print(f"{len(rows)} papers with vectors under {model}")
    db.dispose()


def _mark_teasers_done(db: Any, model: str) -> None:
    """Store an empty keyphrase list and TL;DR for every paper, so that the
    server's background embed job finds nothing pending: a paper without
    teasers is embedded again to make them, and that CPU (and the windows it
    invalidates) would be measured as the recommender's."""
    from sqlalchemy import select

    from paperfeed.db import teasers as teaser_store
    from paperfeed.db.tables import papers
    from paperfeed.index.embedding import teaser_method

    with db.begin() as conn:
        rows = conn.execute(select(papers.c.id, papers.c.text_hash)).all()
        teaser_store.store_teasers(
            conn, teaser_method(model), [(r.id, r.text_hash, [], "") for r in rows]
        )


def _pool_and_libraries(directory: Path, count: int) -> tuple[date, date, list[list[str]]]:
    import sqlite3

    conn = sqlite3.connect(directory / "data" / "paperfeed.db")
    days = [
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT listing_date FROM papers ORDER BY listing_date DESC LIMIT ?",
            (POOL_DAYS,),
        )
    ]
    since, until = date.fromisoformat(days[-1]), date.fromisoformat(days[0])
    earlier = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM papers WHERE listing_date < ? ORDER BY id", (since.isoformat(),)
        )
    ]
    rng = random.Random(11)
    libraries = [rng.sample(earlier, rng.randint(5, 20)) for _ in range(count)]
    return since, until, libraries


def _rss_mib(pid: int) -> float:
    """RSS of the server and its children (uvicorn may fork a worker)."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of the server process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A `paperfeed serve` on the instance, with the sources in ``src``."""

    def __init__(self, directory: Path, src: Path) -> None:
        self.src = src
        port = _free_port()
        self.process = subprocess.Popen(  # noqa: S603 (our own CLI, fixed arguments)
            [sys.executable, "-m", "paperfeed", "serve", "--port", str(port)],
            env=_env(directory, src),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600)
        self.samples: list[float] = []
        self.warm = 0.0
        self.cpu_start = 0.0

    def wait_up(self) -> None:
        for _ in range(600):
            try:
                if self.client.get("/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"server of {self.src} did not come up")

    def call(self, since: date, until: date, library: list[str]) -> float:
        body = {
            "positive_ids": library,
            "since": since.isoformat(),
            "until": until.isoformat(),
            "limit": 20,
        }
        start = time.perf_counter()
        response = self.client.post("/api/recommend", json=body)
        elapsed = (time.perf_counter() - start) * 1000
        response.raise_for_status()
        return elapsed

    def rss(self) -> float:
        return _rss_mib(self.process.pid)

    def summary(self) -> str:
        q = statistics.quantiles(self.samples, n=100)
        cpu = (_cpu_seconds(self.process.pid) - self.cpu_start) / len(self.samples) * 1000
        return (
            f"{self.src}: {len(self.samples)} distinct libraries: p50 {q[49]:.1f} ms, "
            f"p99 {q[98]:.1f} ms, max {max(self.samples):.1f} ms; server CPU {cpu:.1f} ms "
            f"per request; RSS {self.warm:.0f} -> {self.rss():.0f} MiB"
        )

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()
        self.process.wait(timeout=60)


def run(directory: Path, sources: list[Path], requests: int, soak: int) -> None:
    """One server per source tree, all warm, the same libraries sent to each
    in turn (interleaved: they share whatever load the machine has)."""
    count = soak or requests
    since, until, libraries = _pool_and_libraries(directory, count + 1)
    servers = [Server(directory, src) for src in sources]
    try:
        for server in servers:
            server.wait_up()
            print(f"src {server.src}; pool {since}..{until}; up, RSS {server.rss():.0f} MiB")
            first = server.call(since, until, libraries[0])
            server.warm = server.rss()
            server.cpu_start = _cpu_seconds(server.process.pid)
            print(f"  first call {first:.0f} ms; warm RSS {server.warm:.0f} MiB")
        for i, library in enumerate(libraries[1:], start=1):
            for server in servers:
                server.samples.append(server.call(since, until, library))
            if soak and i % 100 == 0:
                for server in servers:
                    rss = server.rss()
                    print(
                        f"after {i} libraries: RSS {rss:.0f} MiB ({rss - server.warm:+.0f} "
                        f"over warm) [{server.src}]",
                        flush=True,
                    )
        print(f"load average {os.getloadavg()[0]:.1f}")
        for server in servers:
            print(server.summary())
    finally:
        for server in servers:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("directory", type=Path)
    t = sub.add_parser("teasers")
    t.add_argument("directory", type=Path)
    r = sub.add_parser("run")
    r.add_argument("directory", type=Path)
    r.add_argument(
        "--src",
        type=Path,
        action="append",
        help="source tree(s) to serve (default: this checkout's src/); several are "
        "compared interleaved",
    )
    r.add_argument("--requests", type=int, default=100)
    r.add_argument("--soak", type=int, default=0)
    args = parser.parse_args()
    if args.command == "build":
        build(args.directory)
    elif args.command == "teasers":
        from paperfeed.config import Settings
        from paperfeed.db import Database
        from paperfeed.index.embedder import current_model_id

        settings = Settings(data_dir=args.directory / "data")
        _mark_teasers_done(Database(settings.database_url_resolved), current_model_id(settings))
    else:
        sources = [p.resolve() for p in args.src or [REPO / "src"]]
        run(args.directory, sources, args.requests, args.soak)


if __name__ == "__main__":
    main()
