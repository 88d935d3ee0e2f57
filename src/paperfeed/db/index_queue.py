"""The lexical index's side of the ``index_queue`` outbox (see tables.index_queue).

The indexer reads pending rows, indexes those papers, commits its sidecar,
and only then calls ``done`` with the rows it read. ``done`` deletes a row
only if its ``queued_at`` is unchanged: a paper changed again meanwhile was
re-stamped by ``papers.queue_for_index`` and stays queued. Reading the queue
before the papers means the papers read are at least as new as the rows, on
SQLite and on PostgreSQL's READ COMMITTED alike.

(The vector sidecar does not use this queue: it catches up from the
``embeddings`` table, whose rows carry the content hash they embed.)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, delete, func, literal, select, tuple_

from paperfeed.db.papers import now
from paperfeed.db.tables import index_queue, papers

QueueRow = tuple[str, datetime]


def pending(conn: Connection, *, limit: int = 2000) -> list[QueueRow]:
    rows = conn.execute(
        select(index_queue.c.paper_id, index_queue.c.queued_at)
        .order_by(index_queue.c.queued_at, index_queue.c.paper_id)
        .limit(limit)
    ).all()
    return [(r.paper_id, r.queued_at) for r in rows]


def has_pending(conn: Connection) -> bool:
    return conn.execute(select(index_queue.c.paper_id).limit(1)).first() is not None


def count_pending(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(index_queue)).scalar() or 0)


def done(conn: Connection, rows: Sequence[QueueRow]) -> None:
    """Delete the rows read by ``pending`` that nobody re-queued since."""
    for start in range(0, len(rows), 500):
        chunk = list(rows[start : start + 500])
        conn.execute(
            delete(index_queue).where(
                tuple_(index_queue.c.paper_id, index_queue.c.queued_at).in_(chunk)
            )
        )


def requeue_all(conn: Connection) -> int:
    """Queue every paper: how the lexical index rebuilds itself through the same
    crash-safe path as incremental updates."""
    stamp = now()
    conn.execute(delete(index_queue))
    conn.execute(
        index_queue.insert().from_select(
            ["paper_id", "queued_at"],
            select(papers.c.id, literal(stamp, index_queue.c.queued_at.type).label("queued_at")),
        )
    )
    return count_pending(conn)
