"""Similar papers: nearest neighbours of one paper's vector, or of the centroid
of several ("more like these", for a library or a collection)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from paperfeed.db import embeddings as vector_store
from paperfeed.db import papers as paper_store
from paperfeed.index.backends import Indexes
from paperfeed.index.embedder import document_text, get_embedder

# Over-fetch so that dropping hidden papers still leaves k results.
_SLACK = 10


def paper_vectors(indexes: Indexes, paper_ids: Sequence[str]) -> dict[str, np.ndarray]:
    """Vectors of these papers: from the index, else the table, else embedded
    on the spot (and stored) for a paper whose vector is not computed yet."""
    db, index = indexes.database, indexes.vectors
    found = index.vectors_of(paper_ids)
    missing = [p for p in paper_ids if p not in found]
    if not missing:
        return found
    embedder = get_embedder(indexes.settings)
    with db.connect() as conn:
        found.update(vector_store.get_vectors(conn, embedder.model_id, missing))
        texts = vector_store.paper_texts(conn, [p for p in missing if p not in found])
    if texts:
        vectors = embedder.embed_documents([document_text(t.title, t.abstract) for t in texts])
        with db.begin() as conn:
            vector_store.store_vectors(
                conn,
                embedder.model_id,
                [(t.id, t.text_hash, vectors[i]) for i, t in enumerate(texts)],
            )
        index.add([t.id for t in texts], vectors, [t.text_hash for t in texts])
        found.update({t.id: vectors[i] for i, t in enumerate(texts)})
    return found


def _neighbours(
    indexes: Indexes, vector: np.ndarray, k: int, exclude: set[str]
) -> list[tuple[str, float]]:
    hits = indexes.vectors.search(vector, k + _SLACK, exclude=exclude)
    with indexes.database.connect() as conn:
        rows = paper_store.get_papers(conn, [pid for pid, _ in hits])
    # A paper gone from the table (not yet synced out) or hidden by curation is skipped.
    return [(pid, score) for pid, score in hits if pid in rows and not rows[pid]["hidden"]][:k]


def similar_papers(indexes: Indexes, paper_id: str, k: int = 10) -> list[tuple[str, float]]:
    """The ``k`` papers closest to this one, as (paper_id, cosine), never itself."""
    with indexes.database.connect() as conn:
        paper_id = paper_store.resolve_ids(conn, [paper_id])[paper_id]
    vector = paper_vectors(indexes, [paper_id]).get(paper_id)
    if vector is None:
        return []  # unknown paper
    return _neighbours(indexes, vector, k, {paper_id})


def more_like_these(
    indexes: Indexes,
    paper_ids: Sequence[str],
    k: int = 10,
    exclude: Iterable[str] = (),
) -> list[tuple[str, float]]:
    """Papers close to the centroid of these ones (the normalized sum of their
    unit vectors), leaving out the papers themselves and ``exclude``."""
    if not paper_ids:
        return []
    with indexes.database.connect() as conn:
        resolved = list(paper_store.resolve_ids(conn, list(paper_ids)).values())
    vectors = paper_vectors(indexes, resolved)
    if not vectors:
        return []
    centroid = np.sum(np.stack(list(vectors.values())), axis=0)
    norm = float(np.linalg.norm(centroid))
    if norm < 1e-9:  # vectors cancel out: no direction to follow
        return []
    return _neighbours(indexes, centroid / norm, k, set(resolved) | set(exclude))
