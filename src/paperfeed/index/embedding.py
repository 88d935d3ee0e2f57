"""Computing paper vectors, apart from ingest.

Ingest only stores papers (keyword search sees them at once); vectors follow
from here, so a slow model never holds up a feed. ``embed_pending`` is a plain
function over the database, so the same work runs from the CLI
(``paperfeed embed``), from the embedded server's background thread
(``EmbedWorker``) or as a queued job on the PostgreSQL deployment.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import embeddings as vector_store
from paperfeed.index.embedder import document_text, get_embedder

log = logging.getLogger(__name__)

# Papers read, embedded and committed per round. Large enough that length
# sorting inside it yields well-packed batches, small enough that a crash loses
# little work and a concurrent reader sees progress.
CHUNK = 512

Progress = Callable[[int, int], None]  # (done, total)


def embed_pending(
    db: Database,
    settings: Settings,
    *,
    limit: int | None = None,
    progress: Progress | None = None,
) -> int:
    """Embed papers that have no current vector for the configured model.

    Commits every ``CHUNK`` papers; returns how many papers were embedded.
    Safe to run concurrently with ingest and with itself (the last writer of a
    paper's vector wins, and both wrote the same text's vector).
    """
    embedder = get_embedder(settings)
    model = embedder.model_id
    total = 0
    if progress:
        # Only for the progress bar: the count scans every paper, and the
        # background worker polls this every few seconds.
        with db.connect() as conn:
            total = vector_store.count_pending(conn, model)
        if limit is not None:
            total = min(total, limit)
    done = 0
    if progress:
        progress(done, total)
    while limit is None or done < limit:
        want = CHUNK if limit is None else min(CHUNK, limit - done)
        with db.connect() as conn:
            batch = vector_store.pending_papers(conn, model, limit=want)
        if not batch:
            break
        vectors = embedder.embed_documents([document_text(p.title, p.abstract) for p in batch])
        with db.begin() as conn:
            vector_store.store_vectors(
                conn, model, [(p.id, p.text_hash, vectors[i]) for i, p in enumerate(batch)]
            )
        done += len(batch)
        if progress:
            progress(done, max(total, done))
    return done


def reindex(db: Database, settings: Settings, *, progress: Progress | None = None) -> int:
    """Drop the configured model's vectors and embed every paper again."""
    model = get_embedder(settings).model_id
    with db.begin() as conn:
        vector_store.delete_vectors(conn, model)
    return embed_pending(db, settings, progress=progress)


class EmbedWorker:
    """A daemon thread that embeds new papers as they arrive and keeps this
    process's vector index in step. Started by ``paperfeed serve`` on SQLite."""

    def __init__(self, db: Database, settings: Settings, *, interval: float = 10.0) -> None:
        self.db = db
        self.settings = settings
        self.interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.embedded = 0
        self.last_error: str | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="paperfeed-embed", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        """Look for pending papers now (e.g. right after an ingest)."""
        self._wake.set()

    def stop(self, timeout: float | None = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run_once(self) -> int:
        from paperfeed.index.vectors import get_vector_index

        count = embed_pending(self.db, self.settings)
        if count:
            index = get_vector_index(self.settings, self.db)
            index.sync(self.db)
            index.save()
        self.embedded += count
        return count

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
                self.last_error = None
            except Exception as exc:  # keep serving; report and retry next round
                self.last_error = str(exc)
                log.exception("background embedding failed")
            self._wake.wait(self.interval)
            self._wake.clear()
