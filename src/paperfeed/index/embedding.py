"""Computing paper vectors, apart from ingest.

Ingest only stores papers (keyword search sees them at once); vectors follow
from here, so a slow model never holds up a feed. ``embed_pending`` is a plain
function over the database, so the same work runs from the CLI
(``paperfeed embed``) and as the ``embed`` job: periodic in the embedded
server (``jobs.background_jobs``), queued in scale mode.

The same pass makes each paper's keyphrases and TL;DR (index/teasers.py) from
the token states of its forward pass, and stores them beside the vector, per
text hash: a paper whose text changed gets both anew. A paper whose vector is
current but whose teaser is missing or stale (after the upgrade that added
them, or a new extraction recipe) is embedded again for its token states, but
only its teaser is written.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable

from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import embeddings as vector_store
from paperfeed.db import teasers as teaser_store
from paperfeed.index import teasers
from paperfeed.index.embedder import document_text, get_embedder

# Papers read, embedded and committed per round. Large enough that length
# sorting inside it yields well-packed batches, small enough that a crash loses
# little work and a concurrent reader sees progress.
CHUNK = 512

Progress = Callable[[int, int], None]  # (done, total)


def teaser_method(model_id: str) -> str:
    """What ``paper_teasers.method`` records: the recipe and the embedder."""
    method = f"{teasers.METHOD_VERSION}/{model_id}"
    if len(method) > 300:  # a long local model path: its digest stands for it
        method = f"{teasers.METHOD_VERSION}/{hashlib.sha256(model_id.encode()).hexdigest()}"
    return method


def embed_pending(
    db: Database,
    settings: Settings,
    *,
    limit: int | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    with_teasers: bool = True,
) -> int:
    """Embed papers that have no current vector for the configured model.

    Commits every ``CHUNK`` papers; returns how many papers were embedded.
    Safe to run concurrently with ingest and with itself (the last writer of a
    paper's vector wins, and both wrote the same text's vector). With
    ``with_teasers`` (always, but in bench/embed.py's comparison) keyphrases
    and TL;DRs are made and stored in the same pass. Ends after the
    current chunk once ``stop`` is set (a server shutting down); the rest stays
    pending.
    """
    embedder = get_embedder(settings)
    model = embedder.model_id
    method = teaser_method(model) if with_teasers else None
    total = 0
    if progress:
        # Only for the progress bar: the count scans every paper, and the
        # serve process's embed job runs every few seconds.
        with db.connect() as conn:
            total = vector_store.count_pending(conn, model, teaser_method=method)
        if limit is not None:
            total = min(total, limit)
    done = 0
    if progress:
        progress(done, total)
    while (limit is None or done < limit) and not (stop and stop.is_set()):
        want = CHUNK if limit is None else min(CHUNK, limit - done)
        with db.connect() as conn:
            batch = vector_store.pending_papers(conn, model, limit=want, teaser_method=method)
        if not batch:
            break
        if method is None:
            vectors = embedder.embed_documents([document_text(p.title, p.abstract) for p in batch])
            made: list[teasers.Teaser] = []
        else:
            vectors, made = teasers.embed_with_teasers(
                embedder, [p.title for p in batch], [p.abstract for p in batch]
            )
        with db.begin() as conn:
            vector_store.store_vectors(
                conn,
                model,
                [(p.id, p.text_hash, vectors[i]) for i, p in enumerate(batch) if p.needs_vector],
            )
            if method is not None:
                teaser_store.store_teasers(
                    conn,
                    method,
                    [
                        (p.id, p.text_hash, made[i].keyphrases, made[i].tldr)
                        for i, p in enumerate(batch)
                    ],
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
