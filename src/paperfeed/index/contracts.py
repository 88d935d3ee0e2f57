"""What every search backend offers: a keyword index and a vector index.

tantivy (index/lexical.py) and faiss (index/vectors.py) beside a SQLite file;
the database itself on PostgreSQL (index/pg_keyword.py, index/pgvector.py).
search.py and similar.py call only these methods, so ranking and fusion run
the same code on both; index/backends.py chooses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import numpy as np

from paperfeed.db import Database
from paperfeed.query import Node

Hits = list[tuple[str, float]]  # (paper id, score) best first


@dataclass(frozen=True)
class FieldWeights:
    """Per-field boosts on BM25 for unfielded words. ``paperfeed eval`` on
    scifact-dev chose title 0.25 over 0, 0.5 and 1 (docs/benchmarks.md); authors
    cannot be measured there and keep the neutral 1."""

    title: float = 0.25
    body: float = 1.0
    authors: float = 1.0


DEFAULT_WEIGHTS = FieldWeights()


@dataclass(frozen=True)
class Filters:
    since: date | None = None
    until: date | None = None
    categories: tuple[str, ...] = ()  # any of them
    authors: tuple[str, ...] = ()  # all of them
    # Only papers that link to code (db.code.has_code). The tantivy side reads
    # them as ``code_ids`` (search.search fills it from the database); the
    # PostgreSQL side asks the code_links table in its SQL.
    has_code: bool = False
    code_ids: frozenset[str] | None = None

    @property
    def empty(self) -> bool:
        return not (self.since or self.until or self.categories or self.authors or self.has_code)


class KeywordQuery:
    """A query built by one keyword index (render, filter_query, combine), read only by it."""

    __slots__ = ()


class LexicalIndex(Protocol):
    """BM25 over title, abstract and authors. ``sync`` indexes what the
    ``index_queue`` outbox holds; ``sync_if_due`` is a cheap catch-up with what
    other processes wrote (a background one at most every few seconds)."""

    def render(
        self, node: Node | None, weights: FieldWeights = DEFAULT_WEIGHTS
    ) -> KeywordQuery | None: ...
    def filter_query(self, filters: Filters) -> KeywordQuery | None: ...
    def combine(
        self, scoring: KeywordQuery | None, *filters: KeywordQuery | None
    ) -> KeywordQuery: ...
    def search(
        self, query: KeywordQuery, *, limit: int, offset: int = 0, by_date: bool = False
    ) -> tuple[Hits, int]: ...
    def matching(self, ids: Sequence[str], query: KeywordQuery) -> set[str]: ...
    def snippets_html(
        self, query: KeywordQuery | None, texts: Sequence[str], max_chars: int = 260
    ) -> list[str]: ...
    @property
    def num_docs(self) -> int: ...
    def sync(self, db: Database) -> int: ...
    def sync_if_due(self, db: Database) -> None: ...


class VectorIndex(Protocol):
    """Nearest neighbours (cosine) among unit paper vectors of one model.
    ``sync`` catches up with the ``embeddings`` table, ``sync_if_due`` at most
    every few seconds and off the request path; ``save`` persists a sidecar."""

    def __len__(self) -> int: ...
    def __contains__(self, paper_id: object) -> bool: ...
    def search(
        self,
        vector: np.ndarray,
        k: int,
        *,
        allowed_ids: Iterable[str] | None = None,
        exclude: Iterable[str] = (),
    ) -> Hits: ...
    def vectors_of(self, ids: Sequence[str]) -> dict[str, np.ndarray]: ...
    def add(
        self, ids: Sequence[str], vectors: np.ndarray, content_hashes: Sequence[str] | None = None
    ) -> None: ...
    def sync(self, db: Database) -> int: ...
    def sync_if_due(self, db: Database) -> None: ...
    def save(self) -> None: ...
