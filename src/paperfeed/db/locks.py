"""Named locks that die with their holder, for "this job never runs twice at once".

- PostgreSQL: a session-level advisory lock on a connection of its own, held
  for the whole job. When the holding process dies, its connection closes and
  the server releases the lock at once: no expiry to tune, no stale lock.
- SQLite: an ``flock`` on a small file beside the database. The kernel releases
  it when the holder's file is closed, including when the process is killed.
  (SQLite means one machine, so a file lock covers every process that can
  reach the database.)
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, text

from paperfeed.db.engine import Database


def _lock_number(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def named_lock(
    db: Database,
    name: str,
    *,
    lock_dir: Path,
    on_wait: Callable[[], None] | None = None,
) -> Iterator[None]:
    """Hold the lock called ``name`` for the body, waiting while another holds it.

    ``on_wait`` is called once if the lock is busy, before waiting (for logs).
    """
    if db.backend == "postgresql":
        key = _lock_number(name)
        # Autocommit: an idle-in-transaction session held for hours would pin
        # a snapshot and hold back vacuum; advisory session locks need no transaction.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
            if not got:
                if on_wait:
                    on_wait()
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        return
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / (hashlib.sha256(name.encode()).hexdigest()[:32] + ".lock")
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait:
                on_wait()
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def paper_write_lock(conn: Connection) -> None:
    """Serialize paper upserts across processes on PostgreSQL, for the caller's
    transaction. upsert_papers reads which ids exist, then inserts the new ones:
    two concurrent ingests of the same paper would both see it missing and the
    second would fail on the primary key. SQLite already has one writer at a
    time, so there it is a no-op."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_number("paper-writes")})
