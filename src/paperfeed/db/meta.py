"""The ``meta`` table: small named values the application keeps between runs
(for example where the last OAI-PMH harvest stopped)."""

from __future__ import annotations

from sqlalchemy import Connection, select

from paperfeed.db.papers import _insert
from paperfeed.db.tables import meta


def get_meta(conn: Connection, key: str) -> str | None:
    return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()


def set_meta(conn: Connection, key: str, value: str) -> None:
    stmt = _insert(conn, meta).values(key=key, value=value)
    conn.execute(stmt.on_conflict_do_update(index_elements=[meta.c.key], set_={"value": value}))
