"""Stored papers read by id, and what the store holds."""

from __future__ import annotations

from typing import Any

from paperfeed.app import Paperfeed
from paperfeed.db import papers as paper_store


def get_paper(app: Paperfeed, paper_id: str) -> dict[str, Any] | None:
    with app.db.connect() as conn:
        return paper_store.get_paper(conn, paper_id)


def get_papers(app: Paperfeed, paper_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The stored rows of ``paper_ids`` by id; missing ids are left out."""
    with app.db.connect() as conn:
        return paper_store.get_papers(conn, paper_ids)


def stats(app: Paperfeed) -> dict[str, Any]:
    """Counts of what is stored."""
    with app.db.connect() as conn:
        return paper_store.stats(conn)
