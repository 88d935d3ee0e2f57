"""The sidecar indexes' side of the ``index_queue`` outbox (see tables.index_queue).

A consumer reads its pending rows, indexes those papers, commits its own
sidecar, and only then calls ``done`` with the rows it read. ``done`` deletes a
row only if its ``queued_at`` is unchanged, so a paper changed again meanwhile
stays queued. Reading the queue before the papers means the papers read are at
least as new as the queue rows, on SQLite and on PostgreSQL's READ COMMITTED.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, and_, delete, func, literal, select, tuple_

from paperfeed.db.papers import now
from paperfeed.db.tables import index_queue, papers

QueueRow = tuple[str, datetime]


def pending(conn: Connection, consumer: str, *, limit: int = 2000) -> list[QueueRow]:
    rows = conn.execute(
        select(index_queue.c.paper_id, index_queue.c.queued_at)
        .where(index_queue.c.consumer == consumer)
        .order_by(index_queue.c.queued_at, index_queue.c.paper_id)
        .limit(limit)
    ).all()
    return [(r.paper_id, r.queued_at) for r in rows]


def count_pending(conn: Connection, consumer: str) -> int:
    return int(
        conn.execute(
            select(func.count()).select_from(index_queue).where(index_queue.c.consumer == consumer)
        ).scalar()
        or 0
    )


def done(conn: Connection, consumer: str, rows: Sequence[QueueRow]) -> None:
    """Delete the rows read by ``pending`` that nobody re-queued since."""
    for start in range(0, len(rows), 500):
        chunk = rows[start : start + 500]
        conn.execute(
            delete(index_queue).where(
                and_(
                    index_queue.c.consumer == consumer,
                    tuple_(index_queue.c.paper_id, index_queue.c.queued_at).in_(chunk),
                )
            )
        )


def requeue_all(conn: Connection, consumer: str) -> int:
    """Queue every paper for one consumer: how a sidecar rebuilds itself through
    the same crash-safe path as incremental updates."""
    stamp = now()
    conn.execute(delete(index_queue).where(index_queue.c.consumer == consumer))
    conn.execute(
        index_queue.insert().from_select(
            ["consumer", "paper_id", "queued_at"],
            select(
                literal(consumer, index_queue.c.consumer.type).label("consumer"),
                papers.c.id,
                literal(stamp, index_queue.c.queued_at.type).label("queued_at"),
            ),
        )
    )
    return count_pending(conn, consumer)
