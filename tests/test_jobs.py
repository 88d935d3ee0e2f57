"""Background jobs: in-process threads, the Redis queue, the per-job lock, and
recovery of a job whose worker was killed."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from paperfeed import jobs
from paperfeed.app import Paperfeed
from paperfeed.config import ConfigError, DeploymentMode, Settings
from paperfeed.db import Database
from paperfeed.db.tables import paper_versions, papers
from paperfeed.ingest.jsonl import read_jsonl
from paperfeed.models import Paper
from paperfeed.tuning import JobsTuning, Tuning
from tests.conftest import ARXIV_CS
from tests.fixture_server import FixtureServer
from tests.helpers import real_records, write_jsonl
from tests.smtp_server import SMTPServer
from tests.workers import RedisQueue, WorkerProcess, wait_for


def _counts(db: Database) -> tuple[int, int]:
    with db.connect() as conn:
        n_papers = conn.execute(select(func.count()).select_from(papers)).scalar_one()
        n_versions = conn.execute(select(func.count()).select_from(paper_versions)).scalar_one()
    return n_papers, n_versions


def _expected(path: Path) -> tuple[int, int]:
    """Distinct papers and versions the file holds, read without any database."""
    seen: dict[str, Paper] = {}
    for record in read_jsonl(path):
        if isinstance(record, Paper):
            seen[record.id] = record
    return len(seen), sum(len(p.versions) for p in seen.values())


@pytest.fixture
def slice_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "slice.jsonl", list(real_records(ARXIV_CS, 300)))


# ---------------------------------------------------------------- in-process


def test_ingest_job_in_process_is_idempotent(
    settings: Settings, db: Database, slice_file: Path
) -> None:
    runner = jobs.InProcessRunner(Paperfeed(settings, db))
    try:
        first = runner.result(runner.submit(jobs.JobSpec("ingest", {"path": str(slice_file)})))
        again = runner.result(runner.submit(jobs.JobSpec("ingest", {"path": str(slice_file)})))
    finally:
        runner.shutdown()
    assert first["inserted"] == _expected(slice_file)[0] > 0
    assert (again["inserted"], again["updated"]) == (0, 0)
    assert again["unchanged"] == first["inserted"]
    assert _counts(db) == _expected(slice_file)


def test_unknown_kind_and_bad_schedule_are_named(settings: Settings, db: Database) -> None:
    runner = jobs.InProcessRunner(Paperfeed(settings, db))
    try:
        with pytest.raises(jobs.UnknownJob, match="'nope'"):
            runner.submit(jobs.JobSpec("nope"))
    finally:
        runner.shutdown()
    settings.schedule = [{"kind": "ingest", "every_minutes": 0}]
    with pytest.raises(ValueError, match=r"schedule\[0\].*every_minutes"):
        jobs.periodic_jobs(settings)


class _Gate:
    """A job handler that holds until released, recording overlapping runs."""

    def __init__(self) -> None:
        self.running: dict[str, int] = {}
        self.overlaps: list[str] = []
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()
        self.guard = threading.Lock()

    def __call__(self, ctx: jobs.JobContext) -> dict[str, Any]:
        name = str(ctx.args["name"])
        with self.guard:
            if self.running.get(name):
                self.overlaps.append(name)
            self.running[name] = self.running.get(name, 0) + 1
        self.entered.release()
        self.release.wait()
        with self.guard:
            self.running[name] -= 1
        return {"name": name}


class _WaitWatcher(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Semaphore(0)

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "job waiting for lock":
            self.waiting.release()


@pytest.fixture
def gate() -> Iterator[_Gate]:
    gate = _Gate()
    jobs.job("test-gate")(gate)
    yield gate
    gate.release.set()
    jobs._HANDLERS.pop("test-gate", None)


def test_same_job_never_runs_twice_at_once(
    settings: Settings, db: Database, gate: _Gate, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="paperfeed.jobs")
    watcher = _WaitWatcher()
    logging.getLogger("paperfeed.jobs").addHandler(watcher)
    runner = jobs.InProcessRunner(Paperfeed(settings, db), threads=3)
    try:
        first = runner.submit(jobs.JobSpec("test-gate", {"name": "a"}))
        assert gate.entered.acquire(timeout=60)
        second = runner.submit(jobs.JobSpec("test-gate", {"name": "a"}))
        # The copy is blocked on the lock, while a different job is not.
        assert watcher.waiting.acquire(timeout=60)
        other = runner.submit(jobs.JobSpec("test-gate", {"name": "b"}))
        assert gate.entered.acquire(timeout=60)
        assert gate.running == {"a": 1, "b": 1}
        gate.release.set()
        results = [runner.result(j, timeout=60) for j in (first, second, other)]
    finally:
        gate.release.set()
        runner.shutdown()
        logging.getLogger("paperfeed.jobs").removeHandler(watcher)
    assert gate.overlaps == []
    a1, a2 = results[0], results[1]
    assert a2["started"] >= a1["finished"]  # the copy ran only after the first ended


# ---------------------------------------------------------------- the serve scheduler


def test_background_jobs_lists_what_serve_runs(settings: Settings, db: Database) -> None:
    settings.schedule = [{"kind": "harvest", "every_minutes": 60, "args": {"set": "cs"}}]
    settings.digest_scheduler = True
    settings.digest_check_interval_seconds = 120.0
    embed = {"embed": ("embed", JobsTuning().embed_every_seconds)}

    def listed() -> dict[str, tuple[str, float]]:
        return {
            e.name: (e.spec.kind, e.every_seconds)
            for e in jobs.background_jobs(Paperfeed(settings, db))
        }

    assert listed() == {
        "digest": ("digest", 120.0),
        "notices": ("comment-notices", JobsTuning().notices_seconds),
        "reminders": ("group-reminders", JobsTuning().reminders_seconds),
        **embed,  # on both backends: new papers get vectors without an operator's job
        "github-stars": ("github-stars", JobsTuning().github_stars_seconds),
        "schedule[0]": ("harvest", 3600.0),
    }
    settings.digest_check_interval_seconds = 0.0
    with pytest.raises(ValueError, match="digest_check_interval_seconds"):
        listed()
    settings.digest_scheduler = False  # cron sends
    assert not {"digest", "notices", "reminders"} & set(listed())
    settings.redis_url = "redis://127.0.0.1:1/0"  # scale mode: the workers run the schedule
    # ... and embed into pgvector; a SQLite sidecar index is this process's own.
    assert listed() == (embed if db.backend == "sqlite" else {})


def test_deployment_mode_is_stated_and_bad_combinations_are_refused(
    settings: Settings, db: Database
) -> None:
    without_redis = {"sqlite": DeploymentMode.EMBEDDED, "postgresql": DeploymentMode.POSTGRES}
    assert settings.deployment_mode() is without_redis[db.backend]
    settings.redis_url = "redis://127.0.0.1:1/0"
    assert settings.deployment_mode() is DeploymentMode.SCALE
    settings.redis_url = "http://127.0.0.1:6379"
    with pytest.raises(ConfigError, match="redis_url must be redis://"):
        settings.deployment_mode()
    settings.redis_url = "redis://127.0.0.1:1/0"
    settings.database_url = "sqlite:///:memory:"
    with pytest.raises(ConfigError, match="in-memory SQLite one, which worker processes"):
        settings.deployment_mode()
    settings.database_url = "mysql://paperfeed@127.0.0.1/papers"
    with pytest.raises(ConfigError, match="'mysql' is not supported"):
        settings.deployment_mode()
    with pytest.raises(ValueError, match="'mysql' is not supported"):
        jobs.background_jobs(Paperfeed(settings, db))  # what `paperfeed serve` asks at start


def test_without_redis_serve_embeds_what_an_in_process_ingest_stores(
    settings: Settings, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite or PostgreSQL, no Redis: the serve scheduler's embed entry gives
    vectors to the papers an in-process ingest job stores, woken by that job."""
    from paperfeed.db import embeddings as vector_store
    from paperfeed.index.embedder import current_model_id

    settings.digest_scheduler = False
    # No periodic run: only the wake-up.
    paperfeed = Paperfeed(settings, db, Tuning(jobs=JobsTuning(embed_every_seconds=1e9)))
    scheduler = jobs.Scheduler(paperfeed, jobs.background_jobs(paperfeed))
    model = current_model_id(settings)
    few = write_jsonl(tmp_path / "few.jsonl", list(real_records(ARXIV_CS, 5)))

    def pending() -> int:
        with db.connect() as conn:
            return vector_store.count_pending(conn, model)

    assert "embed" in scheduler.status, "serve runs no embed entry"
    scheduler.start()
    try:
        wait_for(lambda: scheduler.status["embed"].runs == 1, what="the embed entry's first run")
        ingest = jobs.JobSpec("ingest", {"path": str(few)})
        assert scheduler.runner.result(scheduler.runner.submit(ingest))["inserted"] == 5
        wait_for(lambda: pending() == 0, what="the embed entry, woken by the ingest")
    finally:
        scheduler.stop()
    last = scheduler.status["embed"].last_result
    assert last is not None and last["embedded"] == 5


@pytest.fixture
def counter() -> Iterator[list[str]]:
    """A job kind that records its runs and fails the first time it is asked to."""
    runs: list[str] = []

    def count(ctx: jobs.JobContext) -> dict[str, Any]:
        runs.append(str(ctx.args["name"]))
        if ctx.args.get("fail_first") and len(runs) == 1:
            raise RuntimeError("first run breaks")
        return {"runs": len(runs)}

    jobs.job("test-count")(count)
    yield runs
    jobs._HANDLERS.pop("test-count", None)


def test_scheduler_runs_an_entry_once_per_period(
    settings: Settings, db: Database, counter: list[str]
) -> None:
    entry = jobs.Periodic(jobs.JobSpec("test-count", {"name": "a"}), 3600.0, name="hourly")
    scheduler = jobs.Scheduler(Paperfeed(settings, db), [entry])
    status = scheduler.status["hourly"]
    try:
        hour = 3600.0 * 500_000
        assert scheduler.tick(hour + 10) == ["hourly"]
        wait_for(lambda: status.runs == 1, what="the first run")
        assert scheduler.tick(hour + 1800) == []  # same hour: nothing new
        assert scheduler.tick(hour + 3600 + 5) == ["hourly"]  # next hour
        wait_for(lambda: status.runs == 2, what="the second run")
    finally:
        scheduler.stop()
    assert counter == ["a", "a"]
    assert status.last_result is not None and status.last_result["runs"] == 2


def test_scheduler_never_overlaps_an_entry_and_keeps_its_wake_up(
    settings: Settings, db: Database, gate: _Gate
) -> None:
    entry = jobs.Periodic(jobs.JobSpec("test-gate", {"name": "a"}), 60.0, name="gated")
    scheduler = jobs.Scheduler(Paperfeed(settings, db), [entry])
    status = scheduler.status["gated"]
    try:
        minute = 60.0 * 30_000_000
        assert scheduler.tick(minute) == ["gated"]
        assert gate.entered.acquire(timeout=60)
        scheduler.wake("test-gate")
        assert scheduler.tick(minute + 1) == []  # woken, but its run is still going
        assert scheduler.tick(minute + 61) == []  # a new period: still going
        gate.release.set()
        wait_for(lambda: status.runs == 1, what="the held run to end")
        assert scheduler.tick(minute + 62) == ["gated"]  # one run for both, not a queue
        wait_for(lambda: status.runs == 2, what="the second run")
        assert scheduler.tick(minute + 63) == []
    finally:
        gate.release.set()
        scheduler.stop()
    assert gate.overlaps == []


def test_a_failed_run_is_kept_to_itself_and_the_next_one_runs(
    settings: Settings, db: Database, counter: list[str]
) -> None:
    spec = jobs.JobSpec("test-count", {"name": "flaky", "fail_first": True})
    scheduler = jobs.Scheduler(Paperfeed(settings, db), [jobs.Periodic(spec, 1e9, name="flaky")])
    status = scheduler.status["flaky"]
    scheduler.start()  # the real thread: it runs the entry at start, then when woken
    try:
        wait_for(lambda: status.runs == 1, what="the failing run")
        assert (status.failures, status.last_error) == (1, "RuntimeError: first run breaks")
        scheduler.wake("test-count")
        wait_for(lambda: status.runs == 2, what="the run after the failure")
    finally:
        scheduler.stop()
    assert status.failures == 1 and status.last_error is None
    assert status.last_result is not None and status.last_result["runs"] == 2


# ---------------------------------------------------------------- Redis queue


@pytest.mark.redis
def test_jobs_through_redis_worker(
    settings: Settings, db: Database, slice_file: Path, redis_queue: RedisQueue
) -> None:
    redis_queue.configure(settings)
    runner = jobs.RedisRunner(settings)
    job_ids = [runner.submit(jobs.JobSpec("ingest", {"path": str(slice_file)})) for _ in range(2)]
    with (
        WorkerProcess(settings, name=redis_queue.worker_name("w1")) as w1,
        WorkerProcess(settings, name=redis_queue.worker_name("w2")),
    ):
        results = [redis_queue.wait_finished(j) for j in job_ids]
        assert w1.alive()
    assert sorted(r["inserted"] for r in results) == [0, _expected(slice_file)[0]]
    # Same identity: the two copies ran one after the other, never overlapping.
    first, second = sorted(results, key=lambda r: r["started"])
    assert second["started"] >= first["finished"]
    assert _counts(db) == _expected(slice_file)


# Short, so a killed worker's job is taken over quickly; not shorter, because
# a live worker renews at half of it and at 2 s a loaded machine (load ~13)
# let a live worker's lease lapse, so the other worker took its job too.
KILL_TEST_LEASE = 6


@pytest.mark.redis
@pytest.mark.slow
def test_worker_killed_mid_ingest_loses_and_duplicates_nothing(
    settings: Settings, db: Database, tmp_path: Path, redis_queue: RedisQueue
) -> None:
    path = write_jsonl(tmp_path / "big.jsonl", list(real_records(ARXIV_CS, 4000)))
    expected = _expected(path)
    redis_queue.configure(settings)
    settings.job_lease_seconds = KILL_TEST_LEASE
    spec = jobs.JobSpec("ingest", {"path": str(path), "batch_size": 40})
    job_id = jobs.RedisRunner(settings).submit(spec)
    with (
        WorkerProcess(settings, name=redis_queue.worker_name("a")) as a,
        WorkerProcess(settings, name=redis_queue.worker_name("b")) as b,
    ):
        # Kill whichever worker took the job, once some batches are committed.
        wait_for(lambda: _counts(db)[0] > 0, what="the first ingest batch")
        victim = {a.name: a, b.name: b}[redis_queue.worker_of(job_id)]
        survivor = b if victim is a else a
        victim.kill()
        at_kill = _counts(db)[0]
        assert 0 < at_kill < expected[0], "the job must be killed part-way"
        result = redis_queue.wait_finished(job_id)
        assert survivor.alive()
    assert result["pid"] == survivor.pid
    # The rerun found the committed batches and wrote only the rest.
    assert result["unchanged"] >= at_kill
    assert result["inserted"] > 0
    assert _counts(db) == expected


@pytest.mark.redis
@pytest.mark.slow
def test_worker_killed_mid_digest_sends_each_email_once(
    settings: Settings, db: Database, smtp_server: SMTPServer, redis_queue: RedisQueue
) -> None:
    from paperfeed.db import digests as digest_store
    from tests.test_digest import BASE, MONDAY, confirmed, seed_papers

    settings.base_url = BASE
    settings.smtp_retry_base_seconds = 0.0
    seed_papers(db)
    emails = [f"reader{i}@example.org" for i in range(8)]
    for address in emails:
        confirmed(settings, db, address)
    redis_queue.configure(settings)
    settings.job_lease_seconds = KILL_TEST_LEASE
    inbox = smtp_server.inbox
    inbox.hold_at = 4  # the server holds the 4th message, unanswered, while we kill
    job_id = jobs.RedisRunner(settings).submit(
        jobs.JobSpec("digest", {"periods": [MONDAY.isoformat()]})
    )
    env = {
        "PAPERFEED_BASE_URL": BASE,
        "PAPERFEED_SMTP_HOST": "127.0.0.1",
        "PAPERFEED_SMTP_PORT": str(smtp_server.port),
        "PAPERFEED_SMTP_RETRY_BASE_SECONDS": "0",
    }
    with (
        WorkerProcess(settings, name=redis_queue.worker_name("a"), env=env) as a,
        WorkerProcess(settings, name=redis_queue.worker_name("b"), env=env) as b,
    ):
        try:
            assert inbox.held.wait(timeout=120), "no worker reached the 4th message"
            victim = {a.name: a, b.name: b}[redis_queue.worker_of(job_id)]
            survivor = b if victim is a else a
            victim.kill()
        finally:
            inbox.hold_at = None
            inbox.release.set()  # the held message is refused: its client is gone
        assert len(inbox.messages) == 3
        result = redis_queue.wait_finished(job_id)
        assert survivor.alive()
    assert result["pid"] == survivor.pid
    assert result["sent"] == 5 and result["in_doubt"] == 1
    assert inbox.count_by_recipient() == dict.fromkeys(emails, 1)
    with db.connect() as conn:
        logs = digest_store.logs(conn)
    assert len(logs) == 8 and {r["status"] for r in logs} == {"sent"}


def test_harvest_job_moves_its_watermark_and_reruns_cleanly(
    fixture_server: FixtureServer, settings: Settings, db: Database
) -> None:
    """The periodic arXiv harvest as a job: first run harvests the set from the
    start and records where it stopped; the next run starts there."""
    from tests.test_oai_pmh import OAI, _serve_two_pages

    _serve_two_pages(fixture_server)
    first = jobs.execute(Paperfeed(settings, db), jobs.JobSpec("harvest", {"set": "cs"}))
    assert (first["from"], first["inserted"], first["next_from"]) == (None, 6, "2025-01-03")
    again = jobs.execute(Paperfeed(settings, db), jobs.JobSpec("harvest", {"set": "cs"}))
    assert again["from"] == "2025-01-03" and again["inserted"] == 0
    assert fixture_server.requests_to(OAI)[-2].query["from"] == "2025-01-03"
    assert _counts(db)[0] == 6


def test_harvest_job_never_moves_the_watermark_back(
    fixture_server: FixtureServer, paperfeed: Paperfeed
) -> None:
    """A later watermark (a newer harvest by the CLI, say) stays where it is when
    a job's harvest ends at an older day: the next run must not go back in time."""
    from paperfeed.db.meta import get_meta, set_meta
    from paperfeed.ingest.oai_pmh import watermark_key
    from tests.test_oai_pmh import _serve_two_pages

    _serve_two_pages(fixture_server)  # the server answers as of 2025-01-03
    with paperfeed.db.begin() as conn:
        set_meta(conn, watermark_key("cs"), "2025-02-01")
    result = jobs.execute(paperfeed, jobs.JobSpec("harvest", {"set": "cs"}))
    assert result["from"] == "2025-02-01"
    with paperfeed.db.connect() as conn:
        assert get_meta(conn, watermark_key("cs")) == "2025-02-01"


def test_ingest_job_leaves_the_papers_keyword_searchable(
    paperfeed: Paperfeed, slice_file: Path
) -> None:
    """Every ingest path syncs the keyword index after each batch, not only the CLI."""
    from paperfeed.db import index_queue

    jobs.execute(paperfeed, jobs.JobSpec("ingest", {"path": str(slice_file), "batch_size": 100}))
    with paperfeed.db.connect() as conn:
        assert index_queue.count_pending(conn) == 0
    assert paperfeed.indexes.lexical.num_docs == _expected(slice_file)[0]


@pytest.mark.redis
def test_ingest_job_queues_embedding_in_scale_mode(
    settings: Settings, db: Database, slice_file: Path, redis_queue: RedisQueue
) -> None:
    from rq import Queue

    redis_queue.configure(settings)
    queue = Queue(settings.job_queue, connection=redis_queue.redis)
    jobs.execute(Paperfeed(settings, db), jobs.JobSpec("ingest", {"path": str(slice_file)}))
    assert [j.args[0] for j in queue.jobs] == ["embed"]
    # Nothing new on the second run: no embedding to do.
    jobs.execute(Paperfeed(settings, db), jobs.JobSpec("ingest", {"path": str(slice_file)}))
    assert len(queue.jobs) == 1
