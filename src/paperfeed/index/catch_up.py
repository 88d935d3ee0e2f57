"""Catch-ups off the request path.

A sidecar index in a long-lived process (the web server) looks every few
seconds for what other processes wrote to the database: vectors for the
faiss graph, queued papers for tantivy. Doing that inside the request that
found it due made that request wait for the whole catch-up: at 1M papers
next to a bulk ingest, 2.5 s for a vector catch-up and ~1 s for a tantivy
commit and merge (docs/benchmarks.md). So the request only starts it, on a
background thread, and goes on with what the index has.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections.abc import Callable

logger = logging.getLogger(__name__)

_all: weakref.WeakSet[BackgroundCatchUp] = weakref.WeakSet()
_all_lock = threading.Lock()


class BackgroundCatchUp:
    """Runs a catch-up on a background thread: at most once per ``every``
    seconds, one at a time; the thread ends when the catch-up is done."""

    def __init__(self, name: str, every: float) -> None:
        self.name = name
        self.every = every
        self.last_start = time.monotonic()
        self.thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        with _all_lock:
            _all.add(self)

    @property
    def stopping(self) -> bool:
        """Set once ``stop`` was called: a catch-up checks it between chunks."""
        return self._stopping.is_set()

    def start_if_due(self, work: Callable[[], object]) -> bool:
        """Start ``work`` on a thread if a look is due and none is running;
        True if it started. Cheap when not due (one clock read)."""
        now = time.monotonic()
        if now - self.last_start < self.every or self._stopping.is_set():
            return False
        with self._lock:
            if now - self.last_start < self.every or (
                self.thread is not None and self.thread.is_alive()
            ):
                return False
            self.last_start = now
            self.thread = threading.Thread(
                target=self._run, args=(work,), name=self.name, daemon=True
            )
            self.thread.start()
        return True

    def _run(self, work: Callable[[], object]) -> None:
        try:
            work()
        except Exception:
            # Retried at the next look; searches go on with what the index has.
            logger.exception("%s failed", self.name)

    def stop(self) -> None:
        """Ask a running catch-up to stop at its next check and wait for it.
        Run at exit for every instance: a daemon thread still inside faiss or
        tantivy while the interpreter tears objects down can crash the process."""
        self._stopping.set()
        thread = self.thread
        if thread is not None:
            thread.join()


@atexit.register
def _stop_all() -> None:
    # atexit handlers run before the interpreter starts tearing objects down.
    with _all_lock:
        running = list(_all)
    for catch_up in running:
        catch_up.stop()
