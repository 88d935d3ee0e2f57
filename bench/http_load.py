"""HTTP benchmark: the list pages and /api/papers/search over loopback, with the
74,728 real papers, against a real ``paperfeed serve --workers N``.

    .venv/bin/python bench/http_load.py                      # SQLite, 2 workers
    .venv/bin/python bench/http_load.py --backend postgres --workers 4
    .venv/bin/python bench/http_load.py --backend postgres --database-url postgresql+psycopg://...

One command: it builds the database the first time (reused afterwards), starts
the server, measures, prints the figures and stops everything it started.
The load generator is ``wrk`` (Debian: ``apt-get install wrk``) with
bench/http_load.lua, a few percent of a core, so nearly all the CPU goes to
the server; every figure comes with the CPU time per request (user + system,
from /proc) of the server's processes, of PostgreSQL's when it runs on this
machine (before session 14 only the server's were counted, so the ceiling
printed for PostgreSQL left out the database's share of the same two cores),
and of the whole machine, and with the load average.

1. Build (once, under bench/results/http/<backend>/; delete it to rebuild):
   every paper of ../shared/data/arxiv-cs-2025.jsonl.gz through the ingest
   pipeline; 20,000 reader votes over the last 30 listing days and imported
   upvotes on 500 papers; one vector per paper; the keyword and vector indexes.
   Vectors: computing all 74,728 takes 40+ minutes here, so, as bench/search.py
   does, papers with a real vector in bench/cache (bench/corpus_vectors.py) use
   it and the others get a noisy mix of two real vectors; when that cache is
   empty, the first 1,024 papers are embedded (128 tokens, ~1 min) as the
   sources of the mixes. So the vector index has the real size and a
   MiniLM-shaped distribution, but most vectors are not their paper's own; the
   query vectors are always real (the server embeds each query).
   With --backend postgres and no --database-url, ``python -m tests.pg_server
   --durable`` runs a throwaway PostgreSQL 16 + pgvector and the build happens
   in it every time (its files go when it stops).
2. Latency: one connection, sequential GETs, for --seconds each: the home page
   and the day/week/month lists (trending and newest) and /api/daily_papers.
3. Throughput: --connections connections for --seconds each: the search API
   with --queries distinct real queries (2-4 words picked from real titles,
   each sent once or nearly so: no query repeats within a run unless the run
   sends more requests than there are queries), then the day list page.

Targets (issue 4): list page p99 <= 50 ms; search API >= 300 requests/s with 2
workers. Issue 6: the same with 4 workers on PostgreSQL.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import importlib.util
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import func, select

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = REPO.parent / "shared" / "data" / "arxiv-cs-2025.jsonl.gz"
WORK = HERE / "results" / "http"
SECRET = "bench-secret-key-not-for-production"
SOURCE_VECTORS = 1024  # papers embedded for real when bench/cache has none

sys.path.insert(0, str(REPO))


def settings_for(work: Path, database_url: str):  # type: ignore[no-untyped-def]
    from paperfeed.config import Settings

    return Settings(data_dir=work, database_url=database_url, secret_key=SECRET)


def load_module(name: str) -> Any:
    """A sibling bench script as a module (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", HERE / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(HERE))
    spec.loader.exec_module(module)
    return module


def corpus_vectors(records: list[dict[str, Any]]) -> tuple[np.ndarray, float]:
    """One unit vector per record (see the module docstring) and the share that
    are the paper's own."""
    from paperfeed.index.embedder import PACKAGED_MINILM, document_text, load_embedder

    cache = load_module("corpus_vectors")
    try:
        ids, cached = cache.load_cache(128)
        cached = np.asarray(cached, dtype=np.float32)
    except FileNotFoundError:
        head = records[:SOURCE_VECTORS]
        ids = [r["id"] for r in head]
        saved = HERE / "cache" / f"http-source-vectors-{SOURCE_VECTORS}.npy"
        if saved.is_file():  # kept for the next build (PostgreSQL builds every run)
            cached = np.load(saved)
        else:
            started = time.perf_counter()
            embedder = load_embedder(PACKAGED_MINILM, max_tokens=128)
            texts = [document_text(r["title"], r["abstract"]) for r in head]
            cached = embedder.embed_documents(texts)
            saved.parent.mkdir(parents=True, exist_ok=True)
            np.save(saved, cached)
            print(
                f"embedded {len(head)} papers as vector sources in "
                f"{time.perf_counter() - started:.0f} s",
                file=sys.stderr,
            )
    vectors, real_share = load_module("search").vectors_for(records, ids, cached)
    return vectors, float(real_share)


def build_database(work: Path, database_url: str) -> dict[str, Any]:
    """The real corpus plus synthetic votes and vectors; skipped when built."""
    from paperfeed.db import Database
    from paperfeed.db import embeddings as vector_store
    from paperfeed.db.tables import papers, readers, votes
    from paperfeed.index.backends import open_indexes
    from paperfeed.index.embedder import current_model_id
    from paperfeed.ingest.jsonl import read_jsonl
    from paperfeed.ingest.pipeline import ingest

    marker = work / "built.json"
    if marker.is_file():
        print(f"reusing the database built in {work}", file=sys.stderr)
        return dict(json.loads(marker.read_text()))
    work.mkdir(parents=True, exist_ok=True)
    settings = settings_for(work, database_url)
    db = Database(settings.database_url_resolved)  # migrates, as `paperfeed serve` would
    figures: dict[str, Any] = {}
    started = time.perf_counter()
    report = ingest(db, read_jsonl(DATA))
    figures["ingest_seconds"] = round(time.perf_counter() - started, 1)
    print(f"ingested {report.summary()} in {figures['ingest_seconds']} s", file=sys.stderr)

    with gzip.open(DATA, "rt", encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    vectors, figures["real_vector_share"] = corpus_vectors(records)
    started = time.perf_counter()
    model = current_model_id(settings)
    for s in range(0, len(records), 5000):
        chunk = records[s : s + 5000]
        with db.begin() as conn:
            hashes = dict(
                conn.execute(
                    select(papers.c.id, papers.c.text_hash).where(
                        papers.c.id.in_([r["id"] for r in chunk])
                    )
                ).all()
            )
            vector_store.store_vectors(
                conn,
                model,
                [(r["id"], hashes[r["id"]], vectors[s + k]) for k, r in enumerate(chunk)],
            )
    figures["store_vectors_seconds"] = round(time.perf_counter() - started, 1)

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
        figures["papers"] = conn.execute(select(func.count()).select_from(papers)).scalar()
    figures["votes"] = len(rows)
    figures["days"] = [str(d) for d in days]

    indexes = open_indexes(settings, db)
    started = time.perf_counter()
    indexes.sync_lexical()
    figures["keyword_index_seconds"] = round(time.perf_counter() - started, 1)
    print(f"keyword index in {figures['keyword_index_seconds']} s", file=sys.stderr)
    started = time.perf_counter()
    indexes.refresh_vectors()  # SQLite: the workers load the saved graph instead of building it
    figures["vector_index_seconds"] = round(time.perf_counter() - started, 1)
    print(f"vector index in {figures['vector_index_seconds']} s", file=sys.stderr)
    marker.write_text(json.dumps(figures, indent=1))
    db.dispose()
    return figures


# ---------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway durable PostgreSQL 16 + pgvector; yields a database URL."""
    import psycopg

    process = subprocess.Popen(
        [sys.executable, "-m", "tests.pg_server", "--durable"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url:
            raise SystemExit("tests.pg_server did not start")
        with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as c:
            c.execute("CREATE DATABASE bench_http")
        yield url.replace("/postgres?", "/bench_http?")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


@contextlib.contextmanager
def paperfeed_server(work: Path, database_url: str, workers: int) -> Iterator[tuple[int, str]]:
    """``paperfeed serve --workers N`` on a free loopback port; yields (pid, url)."""
    port = free_port()
    env = {
        **os.environ,
        "PAPERFEED_DATABASE_URL": database_url,
        "PAPERFEED_DATA_DIR": str(work),
        "PAPERFEED_SECRET_KEY": SECRET,
    }
    paperfeed = Path(sys.executable).with_name("paperfeed")
    command = [str(paperfeed), "serve", "--port", str(port), "--workers", str(workers)]
    # The JSON logs (one access line per request, as in production) go to a file.
    log = (work / "server.log").open("ab")
    server = subprocess.Popen(command, env=env, cwd=REPO, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(1200):  # bounded wait for start-up (migrations, index open)
            try:
                if httpx.get(url + "/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None:
                raise SystemExit("the server exited during start-up")
            time.sleep(0.1)
        else:
            raise SystemExit("the server did not start within 120 s")
        yield server.pid, url
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its descendants (Linux /proc):
    what the requests cost the server, which waiting for a busy core does not
    inflate. Descendants that exited count once their parent has reaped them
    (cutime, cstime): PostgreSQL's backends come and go with the connections."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(v) for v in fields[11:15]) / ticks
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        todo += [int(c) for c in children]
    return total


def postgres_pid(database_url: str) -> int | None:
    """The PostgreSQL postmaster serving ``database_url`` when it runs on this
    machine (a Unix socket or loopback), else None. Its process tree (every
    backend, autovacuum, the WAL writer) is what the requests cost the
    database: on one machine it shares the cores with the web workers, so a
    requests/s ceiling from the workers' CPU alone would be wrong."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    host = url.query.get("host") or url.host or ""
    if isinstance(host, tuple):
        host = host[0]
    if host and not str(host).startswith("/") and host not in ("127.0.0.1", "localhost", "::1"):
        return None
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert backend is not None
    status = Path(f"/proc/{backend[0]}/status").read_text()
    parent = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
    if Path(f"/proc/{parent}/comm").read_text().strip() != "postgres":
        return None
    return parent


class CpuMeter:
    """CPU seconds of the web server's process tree, of PostgreSQL's (when it
    runs here) and of the whole machine (all cores' busy time, /proc/stat)."""

    def __init__(self, server_pid: int, database_pid: int | None) -> None:
        self.server_pid = server_pid
        self.database_pid = database_pid

    @staticmethod
    def machine_seconds() -> float:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        busy = sum(int(v) for i, v in enumerate(fields) if i not in (3, 4))  # not idle, iowait
        return busy / os.sysconf("SC_CLK_TCK")

    def read(self) -> dict[str, float]:
        return {
            "server": tree_cpu_seconds(self.server_pid),
            "database": tree_cpu_seconds(self.database_pid) if self.database_pid else 0.0,
            "machine": self.machine_seconds(),
        }

    def idle(self, seconds: float = 10) -> dict[str, float]:
        """CPU seconds per second spent with no requests (index refresh polls,
        the embedding poll, autovacuum, other work on the machine)."""
        before, started = self.read(), time.perf_counter()
        time.sleep(seconds)
        after, elapsed = self.read(), time.perf_counter() - started
        return {k: (after[k] - before[k]) / elapsed for k in before}


# ---------------------------------------------------------------- load


def run_wrk(
    url: str, paths: Sequence[str], *, seconds: float, connections: int, meter: CpuMeter
) -> dict[str, Any]:
    """wrk over ``paths`` (rotating); returns its JSON summary plus requests/s,
    the server's, PostgreSQL's and the machine's CPU ms per request, and wrk's
    own CPU seconds."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("\n".join(paths) + "\n")
        paths_file = handle.name
    threads = min(2, connections)
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "30s",
        "-s", str(HERE / "http_load.lua"), url,
    ]  # fmt: skip
    try:
        cpu_before = meter.read()
        wrk_before = os.times()
        done = subprocess.run(
            command,
            env={**os.environ, "WRK_PATHS": paths_file},
            capture_output=True,
            text=True,
            timeout=seconds + 120,
        )
        wrk_after = os.times()
        cpu_after = meter.read()
    finally:
        os.unlink(paths_file)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed: {done.stderr.strip() or done.stdout.strip()}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    requests = max(1, summary["requests"])
    summary["rps"] = summary["requests"] / (summary["duration_us"] / 1e6)
    for key in ("server", "database", "machine"):
        summary[f"{key}_cpu_ms"] = (cpu_after[key] - cpu_before[key]) * 1000 / requests
    summary["wrk_cpu_s"] = (wrk_after.children_user - wrk_before.children_user) + (
        wrk_after.children_system - wrk_before.children_system
    )
    summary["errors"] = sum(
        summary[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts", "non_2xx")
    )
    return summary


def search_queries(count: int, seed: int = 7) -> list[str]:
    """Distinct 2-4 word queries, the words picked in order from real titles
    across the whole corpus."""
    rng = random.Random(seed)
    titles: list[list[str]] = []
    with gzip.open(DATA, "rt", encoding="utf-8") as handle:
        for line in handle:
            words = [w.strip(":,.()?!") for w in json.loads(line)["title"].split()]
            words = [w for w in words if len(w) > 2 and w.replace("-", "").isalpha()]
            if len(words) >= 4:
                titles.append(words)
    queries: dict[str, None] = {}
    while len(queries) < count:
        words = rng.choice(titles)
        picked = sorted(rng.sample(range(len(words)), rng.choice((2, 3, 4))))
        queries[" ".join(words[i] for i in picked)] = None
    return list(queries)


def query_vector_cache(url: str) -> tuple[float, float]:
    """(hits, misses) of the workers' query-vector caches so far, from /metrics."""
    found = {"hit": 0.0, "miss": 0.0}
    for line in httpx.get(url + "/metrics", timeout=60).text.splitlines():
        if line.startswith("paperfeed_query_vector_cache_total{"):
            result = line.split('result="', 1)[1].split('"', 1)[0]
            found[result] = found.get(result, 0.0) + float(line.rsplit(" ", 1)[1])
    return found["hit"], found["miss"]


def check_paths(url: str, paths: Sequence[str]) -> None:
    """Fail loudly before measuring if a path does not answer 200."""
    with httpx.Client(base_url=url, timeout=60) as client:
        for path in paths[:3]:
            response = client.get(path)
            if response.status_code != 200:
                body = response.text[:300]
                raise SystemExit(f"GET {path} answered {response.status_code}: {body}")


def row(name: str, s: dict[str, Any]) -> str:
    return (
        f"{name:<34} {s['p50_ms']:7.1f} {s['p95_ms']:7.1f} {s['p99_ms']:7.1f} {s['rps']:8.1f} "
        f"{s['server_cpu_ms']:9.2f} {s['database_cpu_ms']:8.2f} {s['machine_cpu_ms']:8.2f} "
        f"{s['requests']:8d} {s['errors']:6d} {s['wrk_cpu_s']:6.1f}"
    )


# CPU ms per request: the web server's processes ("srv"), PostgreSQL's when it
# runs on this machine ("db"; 0 for SQLite, in the server's processes), and
# every core's busy time ("machine": srv + db + wrk + anything else running).
HEADER = (
    f"{'':<34} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'req/s':>8} "
    f"{'srv CPU':>9} {'db CPU':>8} {'machine':>8} {'requests':>8} {'errors':>6} {'wrk s':>6}\n"
    f"{'':<34} {'':>7} {'':>7} {'':>7} {'':>8} {'ms/req':>9} {'ms/req':>8} {'ms/req':>8}"
)


def measure(args: argparse.Namespace, work: Path, database_url: str) -> None:
    from paperfeed.trending import period_containing

    built = build_database(work, database_url)
    days = built["days"]
    latest = datetime.fromisoformat(days[0]).date()
    lists = {
        "home /": ["/"],
        "day, trending": [f"/papers/date/{d}" for d in days[:10]],
        "day, newest": [f"/papers/date/{d}?sort=newest" for d in days[:10]],
        "week, trending": [period_containing("week", latest).path],
        "month, trending": [period_containing("month", latest).path],
        "day, trending, page 3": [f"/papers/date/{d}?page=3" for d in days[:10]],
        "/api/daily_papers (50, trending)": [
            f"/api/daily_papers?date={d}&sort=trending" for d in days[:10]
        ],
    }
    queries = search_queries(args.queries)
    search_paths = [
        str(httpx.URL("/api/papers/search", params={"q": q, "limit": args.limit})) for q in queries
    ]
    database_pid = postgres_pid(database_url) if args.backend == "postgres" else None
    with paperfeed_server(work, database_url, args.workers) as (pid, url):
        meter = CpuMeter(pid, database_pid)
        print(
            f"\n{built['papers']:,} papers, {built['votes']:,} votes, vectors for all "
            f"({built['real_vector_share']:.1%} their own); paperfeed serve --workers "
            f"{args.workers}, {args.backend}; wrk, {args.seconds:g} s per row"
        )
        print(f"load average at start: {os.getloadavg()}")
        # Every worker compiles the templates and opens its connections on
        # its first pages: warm them all before measuring.
        every_list = [path for paths in lists.values() for path in paths]
        check_paths(url, every_list)
        run_wrk(url, every_list, seconds=5, connections=4 * args.workers, meter=meter)
        # Background work (index refresh polls, the embedding poll) costs CPU
        # with no requests at all; rows with few requests/s carry more of it.
        idle = meter.idle()
        print(
            f"CPU with no requests, ms per second (included below): server "
            f"{idle['server'] * 1000:.0f}, PostgreSQL {idle['database'] * 1000:.0f}, "
            f"machine {idle['machine'] * 1000:.0f}"
        )
        if args.backend == "postgres" and database_pid is None:
            print("PostgreSQL is not on this machine: its CPU is not measured (db CPU 0)")
        print("\nLatency: one connection, sequential requests")
        print(HEADER)
        for name, paths in lists.items() if not args.search_only else ():
            check_paths(url, paths)
            stats = run_wrk(url, paths, seconds=args.seconds, connections=1, meter=meter)
            print(row(name, stats), flush=True)

        print(f"\nThroughput: {args.connections} connections")
        print(HEADER)
        check_paths(url, search_paths)
        # warm each worker's model and indexes with queries not in the measured mix
        warm = [
            str(httpx.URL("/api/papers/search", params={"q": q}))
            for q in search_queries(40, seed=99)
        ]
        # The first search in a worker loads the model and opens the vector
        # index (seconds of CPU): warm until the CPU per request stops falling.
        previous = float("inf")
        for _ in range(10):
            warmed = run_wrk(url, warm, seconds=3, connections=args.connections, meter=meter)
            if warmed["server_cpu_ms"] > 0.8 * previous:
                break
            previous = warmed["server_cpu_ms"]
        # Background CPU again, now that every worker has its model and
        # indexes loaded: the search row's figure net of it is the requests' own.
        idle = meter.idle()
        cache_before = query_vector_cache(url)
        stats = run_wrk(
            url, search_paths, seconds=args.seconds, connections=args.connections, meter=meter
        )
        print(row(f"search API, {len(queries)} queries", stats), flush=True)
        # Net of the background CPU measured just before: the requests' own.
        own = {
            key: stats[f"{key}_cpu_ms"] - idle[key] * 1000 / max(stats["rps"], 1e-9)
            for key in ("server", "database")
        }
        both = own["server"] + own["database"]
        cores = os.cpu_count() or 1
        print(
            f"  net of the CPU with no requests just before: server {own['server']:.2f} + "
            f"PostgreSQL {own['database']:.2f} = {both:.2f} ms per request, i.e. at most "
            f"{cores * 1000 / both:.0f} requests/s from {cores} idle cores "
            f"(the server's processes alone: {cores * 1000 / own['server']:.0f})"
        )
        hits, misses = (a - b for a, b in zip(query_vector_cache(url), cache_before, strict=True))
        print(f"  query-vector cache during this row: {hits:.0f} hits, {misses:.0f} misses")
        if stats["requests"] > len(queries):
            print(f"  (note: {stats['requests']} requests > {len(queries)} queries: some repeat)")
        if args.search_only:
            print(f"\nload average at the end: {os.getloadavg()}")
            return
        stats = run_wrk(
            url,
            lists["day, trending"],
            seconds=args.seconds,
            connections=args.connections,
            meter=meter,
        )
        print(row("day list page (10 days)", stats), flush=True)
        print(f"\nload average at the end: {os.getloadavg()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--database-url", default="", help="an existing PostgreSQL to use")
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10, help="per measured row")
    parser.add_argument("--connections", type=int, default=16, help="for the throughput rows")
    parser.add_argument("--queries", type=int, default=20_000, help="distinct search queries")
    parser.add_argument("--limit", type=int, default=20, help="hits per search request")
    parser.add_argument(
        "--search-only", action="store_true", help="only the search API row (quicker reruns)"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    if args.backend == "sqlite":
        work = args.work / "sqlite"
        measure(args, work, f"sqlite:///{work / 'paperfeed.db'}")
    elif args.database_url:
        key = hashlib.sha1(args.database_url.encode()).hexdigest()[:10]
        measure(args, args.work / f"postgres-{key}", args.database_url)
    else:
        work = args.work / "postgres-throwaway"
        shutil.rmtree(work, ignore_errors=True)  # its database goes with the server
        with postgres_server() as url:
            measure(args, work, url)


if __name__ == "__main__":
    main()
