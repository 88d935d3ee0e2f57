"""What the servers the tests start for themselves (tests/pg_server.py,
tests/redis_server.py) share: a process in a private temporary directory,
stopped and removed after, and its log for failure messages."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path
from typing import Self


class ServerProcess:
    stop_signal = signal.SIGTERM
    process: subprocess.Popen[bytes] | None = None
    root: Path | None = None

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(self.stop_signal)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_text(self) -> str:
        assert self.root is not None
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""
