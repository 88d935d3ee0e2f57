"""paperfeed.web.compute: CPU-bound request work runs one call at a time per
event loop, on a worker thread (never on the event loop itself)."""

from __future__ import annotations

import asyncio
import threading
import time

from paperfeed.web.compute import run_cpu_bound


def test_cpu_bound_calls_run_one_at_a_time_off_the_event_loop() -> None:
    lock = threading.Lock()
    running, most, threads = 0, 0, set()

    def work(n: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        threads.add(threading.get_ident())
        time.sleep(0.01)  # long enough for the others to pile up if allowed
        with lock:
            running -= 1
        return n * n

    async def main() -> tuple[list[int], int]:
        results = await asyncio.gather(*(run_cpu_bound(work, n) for n in range(8)))
        return list(results), threading.get_ident()

    results, loop_thread = asyncio.run(main())
    assert results == [n * n for n in range(8)]
    assert most == 1
    assert loop_thread not in threads
    # A second event loop (another TestClient, another test) gets its own limiter.
    again, _ = asyncio.run(main())
    assert again == results
