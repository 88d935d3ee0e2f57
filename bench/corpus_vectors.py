"""Compute (once) the vectors of the real corpus, for the benchmarks and feed evals.

    nice -n 10 .venv/bin/python bench/corpus_vectors.py [--max-tokens 128]

Writes, beside this file (bench/cache/, not in git):
  arxiv-cs-2025.<tag>.npy       float32 (N, 384), L2-normalized; row i embeds line i
  arxiv-cs-2025.<tag>.ids.txt   the paper id of each row, one per line
where <tag> is e.g. "minilm-int8-128". Text embedded: document_text(title, abstract).
Work is saved in parts under bench/cache/parts-<tag>/, so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

import numpy as np

from paperfeed.index.embedder import PACKAGED_MINILM, document_text, load_embedder

HERE = Path(__file__).resolve().parent
CACHE = HERE / "cache"
CORPUS = HERE.parent.parent / "shared" / "data" / "arxiv-cs-2025.jsonl.gz"
PART = 2048


def cache_paths(max_tokens: int) -> tuple[Path, Path]:
    tag = f"minilm-int8-{max_tokens}"
    return CACHE / f"arxiv-cs-2025.{tag}.npy", CACHE / f"arxiv-cs-2025.{tag}.ids.txt"


def read_corpus(path: Path = CORPUS) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def load_cache(max_tokens: int = 128) -> tuple[list[str], np.ndarray]:
    """(ids, vectors) of the cache; while the run is unfinished, of its finished
    leading parts (ids in corpus order)."""
    vectors_path, ids_path = cache_paths(max_tokens)
    if vectors_path.is_file():
        ids = ids_path.read_text(encoding="utf-8").split("\n")[:-1]
        return ids, np.load(vectors_path, mmap_mode="r")
    parts = CACHE / f"parts-minilm-int8-{max_tokens}"
    chunks = []
    while (parts / f"{len(chunks) * PART:07d}.npy").is_file():
        chunks.append(np.load(parts / f"{len(chunks) * PART:07d}.npy"))
    if not chunks:
        raise FileNotFoundError(f"no corpus vectors yet: run bench/corpus_vectors.py ({parts})")
    matrix = np.concatenate(chunks)
    with gzip.open(CORPUS, "rt", encoding="utf-8") as handle:
        ids = [json.loads(line)["id"] for _, line in zip(range(len(matrix)), handle, strict=False)]
    return ids, matrix


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args()
    vectors_path, ids_path = cache_paths(args.max_tokens)
    parts = CACHE / f"parts-minilm-int8-{args.max_tokens}"
    parts.mkdir(parents=True, exist_ok=True)
    records = read_corpus(args.corpus)
    texts = [document_text(r["title"], r["abstract"]) for r in records]
    embedder = load_embedder(PACKAGED_MINILM, max_tokens=args.max_tokens)
    started = time.perf_counter()
    done_now = 0
    for start in range(0, len(texts), PART):
        part = parts / f"{start:07d}.npy"
        if part.exists():
            continue
        vectors = embedder.embed_documents(texts[start : start + PART])
        np.save(part.with_suffix(".tmp.npy"), vectors)
        part.with_suffix(".tmp.npy").rename(part)
        done_now += len(vectors)
        rate = done_now / (time.perf_counter() - started)
        print(f"{start + len(vectors)}/{len(texts)}  {rate:.1f} abstracts/s", flush=True)
    matrix = np.concatenate([np.load(parts / f"{s:07d}.npy") for s in range(0, len(texts), PART)])
    np.save(vectors_path, matrix.astype(np.float32))
    ids_path.write_text("".join(r["id"] + "\n" for r in records), encoding="utf-8")
    print(f"wrote {vectors_path} {matrix.shape}")


if __name__ == "__main__":
    main()
