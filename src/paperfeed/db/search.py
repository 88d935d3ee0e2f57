"""Reads the search results page needs beyond the paper rows."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, func, select

from paperfeed.db.tables import papers, votes


def upvote_counts(conn: Connection, ids: Sequence[str]) -> dict[str, int]:
    """Upvotes per paper: those imported from the source plus readers' votes."""
    if not ids:
        return {}
    counts = {
        row.id: int(row.imported_upvotes or 0)
        for row in conn.execute(
            select(papers.c.id, papers.c.imported_upvotes).where(papers.c.id.in_(list(ids)))
        )
    }
    for paper_id, n in conn.execute(
        select(votes.c.paper_id, func.count())
        .where(votes.c.paper_id.in_(list(ids)))
        .group_by(votes.c.paper_id)
    ):
        counts[paper_id] = counts.get(paper_id, 0) + int(n)
    return counts
