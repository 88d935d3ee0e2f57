"""Operations: is this instance ready to serve, and moving it to another database."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import text

from paperfeed.app import Paperfeed
from paperfeed.db import Database
from paperfeed.db.copy import TableCount, TargetNotEmpty, copy_instance
from paperfeed.db.engine import migration_status
from paperfeed.index.backends import fill_vectors

__all__ = ["TargetNotEmpty", "copy", "readiness"]


def _error(exc: Exception) -> str:
    return f"error: {type(exc).__name__}: {exc}".splitlines()[0][:300]


def readiness(app: Paperfeed) -> dict[str, str]:
    """Each dependency's state, "ok" or what is wrong: the database, its
    migrations, and Redis when the deployment uses it."""
    checks: dict[str, str] = {}
    try:
        with app.db.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
        current, heads = migration_status(app.db.engine)
        checks["migrations"] = (
            "ok" if current == heads else f"at {sorted(current)}, code expects {sorted(heads)}"
        )
    except Exception as exc:  # any failure means "not ready", said in the body
        checks["database"] = _error(exc)
    if app.settings.redis_url:
        try:
            from redis import Redis

            client = Redis.from_url(
                app.settings.redis_url, socket_connect_timeout=2, socket_timeout=2
            )
            client.ping()
            client.close()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = _error(exc)
    return checks


def copy(
    source_url: str,
    target_url: str,
    *,
    batch_size: int,
    wipe_target: bool,
    on_progress: Callable[[str, int, int], None],
) -> tuple[list[TableCount], int | None]:
    """Copy a whole instance to another database, table by table, counting rows
    on both sides. On a PostgreSQL target the pgvector column is filled at once,
    in bulk (column first, HNSW index after), rather than by the first search's
    sync: the second value is how many vectors that filled (None elsewhere).
    Raises TargetNotEmpty when the target holds rows and ``wipe_target`` is off."""
    source_db, target_db = Database(source_url), Database(target_url)
    counts = copy_instance(
        source_db,
        target_db,
        batch_size=batch_size,
        on_progress=on_progress,
        wipe_target=wipe_target,
    )
    filled = fill_vectors(target_db) if all(c.ok for c in counts) else None
    return counts, filled
