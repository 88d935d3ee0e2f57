"""Search: the one function every interface calls (CLI, web page, JSON API).

A query is parsed (paperfeed.query), run against the BM25 sidecar and, when
vectors exist, the dense index; the two ranked lists are fused. Dense hits
must still satisfy what the query demands (fields, phrases, exclusions) and
the filters, checked against the lexical index. With no vectors (embedding
not run yet, or no model installed) search is lexical only, and says so.

Fusion: reciprocal-rank fusion and normalized-score (convex) fusion are both
here; ``DEFAULT_FUSION`` is what ``paperfeed eval`` chose (docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date
from operator import itemgetter
from typing import Any, Literal

from paperfeed import metrics, trending
from paperfeed.db import Database
from paperfeed.db import code as code_store
from paperfeed.db import trending as trending_store
from paperfeed.index.backends import Indexes
from paperfeed.index.contracts import (
    DEFAULT_WEIGHTS,
    FieldWeights,
    Filters,
    KeywordQuery,
    LexicalIndex,
)
from paperfeed.query import ParsedQuery, QueryError, constraint, parse
from paperfeed.tuning import SearchTuning

log = logging.getLogger(__name__)

Sort = Literal["relevance", "date", "upvotes"]
Mode = Literal["hybrid", "lexical", "dense"]
SORTS: tuple[str, ...] = ("relevance", "date", "upvotes")
MODES: tuple[str, ...] = ("hybrid", "lexical", "dense")
MAX_PER_PAGE = 100
MAX_RESULTS = 1000  # deepest result reachable by paging (relevance and upvotes)

Ranked = list[tuple[str, float]]  # (paper id, score), best first
DenseSearch = Callable[[str, int], Ranked]


# ---------------------------------------------------------------- fusion


@dataclass(frozen=True)
class Fusion:
    method: Literal["convex", "rrf"] = "convex"
    normalization: Literal["minmax", "zscore"] = "zscore"
    lexical_weight: float = 0.6  # convex: alpha on BM25, 1 - alpha on dense
    rrf_k: int = 60
    depth: int = 100  # candidates taken from each side


DEFAULT_FUSION = Fusion()


def normalize(scores: Sequence[float], how: str) -> list[float]:
    """Min-max to [0, 1], or z-score (mean 0, unit standard deviation)."""
    if not scores:
        return []
    if how == "minmax":
        low, high = min(scores), max(scores)
        span = high - low
        return [(s - low) / span if span > 0 else 1.0 for s in scores]
    if how == "zscore":
        mean = sum(scores) / len(scores)
        sd = math.sqrt(sum([(s - mean) ** 2 for s in scores]) / len(scores))
        return [(s - mean) / sd if sd > 0 else 0.0 for s in scores]
    raise ValueError(f"unknown normalization {how!r} (minmax or zscore)")


def rrf(lists: Sequence[Ranked], weights: Sequence[float], k: int = 60) -> Ranked:
    """Reciprocal-rank fusion: sum over lists of weight / (k + rank), rank from 1."""
    fused: dict[str, float] = {}
    for ranked, weight in zip(lists, weights, strict=True):
        for rank, (paper_id, _score) in enumerate(ranked, start=1):
            fused[paper_id] = fused.get(paper_id, 0.0) + weight / (k + rank)
    return _best_first(fused)


def _best_first(scores: dict[str, float]) -> Ranked:
    """Highest score first, ties by id: the order of sorting on (-score, id),
    in two C-level sorts (the search API runs this on every request)."""
    ranked = sorted(scores.items())  # by id (ids are unique)
    ranked.sort(key=itemgetter(1), reverse=True)  # stable: equal scores keep id order
    return ranked


def convex(lexical: Ranked, dense: Ranked, alpha: float, how: str) -> Ranked:
    """alpha * norm(BM25) + (1 - alpha) * norm(cosine). A paper missing from one
    list gets that list's lowest normalized score (it ranked below all of them)."""
    lex = dict(zip([i for i, _ in lexical], normalize([s for _, s in lexical], how), strict=True))
    den = dict(zip([i for i, _ in dense], normalize([s for _, s in dense], how), strict=True))
    lex_floor = min(lex.values(), default=0.0)
    den_floor = min(den.values(), default=0.0)
    beta = 1 - alpha
    fused = {i: alpha * s + beta * den.get(i, den_floor) for i, s in lex.items()}
    for i, s in den.items():
        if i not in fused:
            fused[i] = alpha * lex_floor + beta * s
    return _best_first(fused)


def fuse(lexical: Ranked, dense: Ranked, fusion: Fusion = DEFAULT_FUSION) -> Ranked:
    if not dense:
        return list(lexical)
    if not lexical:
        return list(dense)
    if fusion.method == "rrf":
        weights = (2 * fusion.lexical_weight, 2 * (1 - fusion.lexical_weight))
        return rrf([lexical, dense], weights, fusion.rrf_k)
    return convex(lexical, dense, fusion.lexical_weight, fusion.normalization)


# ---------------------------------------------------------------- ranking core


@dataclass
class Ranking:
    ranked: Ranked
    total: int
    used_dense: bool
    highlight: KeywordQuery | None  # for snippets
    # Which side found each ranked paper: "words" (the keyword index) and/or
    # "meaning" (the vectors), so that a page can say so per hit.
    matched: dict[str, tuple[str, ...]] = field(default_factory=dict)


def rank(
    lexical: LexicalIndex,
    parsed: ParsedQuery,
    filters: Filters,
    *,
    dense: DenseSearch | None,
    mode: str = "hybrid",
    fusion: Fusion = DEFAULT_FUSION,
    weights: FieldWeights = DEFAULT_WEIGHTS,
    depth: int | None = None,
    tuning: SearchTuning = SearchTuning(),
) -> Ranking:
    """Relevance ranking of one query: the part ``paperfeed eval`` measures."""
    depth = depth or fusion.depth
    # The dense side (query embedding + ANN) starts first, on another thread,
    # and runs while this one does the BM25 search: onnxruntime, faiss and
    # tantivy all release the GIL, so on two cores the two overlap.
    want_dense = mode != "lexical" and dense is not None and bool(parsed.free_text.strip())
    pending = (
        _start_dense(dense, parsed.free_text, depth, parallel=tuning.parallel_dense)
        if want_dense
        else None
    )
    # The index builds its own query objects (tantivy, or SQL on PostgreSQL).
    text_query = lexical.render(parsed.root, weights)
    filt = lexical.filter_query(filters)
    lex_hits: Ranked = []
    lex_total = 0
    if mode != "dense":
        if text_query is not None:
            lex_hits, lex_total = lexical.search(lexical.combine(text_query, filt), limit=depth)
        elif parsed.is_empty:  # filter-only: newest first
            lex_hits, lex_total = lexical.search(
                lexical.combine(None, filt), limit=depth, by_date=True
            )
    dense_hits: Ranked = []
    if pending is not None:
        dense_hits = pending.result()
        required = lexical.render(constraint(parsed.root), weights)
        if dense_hits and (required is not None or filt is not None):
            allowed = lexical.matching([i for i, _ in dense_hits], lexical.combine(required, filt))
            dense_hits = [(i, s) for i, s in dense_hits if i in allowed]
    if mode == "dense":
        ranked = dense_hits
    else:
        ranked = fuse(lex_hits, dense_hits, fusion) if text_query is not None else lex_hits
        if text_query is None and not parsed.is_empty:
            ranked = dense_hits  # nothing searchable by words (emoji, punctuation)
    lex_ids, dense_ids = {i for i, _ in lex_hits}, {i for i, _ in dense_hits}
    extra = len(dense_ids - lex_ids)
    matched = {
        i: tuple(side for side, ids in (("words", lex_ids), ("meaning", dense_ids)) if i in ids)
        for i, _ in ranked
    }
    return Ranking(ranked, lex_total + extra, bool(dense_hits), text_query, matched)


# A few threads per process: each search holds one for the length of its
# query embedding and ANN search; more concurrent searches than this queue.
_DENSE_THREADS = 4
_dense_pool: ThreadPoolExecutor | None = None
_dense_pool_lock = threading.Lock()


def _start_dense(dense: DenseSearch | None, text: str, k: int, *, parallel: bool) -> Future[Ranked]:
    assert dense is not None
    if not parallel:
        done: Future[Ranked] = Future()
        try:
            done.set_result(dense(text, k))
        except BaseException as exc:  # raised again by .result(), as the pool would
            done.set_exception(exc)
        return done
    global _dense_pool
    with _dense_pool_lock:
        if _dense_pool is None:
            _dense_pool = ThreadPoolExecutor(_DENSE_THREADS, thread_name_prefix="pf-dense")
    return _dense_pool.submit(dense, text, k)


# ---------------------------------------------------------------- the request


@dataclass
class SearchRequest:
    query: str = ""
    categories: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None
    sort: str = "relevance"
    page: int = 1
    per_page: int = 20
    mode: str = "hybrid"
    has_code: bool = False  # only papers that link to code (also ``has:code`` in the query)
    # Snippets are most of a search's CPU time; callers that do not show them
    # (the HF-compatible API) turn them off.
    snippets: bool = True

    def validate(self) -> None:
        if self.sort not in SORTS:
            raise QueryError(f"unknown sort {self.sort!r}: use one of {', '.join(SORTS)}")
        if self.mode not in MODES:
            raise QueryError(f"unknown mode {self.mode!r}: use one of {', '.join(MODES)}")
        if self.page < 1:
            raise QueryError(f"page must be 1 or more, not {self.page}")
        if not 1 <= self.per_page <= MAX_PER_PAGE:
            raise QueryError(f"per_page must be between 1 and {MAX_PER_PAGE}, not {self.per_page}")
        if self.since and self.until and self.since > self.until:
            raise QueryError(f"since ({self.since}) is after until ({self.until})")

    @property
    def filters(self) -> Filters:
        return Filters(
            self.since,
            self.until,
            tuple(self.categories),
            tuple(self.authors),
            has_code=self.has_code,
        )


@dataclass
class SearchHit:
    id: str
    title: str
    authors: list[str]
    snippet: str  # HTML: escaped text with <b> around matched terms
    score: float
    listing_date: date | None
    categories: list[str]
    upvotes: int
    abs_url: str | None
    pdf_url: str | None
    # The full papers row (plus ``votes`` and ``upvotes``), so that the JSON
    # API need not read it again.
    paper: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # What found it: ("words",), ("meaning",) or both; () when sorted by date
    # (the keyword index alone, so words).
    matched: tuple[str, ...] = ()

    @property
    def matched_by(self) -> str:
        """The results page's word on a hybrid hit: whether meaning matched too."""
        if "meaning" not in self.matched:
            return ""
        return "also matched by meaning" if "words" in self.matched else "matched by meaning"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "authors": self.authors,
            "snippet": self.snippet,
            "score": round(self.score, 6),
            "listing_date": self.listing_date.isoformat() if self.listing_date else None,
            "categories": self.categories,
            "upvotes": self.upvotes,
            "abs_url": self.abs_url,
            "pdf_url": self.pdf_url,
            # The code link a card shows, and GitHub's figure (trending.with_code).
            "code_url": self.paper.get("code_url"),
            "github_repo": self.paper.get("github_repo"),
            "github_stars": self.paper.get("github_stars"),
            "project_page": self.paper.get("project_page"),
        }


@dataclass
class SearchResults:
    request: SearchRequest
    hits: list[SearchHit]
    total: int
    mode: str  # what actually ran: hybrid, lexical or dense
    notes: list[str] = field(default_factory=list)

    @property
    def pages(self) -> int:
        reachable = min(self.total, MAX_RESULTS)
        return max(1, math.ceil(reachable / self.request.per_page))

    def as_json(self) -> dict[str, Any]:
        r = self.request
        return {
            "query": r.query,
            "filters": {
                "category": list(r.categories),
                "author": list(r.authors),
                "since": r.since.isoformat() if r.since else None,
                "until": r.until.isoformat() if r.until else None,
                "has_code": r.has_code,
            },
            "sort": r.sort,
            "page": r.page,
            "per_page": r.per_page,
            "pages": self.pages,
            "total": self.total,
            "mode": self.mode,
            "notes": self.notes,
            "hits": [h.as_json() for h in self.hits],
        }


class QueryVectorCache:
    """The vectors of recent queries, per worker process: embedding a query
    is most of a search's CPU time (~4 ms of ONNX), and real traffic repeats
    its popular queries (paging, feeds, the same topic from many readers).
    Keyed by the embedder object, so another model or token limit misses."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._items: OrderedDict[tuple[int, str], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, embedder: Any, text: str) -> Any:
        key = (id(embedder), text)
        with self._lock:
            vector = self._items.get(key)
            if vector is not None:
                self._items.move_to_end(key)
        if vector is not None:
            metrics.QUERY_VECTOR_CACHE.labels("hit").inc()
            return vector
        metrics.QUERY_VECTOR_CACHE.labels("miss").inc()
        vector = embedder.embed_queries([text])[0]
        vector.setflags(write=False)  # shared between requests
        with self._lock:
            self._items[key] = vector
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return vector


def dense_search_for(
    indexes: Indexes, query_vectors: QueryVectorCache | None = None
) -> DenseSearch | None:
    """The dense retriever over this database's vectors, or None when there are
    none (the embedding extra is not installed, or nothing is embedded yet).
    ``query_vectors``: the process's cache (``Paperfeed.query_vectors``)."""
    try:
        from paperfeed.index.embedder import EmbedderUnavailable, get_embedder
    except ImportError:
        return None
    index = indexes.vectors
    if len(index) == 0:
        return None
    try:
        embedder = get_embedder(indexes.settings)
    except EmbedderUnavailable as exc:
        log.warning("semantic search off: %s", exc)
        return None

    def run(text: str, k: int) -> Ranked:
        vector = (
            query_vectors.get(embedder, text)
            if query_vectors is not None
            else embedder.embed_queries([text])[0]
        )
        return [(str(i), float(s)) for i, s in index.search(vector, k)]

    return run


def search(
    indexes: Indexes,
    request: SearchRequest,
    *,
    query_vectors: QueryVectorCache | None = None,
    tuning: SearchTuning = SearchTuning(),
) -> SearchResults:
    """Run one search. Raises QueryError (HTTP 400) for a query or request that
    cannot be run; every other input gets results, possibly none."""
    request.validate()
    parsed = parse(request.query)
    db, lexical = indexes.database, indexes.lexical
    dense = dense_search_for(indexes, query_vectors) if request.mode != "lexical" else None
    notes: list[str] = []
    if request.mode != "lexical" and dense is None and parsed.free_text:
        notes.append("semantic search is unavailable (no vectors yet): keyword results only")
    start = (request.page - 1) * request.per_page
    filters = request.filters
    if parsed.has_code or filters.has_code:
        with db.connect() as conn:
            code_ids = code_store.ids_with_code(conn)
        filters = replace(filters, has_code=True, code_ids=code_ids)

    if request.sort == "date":
        text_query = lexical.render(parsed.root)
        scoring = text_query if text_query is not None or parsed.is_empty else None
        if scoring is None and not parsed.is_empty:
            page_hits: Ranked = []
            total = 0
        else:
            page_hits, total = lexical.search(
                lexical.combine(scoring, lexical.filter_query(filters)),
                limit=request.per_page,
                offset=start,
                by_date=True,
            )
        highlight = text_query
        used_dense = False
        matched: dict[str, tuple[str, ...]] = {}
    else:
        depth = min(MAX_RESULTS, max(DEFAULT_FUSION.depth, start + request.per_page))
        if request.sort == "upvotes":
            depth = MAX_RESULTS
        ranking = rank(
            lexical, parsed, filters, dense=dense, mode=request.mode, depth=depth, tuning=tuning
        )
        ranked, total, highlight, used_dense, matched = (
            ranking.ranked,
            ranking.total,
            ranking.highlight,
            ranking.used_dense,
            ranking.matched,
        )
        if request.sort == "upvotes":
            with db.connect() as conn:
                votes = trending_store.upvote_counts(conn, [i for i, _ in ranked])
            ranked = sorted(ranked, key=lambda kv: (-votes.get(kv[0], 0), -kv[1]))
        page_hits = ranked[start : start + request.per_page]

    hits = _hydrate(db, lexical, page_hits, highlight, with_snippets=request.snippets)
    for hit in hits:
        hit.matched = matched.get(hit.id, ())
    mode = "hybrid" if used_dense and request.mode == "hybrid" else request.mode
    if request.mode == "hybrid" and not used_dense:
        mode = "lexical"
    return SearchResults(request, hits, total, mode, notes)


# A formula as the pages typeset it: $$...$$ or $...$ (the snippet is HTML,
# so no "$" of the text has become anything else).
_FORMULA = re.compile(r"\$\$[^$]+\$\$|\$[^$]+\$")


def formulas_unmarked(snippet: str) -> str:
    """The snippet with no highlighting inside a formula: KaTeX reads a
    formula from one text node, and a <b> in it left the formula as raw TeX."""
    return _FORMULA.sub(lambda m: m.group(0).replace("<b>", "").replace("</b>", ""), snippet)


def _hydrate(
    db: Database,
    lexical: LexicalIndex,
    ranked: Ranked,
    highlight: KeywordQuery | None,
    *,
    with_snippets: bool = True,
) -> list[SearchHit]:
    ids = [i for i, _ in ranked]
    with db.connect() as conn:
        # Full rows with ``votes`` and ``upvotes``, as the list pages read them.
        rows = {row["id"]: row for row in trending.papers_with_upvotes(conn, ids)}
    # Papers removed since they were indexed, or hidden by a curator, drop out.
    shown = [(i, s) for i, s in ranked if i in rows and not rows[i]["hidden"]]
    snippets = (
        [
            formulas_unmarked(snippet)
            for snippet in lexical.snippets_html(
                highlight, [rows[i]["abstract"] or "" for i, _ in shown]
            )
        ]
        if with_snippets
        else [""] * len(shown)
    )
    hits: list[SearchHit] = []
    for (paper_id, score), snippet in zip(shown, snippets, strict=True):
        row = rows[paper_id]
        hits.append(
            SearchHit(
                id=paper_id,
                title=row["title"],
                authors=list(row["authors"] or []),
                snippet=snippet,
                score=score,
                listing_date=row["listing_date"],
                categories=list(row["categories"] or []),
                upvotes=row["upvotes"],
                abs_url=row["abs_url"],
                pdf_url=row["pdf_url"],
                paper=row,
            )
        )
    return hits


__all__ = [
    "DEFAULT_FUSION",
    "Fusion",
    "QueryError",
    "SearchHit",
    "SearchRequest",
    "SearchResults",
    "convex",
    "fuse",
    "normalize",
    "rank",
    "rrf",
    "search",
]
