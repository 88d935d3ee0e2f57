"""Background jobs: ingest, embedding, digest sending, periodic harvests.

One function runs a job, whatever carried it there: ``execute(settings, db, spec)``.

- Embedded mode (no ``redis_url``, the SQLite default): ``InProcessRunner``, a
  thread pool inside the process that asked (the web server or the CLI).
- Scale mode (``redis_url`` set): an RQ queue in Redis, served by
  ``paperfeed worker`` processes (``run_worker``), on any number of machines.

Guarantees, in both modes:

- A job never runs twice at once. ``execute`` holds a lock named by the job's
  identity (kind + arguments) for the whole run: a PostgreSQL advisory lock, or
  an flock beside a SQLite file (db/locks.py). A second copy waits, then runs
  and finds the work done. Both locks are released by the server or kernel when
  the holder dies, so a killed worker leaves no stale lock.
- A worker killed mid-job has its job picked up again. Workers are RQ
  SimpleWorkers (the job runs in the worker process itself, so killing the
  worker kills the job) that renew a lease on the running job every lease/3
  seconds; a reclaim thread in every worker hands jobs whose lease lapsed to
  RQ's abandoned-job handling, which queues them again (``job_retries``).
- Effects are idempotent, so a job run again after a crash completes what was
  left and repeats nothing: ingest upserts by content hash, embedding consumes
  the index outbox, digests go through the send log.

Handlers register with ``@job("kind")``; a handler takes a ``JobContext`` and
returns a small JSON-able dict (its result, logged and kept by RQ).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from paperfeed import metrics
from paperfeed.config import Settings, get_settings
from paperfeed.db import Database
from paperfeed.db.locks import named_lock
from paperfeed.logs import job_id as job_id_var

log = logging.getLogger("paperfeed.jobs")

# ---------------------------------------------------------------- job kinds


@dataclass(frozen=True)
class JobSpec:
    """What to run: a kind and its arguments (JSON values). Equal specs are the same job."""

    kind: str
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        canonical = json.dumps(self.args, sort_keys=True, separators=(",", ":"), default=str)
        return f"{self.kind}:{hashlib.sha256(canonical.encode()).hexdigest()[:20]}"


@dataclass
class JobContext:
    settings: Settings
    db: Database
    spec: JobSpec
    job_id: str

    @property
    def args(self) -> dict[str, Any]:
        return self.spec.args


Handler = Callable[[JobContext], dict[str, Any] | None]
_HANDLERS: dict[str, Handler] = {}


def job(kind: str) -> Callable[[Handler], Handler]:
    """Register ``fn`` as the handler of jobs of ``kind``."""

    def register(fn: Handler) -> Handler:
        _HANDLERS[kind] = fn
        return fn

    return register


class UnknownJob(ValueError):
    pass


def handler_for(kind: str) -> Handler:
    try:
        return _HANDLERS[kind]
    except KeyError:
        known = ", ".join(sorted(_HANDLERS)) or "none"
        raise UnknownJob(f"unknown job kind {kind!r} (known: {known})") from None


def known_kinds() -> list[str]:
    return sorted(_HANDLERS)


# ---------------------------------------------------------------- running one job


def lock_dir(settings: Settings) -> Path:
    return settings.index_dir.parent / "locks"


def execute(settings: Settings, db: Database, spec: JobSpec, *, job_id: str = "") -> dict[str, Any]:
    """Run one job now, in this thread, under its lock. Every mode ends here."""
    handler = handler_for(spec.kind)
    job_id = job_id or uuid.uuid4().hex
    token = job_id_var.set(job_id)
    try:

        def waiting() -> None:
            log.info("job waiting for lock", extra={"kind": spec.kind, "key": spec.key})

        with named_lock(db, spec.key, lock_dir=lock_dir(settings), on_wait=waiting):
            metrics.JOBS.labels(spec.kind, "started").inc()
            log.info(
                "job started", extra={"kind": spec.kind, "key": spec.key, "job_args": spec.args}
            )
            started = time.time()
            try:
                result = handler(JobContext(settings, db, spec, job_id)) or {}
            except Exception:
                metrics.JOBS.labels(spec.kind, "failed").inc()
                log.exception("job failed", extra={"kind": spec.kind, "key": spec.key})
                raise
            finished = time.time()
        metrics.JOBS.labels(spec.kind, "succeeded").inc()
        metrics.JOB_SECONDS.labels(spec.kind).observe(finished - started)
        result = {**result, "started": started, "finished": finished, "pid": os.getpid()}
        log.info("job succeeded", extra={"kind": spec.kind, "key": spec.key, "result": result})
        return result
    finally:
        job_id_var.reset(token)


# ---------------------------------------------------------------- runners


class Runner(Protocol):
    def submit(self, spec: JobSpec, *, job_id: str | None = None) -> str: ...


class InProcessRunner:
    """Embedded mode: jobs run in a small thread pool of this process."""

    def __init__(self, settings: Settings, db: Database, *, threads: int | None = None) -> None:
        self.settings = settings
        self.db = db
        self._pool = ThreadPoolExecutor(
            max_workers=threads or settings.job_threads, thread_name_prefix="paperfeed-job"
        )
        self.futures: dict[str, Future[dict[str, Any]]] = {}

    def submit(self, spec: JobSpec, *, job_id: str | None = None) -> str:
        job_id = job_id or uuid.uuid4().hex
        handler_for(spec.kind)  # fail now, not in the thread, on an unknown kind
        self.futures[job_id] = self._pool.submit(
            execute, self.settings, self.db, spec, job_id=job_id
        )
        return job_id

    def result(self, job_id: str, timeout: float | None = None) -> dict[str, Any]:
        return self.futures[job_id].result(timeout)

    def shutdown(self, *, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)


class RedisRunner:
    """Scale mode: jobs go into an RQ queue for ``paperfeed worker`` processes."""

    def __init__(self, settings: Settings) -> None:
        from redis import Redis
        from rq import Queue

        self.settings = settings
        self.redis = Redis.from_url(settings.redis_url)
        self.queue = Queue(settings.job_queue, connection=self.redis)

    def submit(self, spec: JobSpec, *, job_id: str | None = None) -> str:
        from rq import Retry

        handler_for(spec.kind)
        queued = self.queue.enqueue(
            run_queued_job,
            spec.kind,
            spec.args,
            job_id=job_id,
            description=spec.key,
            retry=Retry(max=self.settings.job_retries),
            job_timeout=self.settings.job_timeout_seconds,
            result_ttl=7 * 86400,
            failure_ttl=30 * 86400,
        )
        return str(queued.id)


def runner_for(settings: Settings, db: Database) -> Runner:
    """The runner of this deployment: Redis when configured, else in-process."""
    if settings.redis_url:
        return RedisRunner(settings)
    return InProcessRunner(settings, db)


# ---------------------------------------------------------------- the worker process

# Set once per worker process: the job function RQ calls has only JSON arguments.
_worker_state: dict[str, Any] = {}


def _worker_database(settings: Settings) -> Database:
    db = _worker_state.get("db")
    if db is None:
        db = _worker_state["db"] = Database(settings.database_url_resolved)
    return db  # type: ignore[no-any-return]


def run_queued_job(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """The function RQ runs in a worker."""
    from rq import get_current_job

    settings = _worker_state.get("settings") or get_settings()
    current = get_current_job()
    return execute(
        settings,
        _worker_database(settings),
        JobSpec(kind, args),
        job_id=current.id if current is not None else "",
    )


def _make_worker_class() -> Any:
    from rq import SimpleWorker
    from rq.job import Job
    from rq.queue import Queue

    class PaperfeedWorker(SimpleWorker):
        """A SimpleWorker (no fork per job: the embedding model and the database
        pool stay loaded, and killing the worker kills its job) that renews a
        short lease on the running job from a side thread. SimpleWorker itself
        sends no heartbeat while a job runs, so a dead worker's job would only be
        noticed after the whole job timeout."""

        lease_seconds: int = 60

        def get_heartbeat_ttl(self, job: Job) -> int:
            return self.lease_seconds

        def execute_job(self, job: Job, queue: Queue) -> None:
            stop = threading.Event()

            def renew() -> None:
                while not stop.wait(self.lease_seconds / 3):
                    try:
                        if self.execution is not None:
                            self.maintain_heartbeats(job)
                    except Exception:  # a missed renewal is retried; the lease has slack
                        log.warning("lease renewal failed", exc_info=True)

            renewer = threading.Thread(target=renew, name="paperfeed-lease", daemon=True)
            renewer.start()
            try:
                super().execute_job(job, queue)
            finally:
                stop.set()
                renewer.join()

    return PaperfeedWorker


def reclaim_abandoned(queue: Any) -> None:
    """Queue again the jobs whose worker stopped renewing its lease (RQ's
    abandoned-job handling, which honours the jobs' retry budget). One worker
    at a time does it, under RQ's own maintenance lock."""
    from rq.registry import StartedJobRegistry

    if not queue.acquire_maintenance_lock():
        return
    try:
        StartedJobRegistry(queue=queue).cleanup()
    finally:
        queue.release_maintenance_lock()


@dataclass
class Periodic:
    spec: JobSpec
    every_seconds: float


def periodic_jobs(settings: Settings) -> list[Periodic]:
    """The schedule from settings, checked against the known job kinds."""
    result = []
    for i, entry in enumerate(settings.schedule):
        where = f"schedule[{i}]"
        if not isinstance(entry, dict) or "kind" not in entry:
            raise ValueError(f"{where}: needs a 'kind' (and 'every_minutes')")
        handler_for(str(entry["kind"]))
        minutes = float(entry.get("every_minutes", 0))
        if minutes <= 0:
            raise ValueError(f"{where}: 'every_minutes' must be a positive number")
        args = entry.get("args") or {}
        if not isinstance(args, dict):
            raise ValueError(f"{where}: 'args' must be an object")
        result.append(Periodic(JobSpec(str(entry["kind"]), args), minutes * 60))
    return result


def due_slot(periodic: Periodic, now: float) -> int:
    """The number of the period ``now`` falls in; each slot runs the job once."""
    return int(now // periodic.every_seconds)


def run_worker(
    settings: Settings,
    *,
    burst: bool = False,
    name: str | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Serve the queue until stopped (SIGTERM/SIGINT: finish the current job first)."""
    from redis import Redis
    from rq import Queue

    if not settings.redis_url:
        raise ValueError("paperfeed worker needs PAPERFEED_REDIS_URL (scale mode)")
    _worker_state["settings"] = settings
    _worker_database(settings)  # migrate and connect before the first job
    redis = Redis.from_url(settings.redis_url)
    queue = Queue(settings.job_queue, connection=redis)
    worker_class = _make_worker_class()
    worker_class.lease_seconds = settings.job_lease_seconds
    worker = worker_class(
        [queue], connection=redis, name=name or f"paperfeed-{socket.gethostname()}-{os.getpid()}"
    )
    schedule = periodic_jobs(settings)
    runner = RedisRunner(settings)
    stop = stop or threading.Event()

    def housekeeping() -> None:
        interval = max(0.5, settings.job_lease_seconds / 2)
        while not stop.wait(interval):
            try:
                reclaim_abandoned(queue)
                now = time.time()
                for periodic in schedule:
                    slot = due_slot(periodic, now)
                    # Every worker runs this loop; SET NX lets one of them enqueue per slot.
                    marker = f"paperfeed:schedule:{settings.job_queue}:{periodic.spec.key}:{slot}"
                    if redis.set(marker, worker.name, nx=True, ex=int(periodic.every_seconds * 2)):
                        runner.submit(periodic.spec, job_id=f"{periodic.spec.key}:{slot}")
            except Exception:
                log.warning("worker housekeeping failed", exc_info=True)

    keeper = threading.Thread(target=housekeeping, name="paperfeed-housekeeping", daemon=True)
    keeper.start()
    log.info("worker started", extra={"worker": worker.name, "queue": settings.job_queue})
    try:
        worker.work(burst=burst, with_scheduler=False)
    finally:
        stop.set()
        keeper.join()


class EmbeddedScheduler:
    """The schedule in embedded mode: a thread of the web server submitting to
    the in-process runner. One process owns the SQLite file, so it keeps the
    last slot in memory."""

    def __init__(self, settings: Settings, runner: InProcessRunner) -> None:
        self.schedule = periodic_jobs(settings)
        self.runner = runner
        self._stop = threading.Event()
        self._last: dict[str, int] = {}
        self._thread = threading.Thread(target=self._loop, name="paperfeed-schedule", daemon=True)

    def start(self) -> None:
        if self.schedule:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def tick(self, now: float) -> list[str]:
        submitted = []
        for periodic in self.schedule:
            slot = due_slot(periodic, now)
            if self._last.get(periodic.spec.key) != slot:
                self._last[periodic.spec.key] = slot
                submitted.append(self.runner.submit(periodic.spec))
        return submitted

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick(time.time())
            except Exception:
                log.warning("schedule tick failed", exc_info=True)
            self._stop.wait(10)


# ---------------------------------------------------------------- built-in handlers


def _embed_next(ctx: JobContext, changed: int) -> None:
    """In scale mode, new or changed papers get their vectors from an embed job
    on the queue (embedded mode has the serve process's background embedder)."""
    if changed and ctx.settings.redis_url and ctx.settings.embed_after_ingest:
        RedisRunner(ctx.settings).submit(JobSpec("embed"))


@job("ingest")
def ingest_file_job(ctx: JobContext) -> dict[str, Any]:
    """Ingest a local file: args ``path``, ``format`` (jsonl | hf-page), optional
    ``year`` (hf-page), ``batch_size``. Re-running it writes only what is missing."""
    from paperfeed.ingest.hf_pages import read_hf_page
    from paperfeed.ingest.jsonl import read_jsonl
    from paperfeed.ingest.pipeline import DEFAULT_BATCH_SIZE, ingest

    path = Path(ctx.args["path"])
    fmt = ctx.args.get("format", "jsonl")
    if fmt == "jsonl":
        records = read_jsonl(path)
    elif fmt == "hf-page":
        records = read_hf_page(path, year=ctx.args.get("year"))
    else:
        raise ValueError(f"ingest job: unknown format {fmt!r} (jsonl or hf-page)")
    report = ingest(ctx.db, records, batch_size=int(ctx.args.get("batch_size", DEFAULT_BATCH_SIZE)))
    for outcome in ("inserted", "updated", "unchanged"):
        metrics.PAPERS_INGESTED.labels(outcome).inc(getattr(report, outcome))
    metrics.PAPERS_INGESTED.labels("skipped").inc(len(report.skipped))
    _embed_next(ctx, report.inserted + report.updated)
    return {
        "read": report.read,
        "inserted": report.inserted,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "skipped": len(report.skipped),
    }


@job("harvest")
def harvest_job(ctx: JobContext) -> dict[str, Any]:
    """Incremental arXiv OAI-PMH harvest from where the last one stopped: args
    ``set`` (e.g. "cs"), optional ``format``. The watermark moves only after the
    papers are stored, so a harvest killed part-way is redone from the same day
    (upserts make the overlap free)."""
    from datetime import date

    from paperfeed.db.meta import get_meta, set_meta
    from paperfeed.ingest.oai_pmh import OAIHarvest
    from paperfeed.ingest.pipeline import ingest

    harvest = OAIHarvest(
        ctx.settings, ctx.args.get("set"), None, None, ctx.args.get("format", "arXivRaw")
    )
    with ctx.db.connect() as conn:
        stored = get_meta(conn, harvest.watermark_key)
    if stored:
        harvest.date_from = date.fromisoformat(stored)
    report = ingest(ctx.db, harvest.records())
    if harvest.next_from is not None:
        with ctx.db.begin() as conn:
            set_meta(conn, harvest.watermark_key, harvest.next_from.isoformat())
    for outcome in ("inserted", "updated", "unchanged"):
        metrics.PAPERS_INGESTED.labels(outcome).inc(getattr(report, outcome))
    _embed_next(ctx, report.inserted + report.updated)
    return {
        "from": stored,
        "read": report.read,
        "inserted": report.inserted,
        "updated": report.updated,
        "next_from": harvest.next_from.isoformat() if harvest.next_from else None,
    }


@job("embed")
def embed_job(ctx: JobContext) -> dict[str, Any]:
    """Embed every paper that has no current vector (the outbox makes it resumable)."""
    from paperfeed.index.embedding import embed_pending
    from paperfeed.index.vectors import get_vector_index

    done = embed_pending(ctx.db, ctx.settings, limit=ctx.args.get("limit"))
    index = get_vector_index(ctx.settings, ctx.db)
    index.sync(ctx.db)  # SQLite: the faiss sidecar; PostgreSQL: the pgvector column
    index.save()
    metrics.PAPERS_EMBEDDED.inc(done)
    return {"embedded": done}


@job("digest")
def digest_job(ctx: JobContext) -> dict[str, Any]:
    """Claim and send the due digests (args: optional ``periods``, ``today``).
    The send log makes a re-run after a crash send only what was not sent."""
    from datetime import date

    from paperfeed.digest.runner import run

    today = ctx.args.get("today")
    report = run(
        ctx.settings,
        ctx.db,
        periods=ctx.args.get("periods"),
        today=date.fromisoformat(today) if today else None,
    )
    return {
        "periods": report.periods,
        "claimed": report.claimed,
        "sent": report.sent,
        "failed": report.failed,
        "deferred": report.deferred,
        "in_doubt": report.in_doubt,
    }
