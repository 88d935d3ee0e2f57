"""Builders for the trending tests: papers on given days, readers and their votes.

Votes are written straight into the ``votes`` table (the readers feature owns
the code that normally writes them); trending only reads it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from paperfeed.db import Database
from paperfeed.db import papers as paper_store
from paperfeed.db.tables import hides, papers, readers, votes
from tests.helpers import make_paper

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)


def add_papers(db: Database, specs: Iterable[tuple[str, date]], **fields: Any) -> None:
    with db.begin() as conn:
        paper_store.upsert_papers(
            conn, [make_paper(pid, listing_date=day, **fields) for pid, day in specs]
        )


def add_reader(db: Database, email: str | None = None) -> int:
    with db.begin() as conn:
        n = conn.execute(select(func.count()).select_from(readers)).scalar() or 0
        result = conn.execute(
            readers.insert().values(
                email=email or f"reader{n + 1}@example.org", created_at=datetime.now(UTC)
            )
        )
        return int(result.inserted_primary_key[0])


def vote(db: Database, paper_id: str, *, at: datetime, reader_id: int | None = None) -> None:
    reader_id = reader_id or add_reader(db)
    with db.begin() as conn:
        conn.execute(votes.insert().values(reader_id=reader_id, paper_id=paper_id, created_at=at))


def votes_for(db: Database, paper_id: str, count: int, *, at: datetime) -> None:
    for _ in range(count):
        vote(db, paper_id, at=at)


def hide_for_reader(db: Database, reader_id: int, paper_id: str) -> None:
    with db.begin() as conn:
        conn.execute(hides.insert().values(reader_id=reader_id, paper_id=paper_id, created_at=NOW))


def set_paper(db: Database, paper_id: str, **values: Any) -> None:
    with db.begin() as conn:
        conn.execute(update(papers).where(papers.c.id == paper_id).values(**values))


def hours_ago(hours: float, now: datetime = NOW) -> datetime:
    return now - timedelta(hours=hours)
