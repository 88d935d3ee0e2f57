"""Hybrid search with real vectors (the packaged MiniLM), through the function
the API calls: the dense side running beside the lexical one must give the
same results as running them one after the other."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from itertools import islice

import pytest

from paperfeed import search as search_module
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.index.backends import Indexes, open_indexes
from paperfeed.index.contracts import Filters
from paperfeed.index.embedding import embed_pending
from paperfeed.ingest.jsonl import read_jsonl
from paperfeed.ingest.pipeline import ingest
from paperfeed.query import parse
from paperfeed.search import SearchRequest, rank, search
from paperfeed.tuning import SearchTuning
from tests.conftest import ARXIV_CS
from tests.helpers import real_records

SLICE = 80


@pytest.fixture(scope="module")
def hybrid_corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Indexes]:
    tmp = tmp_path_factory.mktemp("hybrid")
    settings = Settings(
        data_dir=tmp / "data",
        database_url=f"sqlite:///{tmp / 'paperfeed.db'}",
        secret_key="test-secret-key-not-for-production",
        embed_max_tokens=64,  # short texts keep the module's embedding cheap
    )
    db = Database(settings.database_url_resolved)
    ingest(db, islice(read_jsonl(ARXIV_CS), SLICE))
    indexes = open_indexes(settings, db)
    indexes.sync_lexical()
    assert embed_pending(db, settings) == SLICE
    yield indexes
    db.dispose()


def _queries() -> list[SearchRequest]:
    records = list(real_records(ARXIV_CS, SLICE))
    titles = [r["title"] for r in records[:6]]
    words = [" ".join(r["abstract"].split()[5:9]) for r in records[10:14]]
    first = records[0]
    return [
        *(SearchRequest(query=q) for q in titles + words),
        SearchRequest(query=f'"{" ".join(first["title"].split()[:2])}" learning'),  # must + dense
        SearchRequest(query="neural networks -graph"),
        SearchRequest(query="language models", categories=("cs.CL",)),
        SearchRequest(query="learning", since=date(2025, 1, 1), per_page=5, page=2),
        SearchRequest(query="attention", sort="upvotes"),
    ]


def _snapshot(results: search_module.SearchResults) -> tuple:
    return (
        results.mode,
        results.total,
        [(h.id, h.score, h.snippet) for h in results.hits],
    )


def test_parallel_dense_gives_the_same_results(hybrid_corpus: Indexes) -> None:
    requests = _queries()
    serial_tuning = SearchTuning(parallel_dense=False)
    serial = [_snapshot(search(hybrid_corpus, r, tuning=serial_tuning)) for r in requests]
    parallel = [_snapshot(search(hybrid_corpus, r)) for r in requests]
    assert parallel == serial
    # The dense side really ran (the comparison would be empty otherwise).
    assert sum(mode == "hybrid" for mode, _, _ in serial) >= len(requests) - 2
    assert all(hits for _, _, hits in serial[:10])


@pytest.mark.parametrize("parallel", [False, True])
def test_a_failing_dense_side_fails_the_search(hybrid_corpus: Indexes, parallel: bool) -> None:
    def broken(text: str, k: int) -> list[tuple[str, float]]:
        raise RuntimeError("vector index gone")

    lexical = hybrid_corpus.lexical
    with pytest.raises(RuntimeError, match="vector index gone"):
        rank(
            lexical,
            parse("graph neural networks"),
            Filters(),
            dense=broken,
            tuning=SearchTuning(parallel_dense=parallel),
        )
