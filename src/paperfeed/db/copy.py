"""Copy a whole instance from one database to another (SQLite -> PostgreSQL, or back).

Every table of the schema, in foreign-key order (``metadata.sorted_tables``),
streamed in batches through SQLAlchemy Core, so the same code reads and writes
either backend and picks up tables added later without change. The target must
be migrated (``Database`` does that) and empty. Afterwards PostgreSQL's id
sequences are moved past the copied ids, and every table's row count is
compared between source and target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Integer, Table, func, select, text

from paperfeed.db.engine import Database
from paperfeed.db.postings import defer_postings, rebuild_postings
from paperfeed.db.tables import metadata

DEFAULT_BATCH_SIZE = 5000


@dataclass
class TableCount:
    table: str
    source: int
    target: int

    @property
    def ok(self) -> bool:
        return self.source == self.target


class TargetNotEmpty(RuntimeError):
    pass


ProgressCallback = Callable[[str, int, int], None]  # table, rows copied so far, table total


def count_rows(db: Database, table: Table) -> int:
    with db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _fix_types(table: Table) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """SQLite keeps timestamps without a zone; they were written in UTC."""
    aware = [c.name for c in table.columns if isinstance(c.type, DateTime) and c.type.timezone]

    def fix(row: dict[str, Any]) -> dict[str, Any]:
        for name in aware:
            value = row.get(name)
            if isinstance(value, datetime) and value.tzinfo is None:
                row[name] = value.replace(tzinfo=UTC)
        return row

    return fix


def _reset_sequences(target: Database) -> None:
    """PostgreSQL hands out serial ids from a sequence that rows inserted with
    explicit ids do not advance: move each past the largest copied id."""
    if target.backend != "postgresql":
        return
    with target.begin() as conn:
        for table in metadata.sorted_tables:
            pk = list(table.primary_key.columns)
            if len(pk) != 1 or not isinstance(pk[0].type, Integer):
                continue
            if pk[0].autoincrement not in (True, "auto"):
                continue
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence(:t, :c), "  # noqa: S608 (names from our schema)
                    f'COALESCE(MAX("{pk[0].name}"), 1), MAX("{pk[0].name}") IS NOT NULL) '
                    f'FROM "{table.name}"'
                ),
                {"t": table.name, "c": pk[0].name},
            )


def copy_instance(
    source: Database,
    target: Database,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: ProgressCallback | None = None,
    wipe_target: bool = False,
) -> list[TableCount]:
    """Copy every row; return the per-table counts (compare ``.ok``).

    ``wipe_target`` first deletes every row of the target (to redo a copy that
    was interrupted); otherwise a target with rows is refused."""
    tables = metadata.sorted_tables
    if wipe_target:
        with target.begin() as conn:
            defer_postings(conn)
            for table in reversed(tables):
                conn.execute(table.delete())
    nonempty = [t.name for t in tables if count_rows(target, t)]
    if nonempty:
        raise TargetNotEmpty(f"the target database already has rows in: {', '.join(nonempty)}")
    totals = {t.name: count_rows(source, t) for t in tables}
    for table in tables:
        fix = _fix_types(table)
        copied = 0
        if on_progress:
            on_progress(table.name, 0, totals[table.name])
        order = list(table.primary_key.columns) or list(table.columns)
        # A transaction, not a plain read connection: the rows are streamed
        # through a server-side cursor, which lives only inside one.
        with source.begin() as read:
            result = read.execution_options(stream_results=True, yield_per=batch_size).execute(
                select(table).order_by(*order)
            )
            for chunk in result.partitions(batch_size):
                rows = [fix(dict(r._mapping)) for r in chunk]
                # One transaction per batch: memory stays flat on big tables;
                # an interrupted copy is redone with wipe_target.
                with target.begin() as write:
                    defer_postings(write)  # rebuilt once, below
                    write.execute(table.insert(), rows)
                copied += len(rows)
                if on_progress:
                    on_progress(table.name, copied, totals[table.name])
    _reset_sequences(target)
    rebuild_postings(target)
    return [TableCount(t.name, totals[t.name], count_rows(target, t)) for t in tables]
