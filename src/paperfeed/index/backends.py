"""The one place that chooses the search backends: tantivy and faiss beside a
SQLite file, the database itself (tsvector, pgvector) on PostgreSQL."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db.postings import rebuild_postings
from paperfeed.index.contracts import LexicalIndex, VectorIndex
from paperfeed.tuning import IndexTuning


@dataclass
class Indexes:
    """One database's keyword and vector index, for one application object,
    which owns them and their caches. Each opens on first use; each later
    access starts a catch-up with other processes' writes when one is due (a
    clock read when not), so papers stored elsewhere are searchable in seconds."""

    settings: Settings
    database: Database
    tuning: IndexTuning = field(default_factory=IndexTuning)
    _lexical: LexicalIndex | None = field(default=None, init=False, repr=False)
    _vectors: VectorIndex | None = field(default=None, init=False, repr=False)
    # One lock each: opening the faiss graph can take seconds.
    _lexical_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _vectors_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def lexical(self) -> LexicalIndex:
        if self._lexical is None:
            with self._lexical_lock:
                if self._lexical is None:
                    self._lexical = self._open_lexical()
                    return self._lexical  # caught up as it opened
        self._lexical.sync_if_due(self.database)
        return self._lexical

    @property
    def vectors(self) -> VectorIndex:
        if self._vectors is None:
            with self._vectors_lock:
                if self._vectors is None:
                    self._vectors = self._open_vectors()
                    return self._vectors
        self._vectors.sync_if_due(self.database)
        return self._vectors

    @property
    def vectors_in_process(self) -> bool:
        """Whether the vector index lives in this process (the faiss sidecar
        beside SQLite), so this process must sync it itself; pgvector is the
        database's own."""
        return self.database.backend == "sqlite"

    def sync_if_due(self) -> None:
        """Catch the opened indexes up with other processes' writes, if due."""
        for index in (self._lexical, self._vectors):
            if index is not None:
                index.sync_if_due(self.database)

    def sync_lexical(self) -> int:
        """Index what ingest queued (after each ingest batch); how many papers."""
        return self.lexical.sync(self.database)

    def rebuild_lexical(self) -> int:
        """Rebuild the keyword index (``paperfeed reindex``); the papers it holds."""
        if self.database.backend == "postgresql":
            # The tsvector column is always current; the posting table can be stale.
            rebuild_postings(self.database, force=True)
            return self.lexical.num_docs
        from paperfeed.index.lexical import TantivyIndex

        with self._lexical_lock:
            self._lexical = TantivyIndex.rebuild(self.settings, self.database, self.tuning)
            return self._lexical.num_docs

    def refresh_vectors(self) -> VectorIndex:
        """Make every stored vector searchable, and saved (after embedding)."""
        index = self.vectors
        index.sync(self.database)
        index.save()
        return index

    def _open_lexical(self) -> LexicalIndex:
        if self.database.backend == "postgresql":
            from paperfeed.index.pg_keyword import PgLexicalIndex

            return PgLexicalIndex(self.database, self.tuning)
        from paperfeed.index.lexical import TantivyIndex

        return TantivyIndex.open(self.settings, self.database, self.tuning)

    def _open_vectors(self) -> VectorIndex:
        from paperfeed.index.embedder import current_model_id

        model_id = current_model_id(self.settings)
        if self.database.backend == "postgresql":
            from paperfeed.index.pgvector import PgVectorIndex

            return PgVectorIndex(self.database, model_id, self.tuning)
        from paperfeed.index.vectors import FaissIndex

        return FaissIndex.open(self.settings, self.database, model_id=model_id, tuning=self.tuning)


def open_indexes(
    settings: Settings, database: Database, tuning: IndexTuning = IndexTuning()
) -> Indexes:
    """The indexes of this database, for one application object (cheap: each opens on use)."""
    return Indexes(settings, database, tuning)


def fill_vectors(database: Database) -> int | None:
    """After a bulk copy into ``database``: on PostgreSQL, fill the pgvector
    column now, in bulk (column first, HNSW index after), rather than at the
    first search; how many vectors. None beside SQLite (built when first opened)."""
    if database.backend != "postgresql":
        return None
    from paperfeed.index.pgvector import PgVectorIndex

    return PgVectorIndex(database, "").sync(database)  # every model's vectors
