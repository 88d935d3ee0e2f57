"""Small builders for tests."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from paperfeed.models import Paper


def make_paper(paper_id: str = "2501.00001", **fields: Any) -> Paper:
    values: dict[str, Any] = {
        "title": f"A paper about {paper_id}",
        "abstract": f"We study {paper_id} and report results.",
        "authors": ["Ada Lovelace", "Alan Turing"],
        "categories": ["cs.LG"],
        "source": "test",
    }
    values.update(fields)
    return Paper(id=paper_id, **values)


def real_records(path: Path, count: int) -> Iterator[dict[str, Any]]:
    """The first ``count`` records of a (gzipped) JSON-lines file."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for i, line in enumerate(handle):
            if i >= count:
                return
            yield json.loads(line)


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def unit_vectors(rng: np.random.Generator, n: int, dim: int = 16) -> np.ndarray:
    """``n`` random unit vectors of ``dim`` dimensions."""
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def seed_papers_with_vectors(
    db: Any, n: int, *, model: str, dim: int = 16, seed: int = 0
) -> dict[str, np.ndarray]:
    """n papers in the database, each with a random unit vector stored for ``model``."""
    from paperfeed.db import embeddings as vector_store
    from paperfeed.db import papers as paper_store
    from paperfeed.ingest.pipeline import ingest

    ids = [f"2501.{i:05d}" for i in range(n)]
    ingest(db, [make_paper(i) for i in ids])
    vectors = unit_vectors(np.random.default_rng(seed), n, dim)
    with db.begin() as conn:
        hashes = {r["id"]: r["text_hash"] for r in paper_store.get_papers(conn, ids).values()}
        vector_store.store_vectors(
            conn, model, [(i, hashes[i], vectors[k]) for k, i in enumerate(ids)]
        )
    return dict(zip(ids, vectors, strict=True))
