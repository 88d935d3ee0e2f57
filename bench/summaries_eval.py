"""Keyphrase and TL;DR quality against 50 hand-labelled papers (issue 24).

    python bench/summaries_eval.py [--labels tests/data/summaries_labels.jsonl]

The labels (tests/data/summaries_labels.jsonl; how they were made: docs/summaries.md)
hold, per paper, the abstract's key contribution sentence and 3-5 keyphrases.

Keyphrases, F1@5: the first five predicted phrases against the gold ones.
Matching rule: both sides lower-cased, hyphens and slashes read as spaces,
every word Porter-stemmed (the ``rouge-score`` package's stemmer); "exact" counts
a prediction that equals a gold phrase word for word, "partial" one that
equals, contains or is contained in a gold phrase as a whole-word sequence.
Each gold phrase is matched at most once.

TL;DR: ROUGE-L F1 (rouge-score, stemmed) of the chosen sentence against the
gold sentence, and exact-sentence accuracy (the same sentence, whitespace
aside).

Methods: keyphrases from tf-idf top terms (the same candidates, idf over 20,000
abstracts of the corpus), YAKE (the ``yake`` package, n <= 3), KeyBERT-style
with each candidate embedded on its own (what KeyBERT does), and the shipped
method (index/teasers.py: candidates pooled from the document's token states,
MMR). TL;DR from the first sentence, the last sentence, centrality alone, the
shipped centrality + cues (pooled), and the same over separately embedded
sentences. Also prints the CPU time each embedding variant costs per paper.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from rouge_score import rouge_scorer

from paperfeed.config import Settings
from paperfeed.index import teasers as T
from paperfeed.index.embedder import get_embedder
from paperfeed.models import document_text

HERE = Path(__file__).resolve().parent
LABELS = HERE.parent / "tests/data/summaries_labels.jsonl"
CORPUS = HERE.parent.parent / "shared/data/arxiv-cs-2025.jsonl.gz"

try:
    from nltk.stem import porter

    _STEMMER = porter.PorterStemmer()
except ImportError:  # rouge-score depends on nltk; kept for a clear message
    raise SystemExit("bench/summaries_eval.py needs rouge-score (and its nltk)") from None


def norm_phrase(phrase: str) -> tuple[str, ...]:
    words = re.findall(r"[a-z0-9]+", phrase.lower().replace("-", " ").replace("/", " "))
    return tuple(_STEMMER.stem(w) for w in words)


def _contains(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    return any(a[i : i + len(b)] == b for i in range(len(a) - len(b) + 1))


def f1_at_5(predicted: Sequence[str], gold: Sequence[str], partial: bool) -> float:
    pred = [norm_phrase(p) for p in predicted[:5]]
    gold_n = [norm_phrase(g) for g in gold]
    used: set[int] = set()
    hits = 0
    for p in pred:
        for j, g in enumerate(gold_n):
            if j in used or not p or not g:
                continue
            if p == g or (partial and (_contains(p, g) or _contains(g, p))):
                used.add(j)
                hits += 1
                break
    if not hits:
        return 0.0
    precision, recall = hits / max(len(pred), 1), hits / len(gold_n)
    return 2 * precision * recall / (precision + recall)


def load_labels(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def document_frequencies(n: int = 20_000) -> tuple[Counter[str], int]:
    rows = []
    with gzip.open(CORPUS, "rt", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            rows.append(document_text(d.get("title"), d.get("abstract")))
    sample = random.Random(0).sample(rows, min(n, len(rows)))
    df: Counter[str] = Counter()
    for text in sample:
        df.update({c.key for c in T.candidates(text)})
    return df, len(sample)


def tfidf_keyphrases(text: str, df: Counter[str], n_docs: int) -> list[str]:
    found = T.candidates(text)
    scored = sorted(
        found,
        key=lambda c: -len(c.spans) * math.log((n_docs + 1) / (df.get(c.key, 0) + 1)),
    )
    return [c.surface for c in scored[:5]]


def yake_keyphrases(text: str) -> list[str]:
    import yake

    extractor = yake.KeywordExtractor(lan="en", n=3, top=5, dedup_lim=0.7)
    return [k for k, _ in extractor.extract_keywords(text)][:5]


def sentences(abstract: str) -> list[str]:
    return [abstract[s:e] for s, e in T.split_sentences(abstract)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--labels", type=Path, default=LABELS)
    args = parser.parse_args()
    labels = load_labels(args.labels)
    embedder = get_embedder(Settings())
    print(f"{len(labels)} labelled papers; embedder {embedder.model_id}")
    df, n_docs = document_frequencies()

    titles = [d["title"] for d in labels]
    abstracts = [d["abstract"] for d in labels]
    texts = [document_text(t, a) for t, a in zip(titles, abstracts, strict=True)]
    starts = [T.abstract_start(t, a) for t, a in zip(titles, abstracts, strict=True)]

    # Token states of each document's one forward pass, kept for the variants.
    states: dict[int, tuple[np.ndarray, list[tuple[int, int]]]] = {}

    def keep(i: int, s: np.ndarray, offsets: Sequence[tuple[int, int]]) -> None:
        states[i] = (s.copy(), list(offsets))

    cpu = time.process_time()
    doc_vectors = embedder.embed_with_tokens(texts, keep)
    assert doc_vectors is not None, "the packaged ONNX embedder hands out token states"
    plain_cpu = time.process_time() - cpu

    cpu = time.process_time()
    shipped_vectors, shipped = T.embed_with_teasers(embedder, titles, abstracts)
    shipped_cpu = time.process_time() - cpu
    np.testing.assert_allclose(shipped_vectors, doc_vectors, atol=1e-5)

    def pooled(i: int) -> T.PooledSpans:
        return T.PooledSpans(*states[i])

    def embedded(i: int) -> T.EmbeddedSpans:
        return T.EmbeddedSpans(embedder.embed_documents, texts[i])

    cpu = time.process_time()
    keybert = [
        T.extract(texts[i], starts[i], doc_vectors[i], embedded(i)) for i in range(len(texts))
    ]
    keybert_cpu = time.process_time() - cpu

    kp_methods: dict[str, Callable[[int], list[str]]] = {
        "tf-idf top terms (baseline)": lambda i: tfidf_keyphrases(texts[i], df, n_docs),
        "YAKE (yake 0.7.3, n<=3)": lambda i: yake_keyphrases(texts[i]),
        "KeyBERT-style, candidates embedded separately, MMR": lambda i: keybert[i].keyphrases,
        "KeyBERT-style, pooled token states, MMR (shipped)": lambda i: shipped[i].keyphrases,
    }
    print("\n| keyphrases | F1@5 exact | F1@5 partial |")
    print("|---|---|---|")
    for name, fn in kp_methods.items():
        predicted = [fn(i) for i in range(len(labels))]
        exact = np.mean(
            [f1_at_5(p, d["keyphrases"], False) for p, d in zip(predicted, labels, strict=True)]
        )
        part = np.mean(
            [f1_at_5(p, d["keyphrases"], True) for p, d in zip(predicted, labels, strict=True)]
        )
        print(f"| {name} | {exact:.3f} | {part:.3f} |")

    def centrality_only(i: int) -> str:
        spans = T.split_sentences(texts[i][starts[i] :])
        shifted = [(starts[i] + s, starts[i] + e) for s, e in spans]
        vectors, _ = pooled(i)(shifted)
        return texts[i][slice(*shifted[int(np.argmax(vectors @ doc_vectors[i]))])]

    def cue_only(i: int) -> str:
        sents = sentences(abstracts[i])
        scores = [T.sentence_score(s, j) for j, s in enumerate(sents)]
        return sents[int(np.argmax(scores))]  # first of the best: the earliest cue

    tl_methods: dict[str, Callable[[int], str]] = {
        "first sentence (baseline)": lambda i: sentences(abstracts[i])[0],
        "last sentence (baseline)": lambda i: sentences(abstracts[i])[-1],
        "first contribution cue": cue_only,
        "centrality to the abstract, pooled": centrality_only,
        "centrality + cues, sentences embedded separately": lambda i: keybert[i].tldr,
        "centrality + cues, pooled token states (shipped)": lambda i: shipped[i].tldr,
    }
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    print("\n| TL;DR | ROUGE-L F1 | exact sentence |")
    print("|---|---|---|")
    for name, fn in tl_methods.items():
        chosen = [fn(i) for i in range(len(labels))]
        rouge = np.mean(
            [
                scorer.score(d["tldr"], c)["rougeL"].fmeasure
                for c, d in zip(chosen, labels, strict=True)
            ]
        )
        exact = np.mean(
            [
                " ".join(c.split()) == " ".join(d["tldr"].split())
                for c, d in zip(chosen, labels, strict=True)
            ]
        )
        print(f"| {name} | {rouge:.3f} | {exact:.2f} |")

    n = len(labels)
    print(
        f"\nCPU per paper: embedding alone {1000 * plain_cpu / n:.1f} ms; "
        f"embedding + pooled teasers {1000 * shipped_cpu / n:.1f} ms; "
        f"separately embedded candidates and sentences, extra {1000 * keybert_cpu / n:.1f} ms"
    )


if __name__ == "__main__":
    main()
