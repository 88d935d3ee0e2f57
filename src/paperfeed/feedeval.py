"""The researcher-feed benchmark behind ``paperfeed eval-feed`` (docs/feed-eval.md).

A simulated reader is an author; their library is their papers listed before
an evaluation day; the feed of that day (every paper listed on it) is ranked
in full; the relevant papers are the author's own papers of that day.

Author-blind: every author name is replaced by an opaque pseudonym before any
ranker sees a paper, and the rankers read only title, abstract and categories.
Authors are used for one thing: deciding which papers are relevant.

Two rankers are scored in the same run, on the same user-days:
- ``baseline``: arxiv-sanity-lite's method: tf-idf of 1-2 grams over the whole
  corpus, a LinearSVC (C=0.01, balanced classes) per reader with the library
  as positives and every other paper listed before the day as negatives;
- ``paperfeed``: the personal model of ``paperfeed.recommend``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Corpus:
    ids: list[str]
    titles: list[str]
    abstracts: list[str]
    categories: list[list[str]]
    days: np.ndarray  # listing date as an ordinal, per paper
    authors: list[list[str]]  # pseudonyms
    comments: list[str] = field(default_factory=list)  # arXiv comments ("" for none)
    index: dict[str, int] = field(default_factory=dict)

    def texts(self) -> list[str]:
        """Title and abstract: what arxiv-sanity-lite reads."""
        return [f"{t}. {a}" for t, a in zip(self.titles, self.abstracts, strict=True)]

    def rows(self, rows: Sequence[int] | np.ndarray) -> list[dict[str, str]]:
        """Papers as the product reads them (``paperfeed.recommend.Vocabulary``)."""
        return [
            {
                "title": self.titles[int(r)],
                "abstract": self.abstracts[int(r)],
                "comment": self.comments[int(r)] if self.comments else "",
            }
            for r in rows
        ]


@dataclass(frozen=True)
class UserDay:
    author: str  # pseudonym
    day: int  # ordinal
    library: tuple[int, ...]  # row indexes, listed before ``day``
    relevant: tuple[int, ...]  # row indexes, listed on ``day``


def pseudonym(name: str, salt: str) -> str:
    return "author-" + hashlib.sha256(f"{salt}:{name}".encode()).hexdigest()[:12]


def _records(path: Path) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:  # type: ignore[operator]
        for line in handle:
            if line.strip():
                yield json.loads(line)


def load_corpus(
    path: Path, *, salt: str = "feed-eval", since: date | None = None, until: date | None = None
) -> Corpus:
    """The corpus (the papers listed in [since, until] when given),
    author-blind: names replaced by pseudonyms, and any occurrence of an
    author's full name in title or abstract masked too."""
    ids, titles, abstracts, cats, days, authors, comments = [], [], [], [], [], [], []
    for record in _records(path):
        listed = (record.get("listing_date") or "")[:10]
        if not listed or (since and listed < since.isoformat()):
            continue
        if until and listed > until.isoformat():
            continue
        names = [n.strip() for n in record.get("authors") or [] if n.strip()]
        title, abstract = record["title"], record["abstract"]
        comment = record.get("comment") or ""
        for name in names:
            if len(name) > 5:
                title, abstract, comment = (
                    text.replace(name, "[author]") for text in (title, abstract, comment)
                )
        ids.append(record["id"])
        titles.append(" ".join(title.split()))
        abstracts.append(" ".join(abstract.split()))
        comments.append(" ".join(comment.split()))
        cats.append([c for c in record.get("categories") or [] if "." in c and " " not in c])
        days.append(date.fromisoformat(record["listing_date"][:10]).toordinal())
        authors.append([pseudonym(n, salt) for n in names])
    corpus = Corpus(ids, titles, abstracts, cats, np.asarray(days), authors, comments)
    corpus.index = {pid: i for i, pid in enumerate(ids)}
    return corpus


def _rows_by_author(corpus: Corpus) -> dict[str, list[int]]:
    by_author: dict[str, list[int]] = defaultdict(list)
    for row, names in enumerate(corpus.authors):
        for name in names:
            by_author[name].append(row)
    return by_author


def build_user_days(
    corpus: Corpus,
    *,
    days: int = 30,
    users: int = 300,
    min_library: int = 2,
    max_library: int = 50,
    seed: int = 13,
    small_fields: float = 0.0,
) -> list[UserDay]:
    """Sample evaluation days from the later 60% of the corpus, then user-days:
    (author, day) pairs where the author has papers that day and at least
    ``min_library`` papers listed before it (the most recent ``max_library``)."""
    rng = random.Random(seed)
    all_days = sorted(set(corpus.days.tolist()))
    later = all_days[int(len(all_days) * 0.4) :]
    chosen_days = sorted(rng.sample(later, min(days, len(later))))
    by_author = _rows_by_author(corpus)
    candidates: list[UserDay] = []
    chosen = set(chosen_days)
    for author, rows in by_author.items():
        if len(rows) <= min_library:
            continue
        on_days: dict[int, list[int]] = defaultdict(list)
        for row in rows:
            if int(corpus.days[row]) in chosen:
                on_days[int(corpus.days[row])].append(row)
        for day, relevant in on_days.items():
            library = sorted(
                (r for r in rows if corpus.days[r] < day), key=lambda r: (corpus.days[r], r)
            )
            if len(library) >= min_library:
                candidates.append(
                    UserDay(author, day, tuple(library[-max_library:]), tuple(sorted(relevant)))
                )
    candidates.sort(key=lambda u: (u.day, u.author))
    if small_fields > 0:
        # Readers whose field is not one of the instance's big ones: their
        # paper must stand out in a pool mostly of other fields.
        small = [u for u in candidates if main_field(corpus, u) not in BIG_FIELDS]
        big = [u for u in candidates if main_field(corpus, u) in BIG_FIELDS]
        n_small = min(len(small), round(users * small_fields))
        candidates = rng.sample(small, n_small) + rng.sample(big, min(len(big), users - n_small))
    elif len(candidates) > users:
        candidates = rng.sample(candidates, users)
    return sorted(candidates, key=lambda u: (u.day, u.author))


BIG_FIELDS = frozenset({"cs.CV", "cs.CL", "cs.AI", "cs.LG"})


def month_user_days(
    full: Corpus, since: date, until: date, *, readers: int, seed: int = 13, library: int = 5
) -> tuple[Corpus, list[UserDay]]:
    """The third setting's instance and user-days: every paper listed in
    [since, until] (a month) as the pools, and ``readers`` authors sampled
    among those with a paper then and 2+ earlier ones, each with every
    user-day of theirs and their ``library`` latest earlier papers, wherever
    in the corpus those are. The instance is the month plus those libraries,
    so a library can be far older than the instance's listing."""
    first, last = since.toordinal(), until.toordinal()
    by_author = _rows_by_author(full)
    per_author: dict[str, list[tuple[int, tuple[int, ...], tuple[int, ...]]]] = {}
    for author, rows in by_author.items():
        for day in sorted({int(full.days[r]) for r in rows if first <= full.days[r] <= last}):
            earlier = sorted(
                (r for r in rows if full.days[r] < day), key=lambda r: (full.days[r], r)
            )
            if len(earlier) >= 2:
                relevant = tuple(sorted(r for r in rows if full.days[r] == day))
                per_author.setdefault(author, []).append((day, tuple(earlier[-library:]), relevant))
    chosen = random.Random(seed).sample(sorted(per_author), min(readers, len(per_author)))
    keep = set(np.flatnonzero((full.days >= first) & (full.days <= last)).tolist())
    for author in chosen:
        for _, kept, _ in per_author[author]:
            keep.update(kept)
    rows = sorted(keep, key=lambda r: (full.days[r], r))
    new = {old: i for i, old in enumerate(rows)}
    corpus = Corpus(
        [full.ids[r] for r in rows],
        [full.titles[r] for r in rows],
        [full.abstracts[r] for r in rows],
        [full.categories[r] for r in rows],
        full.days[rows],
        [full.authors[r] for r in rows],
        [full.comments[r] for r in rows] if full.comments else [],
    )
    corpus.index = {pid: i for i, pid in enumerate(corpus.ids)}
    user_days = [
        UserDay(author, day, tuple(new[r] for r in kept), tuple(new[r] for r in relevant))
        for author in chosen
        for day, kept, relevant in per_author[author]
    ]
    return corpus, sorted(user_days, key=lambda u: (u.day, u.author))


def main_field(corpus: Corpus, user: UserDay) -> str:
    """The category most of the reader's library is listed under first."""
    firsts = [corpus.categories[r][0] for r in user.library if corpus.categories[r]]
    return max(sorted(set(firsts)), key=firsts.count) if firsts else ""


def size_split(user: UserDay) -> str:
    n = len(user.library)
    return "library 2-5" if n <= 5 else "library 6-20" if n <= 20 else "library 21+"


# ---------------------------------------------------------------- metrics


def metrics(ranking: Sequence[int], relevant: set[int], k: int = 10) -> dict[str, float]:
    top = ranking[:k]
    hits = [1.0 if r in relevant else 0.0 for r in top]
    recall = sum(hits) / len(relevant)
    rr = 0.0
    for position, row in enumerate(ranking, start=1):
        if row in relevant:
            rr = 1.0 / position
            break
    dcg = sum(h / math.log2(i + 2) for i, h in enumerate(hits))
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), k)))
    return {"recall@10": recall, "mrr": rr, "ndcg@10": dcg / ideal}


# ---------------------------------------------------------------- rankers

# A ranker: (user-day, rows of the day's feed) -> one score per feed row.
Ranker = Callable[[UserDay, np.ndarray], np.ndarray]


class TfidfSVMBaseline:
    """arxiv-sanity-lite's per-tag SVM (compute.py + serve.py), author-blind."""

    def __init__(self, corpus: Corpus, cache_dir: Path | None = None) -> None:
        from scipy import sparse
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.corpus = corpus
        # Fitting 1-2 grams over the corpus and one SVM per reader over every
        # earlier paper are the slow parts of a run; keep the matrix and each
        # user-day's scores (keyed by the corpus text) so a second run skips them.
        digest = hashlib.sha256("\n".join(corpus.texts()).encode()).hexdigest()[:16]
        cache = cache_dir / f"tfidf-{digest}.npz" if cache_dir else None
        self.scores_dir = cache_dir / f"baseline-{digest}" if cache_dir else None
        if cache is not None and cache.exists():
            self.x = sparse.load_npz(cache).tocsr()
            return
        vectorizer = TfidfVectorizer(
            input="content",
            encoding="utf-8",
            decode_error="replace",
            strip_accents="unicode",
            lowercase=True,
            analyzer="word",
            stop_words="english",
            token_pattern=r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b",  # noqa: S106
            ngram_range=(1, 2),
            max_features=20000,
            norm="l2",
            use_idf=True,
            smooth_idf=True,
            sublinear_tf=True,
            max_df=0.1,
            min_df=5,
        )
        self.x = vectorizer.fit_transform(corpus.texts()).tocsr()
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            sparse.save_npz(cache, self.x)

    def __call__(self, user: UserDay, feed: np.ndarray) -> np.ndarray:
        saved = None
        if self.scores_dir is not None:
            key = hashlib.sha256(json.dumps([user.day, user.library]).encode()).hexdigest()[:16]
            saved = self.scores_dir / f"{key}.npy"
            if saved.exists():
                cached: np.ndarray = np.load(saved)
                return cached
        scores = self._fit_and_score(user, feed)
        if saved is not None:
            saved.parent.mkdir(parents=True, exist_ok=True)
            np.save(saved, scores)
        return scores

    def _fit_and_score(self, user: UserDay, feed: np.ndarray) -> np.ndarray:
        from sklearn.svm import LinearSVC

        train = np.flatnonzero(self.corpus.days < user.day)
        y = np.zeros(len(train), dtype=np.int8)
        positions = np.searchsorted(train, np.asarray(user.library))
        y[positions] = 1
        clf = LinearSVC(class_weight="balanced", max_iter=10000, tol=1e-6, C=0.01)
        clf.fit(self.x[train], y)
        scores: np.ndarray = clf.decision_function(self.x[feed])
        return scores


def evaluate(
    corpus: Corpus, user_days: Sequence[UserDay], rankers: dict[str, Ranker]
) -> dict[str, dict[str, dict[str, float]]]:
    """Mean Recall@10, MRR and nDCG@10 of each ranker over the user-days, in
    all and by library size. A ranker may return a dict of named score arrays
    (variants scored from one fit)."""
    totals: dict[str, dict[str, dict[str, float]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(float))
    )
    feeds: dict[int, np.ndarray] = {}
    for user in user_days:
        feed = feeds.get(user.day)
        if feed is None:
            feed = feeds[user.day] = np.flatnonzero(corpus.days == user.day)
        relevant = set(user.relevant)
        for name, ranker in rankers.items():
            result = ranker(user, feed)
            variants = result if isinstance(result, dict) else {name: result}
            for variant, values in variants.items():
                scores = np.asarray(values, dtype=np.float64)
                # Ties broken by row, so a ranker that scores everything equal
                # gets no lucky order.
                order = np.lexsort((feed, -scores))
                for split in ("all", size_split(user)):
                    cell = totals[variant][split]
                    cell["user_days"] += 1
                    for metric, value in metrics(feed[order].tolist(), relevant).items():
                        cell[metric] += value
    return {
        variant: {
            split: {m: (v / t["user_days"] if m != "user_days" else v) for m, v in t.items()}
            for split, t in splits.items()
        }
        for variant, splits in totals.items()
    }


def needed_rows(corpus: Corpus, user_days: Sequence[UserDay]) -> np.ndarray:
    """Rows a content model must embed: every library and every evaluated day."""
    rows: set[int] = set()
    eval_days = {u.day for u in user_days}
    for user in user_days:
        rows.update(user.library)
    rows.update(np.flatnonzero(np.isin(corpus.days, list(eval_days))).tolist())
    return np.asarray(sorted(rows))


# ---------------------------------------------------------------- vectors


def load_vector_cache(vectors: Path, ids: Path) -> dict[str, np.ndarray]:
    """Precomputed corpus vectors: an (N, dim) .npy and its ids, one per line."""
    matrix = np.load(vectors, mmap_mode="r")
    names = ids.read_text(encoding="utf-8").split("\n")
    names = [n for n in names if n]
    if len(names) != matrix.shape[0]:
        raise ValueError(f"{ids} has {len(names)} ids for {matrix.shape[0]} vectors in {vectors}")
    return {pid: matrix[i] for i, pid in enumerate(names)}


def embed_rows(
    corpus: Corpus,
    rows: np.ndarray,
    embed: Callable[[list[str]], np.ndarray],
    cache_file: Path | None,
    *,
    known: dict[str, np.ndarray] | None = None,
    batch: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Vectors of these rows, shape (len(rows), dim): from ``known`` (a corpus
    cache), else from ``cache_file`` (written as we go, so a second run or an
    interrupted one reuses the work), else embedded now."""
    found: dict[str, np.ndarray] = {}
    if cache_file is not None and cache_file.exists():
        with np.load(cache_file) as saved:
            found.update(zip(saved["ids"].tolist(), saved["vectors"], strict=True))
    known = known or {}
    missing = [
        int(r) for r in rows if corpus.ids[int(r)] not in found and corpus.ids[int(r)] not in known
    ]
    texts = corpus.texts()
    for start in range(0, len(missing), batch):
        part = missing[start : start + batch]
        vectors = embed([texts[r] for r in part])
        found.update({corpus.ids[r]: vectors[i] for i, r in enumerate(part)})
        last = start + batch >= len(missing)
        if cache_file is not None and ((start // batch) % 2 == 1 or last):
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_suffix(".tmp.npz")
            np.savez(tmp, ids=np.asarray(list(found)), vectors=np.vstack(list(found.values())))
            tmp.replace(cache_file)
        if progress:
            progress(min(start + batch, len(missing)), len(missing))
    out = [known.get(corpus.ids[int(r)], found.get(corpus.ids[int(r)])) for r in rows]
    return np.vstack([v for v in out if v is not None]).astype(np.float32)


def background_rows(corpus: Corpus, size: int, seed: int = 29) -> np.ndarray:
    """A fixed random sample of the corpus: the "everything else" negatives of
    the personal model (each reader uses the part listed before their day)."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(len(corpus.ids), size=min(size, len(corpus.ids)), replace=False))


def variants() -> dict[str, Any]:
    """The product's model with other signal weights, scored from the same
    fit: Weights(words, terms, meaning, notes)."""
    from paperfeed.recommend import Weights

    return {
        "paperfeed": Weights(),
        "words only (tf-idf SVM)": Weights(1, 0, 0, 0),
        "terms only (tf-idf cosine, 2 nearest)": Weights(0, 1, 0, 0),
        "meaning only (embedding SVM)": Weights(0, 0, 1, 0),
        "notes only (comment tf-idf cosine)": Weights(0, 0, 0, 1),
        "words + terms": Weights(1, 1, 0, 0),
        "words + meaning": Weights(1, 0, 1, 0),
        "terms + meaning": Weights(0, 1, 1, 0),
        "without notes (session 17's default)": Weights(notes=0),
        "notes 0.5": Weights(notes=0.5),
    }


class ProductRanker:
    """``paperfeed.recommend``'s model on the benchmark: the tf-idf fitted the
    way the product fits it on its instance (the corpus), the library as
    positives, the background sample listed before the day as "everything
    else"; returns the score of every variant in ``variants()``."""

    def __init__(
        self, corpus: Corpus, rows: np.ndarray, vectors: np.ndarray, background: np.ndarray
    ) -> None:
        from paperfeed.recommend import fit_vocabulary
        from paperfeed.tuning import RecommendTuning

        self.corpus = corpus
        recent = np.argsort(-corpus.days, kind="stable")[: RecommendTuning().vocabulary_sample]
        vocabulary = fit_vocabulary(corpus.rows(recent))
        needed = np.union1d(rows, background)
        self.at = {int(r): i for i, r in enumerate(needed)}
        words, notes = vocabulary.transform(corpus.rows(needed))
        self.words, self.notes = words.tocsr(), notes.tocsr()
        self.dense = np.zeros((len(needed), vectors.shape[1]), np.float32)
        self.dense[[self.at[int(r)] for r in rows]] = vectors
        self.background = np.intersect1d(background, rows)  # only papers with a vector
        self.variants = variants()

    def features(self, rows: Sequence[int] | np.ndarray) -> Any:
        from paperfeed.recommend import Features

        at = [self.at[int(r)] for r in rows]
        return Features(
            [self.corpus.ids[int(r)] for r in rows],
            [{} for _ in at],
            self.words[at],
            self.dense[at],
            self.notes[at],
        )

    def __call__(self, user: UserDay, feed: np.ndarray) -> dict[str, np.ndarray]:
        from paperfeed.recommend import fit, weighted_signals

        library = set(user.library)
        bg = [r for r in self.background if self.corpus.days[r] < user.day and r not in library]
        model = fit(self.features(user.library), self.features([]), self.features(bg))
        raw, _, _ = model.signals(self.features(feed))
        return {
            name: weighted_signals(raw, weights).sum(axis=0)
            for name, weights in self.variants.items()
        }


class HttpRanker:
    """The product's default through ``POST /api/recommend`` of a running
    instance, as a client would call it: the library as positive ids, the
    day as ``since = until``; papers it does not return rank last."""

    def __init__(self, base_url: str, corpus: Corpus) -> None:
        import httpx

        self.client = httpx.Client(base_url=base_url, timeout=600)
        self.corpus = corpus

    def __call__(self, user: UserDay, feed: np.ndarray) -> np.ndarray:
        day = date.fromordinal(user.day).isoformat()
        response = self.client.post(
            "/api/recommend",
            json={
                "positive_ids": [self.corpus.ids[r] for r in user.library],
                "since": day,
                "until": day,
                "limit": 500,
            },
        )
        response.raise_for_status()
        rank = {p["paper_id"]: i for i, p in enumerate(response.json()["papers"])}
        return np.asarray(
            [-rank.get(self.corpus.ids[int(r)], len(rank) + 1) for r in feed], dtype=np.float64
        )


def _vectors(
    corpus: Corpus,
    rows: np.ndarray,
    settings: Any,
    vectors: tuple[Path, Path] | None,
    cache_dir: Path | None,
    log: Callable[[str], None],
) -> np.ndarray:
    known = load_vector_cache(*vectors) if vectors else None
    embed: Callable[[list[str]], np.ndarray]
    if known is not None and all(corpus.ids[int(r)] in known for r in rows):
        log(f"vectors: all {len(rows)} from {vectors[0] if vectors else ''}")
        embed = _no_embedder
    else:
        from paperfeed.index.embedder import get_embedder

        embedder = get_embedder(settings)
        embed = embedder.embed_documents
        log(f"vectors: embedding up to {len(rows)} papers with {embedder.model_id} (cached)")
    cache_file = None
    if cache_dir is not None:
        from paperfeed.index.embedder import current_model_id

        tag = hashlib.sha256(current_model_id(settings).encode()).hexdigest()[:10]
        cache_file = cache_dir / f"vectors-{tag}.npz"
    return embed_rows(
        corpus,
        rows,
        embed,
        cache_file,
        known=known,
        progress=lambda d, n: log(f"  embedded {d}/{n}") if d == n or d % 2048 < 256 else None,
    )


def _summary(
    corpus: Corpus, user_days: Sequence[UserDay], scores: dict[str, Any], started: float
) -> dict[str, Any]:
    import time

    feed_sizes = [int((corpus.days == d).sum()) for d in {u.day for u in user_days}]
    return {
        "papers": len(corpus.ids),
        "user_days": len(user_days),
        "days": len({u.day for u in user_days}),
        "feed_size": float(np.mean(feed_sizes)) if feed_sizes else 0.0,
        "relevant_per_user_day": float(np.mean([len(u.relevant) for u in user_days])),
        "library_size": float(np.mean([len(u.library) for u in user_days])),
        "small_field_readers": sum(main_field(corpus, u) not in BIG_FIELDS for u in user_days),
        "rankers": scores,
        "seconds": round(time.perf_counter() - started, 1),
    }


def run(
    corpus_path: Path,
    *,
    settings: Any,
    days: int = 30,
    users: int = 300,
    seed: int = 13,
    vectors: tuple[Path, Path] | None = None,
    cache_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The first setting: the whole corpus, every paper's vector from a cache
    or embedded here; both rankers in process (see module doc)."""
    import time

    from paperfeed.tuning import RecommendTuning

    started = time.perf_counter()
    corpus = load_corpus(corpus_path)
    user_days = build_user_days(corpus, days=days, users=users, seed=seed)
    log(f"{len(corpus.ids)} papers, {len(user_days)} user-days")
    # Twice the model's sample: readers use the part listed before their day.
    background = background_rows(corpus, RecommendTuning().background_size * 2)
    # The background needs vectors too (the embedding SVM's negatives).
    rows = np.union1d(needed_rows(corpus, user_days), background)
    matrix = _vectors(corpus, rows, settings, vectors, cache_dir, log)
    log(f"fitting the tf-idf models ({time.perf_counter() - started:.0f} s)")
    rankers: dict[str, Ranker] = {
        "arxiv-sanity-lite": TfidfSVMBaseline(corpus, cache_dir),
        "paperfeed": ProductRanker(corpus, rows, matrix, background),  # type: ignore[dict-item]
    }
    log(f"ranking ({time.perf_counter() - started:.0f} s)")
    return _summary(corpus, user_days, evaluate(corpus, user_days, rankers), started)


def run_small_instance(
    corpus_path: Path,
    *,
    since: date,
    until: date,
    instance: Path,
    days: int = 30,
    users: int = 300,
    seed: int = 13,
    library: int = 5,
    small_fields: float = 0.5,
    month: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The second setting, the conditions of a small real instance: only the
    papers listed in [since, until], ingested into a fresh instance with every
    author named "Anonymous" (``paperfeed ingest jsonl``) and embedded by the
    product at its settings (``paperfeed embed``); libraries of the reader's
    ``library`` latest earlier papers; a share of readers from small fields;
    the whole day as the pool; the default ranking through the HTTP API.
    With ``month``, the third: [since, until] is a month, ``users`` readers'
    libraries come from the whole corpus and join the instance
    (``month_user_days``)."""
    import os
    import socket
    import subprocess
    import sys
    import time

    from paperfeed.config import Settings
    from paperfeed.db import Database
    from paperfeed.db import embeddings as vector_store
    from paperfeed.index.embedder import current_model_id
    from paperfeed.tuning import RecommendTuning

    started = time.perf_counter()
    if month:
        corpus, user_days = month_user_days(
            load_corpus(corpus_path), since, until, readers=users, seed=seed, library=library
        )
    else:
        corpus = load_corpus(corpus_path, since=since, until=until)
        user_days = build_user_days(
            corpus,
            days=days,
            users=users,
            seed=seed,
            max_library=library,
            small_fields=small_fields,
        )
    wanted = set(corpus.ids)
    env = {**os.environ, "PAPERFEED_DATA_DIR": str(instance / "data")}
    settings = Settings(data_dir=instance / "data")
    source = instance / "corpus-anonymous.jsonl"
    if not source.exists():
        instance.mkdir(parents=True, exist_ok=True)
        tmp = source.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as out:
            for record in _records(corpus_path):
                if record.get("id") in wanted:
                    record["authors"] = ["Anonymous"] * len(record.get("authors") or [])
                    out.write(json.dumps(record) + "\n")
        tmp.replace(source)
        log(f"ingesting {len(corpus.ids)} papers into {instance}")
        paperfeed = [sys.executable, "-m", "paperfeed"]
        subprocess.run([*paperfeed, "ingest", "jsonl", str(source)], env=env, check=True)  # noqa: S603
    log("embedding what is not embedded yet (paperfeed embed)")
    subprocess.run([sys.executable, "-m", "paperfeed", "embed"], env=env, check=True)
    log(f"{len(corpus.ids)} papers, {len(user_days)} user-days")
    background = background_rows(corpus, RecommendTuning().background_size)
    rows = np.union1d(needed_rows(corpus, user_days), background)
    db = Database(settings.database_url_resolved)
    with db.connect() as conn:
        found = vector_store.get_vectors(
            conn, current_model_id(settings), [corpus.ids[int(r)] for r in rows]
        )
    db.dispose()
    rows = np.asarray([r for r in rows if corpus.ids[int(r)] in found])
    matrix = np.vstack([found[corpus.ids[int(r)]] for r in rows]).astype(np.float32)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = subprocess.Popen(  # noqa: S603 (our own CLI, fixed arguments)
        [sys.executable, "-m", "paperfeed", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        http = HttpRanker(f"http://127.0.0.1:{port}", corpus)
        for _ in range(600):
            try:
                if http.client.get("/healthz").status_code == 200:
                    break
            except Exception:  # noqa: BLE001 (not up yet)
                time.sleep(0.5)
        rankers: dict[str, Ranker] = {
            "arxiv-sanity-lite": TfidfSVMBaseline(corpus, instance / "feed-eval"),
            "paperfeed (HTTP API)": http,
            "in process": ProductRanker(corpus, rows, matrix, background),  # type: ignore[dict-item]
        }
        log(f"ranking ({time.perf_counter() - started:.0f} s)")
        scores = evaluate(corpus, user_days, rankers)
    finally:
        server.terminate()
        server.wait(timeout=60)
    return _summary(corpus, user_days, scores, started)


def _no_embedder(texts: list[str]) -> np.ndarray:
    raise RuntimeError("every vector was expected in the precomputed cache")
