"""PostgreSQL round trips: reads run without a transaction of their own, and
pgvector's search settings are sent once per pooled connection, not with
every search (docs/benchmarks.md, session 14)."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import event, text

from paperfeed.db import Database
from paperfeed.db.tables import meta
from paperfeed.index import pgvector
from tests.helpers import seed_papers_with_vectors

pytestmark = pytest.mark.postgres
MODEL = "test-model@16"


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


def test_vector_search_settings_go_once_per_connection(pg_db: Database) -> None:
    """The first search on a connection sets ef_search and iterative_scan for
    its session; the same search again sends only itself; a filtered search
    switches the scan on, and the next unfiltered one off again, so each
    search runs with its own settings whatever the previous one left."""
    stored = seed_papers_with_vectors(pg_db, 60, model=MODEL, seed=11)
    index = pgvector.PgVectorIndex(pg_db, MODEL)
    query = stored["2501.00007"]
    exact = sorted(stored, key=lambda i: -float(stored[i] @ query))
    index.search(query, 5)  # the first look also fills the pgvector column
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        sent.append(statement)

    def settings_now() -> tuple[str, str]:
        with pg_db.connect() as conn:  # single-threaded: the pool's one connection
            ef = conn.execute(text("SHOW hnsw.ef_search")).scalar_one()
            scan = conn.execute(text("SHOW hnsw.iterative_scan")).scalar_one()
        return str(ef), str(scan)

    event.listen(pg_db.engine, "before_cursor_execute", record)
    try:
        hits = index.search(query, 5)
        assert [s for s in sent if "set_config" in s] == []
        assert [i for i, _ in hits] == exact[:5]
        assert settings_now() == (str(pgvector.HNSW_EF_SEARCH), "off")

        allowed = exact[10:30]
        sent.clear()
        filtered = index.search(query, 5, allowed_ids=allowed)
        assert len([s for s in sent if "set_config" in s]) == 1
        assert [i for i, _ in filtered] == exact[10:15]
        assert settings_now() == (str(pgvector.HNSW_EF_SEARCH), "relaxed_order")

        sent.clear()
        deep = index.search(query, 300)  # ef_search follows k past the default
        assert len([s for s in sent if "set_config" in s]) == 1
        assert [i for i, _ in deep][:5] == exact[:5] and len(deep) == len(stored)
        assert settings_now() == ("300", "off")
    finally:
        event.remove(pg_db.engine, "before_cursor_execute", record)
