"""Stored keyphrases and TL;DRs (``paper_teasers``), one row per paper.

A row is current while its ``text_hash`` equals the paper's: reads return
current rows only, so a paper whose text changed shows none until the embed job
has made new ones (index/teasers.py says how they are made).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from paperfeed.db.tables import paper_teasers, papers


@dataclass(frozen=True, slots=True)
class StoredTeaser:
    keyphrases: list[str]
    tldr: str


def _upsert(conn: Connection) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(paper_teasers)
    return sqlite.insert(paper_teasers)


def store_teasers(
    conn: Connection, method: str, items: Sequence[tuple[str, str, list[str], str]]
) -> None:
    """Insert or replace (paper_id, text_hash, keyphrases, tldr) rows made by ``method``.

    The hash must be the paper's ``text_hash`` when its text was read."""
    if not items:
        return
    stamp = datetime.now(UTC)
    rows = [
        {
            "paper_id": paper_id,
            "text_hash": text_hash,
            "method": method,
            "keyphrases": list(keyphrases),
            "tldr": tldr,
            "created_at": stamp,
        }
        for paper_id, text_hash, keyphrases, tldr in items
    ]
    stmt = _upsert(conn)
    stmt = stmt.on_conflict_do_update(
        index_elements=[paper_teasers.c.paper_id],
        set_={
            c: stmt.excluded[c] for c in ("text_hash", "method", "keyphrases", "tldr", "created_at")
        },
    )
    conn.execute(stmt, rows)


def attach_teasers(conn: Connection, rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Set ``keyphrases`` ([] without) and ``tldr`` (None without) on paper rows
    keyed by id (as ``papers.get_papers`` returns them); returns ``rows``."""
    found = current_teasers(conn, list(rows))
    for paper_id, row in rows.items():
        teaser = found.get(paper_id)
        row["keyphrases"] = teaser.keyphrases if teaser else []
        row["tldr"] = (teaser.tldr or None) if teaser else None
    return rows


def current_teasers(conn: Connection, paper_ids: Sequence[str]) -> dict[str, StoredTeaser]:
    """The current teasers of these papers (those of their present text)."""
    if not paper_ids:
        return {}
    rows = conn.execute(
        select(paper_teasers.c.paper_id, paper_teasers.c.keyphrases, paper_teasers.c.tldr)
        .join(papers, papers.c.id == paper_teasers.c.paper_id)
        .where(
            paper_teasers.c.paper_id.in_(list(dict.fromkeys(paper_ids))),
            paper_teasers.c.text_hash == papers.c.text_hash,
        )
    )
    return {r.paper_id: StoredTeaser(list(r.keyphrases or []), r.tldr or "") for r in rows}
