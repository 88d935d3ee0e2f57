"""Real ``paperfeed worker`` processes on a private Redis queue, for tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from paperfeed.config import Settings


def wait_for(condition: Callable[[], Any], *, what: str, limit: float = 180.0) -> Any:
    """Poll until ``condition()`` is truthy. The limit only stops a hung test;
    it is no speed requirement."""
    deadline = time.monotonic() + limit
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


class RedisQueue:
    """A queue name unique to one test; its keys are removed afterwards."""

    def __init__(self, url: str) -> None:
        from redis import Redis

        self.url = url
        self.name = f"pftest-{uuid.uuid4().hex[:12]}"
        self.redis = Redis.from_url(url)
        self.redis.ping()

    def configure(self, settings: Settings) -> None:
        settings.redis_url = self.url
        settings.job_queue = self.name

    def worker_name(self, suffix: str) -> str:
        return f"{self.name}-{suffix}"

    def job(self, job_id: str) -> Any:
        from rq.job import Job

        return Job.fetch(job_id, connection=self.redis)

    def wait_finished(self, job_id: str) -> dict[str, Any]:
        def done() -> bool:
            status = self.job(job_id).get_status(refresh=True)
            if status == "failed":
                raise AssertionError(f"job {job_id} failed:\n{self.job(job_id).latest_result()}")
            return bool(status == "finished")

        wait_for(done, what=f"job {job_id}")
        result = self.job(job_id).return_value()
        assert isinstance(result, dict)
        return result

    def worker_of(self, job_id: str) -> str:
        def name() -> str | None:
            worker = self.job(job_id).worker_name
            return worker.decode() if isinstance(worker, bytes) else worker

        return str(wait_for(name, what=f"a worker to take job {job_id}"))

    def cleanup(self) -> None:
        for pattern in (f"*{self.name}*",):
            keys = list(self.redis.scan_iter(match=pattern, count=1000))
            if keys:
                self.redis.delete(*keys)
        # Job hashes are keyed by job id; our jobs are listed in our registries,
        # which are gone now, so remove any job whose origin is our queue.
        for key in self.redis.scan_iter(match="rq:job:*", count=1000):
            if self.redis.hget(key, "origin") == self.name.encode():
                self.redis.delete(key)
        self.redis.srem("rq:queues", f"rq:queue:{self.name}")
        for member in self.redis.smembers("rq:workers"):
            if self.name.encode() in member:
                self.redis.srem("rq:workers", member)
        self.redis.close()


class WorkerProcess:
    """``python -m paperfeed worker`` with the test's settings in its environment."""

    def __init__(self, settings: Settings, *, name: str, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.env = {
            **os.environ,
            "PAPERFEED_DATABASE_URL": settings.database_url_resolved,
            "PAPERFEED_DATA_DIR": str(settings.data_dir),
            "PAPERFEED_SECRET_KEY": settings.secret_key,
            "PAPERFEED_REDIS_URL": settings.redis_url,
            "PAPERFEED_JOB_QUEUE": settings.job_queue,
            "PAPERFEED_JOB_LEASE_SECONDS": str(settings.job_lease_seconds),
            "PAPERFEED_LOG_LEVEL": "WARNING",
            # No model loading in these workers unless a test asks for it.
            "PAPERFEED_EMBED_AFTER_INGEST": "false",
            "PAPERFEED_CONFIG": str(settings.data_dir / "absent.toml"),
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __enter__(self) -> WorkerProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "paperfeed", "worker", "--name", self.name], env=self.env
        )
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def __exit__(self, *exc: object) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)  # warm shutdown
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
