"""Tuning: the numbers and switches chosen by measurement rather than by the
operator, in one typed place. The application object carries one ``Tuning``
(``Paperfeed(settings, tuning=...)``); tests pass other values instead of
patching module globals. The figures behind the defaults are in
docs/benchmarks.md. (The index backends' own constants live with them in
paperfeed.index.)"""

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
    # Past this many papers in one run, and a third of those already stored,
    # PostgreSQL's keyword posting table is deferred and rebuilt once at the
    # end (migration 0014): the triggers' upkeep per paper stored outweighs a
    # rebuild per paper in the table once a run stores a third of the corpus.
    defer_postings_after: int = 10_000


@dataclass(frozen=True)
class Tuning:
    search: SearchTuning = field(default_factory=SearchTuning)
    ingest: IngestTuning = field(default_factory=IngestTuning)
