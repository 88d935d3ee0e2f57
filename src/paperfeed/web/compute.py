"""Where a request's CPU-bound work runs: one request at a time per worker.

FastAPI runs a plain ``def`` endpoint in anyio's thread pool, up to 40 at
once. A search is ~10 ms of CPU (query embedding, BM25, HNSW, hydration),
mostly under the GIL, so with 16 connections on 2 workers eight searches per
worker ran "in parallel" in eight threads that could only take turns: every
switch a GIL hand-off, caches cold again, ONNX's own threads woken in between.
Measured with ``bench/http_load.py`` (docs/benchmarks.md, HTTP section) that
convoy cost ~2 ms of CPU per search request. Running them one after the other
on a single thread per worker process removes it; the event loop stays free
for the cheap requests (health checks, static files, the list pages' threads).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")

# One limiter per event loop: a limiter belongs to the loop it was made in, and
# tests run the same app in several loops (one per TestClient).
_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


def _limiter() -> anyio.CapacityLimiter:
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = anyio.CapacityLimiter(1)
    return limiter


async def run_cpu_bound(function: Callable[..., T], *args: object) -> T:
    """``function(*args)`` on a worker thread, one such call at a time per
    event loop (process); the others wait their turn without holding a thread."""
    return await anyio.to_thread.run_sync(function, *args, limiter=_limiter())
