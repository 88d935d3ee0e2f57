"""Personal recommendations: a per-reader model over features computed once.

In the way of arxiv-sanity-lite's per-tag SVM: the reader's saves and upvotes
are positives, hides are explicit negatives (weighted up), and a fixed random
sample of the instance (minus the papers being ranked) stands in for
"everything else". Three signals are scored for each candidate, standardized
over the candidates of the call and summed with fixed weights (chosen on
three feed benchmarks, docs/feed-eval.md):

- **words**: a LinearSVC (C=0.01, balanced) on an instance-wide tf-idf of 1-2
  grams of the title, abstract and arXiv comment, as arxiv-sanity-lite does
  (without the comment), but keeping every term seen twice (the rare terms,
  a method's or a dataset's name, are what a reader's papers share with
  their next one);
- **terms**: the tf-idf cosine to the reader's two nearest positives;
- **meaning**: a LinearSVC (C=0.1, balanced) on the embeddings, with the same
  positives and negatives;
- **notes**: the mean tf-idf cosine of the arXiv comment alone to the
  positives' comments: a group's papers share venues, page counts and code
  hosts ("Accepted at ICASSP 2026", "Code: github.com/lab/...").

The state lives on the application object (``Paperfeed.recommender``, a
``Recommender``): the tf-idf vocabulary, fitted once on the instance (refitted
in the background when the instance has grown by a quarter), the features of
listing-date windows (tf-idf rows, embeddings), built once, and
the per-reader models; the windows and the models are each bounded in bytes
(``RecommendTuning``). So a call fits only a small per-reader model and scores
with sparse and dense matrix products. Every pick explains itself with its
nearest positive in meaning and names the signal that weighed most for it.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
from scipy import sparse
from sqlalchemy import func, select

from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import digests as digest_store
from paperfeed.db import embeddings as vector_store
from paperfeed.db import papers as paper_store
from paperfeed.db.tables import embeddings, papers
from paperfeed.tuning import RecommendTuning

# What a window keeps of a candidate's row (the rest, abstracts included, is
# in its features or read again for the few picks shown).
ROW_FIELDS = ("id", "title", "listing_date", "categories", "primary_category")
# arxiv-sanity-lite's tokens: a letter or underscore, then one or more word characters.
TOKEN_PATTERN = r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b"  # noqa: S105

# Chosen on three feed benchmarks (docs/feed-eval.md); see there for the sweep.
WORDS_WEIGHT = 0.5
TERMS_WEIGHT = 0.5
MEANING_WEIGHT = 1.0
NOTES_WEIGHT = 0.25
PARAMS_VERSION = "svm-terms-svm-notes-5"


class RecommendError(ValueError):
    """Bad input to a recommendation (unknown ids, bad dates...)."""


def _standardized(values: np.ndarray) -> np.ndarray:
    spread = float(values.std())
    return (values - values.mean()) / (spread if spread > 0 else 1.0)


def _sparse_bytes(matrix: sparse.csr_matrix) -> int:
    return int(matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes)


def paper_text(title: str, abstract: str | None, comment: str | None = None) -> str:
    text = f"{title}. {abstract or ''}"
    return f"{text} {comment}" if comment else text


def make_vectorizer(
    n_documents: int, max_features: int | None = None, stop_words: str | None = "english"
) -> Any:
    """arxiv-sanity-lite's tf-idf of 1-2 grams, but with every term seen in
    two papers kept (no feature cap, ``max_df`` 0.5 instead of 0.1 and
    ``min_df`` 2 instead of 5): on all three feed benchmarks the word SVM
    gained 5-15 % from the rare terms. The cut-offs apply only once the
    instance is large enough for them to mean anything."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    large = n_documents >= 2000
    return TfidfVectorizer(
        strip_accents="unicode",
        lowercase=True,
        stop_words=stop_words,
        token_pattern=TOKEN_PATTERN,
        ngram_range=(1, 2),
        sublinear_tf=True,
        max_features=max_features,
        max_df=0.5 if large else 1.0,
        min_df=2 if large else 1,
        dtype=np.float32,
    )


def fit_vectorizer(
    texts: Sequence[str], max_features: int | None = None, stop_words: str | None = "english"
) -> Any:
    vectorizer = make_vectorizer(len(texts), max_features, stop_words)
    vectorizer.fit(texts)
    # sklearn keeps every term it cut (hundreds of thousands of bigrams) for
    # introspection only; dropping it is what keeps a fitted vectorizer small.
    vectorizer.stop_words_ = None
    return vectorizer


def fit_notes_vectorizer(comments: Sequence[str]) -> Any:
    """The tf-idf of arXiv comments, with stop words kept ("accepted at", "to
    appear in"); None when no comment has a term."""
    try:
        return fit_vectorizer(comments, stop_words=None)
    except ValueError:  # an empty vocabulary: no comment in the sample
        return None


@dataclass(frozen=True)
class Vocabulary:
    """The two tf-idf spaces of an instance: the papers' text, and their comments."""

    words: Any
    notes: Any = None

    def transform(self, rows: Sequence[dict[str, Any]]) -> tuple[Any, Any]:
        """The rows' (words, notes) tf-idf matrices; notes has no columns
        when the instance has no comment."""
        if not rows or self.notes is None:
            width = len(self.notes.vocabulary_) if self.notes is not None else 0
            notes = sparse.csr_matrix((len(rows), width), dtype=np.float32)
        else:
            notes = self.notes.transform([r.get("comment") or "" for r in rows])
        if not rows:
            return sparse.csr_matrix((0, len(self.words.vocabulary_)), dtype=np.float32), notes
        texts = [paper_text(r["title"], r.get("abstract"), r.get("comment")) for r in rows]
        return self.words.transform(texts), notes

    def version(self) -> str:
        """Changes with either space's terms (part of a model's cache key)."""
        terms = [sorted(v.vocabulary_) for v in (self.words, self.notes) if v is not None]
        return hashlib.sha256(json.dumps(terms).encode()).hexdigest()[:16]


def fit_vocabulary(rows: Sequence[dict[str, Any]], max_features: int | None = None) -> Vocabulary:
    """Both tf-idf spaces, fitted on these papers (title, abstract, comment)."""
    return Vocabulary(
        fit_vectorizer(
            [paper_text(r["title"], r.get("abstract"), r.get("comment")) for r in rows],
            max_features,
        ),
        fit_notes_vectorizer([r.get("comment") or "" for r in rows]),
    )


# ---------------------------------------------------------------- features


@dataclass
class Features:
    """Rows of papers, each with its tf-idf row and embedding."""

    ids: list[str]
    rows: list[dict[str, Any]]
    words: sparse.csr_matrix  # (n, vocabulary), l2-normalized rows
    vectors: np.ndarray  # (n, dim) unit vectors
    notes: sparse.csr_matrix  # (n, comment vocabulary), l2-normalized rows (or zero)
    stamp: tuple[Any, ...] = ()
    checked: float = 0.0
    position: dict[str, int] = field(default_factory=dict)
    tag: str = ""  # names the set of papers (part of a model's cache key)
    _by_term: sparse.csr_matrix | None = field(default=None, init=False, repr=False)

    @property
    def by_term(self) -> sparse.csr_matrix:
        """``words`` transposed, (vocabulary, n), made once: a product with
        the positives' rows then costs what their terms' papers do, not a
        pass over the whole vocabulary."""
        if self._by_term is None:
            self._by_term = self.words.T.tocsr()
        return self._by_term

    def __post_init__(self) -> None:
        self.position = {paper_id: i for i, paper_id in enumerate(self.ids)}
        if not self.tag:
            digest = hashlib.sha256("\n".join(self.ids).encode()).hexdigest()[:16]
            self.tag = f"papers-{digest}"

    def nbytes(self) -> int:
        """About what these features hold in memory (for the caches' bounds)."""
        words = _sparse_bytes(self.words) * (1 if self._by_term is None else 2)
        # A trimmed row (a dict of five fields) and its id's index entry.
        rows = len(self.rows) * 900
        return int(words + _sparse_bytes(self.notes) + self.vectors.nbytes + rows)

    def take(self, keep: np.ndarray) -> Features:
        return Features(
            [self.ids[i] for i in keep],
            [self.rows[i] for i in keep],
            self.words[keep],
            self.vectors[keep],
            self.notes[keep],
        )


class FeatureStore:
    """The instance's tf-idf vocabulary, a background sample and the features
    of recent listing-date windows, for one database and embedding model."""

    def __init__(self, db: Database, model_id: str, tuning: RecommendTuning | None = None) -> None:
        self.db = db
        self.model_id = model_id
        self.tuning = tuning or RecommendTuning()
        self.lock = threading.Lock()
        self.vocabulary: Vocabulary | None = None
        self.version = ""  # changes with the vocabulary; part of a model's cache key
        self.fitted_on = 0
        self.background: Features | None = None
        self.windows: OrderedDict[tuple[date, date], Features] = OrderedDict()
        self._refitting = False
        self._feature_names: dict[str, np.ndarray] = {}

    # -- vocabulary
    def _count(self) -> int:
        with self.db.connect() as conn:
            return paper_store.count_papers(conn)

    def _fit(self) -> tuple[Vocabulary, Features, str, int]:
        with self.db.connect() as conn:
            recent = conn.execute(
                select(papers.c.id, papers.c.title, papers.c.abstract, papers.c.comment)
                .where(papers.c.hidden.is_(False))
                .order_by(papers.c.listing_date.desc(), papers.c.id.desc())
                .limit(self.tuning.vocabulary_sample)
            ).all()
        if not recent:
            raise RecommendError("the instance holds no papers yet")
        vocabulary = fit_vocabulary([dict(r._mapping) for r in recent], self.tuning.max_features)
        rng = np.random.default_rng(29)
        sample = sorted(
            rng.choice(
                len(recent), size=min(self.tuning.background_size, len(recent)), replace=False
            )
        )
        return (
            vocabulary,
            self._build([recent[i].id for i in sample], vocabulary),
            vocabulary.version(),
            len(recent),
        )

    def ensure_vocabulary(self) -> None:
        """Fit on first use; refit in the background when the instance grew by
        a quarter (the old vocabulary serves meanwhile)."""
        if self.vocabulary is None:
            with self.lock:
                if self.vocabulary is None:
                    self._install(*self._fit())
            return
        if self._refitting or self.fitted_on >= self.tuning.vocabulary_sample:
            return
        growth = 1 + self.tuning.refit_growth
        if self._count() >= max(self.fitted_on * growth, self.fitted_on + 100):
            self._refitting = True
            threading.Thread(target=self._refit, daemon=True).start()

    def _refit(self) -> None:
        try:
            fitted = self._fit()
            with self.lock:
                self._install(*fitted)
        finally:
            self._refitting = False

    def _install(self, vocabulary: Vocabulary, background: Features, version: str, n: int) -> None:
        self.vocabulary, self.background, self.version, self.fitted_on = (
            vocabulary,
            background,
            version,
            n,
        )
        self._feature_names = {}
        self.windows.clear()

    # -- rows to features
    def feature_names(self, space: str = "words") -> np.ndarray:
        """The terms of the text's tf-idf ("words") or the comments' ("notes")."""
        if space not in self._feature_names:
            assert self.vocabulary is not None  # noqa: S101 (called once a model exists)
            vectorizer = getattr(self.vocabulary, space)
            self._feature_names[space] = vectorizer.get_feature_names_out()
        return self._feature_names[space]

    def _build(self, ids: Sequence[str], vocabulary: Vocabulary | None) -> Features:
        with self.db.connect() as conn:
            found = paper_store.get_papers(conn, list(ids))
            vectors = candidate_vectors(conn, self.model_id, [i for i in ids if i in found])
        rows = [found[i] for i in ids if i in found and i in vectors]
        return self.features_of(rows, vectors, vocabulary)

    def features_of(
        self,
        rows: Sequence[dict[str, Any]],
        vectors: dict[str, np.ndarray],
        vocabulary: Vocabulary | None = None,
    ) -> Features:
        """Features of these rows (those with a vector: the others cannot be scored)."""
        rows = [r for r in rows if r["id"] in vectors]
        vocabulary = vocabulary or self.vocabulary
        assert vocabulary is not None  # noqa: S101 (ensure_vocabulary comes first)
        dim = len(next(iter(vectors.values()))) if vectors else 1
        words, notes = vocabulary.transform(rows)
        return Features(
            [r["id"] for r in rows],
            [{k: r.get(k) for k in ROW_FIELDS} for r in rows],
            words.tocsr(),
            np.vstack([vectors[r["id"]] for r in rows]).astype(np.float32)
            if rows
            else np.zeros((0, dim), np.float32),
            notes.tocsr(),
        )

    def of_ids(self, ids: Sequence[str]) -> Features:
        """Features of a reader's own papers (few; built per call)."""
        if not ids:
            return self.features_of([], {})
        return self._build(ids, self.vocabulary)

    # -- windows
    def _stamp(self, since: date, until: date) -> tuple[Any, ...]:
        with self.db.connect() as conn:
            listed = conn.execute(
                select(func.count(), func.max(papers.c.modified_at)).where(
                    papers.c.listing_date >= since,
                    papers.c.listing_date <= until,
                    papers.c.hidden.is_(False),
                    papers.c.withdrawn.is_(False),
                )
            ).one()
            embedded = conn.execute(
                select(func.max(embeddings.c.created_at)).where(embeddings.c.model == self.model_id)
            ).scalar()
        return (listed[0], str(listed[1]), str(embedded))

    def window(self, since: date, until: date) -> Features:
        """Features of the visible papers listed in [since, until], rebuilt
        when a paper in it changed, was hidden or got a vector."""
        key = (since, until)
        cached = self.windows.get(key)
        now = time.monotonic()
        if cached is not None and now - cached.checked < self.tuning.recheck_seconds:
            return cached
        stamp = self._stamp(since, until)
        with self.lock:
            cached = self.windows.get(key)
            if cached is not None and cached.stamp == stamp:
                cached.checked = now
                self.windows.move_to_end(key)
                return cached
            with self.db.connect() as conn:
                rows = digest_store.period_papers(conn, since, until)
                vectors = candidate_vectors(conn, self.model_id, [r["id"] for r in rows])
            built = self.features_of(rows, vectors)
            built.by_term  # made now, so that the bound below counts it  # noqa: B018
            del rows, vectors
            built.stamp, built.checked = stamp, now
            self.windows.pop(key, None)
            self.windows[key] = built
            # Bounded by bytes, the newest always kept (whatever its size).
            total = sum(w.nbytes() for w in self.windows.values())
            while len(self.windows) > 1 and total > self.tuning.window_cache_bytes:
                _, dropped = self.windows.popitem(last=False)
                total -= dropped.nbytes()
            return built

    def cached_bytes(self) -> int:
        kept = sum(w.nbytes() for w in self.windows.values())
        return kept + (self.background.nbytes() if self.background is not None else 0)


# ---------------------------------------------------------------- the per-reader model


@dataclass(frozen=True)
class Weights:
    words: float = WORDS_WEIGHT
    terms: float = TERMS_WEIGHT
    meaning: float = MEANING_WEIGHT
    notes: float = NOTES_WEIGHT


SIGNAL_NAMES = ("words", "terms", "meaning", "notes")


@dataclass(frozen=True)
class ReaderModel:
    """What a reader's ranking needs, small enough to cache: the two SVMs'
    weights (over the vocabulary and over the embedding), the positives'
    tf-idf rows and embeddings, and the mean of their comments' rows."""

    word_weights: np.ndarray  # (vocabulary,) float32
    meaning_weights: np.ndarray  # (dim,) float32
    positive_words: sparse.csr_matrix  # (n, vocabulary), in the order of positive_ids
    positives: np.ndarray  # (n, dim) unit vectors, in the order of positive_ids
    positive_ids: tuple[str, ...]
    notes_centroid: np.ndarray  # (comment vocabulary,) float32
    weights: Weights = field(default_factory=Weights)

    def signals(self, features: Features) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """((4, n) raw signal values in the order of SIGNAL_NAMES, index of
        each row's nearest positive in meaning, and in words)."""
        n = len(features.ids)
        if n == 0:
            none = np.zeros(0, dtype=np.int64)
            return np.zeros((len(SIGNAL_NAMES), 0)), none, none
        words = features.words @ self.word_weights
        shared = (self.positive_words @ features.by_term).toarray()  # (positives, n)
        terms = np.sort(shared, axis=0)[-2:].mean(axis=0)
        meaning = features.vectors @ self.meaning_weights
        notes = features.notes @ self.notes_centroid
        nearest = (features.vectors @ self.positives.T).argmax(axis=1)
        return np.vstack([words, terms, meaning, notes]), nearest, shared.argmax(axis=0)


def weighted_signals(raw: np.ndarray, weights: Weights) -> np.ndarray:
    """(signals, n): each signal standardized over the candidates, times its weight."""
    if raw.shape[1] < 2:
        return raw.copy()
    return np.vstack(
        [getattr(weights, name) * _standardized(raw[i]) for i, name in enumerate(SIGNAL_NAMES)]
    )


def fit_svm(x: Any, labels: np.ndarray, sample_weight: np.ndarray, c: float) -> np.ndarray:
    """arxiv-sanity-lite's per-reader LinearSVC (balanced); returns w (the
    bias does not change a ranking)."""
    from sklearn.svm import LinearSVC

    # The dual solver, as arxiv-sanity-lite's: on the embeddings (more rows
    # than columns) sklearn would pick the primal, which costs a third more here.
    svm = LinearSVC(class_weight="balanced", C=c, max_iter=10000, dual=True)
    svm.fit(x, labels, sample_weight=sample_weight)
    weights: np.ndarray = svm.coef_[0].astype(np.float32)
    return weights


def _labels(
    n_positives: int, n_negatives: int, n_background: int, hide_weight: float
) -> tuple[np.ndarray, np.ndarray]:
    """(labels, sample weights) of rows stacked as positives, explicit
    negatives (weighted up), background."""
    labels = np.zeros(n_positives + n_negatives + n_background)
    labels[:n_positives] = 1
    weights = np.ones(len(labels))
    weights[n_positives : n_positives + n_negatives] = hide_weight
    return labels, weights


def fit(
    positives: Features,
    negatives: Features,
    background: Features,
    *,
    weights: Weights | None = None,
    hide_weight: float = 3.0,
    c: float = 0.01,
    meaning_c: float = 0.1,
    meaning_negatives: int = 1000,
    ranked: Features | None = None,
) -> ReaderModel:
    """Train on features: positives vs explicit negatives (weighted up) and
    the background sample, minus the reader's own papers and the papers to
    be ranked (``ranked``: a candidate among the negatives would be pushed
    down for being a candidate; in a small instance the sample holds a good
    share of a day)."""
    if not positives.ids:
        raise RecommendError("a model needs at least one positive paper")
    own = {*positives.ids, *negatives.ids}
    pool = ranked.position if ranked is not None else {}
    keep = np.asarray(
        [i for i, pid in enumerate(background.ids) if pid not in own and pid not in pool],
        dtype=np.int64,
    )
    background = background.take(keep)
    if not negatives.ids and not background.ids:
        word_weights = np.asarray(positives.words.mean(axis=0), dtype=np.float32).ravel()
        meaning_weights = positives.vectors.mean(axis=0).astype(np.float32)
    else:
        x = sparse.vstack([positives.words, negatives.words, background.words]).tocsr()
        labels = _labels(len(positives.ids), len(negatives.ids), len(background.ids), hide_weight)
        word_weights = fit_svm(x, *labels, c)
        # The embedding SVM costs twice the word SVM per negative and gains
        # nothing from more than ~1,000 of them (docs/feed-eval.md): every
        # k-th of the sample, which is spread over the instance's dates.
        sample = background.vectors[:: max(1, -(-len(background.ids) // meaning_negatives))]
        parts = (positives.vectors, negatives.vectors, sample)
        # Empty parts are (0, 1); float64 is what liblinear reads (no copy).
        dense = np.vstack([part for part in parts if len(part)]).astype(np.float64)
        labels = _labels(len(positives.ids), len(negatives.ids), len(sample), hide_weight)
        meaning_weights = fit_svm(dense, *labels, meaning_c)
    return ReaderModel(
        word_weights,
        meaning_weights,
        positives.words,
        positives.vectors,
        tuple(positives.ids),
        np.asarray(positives.notes.mean(axis=0), dtype=np.float32).ravel(),
        weights or Weights(),
    )


# ---------------------------------------------------------------- signals and cache


@dataclass(frozen=True)
class Signals:
    positives: tuple[str, ...]
    negatives: tuple[str, ...] = ()
    # Why each positive counts, for explanations: "saved", "upvoted", "chose".
    kinds: tuple[tuple[str, str], ...] = ()

    def signature(self, model_id: str, vocabulary: str) -> str:
        payload = json.dumps(
            [PARAMS_VERSION, model_id, vocabulary, sorted(self.positives), sorted(self.negatives)]
        )
        return hashlib.sha256(payload.encode()).hexdigest()


def model_bytes(model: ReaderModel) -> int:
    return int(
        model.word_weights.nbytes
        + model.meaning_weights.nbytes
        + _sparse_bytes(model.positive_words)
        + model.positives.nbytes
        + model.notes_centroid.nbytes
        + 100 * len(model.positive_ids)
        + 1000
    )


class Recommender:
    """One process's recommendation state, kept on the application object
    (``Paperfeed.recommender``): the feature store of the configured embedding
    model (vocabulary, background sample, listing-date windows) and the
    per-reader models, each bounded in bytes (``RecommendTuning``)."""

    def __init__(
        self, settings: Settings, db: Database, tuning: RecommendTuning | None = None
    ) -> None:
        self.settings = settings
        self.db = db
        self.tuning = tuning or RecommendTuning()
        self.lock = threading.Lock()
        self._store: FeatureStore | None = None
        self.models: OrderedDict[str, ReaderModel] = OrderedDict()
        self.models_bytes = 0
        self.training_count = 0  # models fitted by this object (tests read it)
        self._blas: Any = None

    def one_blas_thread(self) -> Any:
        """A context in which BLAS runs on one thread. A call's products are
        small, and on a web tier's few cores OpenBLAS's other threads only
        spin: with them a call took twice the CPU (docs/benchmarks.md)."""
        if self._blas is None:
            import sklearn.svm  # noqa: F401 (its BLAS libraries must be loaded to be found)
            from threadpoolctl import ThreadpoolController

            self._blas = ThreadpoolController()
        return self._blas.limit(limits=1, user_api="blas")

    def store(self) -> FeatureStore:
        """The feature store of the configured embedding model (a new one,
        with its own vocabulary, when the model setting changed)."""
        from paperfeed.index.embedder import current_model_id

        model_id = current_model_id(self.settings)
        with self.lock:
            if self._store is None or self._store.model_id != model_id:
                self._store = FeatureStore(self.db, model_id, self.tuning)
                self.models.clear()
                self.models_bytes = 0
            store = self._store
        store.ensure_vocabulary()
        return store

    def model_for(
        self, store: FeatureStore, signals: Signals, ranked: Features | None = None
    ) -> ReaderModel:
        """The model for these signals and these papers to rank (left out of
        its negatives), from the cache or trained now."""
        key = signals.signature(store.model_id, store.version)
        if ranked is not None:
            key += ":" + ranked.tag
        with self.lock:
            cached = self.models.get(key)
            if cached is not None:
                self.models.move_to_end(key)
                return cached
        positives = store.of_ids(sorted(signals.positives))
        if not positives.ids:
            raise RecommendError("none of the positive papers is known (or embedded) here")
        background = store.background
        assert background is not None  # noqa: S101 (set with the vocabulary)
        model = fit(
            positives,
            store.of_ids(sorted(signals.negatives)),
            background,
            hide_weight=self.tuning.hide_weight,
            c=self.tuning.text_c,
            meaning_c=self.tuning.meaning_c,
            meaning_negatives=self.tuning.meaning_negatives,
            ranked=ranked,
        )
        with self.lock:
            self.training_count += 1
            if key not in self.models:
                self.models[key] = model
                self.models_bytes += model_bytes(model)
            while len(self.models) > 1 and self.models_bytes > self.tuning.model_cache_bytes:
                _, dropped = self.models.popitem(last=False)
                self.models_bytes -= model_bytes(dropped)
        return model

    def cached_bytes(self) -> int:
        """What the caches hold, about (the vocabulary aside)."""
        store = self._store
        return self.models_bytes + (store.cached_bytes() if store is not None else 0)


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
    signal: str = ""  # the signal that weighed most: "words", "terms", "meaning", "notes"

    def as_json(self) -> dict[str, Any]:
        """The fields of ``POST /api/recommend`` and the MCP ``recommend`` tool."""
        data = asdict(self)
        data["listing_date"] = self.listing_date.isoformat() if self.listing_date else None
        return data


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


def _top_terms(
    store: FeatureStore, weight: np.ndarray, indices: np.ndarray, space: str = "words"
) -> str:
    """The two terms of highest positive weight, quoted."""
    names = store.feature_names(space)
    best = np.argsort(-weight)[:2]
    return ", ".join(f"\u201c{names[indices[i]]}\u201d" for i in best if weight[i] > 0)


def _why(
    store: FeatureStore, model: ReaderModel, features: Features, at: int, closest: int, signal: int
) -> str:
    """The signal that weighed most for the pick at row ``at`` of ``features``
    (the positive ``closest`` to it in words), in words."""
    words = features.words[at]
    if SIGNAL_NAMES[signal] == "notes":
        notes = features.notes[at]
        terms = _top_terms(
            store, notes.data * model.notes_centroid[notes.indices], notes.indices, "notes"
        )
        said = "mostly for its arXiv comment, like your papers'"
        return f"{said} {terms}" if terms else said
    if SIGNAL_NAMES[signal] == "words":
        terms = _top_terms(store, words.data * model.word_weights[words.indices], words.indices)
        return f"mostly for its words {terms}" if terms else "mostly for its words"
    if SIGNAL_NAMES[signal] == "terms":
        theirs = model.positive_words[closest]
        common, mine, other = np.intersect1d(words.indices, theirs.indices, return_indices=True)
        terms = _top_terms(store, words.data[mine] * theirs.data[other], common)
        said = "mostly for its terms shared with your papers"
        return f"{said}, {terms}" if terms else said
    return "mostly for its closeness in meaning"


def rank_features(
    recommender: Recommender,
    store: FeatureStore,
    signals: Signals,
    features: Features,
    *,
    limit: int = 20,
    exclude: set[str] | None = None,
    categories: Sequence[str] | None = None,
) -> list[Pick]:
    """The best ``limit`` of these features' papers for the signals, minus
    the reader's own and ``exclude``d papers, in ``categories`` when given."""
    mask = np.ones(len(features.ids), dtype=bool)
    for paper_id in {*(exclude or ()), *signals.positives, *signals.negatives}:
        at = features.position.get(paper_id)
        if at is not None:
            mask[at] = False
    if categories:
        wanted = set(categories)
        mask &= np.asarray(
            [bool(wanted.intersection(r["categories"] or [])) for r in features.rows]
        )
    keep = np.flatnonzero(mask)
    if len(keep) == 0:
        return []
    with recommender.one_blas_thread():
        model = recommender.model_for(store, signals, features)
        raw, nearest, closest = model.signals(features)  # the whole window: cheaper than slicing
    parts = weighted_signals(raw[:, keep], model.weights)
    scores = parts.sum(axis=0)
    # A pick whose comment shares no term with the reader's is not "for its
    # comment", however the others' standardized signals fell.
    notes = SIGNAL_NAMES.index("notes")
    parts[notes, raw[notes, keep] <= 0] = -np.inf
    strongest = parts.argmax(axis=0)
    with store.db.connect() as conn:
        titles = {
            p["id"]: p["title"]
            for p in paper_store.get_papers(conn, list(model.positive_ids)).values()
        }
    kinds = dict(signals.kinds)
    order = np.lexsort((np.asarray(features.ids)[keep], -scores))[:limit]
    picks = []
    for i in order:
        at = int(keep[i])
        row = features.rows[at]
        because = model.positive_ids[int(nearest[at])]
        title = titles.get(because, because)
        why = _why(store, model, features, at, int(closest[at]), int(strongest[i]))
        picks.append(
            Pick(
                paper_id=row["id"],
                title=row["title"],
                score=round(float(scores[i]), 4),
                listing_date=row["listing_date"],
                because_id=because,
                because_title=title,
                reason=f"{_reason(kinds.get(because, 'chose'), title)}; {why}",
                signal=SIGNAL_NAMES[int(strongest[i])],
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
    recommender: Recommender,
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
    db = recommender.db
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
    if not positives:
        rows = candidates(db, since, until, None)
        return cold_start(
            rows, categories=categories or (), keywords=keywords, limit=limit, exclude=exclude
        )
    signals = Signals(positives, negatives, tuple((kinds or {}).items()))
    store = recommender.store()
    return rank_features(
        recommender,
        store,
        signals,
        store.window(since, until),
        limit=limit,
        exclude=exclude,
        categories=categories,
    )


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
    recommender: Recommender,
    reader_id: int,
    *,
    since: date | None = None,
    until: date | None = None,
    limit: int = 20,
    exclude: set[str] | None = None,
) -> list[Pick]:
    signals, interests = reader_signals(recommender.db, reader_id)
    exclude = {*(exclude or ()), *signals.negatives}
    if signals.positives:
        since, until = _default_window(recommender.db, since, until)
        store = recommender.store()
        return rank_features(
            recommender, store, signals, store.window(since, until), limit=limit, exclude=exclude
        )
    return recommend(
        recommender,
        since=since,
        until=until,
        categories=interests.get("categories") or None,
        keywords=interests.get("keywords") or (),
        limit=limit,
        exclude=exclude,
    )


def digest_picker(recommender: Recommender) -> Any:
    """The digest composer's PersonalPicker: the reader's picks among a period's
    papers, each with its explanation as the note."""
    db = recommender.db
    loaded: dict[tuple[str, ...], Features] = {}

    def pick(
        reader_id: int, candidate_rows: Sequence[dict[str, Any]], limit: int, exclude: set[str]
    ) -> list[tuple[str, str]]:
        signals, _ = reader_signals(db, reader_id)
        if not signals.positives:
            return []
        store = recommender.store()
        key = tuple(r["id"] for r in candidate_rows)
        if key not in loaded:  # one period's features, built once per run
            loaded.clear()
            with db.connect() as conn:
                vectors = candidate_vectors(conn, store.model_id, key)
            loaded[key] = store.features_of(candidate_rows, vectors)
        try:
            picks = rank_features(
                recommender, store, signals, loaded[key], limit=limit, exclude=exclude
            )
        except RecommendError:
            return []
        return [(p.paper_id, p.reason) for p in picks]

    return pick


def set_interests(db: Database, reader_id: int, interests: dict[str, list[str]]) -> None:
    with db.begin() as conn:
        digest_store.set_reader_interests(conn, reader_id, interests)
