"""Search and similar papers, with the process's query-vector cache."""

from __future__ import annotations

from typing import Any

from paperfeed import search as core
from paperfeed.app import Paperfeed
from paperfeed.db import papers as paper_store
from paperfeed.search import SearchRequest, SearchResults


def search(app: Paperfeed, request: SearchRequest) -> SearchResults:
    """One search (paperfeed.search.search); raises QueryError for a bad query."""
    return core.search(
        app.indexes, request, query_vectors=app.query_vectors, tuning=app.tuning.search
    )


def paper_exists(app: Paperfeed, paper_id: str) -> bool:
    with app.db.connect() as conn:
        return paper_store.get_paper(conn, paper_id) is not None


def similar(app: Paperfeed, paper_id: str, k: int) -> list[dict[str, Any]]:
    """The ``k`` papers nearest to ``paper_id``, as full rows with their
    ``similarity``; empty when there are no vectors (semantic search not
    installed or not run yet)."""
    try:
        from paperfeed.similar import similar_papers
    except ImportError:
        return []
    neighbours = similar_papers(app.indexes, paper_id, k)
    with app.db.connect() as conn:
        rows = paper_store.get_papers(conn, [pid for pid, _ in neighbours])
    return [{**rows[pid], "similarity": score} for pid, score in neighbours if pid in rows]
