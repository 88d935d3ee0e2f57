"""PostgreSQL round trips: reads run without a transaction of their own
(docs/benchmarks.md, session 14)."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text

from paperfeed.db import Database
from paperfeed.db.tables import meta

pytestmark = pytest.mark.postgres


def _status(conn) -> psycopg.pq.TransactionStatus:  # type: ignore[no-untyped-def]
    return conn.connection.driver_connection.info.transaction_status


def test_reads_leave_no_transaction_open(pg_db: Database) -> None:
    """A read block's statements run in autocommit: psycopg sends no BEGIN
    before them, so the session is idle, not in a transaction, after each."""
    with pg_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM papers")).scalar_one() == 0
        assert _status(conn) == psycopg.pq.TransactionStatus.IDLE
    # A write block is still one transaction: its first statement opened it.
    with pg_db.begin() as conn:
        conn.execute(meta.insert().values(key="probe", value="1"))
        assert _status(conn) == psycopg.pq.TransactionStatus.INTRANS


def test_a_failed_write_block_still_rolls_back_whole(pg_db: Database) -> None:
    """The pool's connections switch between autocommit reads and write
    transactions: a write block that fails after its first statement keeps
    nothing, whichever connection it got."""
    for _ in range(3):  # reads first, so the pooled connection has been autocommit
        with pg_db.connect() as conn:
            conn.execute(text("SELECT 1"))
    with pytest.raises(RuntimeError), pg_db.begin() as conn:
        conn.execute(meta.insert().values(key="half-written", value="1"))
        raise RuntimeError("crash mid-write")
    with pg_db.connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM meta WHERE key = 'half-written'"))
        assert rows.scalar_one() == 0
