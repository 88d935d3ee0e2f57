"""A sharded keyword index: each paper in one shard, searches merged best first,
the shard count chosen by size (or pinned by the settings) and kept on disk."""

from __future__ import annotations

import json
import threading
from datetime import date, timedelta

import pytest

from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.index import lexical
from paperfeed.index.lexical import (
    FORMAT_FILE,
    TantivyIndex,
    combine,
    lexical_path,
    render,
    shard_of,
)
from paperfeed.ingest.pipeline import ingest
from paperfeed.query import parse
from paperfeed.tuning import IndexTuning
from tests.helpers import make_paper


def corpus(count: int) -> list[dict]:
    """Papers sharing "graph" a varying number of times, each with a word of its own."""
    start = date(2025, 3, 1)
    return [
        {
            "id": f"2503.{i:05d}",
            "title": f"Graph paper {i} about token{i}",
            "abstract": " ".join(["graph"] * (1 + i % 7)) + f" networks token{i}",
            "authors": [f"Author {i}"],
            "categories": ["cs.LG"],
            "listing_date": start + timedelta(days=i),
        }
        for i in range(count)
    ]


def query(text: str):  # type: ignore[no-untyped-def]
    return combine(render(parse(text).root))


def test_each_paper_lives_in_exactly_one_shard() -> None:
    index = TantivyIndex(None, shards=2)
    papers = corpus(40)
    index.add(papers)
    per_shard = [int(shard.searcher().num_docs) for shard in index.shards]
    assert all(count > 0 for count in per_shard) and sum(per_shard) == 40
    assert index.num_docs == 40
    for i, paper in enumerate(papers):
        hits, total = index.search(query(f"token{i}"), limit=5)
        assert total == 1 and [paper_id for paper_id, _ in hits] == [paper["id"]]
    # Re-adding replaces in the paper's own shard: no duplicate anywhere.
    index.add(papers[:10])
    assert index.num_docs == 40
    assert sum(int(shard.searcher().num_docs) for shard in index.shards) == 40


def test_sharded_search_is_the_merge_of_its_shards_best_first() -> None:
    sharded = TantivyIndex(None, shards=2)
    single = TantivyIndex(None, shards=1)
    papers = corpus(60)
    sharded.add(papers)
    single.add(papers)
    hits, total = sharded.search(query("graph networks"), limit=100)
    one_hits, one_total = single.search(query("graph networks"), limit=100)
    assert total == one_total == 60
    assert {i for i, _ in hits} == {i for i, _ in one_hits}  # the same matches
    scores = [score for _, score in hits]
    assert scores == sorted(scores, reverse=True)
    # Each shard's own ranking survives the merge (the order within a shard is its order).
    for number, shard in enumerate(sharded.shards):
        searcher, top, _ = lexical._top_docs(shard, query("graph networks"), 100, 0, False)
        own = lexical._with_ids(searcher, top)
        assert [i for i, _ in hits if shard_of(i, 2) == number] == [i for i, _ in own]
    # Pages are slices of the merged ranking.
    page, page_total = sharded.search(query("graph networks"), limit=7, offset=14)
    assert page == hits[14:21] and page_total == 60


def test_parallel_and_serial_shard_searches_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    index = TantivyIndex(None, shards=2)
    index.add(corpus(30))
    threads: list[str] = []
    real = lexical._top_docs

    def recording(*args, **kwargs):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(lexical, "_top_docs", recording)
    parallel = index.search(query("graph token3"), limit=20)
    assert len(threads) == 2 and any(name.startswith("pf-lexical") for name in threads)
    index.tuning = IndexTuning(parallel_shards=False)
    threads.clear()
    assert index.search(query("graph token3"), limit=20) == parallel
    assert threads == [threading.current_thread().name] * 2


def test_newest_first_across_shards() -> None:
    index = TantivyIndex(None, shards=2)
    papers = corpus(25)
    index.add(papers)
    hits, total = index.search(query("graph"), limit=10, by_date=True)
    newest = sorted(papers, key=lambda p: p["listing_date"], reverse=True)[:10]
    assert total == 25
    assert [i for i, _ in hits] == [p["id"] for p in newest]
    page, _ = index.search(query("graph"), limit=5, offset=5, by_date=True)
    assert [i for i, _ in page] == [p["id"] for p in newest[5:10]]


def test_matching_checks_ids_in_their_own_shards() -> None:
    index = TantivyIndex(None, shards=2)
    papers = corpus(20)
    index.add(papers)
    ids = [p["id"] for p in papers]
    assert {shard_of(i, 2) for i in ids} == {0, 1}
    assert index.matching(ids, query("token4")) == {"2503.00004"}
    assert index.matching(ids + ["2503.99999"], query("graph")) == set(ids)
    assert index.matching([], query("graph")) == set()


def test_shard_count_is_chosen_by_size_when_built(
    settings: Settings,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    eight = IndexTuning(sharded_from_papers=8)
    ingest(db, [make_paper(f"2504.0000{i}", title=f"Tropical geometry {i}") for i in range(5)])
    index = TantivyIndex.open(settings, db, eight)
    assert len(index.shards) == 1
    # Growing past the threshold does not split a built index ...
    ingest(db, [make_paper(f"2504.0001{i}", title=f"Tropical curves {i}") for i in range(5)])
    index.sync(db)
    assert len(index.shards) == 1 and index.num_docs == 10
    # ... the next process says how to split it ...
    with caplog.at_level("WARNING", logger="paperfeed.index.lexical"):
        assert len(TantivyIndex.open(settings, db, eight).shards) == 1
    assert "10 papers in 1 shard(s)" in caplog.text and "reindex --no-vectors" in caplog.text
    # ... and a rebuild (paperfeed reindex) chooses again, and records it.
    index = TantivyIndex.rebuild(settings, db, eight)
    assert index.num_docs == 10
    assert len(index.shards) == 2
    assert json.loads((lexical_path(settings) / FORMAT_FILE).read_text())["shards"] == 2
    reopened = TantivyIndex.open(settings, db, eight)
    assert len(reopened.shards) == 2
    hits, total = reopened.search(query("tropical"), limit=20)
    assert total == 10 and len({i for i, _ in hits}) == 10


def test_a_pinned_shard_count_rebuilds_the_index(settings: Settings, db: Database) -> None:
    ingest(db, [make_paper(f"2505.0000{i}", title=f"Persistent homology {i}") for i in range(6)])
    assert len(TantivyIndex.open(settings, db).shards) == 1
    pinned = settings.model_copy(update={"lexical_shards": 3})
    index = TantivyIndex.open(pinned, db)
    assert len(index.shards) == 3
    assert json.loads((lexical_path(pinned) / FORMAT_FILE).read_text())["shards"] == 3
    hits, total = index.search(query("homology"), limit=10)
    assert total == 6 and len(hits) == 6
    # Automatic (0) keeps whatever the index was built with.
    assert len(TantivyIndex.open(settings, db).shards) == 3


def test_zero_shards_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one shard"):
        TantivyIndex(None, shards=0)
