"""Candidate signals for the personal feed, per user-day of `paperfeed eval-feed`.

    python bench/feed_signals.py compute small|corpus|month --days D --users U [--instance DIR]
        [--seed S] [--month YYYY-MM] [--no-negatives]
    python bench/feed_signals.py report small|corpus|month --days D --users U [--seed S] [--month M]

`compute` rebuilds a setting's user-days exactly as `paperfeed eval-feed` does
(same seeds; small: the instance built by `eval-feed --setting small
--instance DIR`, its vectors from `paperfeed embed`; corpus: vectors embedded
at 256 tokens into /tmp/feed-signals/) and stores, for every paper of each
user-day's pool, the raw value of every signal tried (docs/feed-eval.md,
"Issue 28, session 16"): arxiv-sanity-lite's score, the product's word SVM,
an SVM on the embeddings, nearest / top-2 mean / mean / centroid cosine in
words and in meaning, category overlap and primary-category match. `report`
prints Recall@10 of each signal and of weighted sums of standardized signals,
in all and by library size, against arxiv-sanity-lite: a sweep takes seconds
instead of a full `eval-feed` run. User-days are processed in a seeded
shuffled order and saved every 20, so a partial run is a random subsample.

`--seed` (corpus) and `--month` (month) build *fresh* user-days that no
weight was chosen on (session 20): the tuned sets flatter the default.
"""

from __future__ import annotations

import argparse
import calendar
import pickle
import random
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from paperfeed import feedeval as fe
from paperfeed.config import Settings
from paperfeed.tuning import RecommendTuning

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "data" / "arxiv-cs-2025.jsonl.gz"
OUT = Path("/tmp/feed-signals")


def _standardized(values: np.ndarray) -> np.ndarray:
    spread = values.std()
    return (values - values.mean()) / (spread if spread > 0 else 1)


def compute(
    setting: str,
    days: int,
    users: int,
    instance: Path,
    negatives: bool = True,
    seed: int = 13,
    month: str = "2026-06",
) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    started = time.time()
    if setting == "small":
        corpus = fe.load_corpus(CORPUS, since=date(2025, 9, 1), until=date(2025, 10, 31))
        user_days = fe.build_user_days(
            corpus, days=days, users=users, seed=13, max_library=5, small_fields=0.5
        )
        from paperfeed.db import Database
        from paperfeed.db import embeddings as vector_store
        from paperfeed.index.embedder import current_model_id

        settings = Settings(data_dir=instance / "data")
        db = Database(settings.database_url_resolved)
        with db.connect() as conn:
            found = vector_store.get_vectors(conn, current_model_id(settings), corpus.ids)
        dim = len(next(iter(found.values())))
        dense = np.zeros((len(corpus.ids), dim), np.float32)
        for i, paper_id in enumerate(corpus.ids):
            if paper_id in found:
                dense[i] = found[paper_id]
        cache = instance / "feed-eval"
        background_all = fe.background_rows(corpus, 8000)
    elif setting == "month":
        corpus, user_days = month_setting(users, month)
        settings = Settings(data_dir=OUT / "corpus")
        cache = OUT / "month" / "feed-eval"
        background_all = fe.background_rows(corpus, 8000)
        dense = fe._vectors(
            corpus, np.arange(len(corpus.ids)), settings, None, OUT / "corpus" / "feed-eval", print
        )
    else:
        corpus = fe.load_corpus(CORPUS)
        user_days = fe.build_user_days(corpus, days=days, users=users, seed=seed)
        settings = Settings(data_dir=OUT / "corpus")
        cache = OUT / "corpus" / "feed-eval"
        background_all = fe.background_rows(corpus, 4000)
        rows = np.union1d(fe.needed_rows(corpus, user_days), background_all)
        matrix = fe._vectors(corpus, rows, settings, None, cache, print)
        dense = np.zeros((len(corpus.ids), matrix.shape[1]), np.float32)
        dense[rows] = matrix
    print(f"{setting}: {len(corpus.ids)} papers, {len(user_days)} user-days", flush=True)
    texts = corpus.texts()
    recent = np.argsort(-corpus.days, kind="stable")[: RecommendTuning().vocabulary_sample]
    # The product's vocabulary before session 17 (arxiv-sanity-lite's cut-offs);
    # the "_r" signals below use the one it has now.
    old = TfidfVectorizer(
        strip_accents="unicode",
        stop_words="english",
        token_pattern=r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b",  # noqa: S106
        ngram_range=(1, 2),
        sublinear_tf=True,
        max_features=20000,
        max_df=0.1,
        min_df=5,
        dtype=np.float32,
    )
    words = old.fit([texts[i] for i in recent]).transform(texts).tocsr()
    columns: dict[str, int] = {}
    indices: list[int] = []
    indptr = [0]
    primary = np.full(len(corpus.ids), -1, np.int64)
    for i, cats in enumerate(corpus.categories):
        for j, cat in enumerate(dict.fromkeys(cats)):
            indices.append(columns.setdefault(cat, len(columns)))
            if j == 0:
                primary[i] = indices[-1]
        indptr.append(len(indices))
    fields = sparse.csr_matrix(
        (np.ones(len(indices), np.float32), indices, indptr), shape=(len(corpus.ids), len(columns))
    )
    baseline = fe.TfidfSVMBaseline(corpus, cache)
    extra = _extra_spaces(corpus, user_days, texts)
    out: list[dict[str, Any]] = []
    order = list(range(len(user_days)))
    random.Random(5).shuffle(order)
    path = _stored(setting, days, users, seed, month)
    path.parent.mkdir(parents=True, exist_ok=True)
    for n, at in enumerate(order):
        user = user_days[at]
        feed = np.flatnonzero(corpus.days == user.day)
        library = np.asarray(user.library)
        signal: dict[str, np.ndarray] = {"base": baseline(user, feed)}
        before = background_all[corpus.days[background_all] < user.day]
        before = before[~np.isin(before, library)]
        if len(before) > 2000:
            before = before[np.random.default_rng(29).permutation(len(before))[:2000]]
        signal["svm_w2000"] = _svm_scores(words, library, before, feed)
        for c in (0.1, 1.0):
            signal[f"svm_d{c}"] = _svm_scores(dense, library, before, feed, c)
        sims_w = (words[feed] @ words[library].T).toarray()
        sims_d = dense[feed] @ dense[library].T
        for name, sims in (("w", sims_w), ("d", sims_d)):
            signal[f"nn_{name}"] = sims.max(1)
            signal[f"mean_{name}"] = sims.mean(1)
            signal[f"top2_{name}"] = np.sort(sims, 1)[:, -2:].mean(1)
        centroid = dense[library].mean(0)
        signal["cent_d"] = dense[feed] @ (centroid / (np.linalg.norm(centroid) + 1e-9))
        counts = np.asarray(fields[library].sum(0)).ravel()
        signal["field"] = np.asarray(fields[feed] @ counts).ravel() / len(library)
        own = primary[library][primary[library] >= 0]
        per_primary = np.bincount(own, minlength=len(columns)).astype(float)
        signal["prim"] = np.where(
            primary[feed] >= 0, per_primary[np.maximum(primary[feed], 0)], 0
        ) / len(library)
        signal["recw_d"] = (sims_d * np.linspace(0.5, 1.0, len(library))).max(1)
        _extra_signals(signal, extra, library, feed, before)
        if negatives:
            _negative_signals(signal, extra, corpus, user.day, library, feed, before)
        _hub_signals(signal, extra, dense, feed, before)
        _era_signals(signal, extra, corpus, user.day, library, feed, before)
        out.append(
            {
                "n": len(library),
                "rel": np.isin(feed, user.relevant),
                "feed": feed,
                "sig": signal,
                "day": user.day,
                "age": user.day - int(corpus.days[library].max()),
            }
        )
        if n % 20 == 19 or n == len(order) - 1:
            path.write_bytes(pickle.dumps(out))
            print(f"{n + 1} user-days, {time.time() - started:.0f} s", flush=True)


def month_setting(readers: int, month: str = "2026-06") -> tuple[Any, list[Any]]:
    """The month setting of `eval-feed` (June 2026 unless told; ``fe.month_user_days``)."""
    first = date.fromisoformat(f"{month}-01")
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    corpus, user_days = fe.month_user_days(fe.load_corpus(CORPUS), first, last, readers=readers)
    print(f"month: {len(corpus.ids)} papers in the instance, {len(user_days)} user-days")
    return corpus, user_days


def _svm_scores(
    space: Any,
    positives: np.ndarray,
    negatives: np.ndarray,
    feed: np.ndarray,
    c: float = 0.01,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """The pool scored by arxiv-sanity-lite's classifier (a balanced
    LinearSVC) of ``positives`` against ``negatives``, in one space (a
    sparse tf-idf or dense embeddings)."""
    from sklearn.svm import LinearSVC

    if sparse.issparse(space):
        x = sparse.vstack([space[positives], space[negatives]]).tocsr()
    else:
        x = np.vstack([space[positives], space[negatives]])
    y = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
    svm = LinearSVC(class_weight="balanced", C=c, max_iter=10000)
    svm.fit(x, y, sample_weight=weights)
    scores: np.ndarray = space[feed] @ svm.coef_[0]
    return scores


def _extra_spaces(corpus: Any, user_days: Any, texts: list[str]) -> dict[str, Any]:
    """Spaces beyond the product's: a tf-idf that keeps rare terms (min_df 2,
    no feature cap), titles alone, character 4-5 grams, and the instance's
    rarest terms (in at most 3 papers) as 0/1."""
    from sklearn.feature_extraction.text import (
        HashingVectorizer,
        TfidfTransformer,
        TfidfVectorizer,
    )

    token = r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b"  # noqa: S105
    common = {
        "strip_accents": "unicode",
        "lowercase": True,
        "stop_words": "english",
        "token_pattern": token,
        "ngram_range": (1, 2),
        "sublinear_tf": True,
        "dtype": np.float32,
    }
    started = time.time()
    rare_vectorizer = TfidfVectorizer(min_df=2, max_df=0.5, **common)
    rare = rare_vectorizer.fit_transform(texts).tocsr()
    # Session 18: the text with the arXiv comment appended, and the comment alone.
    comments = corpus.comments or [""] * len(texts)
    with_comment = TfidfVectorizer(min_df=2, max_df=0.5, **common)
    joined = [f"{t} {c}" for t, c in zip(texts, comments, strict=True)]
    rare_tc = with_comment.fit_transform(joined).tocsr()
    note_space = {**common, "stop_words": None}
    notes = TfidfVectorizer(min_df=2, max_df=0.5, **note_space).fit_transform(comments).tocsr()
    counts = np.bincount(rare.indices, minlength=rare.shape[1])
    keep = np.flatnonzero(counts <= 3)
    rarest = rare[:, keep].tocsr()
    rarest.data[:] = 1
    titles = TfidfVectorizer(min_df=1, **common).fit_transform(corpus.titles).tocsr()
    print(f"rare vocabulary {rare.shape[1]}, rarest {len(keep)}, {time.time() - started:.0f} s")
    rows = fe.needed_rows(corpus, user_days)
    hashing = HashingVectorizer(
        analyzer="char_wb", ngram_range=(4, 5), n_features=2**20, alternate_sign=False, norm=None
    )
    sample = np.random.default_rng(3).permutation(len(texts))[:5000]
    idf = TfidfTransformer(sublinear_tf=True).fit(hashing.transform([texts[i] for i in sample]))
    char = idf.transform(hashing.transform([texts[i] for i in rows])).astype(np.float32).tocsr()
    position = np.full(len(texts), -1)
    position[rows] = np.arange(len(rows))
    print(f"char grams for {len(rows)} papers, {time.time() - started:.0f} s", flush=True)
    return {
        "rare": rare,
        "rare_tc": rare_tc,
        "notes": notes,
        "rarest": rarest,
        "titles": titles,
        "char": char,
        "pos": position,
    }


def _extra_signals(
    signal: dict[str, np.ndarray],
    extra: dict[str, Any],
    library: np.ndarray,
    feed: np.ndarray,
    before: np.ndarray,
) -> None:
    rare = extra["rare"]
    sims = (rare[feed] @ rare[library].T).toarray()
    signal["nn_r"] = sims.max(1)
    signal["top2_r"] = np.sort(sims, 1)[:, -2:].mean(1)
    signal["mean_r"] = sims.mean(1)
    for c in (0.01, 0.1):
        signal[f"svm_r{c}"] = _svm_scores(rare, library, before, feed, c)
    rare_tc = extra["rare_tc"]
    signal["svm_tc"] = _svm_scores(rare_tc, library, before, feed)
    sims = (rare_tc[feed] @ rare_tc[library].T).toarray()
    signal["top2_tc"] = np.sort(sims, 1)[:, -2:].mean(1)
    sims = (extra["notes"][feed] @ extra["notes"][library].T).toarray()
    signal["c0_mean"] = sims.mean(1)
    signal["c0_nn"] = sims.max(1)
    rarest = extra["rarest"]
    shared = np.asarray(rarest[library].sum(0)).ravel() > 0
    signal["rarest"] = np.asarray(rarest[feed] @ shared.astype(np.float32)).ravel()
    titles = extra["titles"]
    signal["nn_t"] = (titles[feed] @ titles[library].T).toarray().max(1)
    char, pos = extra["char"], extra["pos"]
    sims_c = (char[pos[feed]] @ char[pos[library]].T).toarray()
    signal["nn_c"] = sims_c.max(1)
    signal["mean_c"] = sims_c.mean(1)


def _earlier(corpus: Any, day: int, library: np.ndarray) -> np.ndarray:
    """The instance's papers listed before ``day``, the library left out."""
    earlier = np.flatnonzero(corpus.days < day)
    return earlier[~np.isin(earlier, library)]


def _negative_signals(
    signal: dict[str, np.ndarray],
    extra: dict[str, Any],
    corpus: Any,
    day: int,
    library: np.ndarray,
    feed: np.ndarray,
    before: np.ndarray,
) -> None:
    """Session 18: the rare-term word SVM with other negatives. ``svm_r8k``:
    8,000 earlier papers of the whole instance; ``svm_rall``: every earlier
    paper (arxiv-sanity-lite's set); ``svm_rpool``: the 2,000 of the product
    plus the day's pool itself (what today's big fields look like);
    ``svm_rprf``: the library plus, as weaker positives, each library
    paper's 3 nearest earlier papers of the instance (more positives for a
    short library)."""
    rare = extra["rare"]
    earlier = _earlier(corpus, day, library)
    sample = earlier[np.random.default_rng(31).permutation(len(earlier))[:8000]]

    def fit(negatives: np.ndarray, extra_pos: np.ndarray | None = None) -> np.ndarray:
        positives = library if extra_pos is None else np.r_[library, extra_pos]
        weights = np.ones(len(positives) + len(negatives))
        if extra_pos is not None:
            weights[len(library) : len(positives)] = 0.5
        return _svm_scores(rare, positives, negatives, feed, weights=weights)

    signal["svm_r8k"] = fit(sample)
    signal["svm_rall"] = fit(earlier) if len(earlier) <= 80000 else signal["svm_r8k"]
    signal["svm_rpool"] = fit(np.r_[before, feed])
    sims = (rare[library] @ rare[earlier].T).toarray()
    nearest = np.unique(earlier[np.argsort(-sims, 1)[:, :3].ravel()])
    signal["svm_rprf"] = fit(before, nearest)


def _hub_signals(
    signal: dict[str, np.ndarray],
    extra: dict[str, Any],
    dense: np.ndarray,
    feed: np.ndarray,
    before: np.ndarray,
) -> None:
    """Session 19: how much of a hub each candidate is, for a CSLS-like
    correction (a paper close to everything is close to every library too).
    ``hubb_*``: the mean cosine of the candidate to its 10 nearest background
    papers; ``hubp_*``: to its 10 nearest other papers of the day's pool;
    ``_d`` in meaning, ``_tc`` in the words (text with comment)."""
    words = extra["rare_tc"]
    for name, to_background, to_pool in (
        ("d", dense[feed] @ dense[before].T, dense[feed] @ dense[feed].T),
        (
            "tc",
            (words[feed] @ words[before].T).toarray(),
            (words[feed] @ words[feed].T).toarray(),
        ),
    ):
        np.fill_diagonal(to_pool, -1)
        k = min(10, to_background.shape[1], max(to_pool.shape[1] - 1, 1))
        signal[f"hubb_{name}"] = np.sort(to_background, 1)[:, -k:].mean(1)
        signal[f"hubp_{name}"] = np.sort(to_pool, 1)[:, -k:].mean(1)


def _era_signals(
    signal: dict[str, np.ndarray],
    extra: dict[str, Any],
    corpus: Any,
    day: int,
    library: np.ndarray,
    feed: np.ndarray,
    before: np.ndarray,
) -> None:
    """Session 19: the word SVM (text with comment) with negatives from the
    library's own time: half of the 2,000 are the earlier papers listed
    closest in date to a library paper, so that the SVM's direction is not
    how the field's words have drifted since the reader wrote
    (``svm_era``)."""
    words = extra["rare_tc"]
    earlier = _earlier(corpus, day, library)
    gap = np.abs(corpus.days[earlier][:, None] - corpus.days[library][None, :]).min(1)
    near = earlier[np.argsort(gap, kind="stable")[:1000]]
    negatives = np.union1d(near, before[: 2000 - len(near)])
    signal["svm_era"] = _svm_scores(words, library, negatives, feed)


def _split(n: int) -> str:
    return "2-5" if n <= 5 else "6-20" if n <= 20 else "21+"


def _recall(scores: np.ndarray, relevant: np.ndarray, feed: np.ndarray) -> float:
    order = np.lexsort((feed, -scores))
    return float(relevant[order][:10].sum() / relevant.sum())


def _evaluate(data: list[dict[str, Any]], weights: dict[str, float], shrink: float) -> dict:
    out: dict[str, list[float]] = {}
    for day in data:
        total = np.zeros(len(day["feed"]))
        for key, weight in weights.items():
            if key in ("nn_d",) and shrink and day["n"] > shrink:
                weight *= shrink / day["n"]
            total = total + weight * _standardized(day["sig"][key])
        for split in ("all", _split(day["n"])):
            out.setdefault(split, []).append(_recall(total, day["rel"], day["feed"]))
    return {k: (float(np.mean(v)), len(v)) for k, v in out.items()}


# The signals of ``_extra_signals``.
EXTRA = ("nn_r", "top2_r", "mean_r", "svm_r0.01", "svm_r0.1", "rarest", "nn_t", "nn_c", "mean_c")

# The product's default since session 18.
DEFAULT = {"svm_tc": 0.5, "top2_tc": 0.5, "svm_d0.1": 1, "c0_mean": 0.25}

VARIANTS: dict[str, tuple[dict[str, float], float]] = {
    **{
        f"{k} only": ({k: 1}, 0)
        for k in (
            "svm_w2000",
            "svm_d0.1",
            "svm_d1.0",
            "nn_w",
            "mean_w",
            "top2_w",
            "nn_d",
            "mean_d",
            "top2_d",
            "cent_d",
            "field",
            "prim",
            "recw_d",
        )
    },
    "previous default: svm_w + nn_d + field 0.5": ({"svm_w2000": 1, "nn_d": 1, "field": 0.5}, 0),
    "svm_w + nn_d + field 1": ({"svm_w2000": 1, "nn_d": 1, "field": 1}, 0),
    "svm_w + nn_d + field 0.75": ({"svm_w2000": 1, "nn_d": 1, "field": 0.75}, 0),
    "svm_w + nn_d + prim 1": ({"svm_w2000": 1, "nn_d": 1, "prim": 1}, 0),
    "svm_w + nn_d + field 0.5 + prim 0.5": (
        {"svm_w2000": 1, "nn_d": 1, "field": 0.5, "prim": 0.5},
        0,
    ),
    "svm_w + nn_w": ({"svm_w2000": 1, "nn_w": 1}, 0),
    "svm_w + nn_w + nn_d + field 1": ({"svm_w2000": 1, "nn_w": 1, "nn_d": 1, "field": 1}, 0),
    "svm_w + top2_w 0.5 + nn_d + field 1": (
        {"svm_w2000": 1, "top2_w": 0.5, "nn_d": 1, "field": 1},
        0,
    ),
    "svm_w + svm_d0.1 0.5 + nn_d + field 1": (
        {"svm_w2000": 1, "svm_d0.1": 0.5, "nn_d": 1, "field": 1},
        0,
    ),
    "svm_w + svm_d1 + nn_w + nn_d + field 1": (
        {"svm_w2000": 1, "svm_d1.0": 1, "nn_w": 1, "nn_d": 1, "field": 1},
        0,
    ),
    "svm_w + cent_d + nn_w + field 1": ({"svm_w2000": 1, "cent_d": 1, "nn_w": 1, "field": 1}, 0),
    "base + nn_d + field 1": ({"base": 1, "nn_d": 1, "field": 1}, 0),
    **{f"{k} only": ({k: 1}, 0) for k in EXTRA},
    **{
        f"default + {k} {w}": ({"svm_w2000": 1, "nn_d": 1, "field": 1, k: w}, 0)
        for k in EXTRA
        for w in (0.5, 1.0)
    },
    **{
        f"{k} + nn_d + field 1": ({k: 1, "nn_d": 1, "field": 1}, 0)
        for k in ("svm_r0.01", "svm_r0.1", "nn_r", "top2_r")
    },
    "default since session 17: svm_r0.01 0.5 + top2_r 0.5 + svm_d0.1 1": (
        {"svm_r0.01": 0.5, "top2_r": 0.5, "svm_d0.1": 1},
        0,
    ),
    "svm_r0.01 + top2_r + svm_d0.1 + nn_d 0.25": (
        {"svm_r0.01": 0.5, "top2_r": 0.5, "svm_d0.1": 1, "nn_d": 0.25},
        0,
    ),
    **{
        f"default with {k} for svm_r0.01": ({k: 0.5, "top2_r": 0.5, "svm_d0.1": 1}, 0)
        for k in ("svm_r8k", "svm_rall", "svm_rpool", "svm_rprf")
    },
    **{f"{k} only": ({k: 1}, 0) for k in ("svm_r8k", "svm_rall", "svm_rpool", "svm_rprf")},
    **{f"{k} only": ({k: 1}, 0) for k in ("svm_tc", "top2_tc", "c0_mean", "c0_nn")},
    "session 17 default, text with comment (svm_tc, top2_tc)": (
        {"svm_tc": 0.5, "top2_tc": 0.5, "svm_d0.1": 1},
        0,
    ),
    **{
        f"session 17 default + c0_mean {w}": (
            {"svm_r0.01": 0.5, "top2_r": 0.5, "svm_d0.1": 1, "c0_mean": w},
            0,
        )
        for w in (0.25, 0.5)
    },
    **{
        f"default since session 18: svm_tc 0.5 + top2_tc 0.5 + svm_d0.1 1 + {k} {w}": (
            {"svm_tc": 0.5, "top2_tc": 0.5, "svm_d0.1": 1, k: w},
            0,
        )
        for k in ("c0_mean", "c0_nn")
        for w in (0.25, 0.5)
    },
    **{f"{k} only": ({k: 1}, 0) for k in ("hubb_d", "hubp_d", "hubb_tc", "hubp_tc")},
    **{
        f"session 18 default + {k} {w}": ({**DEFAULT, k: w}, 0)
        for k in ("hubb_d", "hubp_d", "hubb_tc", "hubp_tc")
        for w in (-0.1, -0.25, -0.5)
    },
    # Session 20: the default's parts, for the fresh user-days (--seed, --month).
    "default, no terms": ({**DEFAULT, "top2_tc": 0}, 0),
    "default, words 1": ({**DEFAULT, "svm_tc": 1}, 0),
    "default, meaning 0.5": ({**DEFAULT, "svm_d0.1": 0.5}, 0),
    "default + field 0.5": ({**DEFAULT, "field": 0.5}, 0),
    "svm_tc + top2_tc": ({"svm_tc": 1, "top2_tc": 1}, 0),
    "svm_r0.01 0.5 + nn_r 0.5 + svm_d0.1 1": ({"svm_r0.01": 0.5, "nn_r": 0.5, "svm_d0.1": 1}, 0),
    "top2_r 0.5 + svm_d0.1 1": ({"top2_r": 0.5, "svm_d0.1": 1}, 0),
    "svm_w + nn_d (shrunk past 5) + field 0.5": ({"svm_w2000": 1, "nn_d": 1, "field": 0.5}, 5),
    "svm_w + nn_d (shrunk past 5) + field 1": ({"svm_w2000": 1, "nn_d": 1, "field": 1}, 5),
    "svm_w + nn_d (shrunk past 10) + field 1": ({"svm_w2000": 1, "nn_d": 1, "field": 1}, 10),
    "svm_w + nn_d 2 (shrunk past 5) + field 1": ({"svm_w2000": 1, "nn_d": 2, "field": 1}, 5),
}


def _stored(setting: str, days: int, users: int, seed: int, month: str) -> Path:
    fresh = ("" if seed == 13 else f"-seed{seed}") + ("" if month == "2026-06" else f"-{month}")
    return OUT / f"signals-{setting}-{days}-{users}{fresh}.pkl"


def report(setting: str, days: int, users: int, seed: int = 13, month: str = "2026-06") -> None:
    data = pickle.loads(_stored(setting, days, users, seed, month).read_bytes())
    tuned = OUT / "signals-corpus-10-300.pkl"
    if setting == "corpus" and seed != 13 and tuned.exists():
        # A fresh sample shares no listing day with the one the weights were chosen on.
        taken = {day["day"] for day in pickle.loads(tuned.read_bytes())}
        data = [day for day in data if day["day"] not in taken]
    base = _evaluate(data, {"base": 1}, 0)
    splits = [s for s in ("all", "2-5", "6-20", "21+") if s in base]
    print(f"{len(data)} user-days; " + ", ".join(f"{s}: {base[s][1]}" for s in splits))
    print(f"| variant | {' | '.join(splits)} |")
    print(f"|---|{'---|' * len(splits)}")
    print(f"| arxiv-sanity-lite | {' | '.join(f'{base[s][0]:.3f}' for s in splits)} |")
    stored = data[0]["sig"].keys()
    for name, (weights, shrink) in VARIANTS.items():
        if not set(weights) <= stored:
            continue  # a signal this run did not compute (--no-negatives)
        got = _evaluate(data, weights, shrink)
        cells = [f"{got[s][0]:.3f} ({got[s][0] / max(base[s][0], 1e-9):.2f}x)" for s in splits]
        print(f"| {name} | {' | '.join(cells)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["compute", "report"])
    parser.add_argument("setting", choices=["small", "corpus", "month"])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--users", type=int, default=150)
    parser.add_argument("--instance", type=Path, default=OUT / "small-instance")
    parser.add_argument(
        "--seed", type=int, default=13, help="corpus: another sample of user-days (training)"
    )
    parser.add_argument("--month", default="2026-06", help="month: another month (YYYY-MM)")
    parser.add_argument(
        "--no-negatives", action="store_true", help="skip session 18's SVMs with other negatives"
    )
    args = parser.parse_args()
    if args.command == "compute":
        compute(
            args.setting,
            args.days,
            args.users,
            args.instance,
            not args.no_negatives,
            args.seed,
            args.month,
        )
    else:
        report(args.setting, args.days, args.users, args.seed, args.month)


if __name__ == "__main__":
    main()
