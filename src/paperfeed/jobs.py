"""Background jobs: ingest, embedding, digest sending, periodic harvests.

One function runs a job, whatever carried it there: ``execute(paperfeed, spec)``,
with the process's application object (paperfeed.app).

- Without Redis (``DeploymentMode`` EMBEDDED or POSTGRES): ``InProcessRunner``,
  a thread pool inside the process that asked (the web server or the CLI).
- SCALE mode (``redis_url`` set): an RQ queue in Redis, served by
  ``paperfeed worker`` processes (``run_worker``), on any number of machines.

What a ``paperfeed serve`` process runs in the background, and how often, is
one list, ``background_jobs``: digest sending, embedding new papers and,
without Redis, the PAPERFEED_SCHEDULE entries. One ``Scheduler`` thread starts
them on the in-process runner.

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

import functools
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
from typing import Any

from paperfeed import metrics
from paperfeed.app import Database, Paperfeed
from paperfeed.config import DeploymentMode, Settings, get_settings
from paperfeed.ingest.pipeline import IngestReport
from paperfeed.logs import job_id as job_id_var
from paperfeed.services.authors import link_pending

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


def _no_wake(kind: str) -> None:
    pass


@dataclass
class JobContext:
    paperfeed: Paperfeed
    spec: JobSpec
    job_id: str
    # Set when the process is stopping: a long handler ends early at a safe point
    # (its effects are resumable), so shutting down does not wait for all of it.
    stop: threading.Event = field(default_factory=threading.Event)
    # Ask this process's scheduler to run its periodic jobs of a kind now
    # (an in-process ingest wakes the embedder); a no-op elsewhere.
    wake: Callable[[str], None] = _no_wake

    @property
    def args(self) -> dict[str, Any]:
        return self.spec.args

    @property
    def settings(self) -> Settings:
        return self.paperfeed.settings

    @property
    def db(self) -> Database:
        return self.paperfeed.db


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


def execute(
    paperfeed: Paperfeed,
    spec: JobSpec,
    *,
    job_id: str = "",
    stop: threading.Event | None = None,
    wake: Callable[[str], None] = _no_wake,
    log_level: int = logging.INFO,
) -> dict[str, Any]:
    """Run one job now, in this thread, under its lock. Every mode ends here.

    ``log_level`` is that of the started/succeeded lines (a job run every few
    seconds logs them at DEBUG); a failure is always logged as an error."""
    handler = handler_for(spec.kind)
    job_id = job_id or uuid.uuid4().hex
    token = job_id_var.set(job_id)
    try:

        def waiting() -> None:
            log.log(log_level, "job waiting for lock", extra={"kind": spec.kind, "key": spec.key})

        with paperfeed.named_lock(spec.key, on_wait=waiting):
            metrics.JOBS.labels(spec.kind, "started").inc()
            log.log(
                log_level,
                "job started",
                extra={"kind": spec.kind, "key": spec.key, "job_args": spec.args},
            )
            started = time.time()
            context = JobContext(paperfeed, spec, job_id, stop or threading.Event(), wake)
            try:
                result = handler(context) or {}
            except Exception:
                metrics.JOBS.labels(spec.kind, "failed").inc()
                log.exception("job failed", extra={"kind": spec.kind, "key": spec.key})
                raise
            finished = time.time()
        metrics.JOBS.labels(spec.kind, "succeeded").inc()
        metrics.JOB_SECONDS.labels(spec.kind).observe(finished - started)
        result = {**result, "started": started, "finished": finished, "pid": os.getpid()}
        log.log(
            log_level, "job succeeded", extra={"kind": spec.kind, "key": spec.key, "result": result}
        )
        return result
    finally:
        job_id_var.reset(token)


# ---------------------------------------------------------------- runners


class InProcessRunner:
    """Embedded mode: jobs run in a small thread pool of this process."""

    def __init__(
        self,
        paperfeed: Paperfeed,
        *,
        threads: int | None = None,
        wake: Callable[[str], None] = _no_wake,
    ) -> None:
        self.paperfeed = paperfeed
        self.wake = wake
        self.stopping = threading.Event()  # the jobs' ``ctx.stop``
        self._pool = ThreadPoolExecutor(
            max_workers=threads or paperfeed.settings.job_threads,
            thread_name_prefix="paperfeed-job",
        )
        self.futures: dict[str, Future[dict[str, Any]]] = {}

    def start(
        self, spec: JobSpec, *, job_id: str | None = None, log_level: int = logging.INFO
    ) -> Future[dict[str, Any]]:
        """Run ``spec`` in the pool; the caller keeps the future (the scheduler)."""
        handler_for(spec.kind)  # fail now, not in the thread, on an unknown kind
        return self._pool.submit(
            execute,
            self.paperfeed,
            spec,
            job_id=job_id or uuid.uuid4().hex,
            stop=self.stopping,
            wake=self.wake,
            log_level=log_level,
        )

    def submit(self, spec: JobSpec, *, job_id: str | None = None) -> str:
        job_id = job_id or uuid.uuid4().hex
        self.futures[job_id] = self.start(spec, job_id=job_id)
        return job_id

    def result(self, job_id: str, timeout: float | None = None) -> dict[str, Any]:
        return self.futures[job_id].result(timeout)

    def shutdown(self, *, wait: bool = True) -> None:
        """Tell running jobs to stop at their next safe point, drop queued ones,
        and (``wait``) let the running ones end."""
        self.stopping.set()
        self._pool.shutdown(wait=wait, cancel_futures=True)


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


# ---------------------------------------------------------------- the worker process


class _WorkerProcess:
    """The worker process's application object, made once: the function RQ
    calls has only JSON arguments, so it finds it here."""

    paperfeed: Paperfeed | None = None

    @classmethod
    def get(cls) -> Paperfeed:
        if cls.paperfeed is None:
            cls.paperfeed = Paperfeed(get_settings())
        return cls.paperfeed


def run_queued_job(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """The function RQ runs in a worker."""
    from rq import get_current_job

    current = get_current_job()
    return execute(
        _WorkerProcess.get(),
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
    """A job run once per period: in slot ``int(now // every_seconds)``."""

    spec: JobSpec
    every_seconds: float
    name: str = ""  # what the embedded scheduler reports it as
    log_level: int = logging.INFO  # of its started/succeeded lines (see ``execute``)


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
        result.append(Periodic(JobSpec(str(entry["kind"]), args), minutes * 60, name=where))
    return result


def background_jobs(paperfeed: Paperfeed) -> list[Periodic]:
    """What a ``paperfeed serve`` process runs in the background, and how often.

    - ``digest``: send the due digests, every ``digest_check_interval_seconds``,
      unless ``digest_scheduler`` is off (cron runs ``paperfeed digest send``).
      In both modes, as before: the sender lease keeps several servers, workers
      or cron from sending at once, and the send log from sending twice.
    - ``embed``: vectors for new papers, every ``tuning.jobs.embed_every_seconds``
      (how long a new paper waits when nothing wakes the embedder: an ingest in
      another process, e.g. the CLI, cannot) and when an
      in-process ingest wakes it; it syncs and saves the vector index when it
      embedded something. On PostgreSQL with Redis the workers embed instead
      (an ingest queues the job); a SQLite sidecar index is this process's own.
    - PAPERFEED_SCHEDULE, without Redis only: with Redis the ``paperfeed
      worker`` processes run it (``run_worker``).
    """
    settings = paperfeed.settings
    mode = settings.deployment_mode()
    entries = []
    if settings.digest_scheduler:
        if settings.digest_check_interval_seconds <= 0:
            raise ValueError("digest_check_interval_seconds must be a positive number")
        entries.append(
            Periodic(
                JobSpec("digest", {"when_busy": "skip"}),
                settings.digest_check_interval_seconds,
                name="digest",
            )
        )
        # Comment notices (one per thread per hour at most) and reading-group
        # reminders: mail too, so the same switch.
        every = paperfeed.tuning.jobs
        entries.append(Periodic(JobSpec("comment-notices"), every.notices_seconds, name="notices"))
        entries.append(
            Periodic(JobSpec("group-reminders"), every.reminders_seconds, name="reminders")
        )
    if mode is not DeploymentMode.SCALE or paperfeed.indexes.vectors_in_process:
        entries.append(
            Periodic(
                JobSpec("embed", {"sync": "when-embedded"}),
                paperfeed.tuning.jobs.embed_every_seconds,
                name="embed",
                log_level=logging.DEBUG,  # every 10 s; PAPERS_EMBEDDED counts the work
            )
        )
    if mode is not DeploymentMode.SCALE and settings.summaries_url and settings.summaries_model:
        # With Redis workers, PAPERFEED_SCHEDULE runs it instead (docs/summaries.md).
        entries.append(
            Periodic(
                JobSpec("summarize"), paperfeed.tuning.jobs.summaries_seconds, name="summaries"
            )
        )
    if mode is not DeploymentMode.SCALE:
        # GitHub stars (docs/code.md): with Redis, add {"kind": "github-stars"}
        # to PAPERFEED_SCHEDULE and the workers run it.
        if paperfeed.tuning.jobs.github_stars_seconds > 0:
            entries.append(
                Periodic(
                    JobSpec("github-stars"),
                    paperfeed.tuning.jobs.github_stars_seconds,
                    name="github-stars",
                )
            )
        entries.extend(periodic_jobs(settings))
    return entries


def due_slot(periodic: Periodic, now: float) -> int:
    """The number of the period ``now`` falls in; each slot runs the job once."""
    return int(now // periodic.every_seconds)


def run_worker(
    paperfeed: Paperfeed,
    *,
    burst: bool = False,
    name: str | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Serve the queue until stopped (SIGTERM/SIGINT: finish the current job first)."""
    from redis import Redis
    from rq import Queue

    settings = paperfeed.settings
    if not settings.redis_url:
        raise ValueError("paperfeed worker needs PAPERFEED_REDIS_URL (scale mode)")
    _WorkerProcess.paperfeed = paperfeed  # migrated and connected before the first job
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


@dataclass
class RunStatus:
    """What the scheduler saw of one periodic entry's runs."""

    runs: int = 0
    failures: int = 0
    last_result: dict[str, Any] | None = None
    last_error: str | None = None


class Scheduler:
    """The background work of a ``paperfeed serve`` process: one thread that
    starts each periodic entry on an in-process runner once per period, or
    sooner when woken (``wake(kind)``).

    - An entry never has two runs in flight: a run that outlasts its period is
      followed by one more run, not by a queue of them.
    - The runner has a thread per entry, so a long run (a first embedding of
      the whole corpus) never delays another entry (the digest).
    - A failed run is logged by ``execute`` and counted here; the entry runs
      again next period. Nothing a job raises reaches the server.
    - One process owns its slots: two servers on one database each run the
      schedule; the job locks, sender lease and idempotent effects make that safe.
    """

    def __init__(self, paperfeed: Paperfeed, entries: list[Periodic]) -> None:
        names = [entry.name or entry.spec.key for entry in entries]
        if len(set(names)) != len(names):
            raise ValueError(f"periodic entries need distinct names: {names}")
        self.entries = dict(zip(names, entries, strict=True))
        self.status = {name: RunStatus() for name in names}
        self.runner = InProcessRunner(paperfeed, threads=max(1, len(entries)), wake=self.wake)
        self._lock = threading.Lock()
        self._last_slot: dict[str, int] = {}
        self._running: dict[str, Future[dict[str, Any]]] = {}
        self._woken: set[str] = set()
        self._changed = threading.Event()  # a wake-up or a finished run: look again
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="paperfeed-schedule", daemon=True)

    def start(self) -> None:
        if self.entries:
            self._thread.start()

    def stop(self) -> None:
        """Stop starting runs, ask running ones to stop early, and wait for them."""
        self._stop.set()
        self._changed.set()
        if self._thread.is_alive():
            self._thread.join()
        self.runner.shutdown(wait=True)

    def wake(self, kind: str) -> None:
        """Run the entries of ``kind`` now (or as soon as their current run ends)."""
        with self._lock:
            self._woken.update(name for name, e in self.entries.items() if e.spec.kind == kind)
        self._changed.set()

    def tick(self, now: float) -> list[str]:
        """Start what is due at ``now``; returns the names of the entries started."""
        started = []
        for name, entry in self.entries.items():
            slot = due_slot(entry, now)
            with self._lock:
                if name in self._running:
                    continue  # the period (or a wake-up) is honoured when it ends
                if self._last_slot.get(name) == slot and name not in self._woken:
                    continue
                self._last_slot[name] = slot
                self._woken.discard(name)
                future = self.runner.start(entry.spec, log_level=entry.log_level)
                self._running[name] = future
            future.add_done_callback(functools.partial(self._finished, name))
            started.append(name)
        return started

    def _finished(self, name: str, future: Future[dict[str, Any]]) -> None:
        status = self.status[name]
        if not future.cancelled():
            error = future.exception()
            status.runs += 1
            if error is None:
                status.last_result, status.last_error = future.result(), None
            else:  # execute logged it with its traceback
                status.failures += 1
                status.last_error = f"{type(error).__name__}: {error}"
        with self._lock:
            self._running.pop(name, None)
        self._changed.set()

    def _seconds_to_next_slot(self, now: float) -> float:
        return min(
            (due_slot(entry, now) + 1) * entry.every_seconds - now
            for entry in self.entries.values()
        )

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._changed.clear()  # before looking, so a wake-up meanwhile is kept
            try:
                self.tick(time.time())
            except Exception:
                log.warning("schedule tick failed", exc_info=True)
            # Capped, so a wall clock that jumps is noticed within a minute.
            self._changed.wait(min(60.0, max(0.01, self._seconds_to_next_slot(time.time()))))


# ---------------------------------------------------------------- built-in handlers


def _embed_next(ctx: JobContext, changed: int) -> None:
    """New or changed papers get their vectors next: with Redis workers from an
    embed job on the queue, otherwise by waking this process's embed entry
    (``background_jobs``; a no-op in a process without a scheduler)."""
    if not (changed and ctx.settings.embed_after_ingest):
        return
    if ctx.settings.deployment_mode() is DeploymentMode.SCALE:
        RedisRunner(ctx.settings).submit(JobSpec("embed"))
    else:
        ctx.wake("embed")


def _stored(ctx: JobContext, report: IngestReport) -> dict[str, Any]:
    """What an ingest stored, counted; its new papers get their vectors next."""
    _embed_next(ctx, report.inserted + report.updated)
    counts = ("read", "inserted", "updated", "unchanged", "duplicates")
    return {**{k: getattr(report, k) for k in counts}, "skipped": len(report.skipped)}


@job("ingest")
def ingest_file_job(ctx: JobContext) -> dict[str, Any]:
    """Ingest a local file: args ``path``, ``format`` (jsonl | hf-page), optional
    ``year`` (hf-page), ``batch_size``. Re-running it writes only what is missing."""
    from paperfeed.ingest.hf_pages import read_hf_page
    from paperfeed.ingest.jsonl import read_jsonl
    from paperfeed.services.ingest import store

    path = Path(ctx.args["path"])
    fmt = ctx.args.get("format", "jsonl")
    if fmt == "jsonl":
        records = read_jsonl(path)
    elif fmt == "hf-page":
        records = read_hf_page(path, year=ctx.args.get("year"))
    else:
        raise ValueError(f"ingest job: unknown format {fmt!r} (jsonl or hf-page)")
    batch_size = ctx.args.get("batch_size")
    return _stored(ctx, store(ctx.paperfeed, records, batch_size=batch_size and int(batch_size)))


@job("harvest")
def harvest_job(ctx: JobContext) -> dict[str, Any]:
    """Incremental arXiv OAI-PMH harvest from where the last one stopped: args
    ``set`` (e.g. "cs"), optional ``format``; the watermark rule is
    services.ingest.harvest's."""
    from paperfeed.services.ingest import harvest

    run = harvest(
        ctx.paperfeed, ctx.args.get("set"), metadata_prefix=ctx.args.get("format", "arXivRaw")
    )
    return {"from": run.resumed_from, "next_from": run.next_from, **_stored(ctx, run.ingest)}


@job("embed")
def embed_job(ctx: JobContext) -> dict[str, Any]:
    """Embed every paper that has no current vector (the outbox makes it resumable),
    then sync and save the vector index. Args: optional ``limit``; ``sync``
    "when-embedded" skips the index when nothing was embedded (the serve
    process's 10 s poll, which would otherwise open the whole index at start)."""
    from paperfeed.index.embedding import embed_pending

    done = embed_pending(ctx.db, ctx.settings, limit=ctx.args.get("limit"), stop=ctx.stop)
    # Papers still to be linked to their authors (0023's backfill of an
    # upgraded instance; ingest links what it stores itself).
    link_pending(ctx.paperfeed, stop=ctx.stop)
    metrics.PAPERS_EMBEDDED.inc(done)
    if done or ctx.args.get("sync", "always") != "when-embedded":
        ctx.paperfeed.indexes.refresh_vectors()
    return {"embedded": done}


@job("digest")
def digest_job(ctx: JobContext) -> dict[str, Any]:
    """Claim and send the due digests (args: optional ``periods``, ``today``).
    The send log makes a re-run after a crash send only what was not sent.
    ``when_busy`` "skip": another sender holding the lease is a run with nothing
    to do, not a failure (the serve process's periodic run; a queued job fails
    and is retried)."""
    from datetime import date

    from paperfeed.digest.runner import SenderBusy, run

    today = ctx.args.get("today")
    try:
        report = run(
            ctx.settings,
            ctx.db,
            periods=ctx.args.get("periods"),
            today=date.fromisoformat(today) if today else None,
            indexes=ctx.paperfeed.indexes,
        )
    except SenderBusy as exc:
        if ctx.args.get("when_busy") != "skip":
            raise
        log.info("digest run skipped: %s", exc)
        return {"skipped": str(exc)}
    return {
        "periods": report.periods,
        "claimed": report.claimed,
        "sent": report.sent,
        "failed": report.failed,
        "deferred": report.deferred,
        "in_doubt": report.in_doubt,
        "stopped": report.stopped,
    }


@job("comment-notices")
def comment_notices_job(ctx: JobContext) -> dict[str, Any]:
    """Mail followers of threads with new comments (services.comments.send_notices)."""
    from paperfeed.services import comments

    return comments.send_notices(ctx.paperfeed)


@job("summarize")
def summarize_job(ctx: JobContext) -> dict[str, Any]:
    """Machine summaries of new paper versions, under the daily cap
    (services.summaries.summarize_pending; args: optional ``limit``)."""
    from paperfeed.services import summaries

    return summaries.summarize_pending(ctx.paperfeed, limit=ctx.args.get("limit")).as_dict()


@job("group-reminders")
def group_reminders_job(ctx: JobContext) -> dict[str, Any]:
    """Remind members of sessions that start tomorrow (services.groups.send_reminders)."""
    from paperfeed.services import groups

    return groups.send_reminders(ctx.paperfeed)


@job("github-stars")
def github_stars_job(ctx: JobContext) -> dict[str, Any]:
    """Refresh GitHub stars of the repositories that are due (services.github_stars)."""
    from paperfeed.services import github_stars

    limit = ctx.args.get("limit")
    report = github_stars.refresh(ctx.paperfeed, limit=int(limit) if limit else None, stop=ctx.stop)
    return report.as_dict()
