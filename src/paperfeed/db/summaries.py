"""Machine-written summaries (``machine_summaries``) and their daily cap
(``summary_usage``). The workflow is services/summaries.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from paperfeed.db.tables import machine_summaries, papers, summary_usage


@dataclass(frozen=True, slots=True)
class PaperToSummarize:
    id: str
    title: str
    abstract: str
    text_hash: str


@dataclass(frozen=True, slots=True)
class StoredSummary:
    paper_id: str
    model: str
    prompt_version: str
    body: str
    created_at: datetime


def _insert(conn: Connection, table: Any) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def reserve_request(conn: Connection, day: date, cap: int) -> bool:
    """Count one request against ``day``'s cap; False (and nothing counted)
    when the day has used it up. One conditional UPDATE, so concurrent workers
    together stay under the cap."""
    conn.execute(
        _insert(conn, summary_usage)
        .values(day=day, requests=0)
        .on_conflict_do_nothing(index_elements=[summary_usage.c.day])
    )
    result = conn.execute(
        update(summary_usage)
        .where(summary_usage.c.day == day, summary_usage.c.requests < cap)
        .values(requests=summary_usage.c.requests + 1)
    )
    return bool(result.rowcount)


def requests_on(conn: Connection, day: date) -> int:
    value = conn.execute(
        select(summary_usage.c.requests).where(summary_usage.c.day == day)
    ).scalar()
    return int(value or 0)


def papers_without_summary(
    conn: Connection, prompt_version: str, *, limit: int
) -> list[PaperToSummarize]:
    """Papers whose present text has no summary for ``prompt_version``,
    newest listing first (what readers see first), hidden and withdrawn ones
    and papers without an abstract left out."""
    joined = papers.outerjoin(
        machine_summaries,
        and_(
            machine_summaries.c.paper_id == papers.c.id,
            machine_summaries.c.text_hash == papers.c.text_hash,
            machine_summaries.c.prompt_version == prompt_version,
        ),
    )
    rows = conn.execute(
        select(papers.c.id, papers.c.title, papers.c.abstract, papers.c.text_hash)
        .select_from(joined)
        .where(
            machine_summaries.c.id.is_(None),
            papers.c.hidden.is_(False),
            papers.c.withdrawn.is_(False),
            papers.c.abstract != "",
        )
        .order_by(papers.c.listing_date.desc().nulls_last(), papers.c.id.desc())
        .limit(limit)
    )
    return [PaperToSummarize(r.id, r.title or "", r.abstract or "", r.text_hash) for r in rows]


def store_summary(
    conn: Connection,
    *,
    paper_id: str,
    text_hash: str,
    model: str,
    prompt_version: str,
    body: str,
    created_at: datetime,
) -> bool:
    """Keep a summary; False when this paper version already has one for the
    prompt version (another worker was first: the first one stays)."""
    result = conn.execute(
        _insert(conn, machine_summaries)
        .values(
            paper_id=paper_id,
            text_hash=text_hash,
            model=model,
            prompt_version=prompt_version,
            body=body,
            created_at=created_at,
        )
        .on_conflict_do_nothing(
            index_elements=[
                machine_summaries.c.paper_id,
                machine_summaries.c.text_hash,
                machine_summaries.c.prompt_version,
            ]
        )
    )
    return bool(result.rowcount)


def current_summary(conn: Connection, paper_id: str) -> StoredSummary | None:
    """The newest summary of the paper's present text (any prompt version)."""
    row = conn.execute(
        select(
            machine_summaries.c.paper_id,
            machine_summaries.c.model,
            machine_summaries.c.prompt_version,
            machine_summaries.c.body,
            machine_summaries.c.created_at,
        )
        .join(papers, papers.c.id == machine_summaries.c.paper_id)
        .where(
            machine_summaries.c.paper_id == paper_id,
            machine_summaries.c.text_hash == papers.c.text_hash,
        )
        .order_by(machine_summaries.c.created_at.desc(), machine_summaries.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return StoredSummary(row.paper_id, row.model, row.prompt_version, row.body, row.created_at)
