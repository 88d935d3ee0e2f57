"""Stored paper vectors: one row per (paper, model) in the ``embeddings`` table.

A vector is float32 little-endian bytes. Each row records the paper's
``text_hash`` (of the title and abstract it embedded, ``models.text_hash``) in
its ``content_hash`` column; a paper whose text hash has moved on (new
version, edited abstract) is *stale* and gets re-embedded. Other changes to a
paper (upvotes, DOI, listing date) leave the text hash, and so the vector,
alone. A vector is current only for the model id that built it, so changing
the model makes every paper pending again (``paperfeed reindex``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, and_, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from paperfeed.db.tables import embeddings, paper_teasers, papers


def vector_to_bytes(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def bytes_to_vector(data: bytes, dim: int | None = None) -> np.ndarray:
    vector = np.frombuffer(data, dtype="<f4")
    if dim is not None and vector.shape[0] != dim:
        raise ValueError(f"stored vector has {vector.shape[0]} dimensions, expected {dim}")
    return vector


@dataclass(frozen=True, slots=True)
class PaperText:
    """What the embedder needs of a paper."""

    id: str
    title: str
    abstract: str
    text_hash: str  # papers.text_hash: what to store beside its vector
    # False when only the paper's teaser (keyphrases, TL;DR) is missing or
    # stale: its stored vector is current and is not written again.
    needs_vector: bool = True


def _upsert(conn: Connection) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(embeddings)
    return sqlite.insert(embeddings)


def store_vectors(
    conn: Connection,
    model: str,
    items: Sequence[tuple[str, str, np.ndarray]],
) -> None:
    """Insert or replace (paper_id, text_hash, vector) rows for ``model``.

    The hash must be the paper's ``text_hash`` when its text was read, so a
    later edit of the text makes the row stale again."""
    if not items:
        return
    stamp = datetime.now(UTC)
    rows = [
        {
            "paper_id": paper_id,
            "model": model,
            "dim": int(vector.shape[0]),
            "vector": vector_to_bytes(vector),
            "content_hash": text_hash,
            "created_at": stamp,
        }
        for paper_id, text_hash, vector in items
    ]
    stmt = _upsert(conn)
    stmt = stmt.on_conflict_do_update(
        index_elements=[embeddings.c.paper_id, embeddings.c.model],
        set_={c: stmt.excluded[c] for c in ("dim", "vector", "content_hash", "created_at")},
    )
    conn.execute(stmt, rows)


def _vector_pending() -> Any:
    return or_(embeddings.c.paper_id.is_(None), embeddings.c.content_hash != papers.c.text_hash)


def _pending_condition(model: str, teaser_method: str | None = None) -> Any:
    if teaser_method is None:
        return _vector_pending()
    return or_(
        _vector_pending(),
        paper_teasers.c.paper_id.is_(None),
        paper_teasers.c.text_hash != papers.c.text_hash,
        paper_teasers.c.method != teaser_method,
    )


def _pending_join(model: str, teaser_method: str | None = None) -> Any:
    joined = papers.outerjoin(
        embeddings, and_(embeddings.c.paper_id == papers.c.id, embeddings.c.model == model)
    )
    if teaser_method is not None:
        joined = joined.outerjoin(paper_teasers, paper_teasers.c.paper_id == papers.c.id)
    return joined


def pending_papers(
    conn: Connection, model: str, *, limit: int | None = None, teaser_method: str | None = None
) -> list[PaperText]:
    """Papers with no vector for ``model`` yet, or whose vector is stale; with
    ``teaser_method``, also those whose teaser is missing, stale or made by
    another method (``needs_vector`` says which need only the teaser)."""
    query = (
        select(
            papers.c.id,
            papers.c.title,
            papers.c.abstract,
            papers.c.text_hash,
            _vector_pending().label("needs_vector"),
        )
        .select_from(_pending_join(model, teaser_method))
        .where(_pending_condition(model, teaser_method))
        .order_by(papers.c.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return [
        PaperText(r.id, r.title or "", r.abstract or "", r.text_hash, bool(r.needs_vector))
        for r in conn.execute(query)
    ]


def count_pending(conn: Connection, model: str, *, teaser_method: str | None = None) -> int:
    query = (
        select(func.count())
        .select_from(_pending_join(model, teaser_method))
        .where(_pending_condition(model, teaser_method))
    )
    return int(conn.execute(query).scalar() or 0)


def paper_texts(conn: Connection, paper_ids: Sequence[str]) -> list[PaperText]:
    if not paper_ids:
        return []
    rows = conn.execute(
        select(papers.c.id, papers.c.title, papers.c.abstract, papers.c.text_hash).where(
            papers.c.id.in_(list(paper_ids))
        )
    )
    return [PaperText(r.id, r.title or "", r.abstract or "", r.text_hash) for r in rows]


def get_vectors(conn: Connection, model: str, paper_ids: Sequence[str]) -> dict[str, np.ndarray]:
    """Stored vectors (current or stale) of these papers for ``model``."""
    if not paper_ids:
        return {}
    rows = conn.execute(
        select(embeddings.c.paper_id, embeddings.c.vector).where(
            embeddings.c.model == model, embeddings.c.paper_id.in_(list(paper_ids))
        )
    )
    return {r.paper_id: bytes_to_vector(r.vector) for r in rows}


@dataclass(frozen=True, slots=True)
class StoredVector:
    paper_id: str
    content_hash: str
    vector: np.ndarray
    created_at: datetime


def iter_vectors(
    conn: Connection,
    model: str,
    *,
    since: datetime | None = None,
    batch_size: int = 5000,
) -> Iterator[list[StoredVector]]:
    """All vectors of ``model`` (optionally only those written after ``since``),
    in batches, so a million vectors never sit in memory as Python rows at once.
    Streamed through a server-side cursor: on PostgreSQL ``conn`` must be in a
    transaction (``Database.begin()``), as ``Database.connect()``'s reads are not."""
    query = select(
        embeddings.c.paper_id,
        embeddings.c.content_hash,
        embeddings.c.vector,
        embeddings.c.created_at,
    ).where(embeddings.c.model == model)
    if since is not None:
        query = query.where(embeddings.c.created_at > since)
    result = conn.execution_options(stream_results=True, yield_per=batch_size).execute(query)
    for chunk in result.partitions(batch_size):
        yield [
            StoredVector(
                r.paper_id, r.content_hash, bytes_to_vector(r.vector), _aware(r.created_at)
            )
            for r in chunk
        ]


def iter_vector_keys(
    conn: Connection, model: str, *, since: datetime | None = None, batch_size: int = 20000
) -> Iterator[list[tuple[str, str, datetime]]]:
    """(paper_id, text hash, created_at) of ``model``'s vectors, without the
    vectors: what a catch-up reads first, to fetch only the vectors it lacks.
    Streamed, as ``iter_vectors``: ``conn`` from ``Database.begin()``."""
    query = select(embeddings.c.paper_id, embeddings.c.content_hash, embeddings.c.created_at).where(
        embeddings.c.model == model
    )
    if since is not None:
        query = query.where(embeddings.c.created_at > since)
    result = conn.execution_options(stream_results=True, yield_per=batch_size).execute(query)
    for chunk in result.partitions(batch_size):
        yield [(r.paper_id, r.content_hash, _aware(r.created_at)) for r in chunk]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def vector_ids(conn: Connection, model: str) -> set[str]:
    rows = conn.execute(select(embeddings.c.paper_id).where(embeddings.c.model == model))
    return {r[0] for r in rows}


def count_vectors(conn: Connection, model: str, *, until: datetime | None = None) -> int:
    """How many vectors ``model`` has (written at or before ``until``, if given)."""
    query = select(func.count()).select_from(embeddings).where(embeddings.c.model == model)
    if until is not None:
        query = query.where(embeddings.c.created_at <= until)
    return int(conn.execute(query).scalar() or 0)


def latest_vector_time(conn: Connection, model: str) -> datetime | None:
    value = conn.execute(
        select(func.max(embeddings.c.created_at)).where(embeddings.c.model == model)
    ).scalar()
    if value is None:
        return None
    if isinstance(value, str):  # SQLite aggregates come back as text
        value = datetime.fromisoformat(value)
    return _aware(value)


def delete_vectors(conn: Connection, model: str | None = None) -> int:
    """Drop stored vectors (of one model, or all). Returns how many rows went."""
    stmt = delete(embeddings)
    if model is not None:
        stmt = stmt.where(embeddings.c.model == model)
    return int(conn.execute(stmt).rowcount or 0)
