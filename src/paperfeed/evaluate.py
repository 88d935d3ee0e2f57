"""``paperfeed eval``: retrieval quality on a BEIR-format dataset.

Everything runs in a temporary directory: a fresh lexical index of the
dataset's corpus, exact dense search over its embeddings, and the same
``search.rank``/``search.fuse`` code the product uses. The metrics are
ir-measures' standard definitions (nDCG@10 with graded gains, Recall@100,
MRR@10 as RR@10), averaged over the queries that have judgments.

``--tune`` grid-searches the fusion weight with two-fold cross-validation on
halves of the queries (split by a hash of the query id), so the reported
"held-out" figure is never measured on the queries that chose the weight.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ir_measures
import numpy as np
from ir_measures import RR, R, nDCG
from rich.console import Console
from rich.table import Table

from paperfeed.config import Settings
from paperfeed.index.contracts import DEFAULT_WEIGHTS, FieldWeights, Filters, LexicalIndex
from paperfeed.index.lexical import TantivyIndex, shards_for
from paperfeed.query import And, Clauses, Node, Or, QueryError, parse
from paperfeed.search import DEFAULT_FUSION, Fusion, Ranked, fuse, rank

MEASURES = [nDCG @ 10, R @ 100, RR @ 10]
DEPTH = 100


class EvalError(ValueError):
    """A dataset that cannot be read; the message names the file and line."""


@dataclass
class BeirData:
    name: str
    split: str
    corpus: dict[str, dict[str, str]]  # doc id -> {"title", "text"}
    queries: dict[str, str]  # only queries that have judgments in the split
    qrels: dict[str, dict[str, int]]  # query id -> doc id -> relevance


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise EvalError(f"{path}: no such file (a BEIR dataset needs it)")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EvalError(f"{path}:{number}: not JSON ({exc.msg})") from exc
            if not isinstance(record, dict) or "_id" not in record:
                raise EvalError(f'{path}:{number}: a record needs an "_id"')
            yield number, record


def load_beir(directory: Path, split: str | None = None) -> BeirData:
    qrels_dir = directory / "qrels"
    splits = sorted(p.stem for p in qrels_dir.glob("*.tsv")) if qrels_dir.is_dir() else []
    if not splits:
        raise EvalError(f"{qrels_dir}: no qrels/*.tsv files")
    if split is None:
        split = "test" if "test" in splits else splits[0] if len(splits) == 1 else ""
        if not split:
            raise EvalError(f"several splits ({', '.join(splits)}): choose one with --split")
    if split not in splits:
        raise EvalError(f"no split {split!r} in {qrels_dir} (there is {', '.join(splits)})")
    corpus = {
        str(r["_id"]): {"title": str(r.get("title") or ""), "text": str(r.get("text") or "")}
        for _, r in _jsonl(directory / "corpus.jsonl")
    }
    all_queries = {
        str(r["_id"]): str(r.get("text") or "") for _, r in _jsonl(directory / "queries.jsonl")
    }
    qrels: dict[str, dict[str, int]] = {}
    qrels_path = qrels_dir / f"{split}.tsv"
    with qrels_path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.rstrip("\n").split("\t")
            if number == 1 and parts[0].lower().startswith("query"):
                continue  # the header
            if not line.strip():
                continue
            if len(parts) != 3:
                raise EvalError(f"{qrels_path}:{number}: expected query-id, corpus-id, score")
            try:
                relevance = int(float(parts[2]))
            except ValueError as exc:
                raise EvalError(
                    f"{qrels_path}:{number}: score {parts[2]!r} is not a number"
                ) from exc
            qrels.setdefault(parts[0], {})[parts[1]] = relevance
    missing = [q for q in qrels if q not in all_queries]
    if missing:
        raise EvalError(f"{qrels_path}: query {missing[0]!r} is not in queries.jsonl")
    queries = {q: all_queries[q] for q in qrels}
    return BeirData(directory.name, split, corpus, queries, qrels)


# ---------------------------------------------------------------- runs and metrics


def evaluate_run(qrels: dict[str, dict[str, int]], run: dict[str, Ranked]) -> dict[str, float]:
    """Mean metrics of a run. Scores become rank-based so ties cannot reorder
    what the ranking function decided."""
    qrel_rows = [
        ir_measures.Qrel(q, d, rel) for q, docs in qrels.items() for d, rel in docs.items()
    ]
    run_rows = [
        ir_measures.ScoredDoc(q, doc_id, float(len(ranked) - position))
        for q, ranked in run.items()
        for position, (doc_id, _score) in enumerate(ranked)
    ]
    # The mean over every judged query: one with no results counts as zero.
    totals = {str(m): 0.0 for m in MEASURES}
    for metric in ir_measures.iter_calc(MEASURES, qrel_rows, run_rows):
        if metric.query_id in qrels:
            totals[str(metric.measure)] += float(metric.value)
    return {name: value / len(qrels) if qrels else 0.0 for name, value in totals.items()}


def _all_required(node: Node | None) -> Node | None:
    """The query with AND as the default operator (evaluated against OR)."""
    if isinstance(node, Clauses):
        kids = tuple(k for k in (_all_required(c) for c in node.must + node.should) if k)
        return Clauses(must=kids, should=(), must_not=node.must_not)
    if isinstance(node, And | Or):
        return type(node)(tuple(k for k in (_all_required(c) for c in node.children) if k))
    return node


def lexical_run(
    index: LexicalIndex,
    queries: dict[str, str],
    weights: FieldWeights = DEFAULT_WEIGHTS,
    *,
    default_and: bool = False,
) -> dict[str, Ranked]:
    run: dict[str, Ranked] = {}
    for qid, text in queries.items():
        try:
            parsed = parse(text)
        except QueryError:
            run[qid] = []
            continue
        if default_and:
            parsed.root = _all_required(parsed.root)
        run[qid] = rank(
            index, parsed, Filters(), dense=None, mode="lexical", weights=weights, depth=DEPTH
        ).ranked
    return run


def fused_run(
    lex: dict[str, Ranked], dense: dict[str, Ranked], fusion: Fusion
) -> dict[str, Ranked]:
    return {q: fuse(lex.get(q, []), dense.get(q, []), fusion)[:DEPTH] for q in lex}


def fts5_baseline_run(data: BeirData) -> dict[str, Ranked]:
    """The plain baseline: SQLite FTS5 with the porter tokenizer and its default
    BM25 over title and text, words OR-ed (what the issue's reference used)."""
    import re
    import sqlite3

    con = sqlite3.connect(":memory:")
    con.execute("CREATE VIRTUAL TABLE d USING fts5(id UNINDEXED, title, text, tokenize=porter)")
    con.executemany(
        "INSERT INTO d VALUES (?, ?, ?)",
        [(i, doc["title"], doc["text"]) for i, doc in data.corpus.items()],
    )
    run: dict[str, Ranked] = {}
    for qid, text in data.queries.items():
        words = re.findall(r"\w+", text)
        if not words:
            run[qid] = []
            continue
        match = " OR ".join(f'"{w}"' for w in words)
        rows = con.execute(
            "SELECT id, bm25(d) FROM d WHERE d MATCH ? ORDER BY bm25(d) LIMIT ?", (match, DEPTH)
        ).fetchall()
        run[qid] = [(doc_id, -score) for doc_id, score in rows]  # FTS5's bm25 is negated
    con.close()
    return run


# ---------------------------------------------------------------- dense side


def _embedder(settings: Settings) -> Any | None:
    try:
        from paperfeed.index.embedder import get_embedder
    except ImportError:
        return None
    return get_embedder(settings)


def _dense_text(text: str) -> str:
    """What search() embeds for a query: its free text (no operators, fields
    that are not text, or exclusions); the raw text if it cannot be parsed."""
    try:
        return parse(text).free_text or text
    except QueryError:
        return text


def dense_run(
    data: BeirData,
    settings: Settings,
    embedder: Any,
    *,
    cache_dir: Path | None,
    progress: Callable[[str], None],
) -> dict[str, Ranked]:
    """Exact (brute-force) cosine search: the dense figure is the model's, not
    an ANN approximation's."""
    ids = list(data.corpus)
    from paperfeed.index.embedder import document_text  # the product's text for a paper

    texts = [document_text(d["title"], d["text"]) for d in data.corpus.values()]
    # The model id names the model, its truncation and (derived model) recipe:
    # any of them changes the vectors, so the cache key must see them all.
    model = getattr(embedder, "model_id", settings.embed_model)
    key = hashlib.sha256(("\n".join(ids) + "\x00".join(texts) + str(model)).encode()).hexdigest()[
        :16
    ]
    cached = cache_dir / f"{data.name}-{key}.npy" if cache_dir else None
    if cached is not None and cached.is_file():
        matrix = np.load(cached)
    else:
        started = time.perf_counter()
        matrix = np.asarray(embedder.embed_documents(texts), dtype=np.float32)
        progress(f"embedded {len(texts):,} documents in {time.perf_counter() - started:.0f}s")
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            np.save(cached, matrix)
    qids = list(data.queries)
    qmat = np.asarray(embedder.embed_queries([_dense_text(data.queries[q]) for q in qids]))
    scores = qmat @ matrix.T
    run: dict[str, Ranked] = {}
    for row, qid in enumerate(qids):
        top = np.argpartition(-scores[row], min(DEPTH, len(ids) - 1))[:DEPTH]
        top = top[np.argsort(-scores[row][top])]
        run[qid] = [(ids[i], float(scores[row][i])) for i in top]
    return run


# ---------------------------------------------------------------- the whole evaluation


def _halves(queries: dict[str, str]) -> tuple[set[str], set[str]]:
    a = {q for q in queries if int(hashlib.sha256(q.encode()).hexdigest(), 16) % 2 == 0}
    return a, set(queries) - a


def _subset(qrels: dict[str, dict[str, int]], keep: set[str]) -> dict[str, dict[str, int]]:
    return {q: d for q, d in qrels.items() if q in keep}


FUSION_GRID = [
    *(Fusion("convex", "zscore", a / 10) for a in range(1, 10)),
    *(Fusion("convex", "minmax", a / 10) for a in range(1, 10)),
    *(Fusion("rrf", "zscore", a / 10, 60) for a in range(1, 10)),
]


def run_eval(
    data: BeirData,
    settings: Settings,
    *,
    dense: bool = True,
    tune: bool = False,
    console: Console | None = None,
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    say = (lambda msg: console.print(msg)) if console else (lambda msg: None)
    report: dict[str, Any] = {
        "dataset": data.name,
        "split": data.split,
        "documents": len(data.corpus),
        "queries": len(data.queries),
        # As many keyword shards as the product would build for this corpus
        # (PAPERFEED_LEXICAL_SHARDS=2 measures what splitting costs in quality).
        "lexical_shards": shards_for(len(data.corpus), settings.lexical_shards),
        "systems": {},
    }
    systems: dict[str, dict[str, float]] = report["systems"]
    with tempfile.TemporaryDirectory(prefix="paperfeed-eval-") as tmp:
        index = TantivyIndex(Path(tmp) / "lexical", report["lexical_shards"])
        started = time.perf_counter()
        index.add(
            {
                "id": doc_id,
                "title": d["title"],
                "abstract": d["text"],
                "authors": [],
                "categories": [],
            }
            for doc_id, d in data.corpus.items()
        )
        say(f"indexed {len(data.corpus):,} documents in {time.perf_counter() - started:.1f}s")
        lex = lexical_run(index, data.queries)
        systems["lexical"] = evaluate_run(data.qrels, lex)
        if tune:
            for title in (0.0, 0.5, 1.0):
                w = replace(DEFAULT_WEIGHTS, title=title)
                systems[f"lexical title^{title:g}"] = evaluate_run(
                    data.qrels, lexical_run(index, data.queries, w)
                )
            systems["lexical AND"] = evaluate_run(
                data.qrels, lexical_run(index, data.queries, default_and=True)
            )
        baseline = fts5_baseline_run(data) if tune else {}
        if tune:
            systems["baseline: FTS5 porter BM25"] = evaluate_run(data.qrels, baseline)
        embedder = _embedder(settings) if dense else None
        if dense and embedder is None:
            say("[yellow]no embedder installed: dense and hybrid skipped[/]")
        if embedder is not None:
            den = dense_run(data, settings, embedder, cache_dir=cache_dir, progress=say)
            systems["dense"] = evaluate_run(data.qrels, den)
            systems["hybrid"] = evaluate_run(data.qrels, fused_run(lex, den, DEFAULT_FUSION))
            systems["rrf (k=60)"] = evaluate_run(
                data.qrels, fused_run(lex, den, Fusion("rrf", "zscore", 0.5, 60))
            )
            systems["min-max 0.5"] = evaluate_run(
                data.qrels, fused_run(lex, den, Fusion("convex", "minmax", 0.5))
            )
            report["default_fusion"] = DEFAULT_FUSION.__dict__
            if tune:
                for name, fusion in (
                    ("rrf (k=60)", Fusion("rrf", "zscore", 0.5, 60)),
                    ("min-max 0.5", Fusion("convex", "minmax", 0.5)),
                ):
                    systems[f"baseline: FTS5 + dense, {name}"] = evaluate_run(
                        data.qrels, fused_run(baseline, den, fusion)
                    )
                report["tuning"] = _cross_validate(data, lex, den)
    return report


def _cross_validate(
    data: BeirData, lex: dict[str, Ranked], den: dict[str, Ranked]
) -> dict[str, Any]:
    halves = _halves(data.queries)
    folds = []
    for pick, hold in (halves, halves[::-1]):
        scored = []
        for fusion in FUSION_GRID:
            run = fused_run(lex, den, fusion)
            scored.append((evaluate_run(_subset(data.qrels, pick), run)["nDCG@10"], fusion))
        best_score, best = max(scored, key=lambda t: t[0])
        held = evaluate_run(_subset(data.qrels, hold), fused_run(lex, den, best))["nDCG@10"]
        folds.append({"chosen": best.__dict__, "tuned_on": best_score, "held_out": held})
    full = sorted(
        ((evaluate_run(data.qrels, fused_run(lex, den, f))["nDCG@10"], f) for f in FUSION_GRID),
        key=lambda t: -t[0],
    )
    return {
        "folds": folds,
        "grid": [{"nDCG@10": round(s, 4), **f.__dict__} for s, f in full],
    }


def print_report(report: dict[str, Any]) -> None:
    console = Console()
    table = Table(
        title=f"{report['dataset']} ({report['split']}): {report['queries']} queries, "
        f"{report['documents']:,} documents"
        + (f", {report['lexical_shards']} keyword shards" if report["lexical_shards"] > 1 else "")
    )
    table.add_column("system")
    for m in MEASURES:
        table.add_column(str(m), justify="right")
    for name, values in report["systems"].items():
        table.add_row(name, *(f"{values[str(m)]:.4f}" for m in MEASURES))
    console.print(table)
    if "default_fusion" in report:
        console.print(f"hybrid = {report['default_fusion']}")
    tuning = report.get("tuning")
    if tuning:
        for n, fold in enumerate(tuning["folds"], start=1):
            console.print(
                f"fold {n}: chose {fold['chosen']} (nDCG@10 {fold['tuned_on']:.4f} on its half), "
                f"held-out half {fold['held_out']:.4f}"
            )
        console.print("best on all queries:")
        for row in tuning["grid"][:8]:
            console.print(f"  {row}")
