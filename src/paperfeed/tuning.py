"""Tuning: the numbers and switches chosen by measurement rather than by the
operator, in one typed place. The application object carries one ``Tuning``
(``Paperfeed(settings, tuning=...)``); tests pass other values instead of
patching module globals. The figures behind the defaults are in
docs/benchmarks.md."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SearchTuning:
    # Run the dense side (query embedding + ANN) on another thread while this
    # one runs BM25 (False: one after the other; the results are the same).
    parallel_dense: bool = True


@dataclass(frozen=True)
class IngestTuning:
    batch_size: int = 2000  # papers per transaction
    # Papers per author-linking transaction (services.authors.link_pending):
    # the backfill of a large instance commits this often and resumes from there.
    link_batch_size: int = 2000
    # An ingest that stored at most this many papers links their authors
    # itself; larger ones leave it to the embed job (linking costs about as
    # much CPU per paper as ingest: docs/benchmarks.md, issue 24).
    link_inline_max: int = 5000
    # Past this many papers in one run, and a third of those already stored,
    # PostgreSQL's keyword posting table is deferred and rebuilt once at the
    # end (migration 0014): the triggers' upkeep per paper stored outweighs a
    # rebuild per paper in the table once a run stores a third of the corpus.
    defer_postings_after: int = 10_000


@dataclass(frozen=True)
class IndexTuning:
    """The keyword and vector backends' cut-offs (index/backends.py hands them on)."""

    # tantivy: an index built over this many papers or more is sharded (BM25 in
    # a shard uses that shard's statistics; below it, one shard ranks exactly),
    # and its shards are searched on a thread pool rather than one by one.
    sharded_from_papers: int = 100_000
    parallel_shards: bool = True
    # faiss: below these sizes a brute-force dot product is exact and about as fast.
    exact_max_index: int = 5_000
    exact_max_candidates: int = 20_000
    # faiss: re-score the graph path's candidates exactly from the table. Off:
    # at 100k papers reading 200 vectors per query cost more than the rest of
    # the dense search and moved recall@10 from 0.880 to 0.886.
    rescore_graph: bool = False
    # faiss: vectors added per hold of the index lock in an incremental sync,
    # so a search waits for at most one chunk (~8 ms at 1.1M papers).
    catch_up_chunk: int = 8
    # pgvector: a sync with this many vectors missing (and a quarter of their
    # dimension's rows) drops the HNSW index, fills the column, then builds it
    # in one pass, instead of inserting row by row into a live graph.
    bulk_min_rows: int = 5000
    # PostgreSQL keyword: unscored (by date) searches count matches exactly up
    # to count_cap, and estimate beyond; a ranked pass scores at most
    # candidate_cap matches (bounds a query's cost whatever it matches).
    count_cap: int = 1000
    candidate_cap: float = 2000
    # PostgreSQL keyword: how long sampled term statistics are served before a
    # background refresh.
    stats_ttl: float = 600.0
    # PostgreSQL posting lists: how far down each term's list a search reads,
    # how many of the best sums it scores exactly, and the postings read in all
    # (a long title's many long lists share them, each at least min_depth).
    postings_per_term: int = 2000
    rescored: int = 200
    postings_budget: int = 16000
    postings_min_depth: int = 500


@dataclass(frozen=True)
class JobsTuning:
    embed_every_seconds: float = 10.0  # the serve process's embed poll (and wake-ups)
    notices_seconds: float = 300.0  # comment notices (at most one per thread per hour anyway)
    reminders_seconds: float = 3600.0  # reading-group reminders for tomorrow's sessions
    # Machine summaries (only while summaries_url is set): the daily cap bounds
    # the requests, this how soon new papers get theirs.
    summaries_seconds: float = 600.0
    # GitHub stars refresh (services.github_stars): each run asks about at most
    # github_refresh_batch repositories and stops at GitHub's rate limit until
    # its reset (60 requests an hour without a token); 0 turns it off.
    github_stars_seconds: float = 3600.0


@dataclass(frozen=True)
class RecommendTuning:
    """The personal feed (paperfeed.recommend): its model and its caches.
    The model's numbers were chosen on the feed benchmark (docs/feed-eval.md)."""

    text_c: float = 0.01  # the word SVM's C, arxiv-sanity-lite's
    meaning_c: float = 0.1  # the embedding SVM's C
    meaning_negatives: int = 1000  # of the background sample, for the embedding SVM
    hide_weight: float = 3.0  # an explicit hide counts this many background papers
    background_size: int = 2000  # "everything else" negatives of the word SVM
    vocabulary_sample: int = 30_000  # most recent papers the tf-idf is fitted on
    max_features: int | None = None  # the vocabulary keeps every term seen twice
    # The vocabulary is refitted (in the background) once the instance grew by
    # this fraction since the last fit.
    refit_growth: float = 0.25
    # Features of listing-date windows (tf-idf rows, twice, and vectors) kept,
    # in bytes all together (a 30-day window of 9.5k papers is ~48 MiB).
    window_cache_bytes: int = 160 * 2**20
    # Per-reader models kept, in bytes (each is ~2 MiB: a weight per term of
    # the vocabulary, and the reader's papers' rows).
    model_cache_bytes: int = 48 * 2**20
    recheck_seconds: float = 5.0  # how often a kept window asks whether it changed


@dataclass(frozen=True)
class Tuning:
    search: SearchTuning = field(default_factory=SearchTuning)
    ingest: IngestTuning = field(default_factory=IngestTuning)
    index: IndexTuning = field(default_factory=IndexTuning)
    jobs: JobsTuning = field(default_factory=JobsTuning)
    recommend: RecommendTuning = field(default_factory=RecommendTuning)
