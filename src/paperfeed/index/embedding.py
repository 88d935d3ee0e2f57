"""Computing paper vectors, apart from ingest.

Ingest only stores papers (keyword search sees them at once); vectors follow
from here, so a slow model never holds up a feed. ``embed_pending`` is a plain
function over the database, so the same work runs from the CLI
(``paperfeed embed``) and as the ``embed`` job: periodic in the embedded
server (``jobs.background_jobs``), queued in scale mode.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import embeddings as vector_store
from paperfeed.index.embedder import document_text, get_embedder

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
    stop: threading.Event | None = None,
) -> int:
    """Embed papers that have no current vector for the configured model.

    Commits every ``CHUNK`` papers; returns how many papers were embedded.
    Safe to run concurrently with ingest and with itself (the last writer of a
    paper's vector wins, and both wrote the same text's vector). Ends after the
    current chunk once ``stop`` is set (a server shutting down); the rest stays
    pending.
    """
    embedder = get_embedder(settings)
    model = embedder.model_id
    total = 0
    if progress:
        # Only for the progress bar: the count scans every paper, and the
        # serve process's embed job runs every few seconds.
        with db.connect() as conn:
            total = vector_store.count_pending(conn, model)
        if limit is not None:
            total = min(total, limit)
    done = 0
    if progress:
        progress(done, total)
    while (limit is None or done < limit) and not (stop and stop.is_set()):
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
