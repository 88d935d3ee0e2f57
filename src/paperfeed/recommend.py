"""Personal recommendations: a linear model per reader on the paper embeddings.

In the way of arxiv-sanity-lite's per-tag SVM and Scholar Inbox's per-user
classifier: the reader's saves and upvotes are positives, hides are explicit
negatives, and a fixed random sample of other papers stands in for "everything
else" (the reader did not pick them; most are not for them). A logistic
regression with balanced classes separates the two on the embeddings, and each
candidate's score adds its cosine to the nearest positive, so one saved paper
about a rare topic still pulls its close neighbours up even when the linear
boundary is dominated by a large library. A tf-idf (1-2 gram) LinearSVC on the
same examples adds the words: its standardized score is summed with the
embedding model's. Each part was kept because it helped on the author-blind
feed benchmark (``paperfeed eval-feed``, docs/feed-eval.md).

Every pick explains itself with its nearest positive ("because you saved X").
Models are cached per signal set: the cache key is a hash of the reader's
positives and negatives and the embedding model, so a model is retrained when,
and only when, the signals change.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np

from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import digests as digest_store
from paperfeed.db import embeddings as vector_store
from paperfeed.db import papers as paper_store

# Chosen on the feed benchmark (docs/feed-eval.md); see there for the sweep.
C = 1.0
NEAREST_WEIGHT = 1.0
BACKGROUND_SIZE = 750
HIDE_WEIGHT = 3.0
TEXT_WEIGHT = 1.0
TEXT_C = 0.1
PARAMS_VERSION = "lr-nn-tfidf-1"


class RecommendError(ValueError):
    """Bad input to a recommendation (unknown ids, bad dates...)."""


def _standardized(values: np.ndarray) -> np.ndarray:
    spread = float(values.std())
    return (values - values.mean()) / (spread if spread > 0 else 1.0)


@dataclass(frozen=True)
class LinearModel:
    """w·x + b on unit vectors, plus the positives it explains picks with, and
    optionally a tf-idf SVM over the same examples whose (standardized) score
    is added: the feed benchmark showed words and embeddings complement each
    other (rare terms a reader uses vs. topics phrased differently)."""

    weights: np.ndarray
    bias: float
    positives: np.ndarray  # (n, dim) unit vectors
    nearest_weight: float
    text_model: Any = None  # (TfidfVectorizer, LinearSVC) or None
    text_weight: float = TEXT_WEIGHT

    def score(
        self, x: np.ndarray, texts: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, index of each row's nearest positive). Scores compare only
        within one call: the text part is standardized over the rows given."""
        if len(x) == 0:
            return np.zeros(0), np.zeros(0, dtype=np.int64)
        sims = x @ self.positives.T
        nearest = sims.argmax(axis=1)
        dense = x @ self.weights + self.bias + self.nearest_weight * sims.max(axis=1)
        if self.text_model is None or texts is None or len(x) < 2:
            return dense, nearest
        vectorizer, svm = self.text_model
        words = svm.decision_function(vectorizer.transform(list(texts)))
        return _standardized(dense) + self.text_weight * _standardized(words), nearest


def fit_text_model(texts: Sequence[str], labels: np.ndarray, *, c: float = TEXT_C) -> Any:
    """tf-idf of 1-2 grams over the training texts, and a balanced LinearSVC."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    vectorizer = TfidfVectorizer(
        strip_accents="unicode",
        lowercase=True,
        stop_words="english",
        token_pattern=r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b",  # noqa: S106
        ngram_range=(1, 2),
        sublinear_tf=True,
        max_features=20000,
    )
    x = vectorizer.fit_transform(list(texts))
    svm = LinearSVC(class_weight="balanced", C=c, max_iter=10000, tol=1e-6)
    svm.fit(x, labels)
    return vectorizer, svm


def fit(
    positives: np.ndarray,
    negatives: np.ndarray,
    background: np.ndarray,
    *,
    c: float = C,
    nearest_weight: float = NEAREST_WEIGHT,
    hide_weight: float = HIDE_WEIGHT,
    texts: Sequence[str] | None = None,
) -> LinearModel:
    """Train on unit vectors: positives vs explicit negatives and background.
    ``texts`` (title + abstract of every row, in the same order: positives,
    negatives, background) adds the tf-idf part."""
    from sklearn.linear_model import LogisticRegression

    if len(positives) == 0:
        raise RecommendError("a model needs at least one positive paper")
    negative_rows = [m for m in (negatives, background) if len(m)]
    if not negative_rows:
        # Nothing to contrast with: rank by closeness to the positives alone.
        return LinearModel(np.zeros(positives.shape[1], np.float32), 0.0, positives, 1.0)
    x = np.vstack([positives, *negative_rows]).astype(np.float32)
    y = np.concatenate([np.ones(len(positives)), np.zeros(len(x) - len(positives))])
    weight = np.ones(len(x))
    weight[len(positives) : len(positives) + len(negatives)] = hide_weight
    clf = LogisticRegression(C=c, class_weight="balanced", max_iter=1000)
    clf.fit(x, y, sample_weight=weight)
    text_model = None
    if texts is not None:
        if len(texts) != len(x):
            raise ValueError(f"{len(texts)} texts for {len(x)} training rows")
        text_model = fit_text_model(texts, y)
    return LinearModel(
        clf.coef_[0].astype(np.float32),
        float(clf.intercept_[0]),
        positives,
        nearest_weight,
        text_model,
    )


# ---------------------------------------------------------------- signals and cache


@dataclass(frozen=True)
class Signals:
    positives: tuple[str, ...]
    negatives: tuple[str, ...] = ()
    # Why each positive counts, for explanations: "saved", "upvoted", "chose".
    kinds: tuple[tuple[str, str], ...] = ()

    def signature(self, model_id: str) -> str:
        payload = json.dumps(
            [PARAMS_VERSION, model_id, sorted(self.positives), sorted(self.negatives)]
        )
        return hashlib.sha256(payload.encode()).hexdigest()


_cache: OrderedDict[str, LinearModel] = OrderedDict()
_cache_lock = threading.Lock()
CACHE_SIZE = 512
training_count = 0  # how many models were fitted in this process (tests read it)


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _background_ids(all_ids: Sequence[str], exclude: set[str], seed: str) -> list[str]:
    rng = random.Random(seed)
    pool = [i for i in all_ids if i not in exclude]
    return rng.sample(pool, min(BACKGROUND_SIZE, len(pool)))


def model_for(settings: Settings, db: Database, signals: Signals) -> tuple[LinearModel, list[str]]:
    """The model for these signals, from the cache or trained now. Also returns
    the ids of the positives in the order of ``model.positives``."""
    global training_count
    from paperfeed.index.embedder import current_model_id
    from paperfeed.similar import paper_vectors

    model_id = current_model_id(settings)
    key = signals.signature(model_id)
    vectors = paper_vectors(db, settings, [*signals.positives, *signals.negatives])
    positive_ids = [p for p in sorted(signals.positives) if p in vectors]
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached, positive_ids
    if not positive_ids:
        raise RecommendError("none of the positive papers is known (or embedded) here")
    with db.connect() as conn:
        all_ids = sorted(vector_store.vector_ids(conn, model_id))
        sample = _background_ids(all_ids, {*signals.positives, *signals.negatives}, key)
        background = vector_store.get_vectors(conn, model_id, sample)
        negative_ids = [n for n in signals.negatives if n in vectors]
        background_ids = list(background)
        text_of = {
            t.id: f"{t.title}. {t.abstract}"
            for t in vector_store.paper_texts(conn, [*positive_ids, *negative_ids, *background_ids])
        }
    dim = len(vectors[positive_ids[0]])
    model = fit(
        np.vstack([vectors[p] for p in positive_ids]),
        _stack([vectors[n] for n in negative_ids], dim),
        _stack([background[b] for b in background_ids], dim),
        texts=[text_of.get(i, "") for i in [*positive_ids, *negative_ids, *background_ids]],
    )
    with _cache_lock:
        training_count += 1
        _cache[key] = model
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return model, positive_ids


def _stack(rows: list[np.ndarray], dim: int) -> np.ndarray:
    return np.vstack(rows).astype(np.float32) if rows else np.zeros((0, dim), np.float32)


# ---------------------------------------------------------------- ranking


@dataclass(frozen=True)
class Pick:
    paper_id: str
    title: str
    score: float
    listing_date: date | None
    because_id: str | None
    because_title: str | None
    reason: str


def _default_window(db: Database, since: date | None, until: date | None) -> tuple[date, date]:
    if since is not None and until is not None:
        if since > until:
            raise RecommendError(f"since ({since}) is after until ({until})")
        return since, until
    with db.connect() as conn:
        latest = paper_store.latest_listing_date(conn) or date.today()
    until = until or latest
    return since or until - timedelta(days=6), until


def candidates(
    db: Database, since: date, until: date, categories: Sequence[str] | None
) -> list[dict[str, Any]]:
    """Visible papers listed in [since, until] (inclusive), in the categories."""
    with db.connect() as conn:
        rows = digest_store.period_papers(conn, since, until)
    if categories:
        wanted = set(categories)
        rows = [r for r in rows if wanted.intersection(r["categories"] or [])]
    return rows


def _reason(kind: str, title: str) -> str:
    verb = {"saved": "you saved", "upvoted": "you upvoted"}.get(kind, "you chose")
    return f"because {verb} \u201c{title}\u201d"


def rank(
    settings: Settings,
    db: Database,
    signals: Signals,
    candidate_rows: Sequence[dict[str, Any]],
    *,
    limit: int = 20,
    exclude: set[str] | None = None,
    vectors: dict[str, np.ndarray] | None = None,
) -> list[Pick]:
    """Score candidates with the model for these signals, best first.
    ``vectors`` may hold the candidates' vectors already (a digest run loads
    a period's once for all its readers)."""
    from paperfeed.index.embedder import current_model_id

    exclude = {*(exclude or ()), *signals.positives, *signals.negatives}
    rows = [r for r in candidate_rows if r["id"] not in exclude]
    if not rows:
        return []
    model, positive_ids = model_for(settings, db, signals)
    model_id = current_model_id(settings)
    with db.connect() as conn:
        if vectors is None:
            vectors = candidate_vectors(conn, model_id, [r["id"] for r in rows])
        titles = {p["id"]: p["title"] for p in paper_store.get_papers(conn, positive_ids).values()}
    rows = [r for r in rows if r["id"] in vectors]  # not embedded yet: cannot be scored
    if not rows:
        return []
    scores, nearest = model.score(
        np.vstack([vectors[r["id"]] for r in rows]),
        [f"{r['title']}. {r.get('abstract') or ''}" for r in rows],
    )
    kinds = dict(signals.kinds)
    order = np.lexsort(([r["id"] for r in rows], -scores))[:limit]
    picks = []
    for i in order:
        because = positive_ids[int(nearest[i])]
        title = titles.get(because, because)
        picks.append(
            Pick(
                paper_id=rows[i]["id"],
                title=rows[i]["title"],
                score=round(float(scores[i]), 4),
                listing_date=rows[i]["listing_date"],
                because_id=because,
                because_title=title,
                reason=_reason(kinds.get(because, "chose"), title),
            )
        )
    return picks


def candidate_vectors(conn: Any, model_id: str, ids: Sequence[str]) -> dict[str, np.ndarray]:
    found: dict[str, np.ndarray] = {}
    for start in range(0, len(ids), 5000):
        found.update(vector_store.get_vectors(conn, model_id, ids[start : start + 5000]))
    return found


def cold_start(
    candidate_rows: Sequence[dict[str, Any]],
    *,
    categories: Sequence[str] = (),
    keywords: Sequence[str] = (),
    limit: int = 20,
    exclude: set[str] | None = None,
) -> list[Pick]:
    """No signals yet: the most upvoted papers in the chosen categories, or
    mentioning the chosen keywords, each saying which choice it matched."""
    exclude = exclude or set()
    wanted = set(categories)
    terms = [k.lower() for k in keywords if k.strip()]
    picks: list[Pick] = []
    for row in candidate_rows:  # already most upvoted first
        if row["id"] in exclude:
            continue
        text = f"{row['title']} {row.get('abstract', '')}".lower()
        matched_cat = next((c for c in row["categories"] or [] if c in wanted), None)
        matched_kw = next((k for k in terms if k in text), None)
        if (wanted or terms) and matched_kw is None and matched_cat is None:
            continue
        reason = (
            f"because you follow \u201c{matched_kw}\u201d"
            if matched_kw
            else f"because you follow {matched_cat}"
            if matched_cat
            else "trending"
        )
        picks.append(
            Pick(
                row["id"],
                row["title"],
                float(row.get("upvotes") or 0),
                row["listing_date"],
                None,
                None,
                reason,
            )
        )
        if len(picks) >= limit:
            break
    return picks


def recommend(
    settings: Settings,
    db: Database,
    *,
    positive_ids: Sequence[str] = (),
    negative_ids: Sequence[str] = (),
    since: date | None = None,
    until: date | None = None,
    categories: Sequence[str] | None = None,
    keywords: Sequence[str] = (),
    limit: int = 20,
    kinds: dict[str, str] | None = None,
    exclude: set[str] | None = None,
) -> list[Pick]:
    """Ranked papers listed in [since, until] for these signals; with no
    positives, a cold start from categories and keywords."""
    if not 1 <= limit <= 500:
        raise RecommendError("limit must be between 1 and 500")
    since, until = _default_window(db, since, until)
    with db.connect() as conn:
        resolved = paper_store.resolve_ids(conn, [*positive_ids, *negative_ids])
        known = paper_store.get_papers(conn, list(set(resolved.values())))
    unknown = [i for i in [*positive_ids, *negative_ids] if resolved[i] not in known]
    if unknown:
        raise RecommendError(f"unknown paper id(s): {', '.join(unknown[:5])}")
    positives = tuple(dict.fromkeys(resolved[i] for i in positive_ids))
    negatives = tuple(
        dict.fromkeys(resolved[i] for i in negative_ids if resolved[i] not in positives)
    )
    rows = candidates(db, since, until, categories if positives else None)
    if not positives:
        return cold_start(
            rows, categories=categories or (), keywords=keywords, limit=limit, exclude=exclude
        )
    signals = Signals(positives, negatives, tuple((kinds or {}).items()))
    return rank(settings, db, signals, rows, limit=limit, exclude=exclude)


# ---------------------------------------------------------------- readers


def reader_signals(db: Database, reader_id: int) -> tuple[Signals, dict[str, Any]]:
    """A reader's signals (saves and upvotes positive, hides negative) and
    their cold-start interests."""
    with db.connect() as conn:
        flags = digest_store.reader_flags(conn, reader_id)
    kinds: dict[str, str] = {}
    for pid in flags["votes"]:
        kinds[pid] = "upvoted"
    for pid in flags["saves"]:
        kinds[pid] = "saved"  # a save says more than a vote
    hidden = set(flags["hides"])
    positives = tuple(sorted(p for p in kinds if p not in hidden))
    signals = Signals(positives, tuple(sorted(hidden)), tuple(sorted(kinds.items())))
    return signals, flags["interests"] or {}


def for_reader(
    settings: Settings,
    db: Database,
    reader_id: int,
    *,
    since: date | None = None,
    until: date | None = None,
    limit: int = 20,
    exclude: set[str] | None = None,
) -> list[Pick]:
    signals, interests = reader_signals(db, reader_id)
    exclude = {*(exclude or ()), *signals.negatives}
    if signals.positives:
        since, until = _default_window(db, since, until)
        rows = candidates(db, since, until, None)
        return rank(settings, db, signals, rows, limit=limit, exclude=exclude)
    return recommend(
        settings,
        db,
        since=since,
        until=until,
        categories=interests.get("categories") or None,
        keywords=interests.get("keywords") or (),
        limit=limit,
        exclude=exclude,
    )


def digest_picker(settings: Settings, db: Database) -> Any:
    """The digest composer's PersonalPicker: the reader's picks among a period's
    papers, each with its explanation as the note."""

    from paperfeed.index.embedder import current_model_id

    loaded: dict[tuple[str, ...], dict[str, np.ndarray]] = {}

    def pick(
        reader_id: int, candidate_rows: Sequence[dict[str, Any]], limit: int, exclude: set[str]
    ) -> list[tuple[str, str]]:
        signals, _ = reader_signals(db, reader_id)
        if not signals.positives:
            return []
        key = tuple(r["id"] for r in candidate_rows)
        if key not in loaded:  # one period's vectors, loaded once per run
            loaded.clear()
            with db.connect() as conn:
                loaded[key] = candidate_vectors(conn, current_model_id(settings), key)
        try:
            picks = rank(
                settings,
                db,
                signals,
                candidate_rows,
                limit=limit,
                exclude=exclude,
                vectors=loaded[key],
            )
        except RecommendError:
            return []
        return [(p.paper_id, p.reason) for p in picks]

    return pick


def set_interests(db: Database, reader_id: int, interests: dict[str, list[str]]) -> None:
    with db.begin() as conn:
        digest_store.set_reader_interests(conn, reader_id, interests)
