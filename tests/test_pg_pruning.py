"""PostgreSQL search: candidate pruning (rank the rarest terms' matches first)
keeps the query's semantics and stays close to ranking every match; the
bulk vector sync builds the HNSW index after filling the column."""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import islice

import numpy as np
import pytest
from sqlalchemy import text

from paperfeed.config import Settings
from paperfeed.db import Database, pg_search
from paperfeed.ingest.jsonl import read_jsonl
from paperfeed.ingest.pipeline import ingest
from paperfeed.query import parse
from paperfeed.search import Filters
from tests.conftest import ARXIV_CS, PG_TEMPLATE
from tests.helpers import real_records

SLICE = 400
pytestmark = pytest.mark.postgres
UNPRUNED = float("inf")


@pytest.fixture(scope="module")
def corpus(pg_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    name = pg_server.create_database(template=PG_TEMPLATE)
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("pruning"),
        database_url=pg_server.url(name),
        secret_key="test-secret-key-not-for-production",
    )
    db = Database(settings.database_url_resolved)
    ingest(db, islice(read_jsonl(ARXIV_CS), SLICE))
    pg_search.term_stats(db, refresh=True)
    yield db
    db.dispose()
    pg_server.drop_database(name)


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return list(real_records(ARXIV_CS, SLICE))


def run(db: Database, query: str, budget: float, limit: int = 10) -> list[str]:
    index = pg_search.PgLexicalIndex(db)
    rendered = index.combine(index.render(parse(query).root), index.filter_query(Filters()))
    hits, _total = index.search(rendered, limit=limit, budget=budget)
    return [i for i, _ in hits]


def words(text_: str) -> set[str]:
    return {w.lower() for w in re.findall(r"\w+", text_)}


def test_prune_terms_picks_the_rarest_within_budget() -> None:
    assert pg_search.prune_terms([500, 3, 40, 9000], budget=50) == [1, 2]
    # The rarest alone is always taken, even over budget.
    assert pg_search.prune_terms([800, 700, 900], budget=10) == [1]
    # All terms fit: nothing to prune.
    assert pg_search.prune_terms([5, 6], budget=50) is None


def test_estimate_takes_a_phrase_by_its_rarest_word_and_adds_branches() -> None:
    stats = pg_search.TermStats(
        papers=1000, sampled=100, df={"graph": 50, "neural": 10}, fetched_at=0
    )
    assert stats.estimate("'graph':AB <-> 'neural':AB") == pytest.approx(100)
    assert stats.estimate("'graph':AB | 'graphs':C") == pytest.approx(500 + 5)
    assert stats.estimate("'graph':AB | 'graph':C") == pytest.approx(500)
    assert stats.estimate("'never':A") == pytest.approx(5)  # unseen: half a sampled paper


def test_stats_count_documents_not_occurrences(corpus: Database) -> None:
    stats = pg_search.term_stats(corpus)
    assert stats.sampled == stats.papers == SLICE
    with corpus.connect() as conn:
        learn = conn.execute(
            text(
                "SELECT count(*) FROM papers WHERE search_vector @@ to_tsquery('english', 'learn')"
            )
        ).scalar_one()
    assert stats.df["learn"] == learn > 0


def test_title_queries_find_the_paper_first_and_agree_with_full_ranking(
    corpus: Database, records: list[dict]
) -> None:
    overlaps = []
    pruned_any = False
    for record in records[::40]:
        pruned = run(corpus, record["title"], budget=30)
        full = run(corpus, record["title"], budget=UNPRUNED)
        assert pruned[0] == full[0] == record["id"]
        overlaps.append(len(set(pruned) & set(full)) / len(full))
        pruned_any |= pruned != full
    # Close, not equal: the pruned ranking drops papers matching only common words.
    assert sum(overlaps) / len(overlaps) >= 0.6
    assert pruned_any, "the budget never pruned: the test would not see a change"


def test_too_few_rare_matches_widen_to_every_match(corpus: Database) -> None:
    # "of" and "learning" match most papers; a made-up rare word none:
    # the pruned pass finds too few, so the search ranks every match.
    query = "learning models of zqxwvjk"
    assert run(corpus, query, budget=5, limit=50) == run(corpus, query, budget=UNPRUNED, limit=50)


@pytest.mark.parametrize(
    "query",
    [
        "graph neural network training data -language",
        '"large language models" reasoning benchmark evaluation',
        "title:learning robust control policy agents",
        "(diffusion OR transformer) AND image generation quality",
    ],
)
def test_pruned_results_keep_the_query_semantics(
    corpus: Database, records: list[dict], query: str
) -> None:
    by_id = {r["id"]: r for r in records}
    pruned = run(corpus, query, budget=5, limit=20)
    full = set(run(corpus, query, budget=UNPRUNED, limit=SLICE))
    assert pruned
    assert set(pruned) <= full  # every pruned hit is a match of the whole query
    for paper_id in pruned:
        record = by_id[paper_id]
        body = f"{record['title']} {record['abstract']}".lower()
        if "-language" in query:
            assert "language" not in words(body)
        if query.startswith('"'):
            assert "large language model" in re.sub(r"\s+", " ", body)
        if query.startswith("title:"):
            assert "learn" in record["title"].lower()
        if "AND" in query:
            assert {"diffusion", "transformer"} & words(body) or "transformers" in words(body)


def test_total_is_exact_below_the_cap_and_estimated_above(
    corpus: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = pg_search.PgLexicalIndex(corpus)
    rendered = index.render(parse("learning").root)
    _hits, exact = index.search(rendered, limit=5)
    monkeypatch.setattr(pg_search, "COUNT_CAP", 20)
    _hits, capped = index.search(rendered, limit=5)
    assert exact > 20
    assert capped >= 20
    assert abs(capped - exact) <= 0.5 * exact  # from the full-corpus stats of a small corpus


def test_bulk_sync_fills_then_builds_the_index(
    corpus: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from paperfeed.db import embeddings as vector_store
    from paperfeed.db import papers as paper_store

    monkeypatch.setattr(pg_search, "BULK_MIN_ROWS", 50)
    rng = np.random.default_rng(3)
    with corpus.begin() as conn:
        rows = conn.execute(text("SELECT id FROM papers ORDER BY id")).all()
        ids = [r.id for r in rows]
        hashes = {i: p["text_hash"] for i, p in paper_store.get_papers(conn, ids).items()}
        vectors = rng.standard_normal((len(ids), 8)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        vector_store.store_vectors(
            conn, "test-model", [(i, hashes[i], vectors[k]) for k, i in enumerate(ids)]
        )
    index = pg_search.PgVectorIndex(corpus, "test-model")
    assert pg_search._dims_to_rebuild(corpus) == [8]
    assert index.sync(corpus) == len(ids)
    with corpus.connect() as conn:
        names = {r[0] for r in conn.execute(text("SELECT indexname FROM pg_indexes"))}
        missing = conn.execute(
            text("SELECT count(*) FROM embeddings WHERE embedding IS NULL")
        ).scalar_one()
    assert "ix_embeddings_hnsw_8" in names
    assert missing == 0
    exact = [ids[j] for j in np.argsort(-(vectors @ vectors[7]))[:5]]
    found = [i for i, _ in index.search(vectors[7], 5)]
    assert found[0] == ids[7]
    assert len(set(found) & set(exact)) >= 4


def test_later_vector_fills_run_on_a_background_thread(
    corpus: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first look fills in place; later ones start on a thread and the
    search goes on without waiting for the COPY, UPDATE and HNSW inserts."""
    import threading

    from paperfeed.db import embeddings as vector_store
    from paperfeed.db import papers as paper_store

    model = "test-background-fill"
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((4, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with corpus.begin() as conn:
        ids = [r.id for r in conn.execute(text("SELECT id FROM papers ORDER BY id LIMIT 4"))]
        hashes = {i: p["text_hash"] for i, p in paper_store.get_papers(conn, ids).items()}

    def store(k: int) -> None:
        with corpus.begin() as conn:
            vector_store.store_vectors(conn, model, [(ids[k], hashes[ids[k]], vectors[k])])

    for k in range(3):
        store(k)
    index = pg_search.PgVectorIndex(corpus, model)
    assert index.search(vectors[0], 1)[0][0] == ids[0]  # first look: filled in place
    store(3)
    release = threading.Event()
    original_sync = pg_search.PgVectorIndex.sync

    def slow_sync(self: pg_search.PgVectorIndex, *args: object, **kwargs: object) -> int:
        release.wait(timeout=60)  # a deadlock guard, not a speed limit
        return original_sync(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pg_search.PgVectorIndex, "sync", slow_sync)
    index._background.last_start -= pg_search.SYNC_EVERY_SECONDS  # due now
    before = [i for i, _ in index.search(vectors[3], 4)]  # returns with the fill blocked
    fill = index._background.thread
    assert fill is not None and fill.is_alive()
    assert ids[3] not in before
    release.set()
    fill.join(timeout=60)
    assert not fill.is_alive()
    assert index.search(vectors[3], 1)[0][0] == ids[3]


def test_stale_stats_are_served_while_refreshed_in_the_background(
    corpus: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    before = pg_search.term_stats(corpus, refresh=True)
    monkeypatch.setattr(pg_search, "STATS_TTL", 0.0)
    assert pg_search.term_stats(corpus) is before  # stale, served at once
    while pg_search._refreshing:
        time.sleep(0.01)
    monkeypatch.setattr(pg_search, "STATS_TTL", 600.0)  # no further refresh
    after = pg_search.term_stats(corpus)
    assert after is not before
    assert after.fetched_at > before.fetched_at
    assert after.df == before.df


def test_common_words_rank_papers_with_all_of_them_first(
    corpus: Database, records: list[dict]
) -> None:
    # Every word is common (budget 5): the papers matching all of them are
    # scored first, and with enough of them the search stops there.
    hits = run(corpus, "learning model data", budget=5, limit=5)
    assert len(hits) == 5
    by_id = {r["id"]: r for r in records}
    for paper_id in hits:
        body = f"{by_id[paper_id]['title']} {by_id[paper_id]['abstract']}".lower()
        assert all(stem in body for stem in ("learn", "model", "data")), paper_id


def test_candidate_cap_bounds_the_rows_scored(
    corpus: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = pg_search.PgLexicalIndex(corpus)
    rendered = index.render(parse("learning").root)
    _hits, exact = index.search(rendered, limit=5)
    monkeypatch.setattr(pg_search, "CANDIDATE_CAP", 25)
    capped_hits, estimated = index.search(rendered, limit=50)
    assert exact > 25
    assert len(capped_hits) == 25  # no more rows than the cap were scored
    assert abs(estimated - exact) <= 0.5 * exact  # beyond the cap, estimated


def test_searches_leave_no_compiled_statements_behind(corpus: Database, records) -> None:
    """A search's SQL carries its words as literals and never repeats: kept in
    SQLAlchemy's compiled cache it only made every full garbage collection
    longer (300+ ms at 1M papers). Distinct searches leave the cache as it was."""
    index = pg_search.PgLexicalIndex(corpus)
    cache = corpus.engine._compiled_cache
    assert cache is not None
    titles = [r["title"] for r in records[:25]]
    before = len(cache)
    for title in titles:
        rendered = index.combine(index.render(parse(title).root), index.filter_query(Filters()))
        hits, _ = index.search(rendered, limit=5)
        assert hits  # each title finds at least its own paper
        index.matching([paper_id for paper_id, _ in hits], rendered)
        index.snippets_html(rendered, ["a text to highlight " + title])
    assert len(cache) - before < 5  # not one entry (or three) per search


def test_words_are_parsed_once_per_process(corpus: Database) -> None:
    """PostgreSQL parses each term's words into a tsquery in one round trip;
    a search rendering the same words again (the dense side's constraint, the
    next search) reuses them and sends nothing."""
    from sqlalchemy import event

    index = pg_search.PgLexicalIndex(corpus)
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        sent.append(statement)

    query = parse('title:"zqx parsed once" wordsforcachetest author:Kmeansky')
    event.listen(corpus.engine, "before_cursor_execute", record)
    try:
        first = index.render(query.root)
        parses = len(sent)
        second = index.render(query.root)
    finally:
        event.remove(corpus.engine, "before_cursor_execute", record)
    assert parses == 1 and "phraseto_tsquery" in sent[0]
    assert len(sent) == parses  # the second render sent no statement
    assert first == second
    assert first is not None and first.terms == (
        "'zqx':A <-> 'pars':A",  # "once" is a stop word
        "'kmeansky':C",
        "'wordsforcachetest':AB | 'wordsforcachetest':C",
    )
