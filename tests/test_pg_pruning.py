"""PostgreSQL search: the impact-ordered posting lists (migration 0013) stay
in step with the papers and rank like scoring every match; candidate pruning
(rank the rarest terms' matches first, where the lists' leaders hold too few
matches) keeps the query's semantics and stays close to ranking every match;
the bulk vector sync builds the HNSW index after filling the column."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from itertools import islice

import numpy as np
import pytest
from sqlalchemy import text

from paperfeed.config import Settings
from paperfeed.db import Database, postings
from paperfeed.index import pg_keyword, pg_postings, pg_query, pg_stats, pgvector
from paperfeed.ingest.jsonl import read_jsonl
from paperfeed.ingest.pipeline import ingest
from paperfeed.query import parse
from paperfeed.search import Filters
from paperfeed.tuning import IndexTuning
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
    yield db
    db.dispose()
    pg_server.drop_database(name)


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return list(real_records(ARXIV_CS, SLICE))


@pytest.fixture
def rare_terms_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Candidate pruning by rare terms alone: as on a schema before the posting
    table, and as a search falls back to when the lists' leaders fall short."""
    monkeypatch.setattr(pg_keyword.PgLexicalIndex, "_has_postings", lambda self, conn: False)


def run(
    db: Database,
    query: str,
    budget: float,
    limit: int = 10,
    filters: Filters | None = None,
    tuning: IndexTuning = IndexTuning(),
) -> list[str]:
    index = pg_keyword.PgLexicalIndex(db, tuning)
    rendered = index.combine(
        index.render(parse(query).root), index.filter_query(filters or Filters())
    )
    hits, _total = index.search(rendered, limit=limit, budget=budget)
    return [i for i, _ in hits]


def words(text_: str) -> set[str]:
    return {w.lower() for w in re.findall(r"\w+", text_)}


def test_prune_terms_picks_the_rarest_within_budget() -> None:
    assert pg_stats.prune_terms([500, 3, 40, 9000], budget=50) == [1, 2]
    # The rarest alone is always taken, even over budget.
    assert pg_stats.prune_terms([800, 700, 900], budget=10) == [1]
    # All terms fit: nothing to prune.
    assert pg_stats.prune_terms([5, 6], budget=50) is None


def test_list_depths_share_the_budget_among_the_long_lists() -> None:
    depths = pg_postings.list_depths
    # Within the budget: every list read to the usual depth.
    assert depths([100, 5000, 3000], depth=2000, budget=16000, min_depth=500) == [2000, 2000, 2000]
    # Over it: the short lists whole, the long ones share what is left.
    assert depths([300, 9000, 9000, 9000, 9000, 9000], depth=2000, budget=8300, min_depth=500) == [
        2000,
        1600,
        1600,
        1600,
        1600,
        1600,
    ]
    # Never below the floor, however many long lists share the budget.
    floor = IndexTuning().postings_min_depth
    assert set(depths([50_000.0] * 40, depth=2000, budget=16000, min_depth=floor)) == {floor}


def test_a_long_query_reads_no_more_than_the_budget(
    corpus: Database, records: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many long lists: together they are read to the budget, not each to its
    depth, and the title still finds its paper first."""
    record = max(records[:100], key=lambda r: len(r["title"].split()))
    original = pg_postings.fetch

    def postings_read(tuning: IndexTuning) -> int:
        """Postings the search's lists gave (its SQL's first CTE, counted)."""
        read: list[int] = []

        def spy(conn, sql):  # type: ignore[no-untyped-def]
            pattern = r"WITH top AS (NOT )?MATERIALIZED \((.*?)\), candidates AS"
            if found := re.match(pattern, sql):
                read.append(original(conn, f"SELECT count(*) FROM ({found[2]}) AS t")[0][0])
                # Truncated lists are not counted again: read once, not stored.
                assert bool(found[1]) == ("FALSE AS complete" in sql)
            return original(conn, sql)

        monkeypatch.setattr(pg_postings, "fetch", spy)
        hits = run(corpus, record["title"], budget=pg_keyword.PRUNE_BUDGET, tuning=tuning)
        monkeypatch.setattr(pg_postings, "fetch", original)
        assert hits[0] == record["id"]
        assert len(read) == 1
        return read[0]

    unbounded = postings_read(IndexTuning(postings_per_term=100))
    budget, floor = 60, 5
    bound = budget + floor * 2 * len(record["title"].split())  # two branches a word at most
    assert unbounded > bound, "the lists are short: the test would not see the budget"
    tight = IndexTuning(postings_per_term=100, postings_budget=budget, postings_min_depth=floor)
    assert 0 < postings_read(tight) <= bound


def test_estimate_takes_a_phrase_by_its_rarest_word_and_adds_branches() -> None:
    stats = pg_stats.TermStats(
        papers=1000, sampled=100, df={"graph": 50, "neural": 10}, fetched_at=0
    )
    assert stats.estimate("'graph':AB <-> 'neural':AB") == pytest.approx(100)
    assert stats.estimate("'graph':AB | 'graphs':C") == pytest.approx(500 + 5)
    assert stats.estimate("'graph':AB | 'graph':C") == pytest.approx(500)
    assert stats.estimate("'never':A") == pytest.approx(5)  # unseen: half a sampled paper


def test_stats_count_documents_not_occurrences(corpus: Database) -> None:
    stats = pg_keyword.PgLexicalIndex(corpus).stats.get()
    assert stats.sampled == stats.papers == SLICE
    with corpus.connect() as conn:
        learn = conn.execute(
            text(
                "SELECT count(*) FROM papers WHERE search_vector @@ to_tsquery('english', 'learn')"
            )
        ).scalar_one()
    assert stats.df["learn"] == learn > 0


@pytest.mark.usefixtures("rare_terms_only")
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


@pytest.mark.usefixtures("rare_terms_only")
def test_too_few_rare_matches_widen_to_every_match(corpus: Database) -> None:
    # "of" and "learning" match most papers; a made-up rare word none:
    # the pruned pass finds too few, so the search ranks every match.
    query = "learning models of zqxwvjk"
    assert run(corpus, query, budget=5, limit=50) == run(corpus, query, budget=UNPRUNED, limit=50)


@pytest.mark.parametrize("path", ["postings", "rare terms"])
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
    corpus: Database,
    records: list[dict],
    query: str,
    path: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tuning = IndexTuning()
    if path == "rare terms":
        monkeypatch.setattr(pg_keyword.PgLexicalIndex, "_has_postings", lambda self, conn: False)
    else:  # short lists: candidates matching only some of the words are read too
        tuning = IndexTuning(postings_per_term=30)
    by_id = {r["id"]: r for r in records}
    pruned = run(corpus, query, budget=5, limit=20, tuning=tuning)
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


@pytest.mark.usefixtures("rare_terms_only")
def test_total_is_exact_below_the_cap_and_estimated_above(
    corpus: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = pg_keyword.PgLexicalIndex(corpus)
    rendered = index.render(parse("learning").root)
    _hits, exact = index.search(rendered, limit=5)
    capping = pg_keyword.PgLexicalIndex(corpus, IndexTuning(count_cap=20))
    _hits, capped = capping.search(capping.render(parse("learning").root), limit=5)
    assert exact > 20
    assert capped >= 20
    assert abs(capped - exact) <= 0.5 * exact  # from the full-corpus stats of a small corpus


def test_bulk_sync_fills_then_builds_the_index(
    corpus: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from paperfeed.db import embeddings as vector_store
    from paperfeed.db import papers as paper_store

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
    index = pgvector.PgVectorIndex(corpus, "test-model", IndexTuning(bulk_min_rows=50))
    assert pgvector._dims_to_rebuild(corpus, 50) == [8]
    # A second with no statement: the sync's first read then sends this
    # backend's statistics, so without _report_stats_at_commit the fill's
    # dead rows would wait out PostgreSQL's one-second interval and arrive
    # after the VACUUM (seen in CI; reproduced every time this way).
    time.sleep(1.2)
    assert index.sync(corpus) == len(ids)
    time.sleep(1.2)  # past that interval: what was pending has arrived
    with corpus.connect() as conn:
        names = {r[0] for r in conn.execute(text("SELECT indexname FROM pg_indexes"))}
        missing = conn.execute(
            text("SELECT count(*) FROM embeddings WHERE embedding IS NULL")
        ).scalar_one()
    assert "ix_embeddings_hnsw_8" in names
    assert missing == 0
    # The fill's dead rows were vacuumed away by the sync (an autovacuum would
    # set last_autovacuum instead), before the HNSW index existed.
    with corpus.connect() as conn:
        vacuumed = conn.execute(
            text(
                "SELECT last_vacuum IS NOT NULL AS done, n_dead_tup AS dead "
                "FROM pg_stat_user_tables WHERE relname = 'embeddings'"
            )
        ).one()
    assert vacuumed.done and vacuumed.dead == 0
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
    index = pgvector.PgVectorIndex(corpus, model)
    assert index.search(vectors[0], 1)[0][0] == ids[0]  # first look: filled in place
    store(3)
    release = threading.Event()
    original_sync = pgvector.PgVectorIndex.sync

    def slow_sync(self: pgvector.PgVectorIndex, *args: object, **kwargs: object) -> int:
        release.wait(timeout=60)  # a deadlock guard, not a speed limit
        return original_sync(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pgvector.PgVectorIndex, "sync", slow_sync)
    index._background.last_start -= pgvector.SYNC_EVERY_SECONDS  # due now
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

    stats = pg_keyword.PgLexicalIndex(corpus).stats
    before = stats.get()
    stats.ttl = 0.0
    assert stats.get() is before  # stale, served at once
    while stats.refreshing:
        time.sleep(0.01)
    stats.ttl = 600.0  # no further refresh
    after = stats.get()
    assert after is not before
    assert after.fetched_at > before.fetched_at
    assert after.df == before.df


@pytest.mark.usefixtures("rare_terms_only")
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


@pytest.mark.usefixtures("rare_terms_only")
def test_candidate_cap_bounds_the_rows_scored(
    corpus: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = pg_keyword.PgLexicalIndex(corpus)
    rendered = index.render(parse("learning").root)
    _hits, exact = index.search(rendered, limit=5)
    capping = pg_keyword.PgLexicalIndex(corpus, IndexTuning(candidate_cap=25))
    capped_hits, estimated = capping.search(capping.render(parse("learning").root), limit=50)
    assert exact > 25
    assert len(capped_hits) == 25  # no more rows than the cap were scored
    assert abs(estimated - exact) <= 0.5 * exact  # beyond the cap, estimated


def test_searches_leave_no_compiled_statements_behind(corpus: Database, records) -> None:
    """A search's SQL carries its words as literals and never repeats: kept in
    SQLAlchemy's compiled cache it only made every full garbage collection
    longer (300+ ms at 1M papers). Distinct searches leave the cache as it was."""
    index = pg_keyword.PgLexicalIndex(corpus)
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

    index = pg_keyword.PgLexicalIndex(corpus)
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


# The impact-ordered posting lists (migration 0013).
POSTINGS_DRIFT = """
SELECT (SELECT count(*) FROM lexical_postings) AS stored,
       (SELECT count(*) FROM papers, paperfeed_postings(papers.search_vector, papers.id))
         AS expected,
       (SELECT count(*) FROM (
          SELECT lexeme, impact, paper_id FROM lexical_postings
          EXCEPT ALL
          SELECT p.* FROM papers, paperfeed_postings(papers.search_vector, papers.id) AS p
        ) AS d) AS stale
"""


def _postings_drift(db: Database) -> tuple[int, int, int]:
    with db.connect() as conn:
        row = conn.execute(text(POSTINGS_DRIFT)).one()
    return int(row.stored), int(row.expected), int(row.stale)


def _postings_of(db: Database, paper_id: str) -> set[str]:
    with db.connect() as conn:
        rows = conn.execute(
            text("SELECT lexeme FROM lexical_postings WHERE paper_id = :p"), {"p": paper_id}
        )
        return {r.lexeme for r in rows}


def _visibility(db: Database) -> tuple[int, int, list[str]]:
    """The posting table's pages, those VACUUM marked all-visible (the pages an
    index-only scan of its lists skips), and its storage options."""
    with db.connect() as conn:
        row = conn.execute(
            text(
                "SELECT relpages, relallvisible, coalesce(reloptions, '{}') AS options "
                "FROM pg_class WHERE oid = 'lexical_postings'::regclass"
            )
        ).one()
    return int(row.relpages), int(row.relallvisible), sorted(row.options)


AUTOVACUUM_OPTIONS = [
    "autovacuum_vacuum_insert_scale_factor=0.02",
    "autovacuum_vacuum_scale_factor=0.05",
]


def test_postings_follow_every_write(pg_db: Database) -> None:
    """Triggers keep one row per (lexeme, paper), with its impact, through bulk
    inserts, new versions that change the words, updates that do not, merges
    and deletes: the table always equals the papers' recomputed postings."""
    db = pg_db
    from datetime import UTC, datetime

    from paperfeed.models import Version, slug_for
    from tests.helpers import make_paper

    ingest(db, islice(read_jsonl(ARXIV_CS), 60))
    stored, expected, stale = _postings_drift(db)
    assert stored == expected > 60 and stale == 0

    v1 = datetime(2025, 1, 2, tzinfo=UTC)
    v2 = datetime(2025, 3, 4, tzinfo=UTC)
    ingest(db, [make_paper("2501.00001", title="Quokka census", versions=[Version(1, v1)])])
    assert "quokka" in _postings_of(db, "2501.00001")
    ingest(
        db,
        [
            make_paper(
                "2501.00001",
                title="Wombat census",
                versions=[Version(1, v1), Version(2, v2)],
            )
        ],
    )
    words = _postings_of(db, "2501.00001")
    assert "wombat" in words and "quokka" not in words
    assert _postings_drift(db)[2] == 0

    with db.begin() as conn:  # no word changes: the postings stay as they are
        conn.execute(text("UPDATE papers SET imported_upvotes = 5"))
    stored_after, expected_after, stale_after = _postings_drift(db)
    assert stored_after == expected_after and stale_after == 0

    # A slug paper merged into its arXiv twin is deleted with its postings.
    title = "Harnessing Explanations: LLM-to-LM Interpreter"
    ingest(db, [make_paper(slug_for(title), title=title, authors=[])])
    assert _postings_of(db, slug_for(title))
    ingest(db, [make_paper("2305.19523", title=title)])
    assert _postings_of(db, slug_for(title)) == set()

    with db.begin() as conn:
        conn.execute(text("DELETE FROM papers WHERE id = '2501.00001'"))
    assert _postings_of(db, "2501.00001") == set()
    stored, expected, stale = _postings_drift(db)
    assert stored == expected and stale == 0


def test_postings_rank_like_scoring_every_match(
    corpus: Database, records: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    """At this size every list is read to its end: the best sums, scored
    exactly, are the best matches. Nothing else is scored."""

    def no_fallback(*args: object, **kwargs: object) -> None:
        raise AssertionError("the search fell back to rare-term pruning")

    queries = [r["title"] for r in records[::40]] + ["learning", "graph neural network"]
    full = {q: run(corpus, q, budget=UNPRUNED) for q in queries}
    monkeypatch.setattr(pg_keyword.PgLexicalIndex, "_scored", no_fallback)
    for query in queries:
        assert run(corpus, query, budget=pg_keyword.PRUNE_BUDGET) == full[query], query


def test_short_lists_still_find_the_best(
    corpus: Database, records: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading only the top of each list: a title still finds its own paper
    first, and most of the exact top ten."""
    short = IndexTuning(postings_per_term=25, rescored=20)
    overlaps = []
    for record in records[::20]:
        full = run(corpus, record["title"], budget=UNPRUNED)
        led = run(corpus, record["title"], budget=pg_keyword.PRUNE_BUDGET, tuning=short)
        assert led[0] == full[0] == record["id"]
        overlaps.append(len(set(led) & set(full)) / len(full))
    assert sum(overlaps) / len(overlaps) >= 0.7


def test_leaders_that_fail_the_query_make_room_for_the_next(
    corpus: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filter that most of a list's leaders fail: the next best sums are
    looked up in their place, so the search needs no fallback (before, it
    scored only the best ``rescored`` sums and fell back when too few passed)."""
    few = IndexTuning(rescored=10)  # 20 scored for 10 results
    with corpus.connect() as conn:
        leaders = conn.execute(
            text(
                "SELECT l.paper_id, p.listing_date FROM lexical_postings AS l "
                "JOIN papers AS p ON p.id = l.paper_id WHERE l.lexeme = 'learn' "
                "ORDER BY l.impact DESC, l.paper_id"
            )
        ).all()
    days = sorted({day for _, day in leaders})
    # The latest days that hold at least 30 of the list: too few of its best 20.
    since = next(d for d in reversed(days) if sum(day >= d for _, day in leaders) >= 30)
    assert sum(day >= since for _, day in leaders[:20]) < 10, "the leaders pass: pick another day"
    filters = Filters(since=since)
    full = run(corpus, "learning", budget=UNPRUNED, limit=10, filters=filters)

    def no_fallback(*args: object, **kwargs: object) -> None:
        raise AssertionError("the search fell back to rare-term pruning")

    monkeypatch.setattr(pg_keyword.PgLexicalIndex, "_scored", no_fallback)
    led = run(
        corpus, "learning", budget=pg_keyword.PRUNE_BUDGET, limit=10, filters=filters, tuning=few
    )
    assert len(led) == 10
    assert len(set(led) & set(full)) >= 8


def test_a_selective_filter_falls_back_to_every_match(
    corpus: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filter that the lists' leaders rarely pass leaves too few of them:
    the search falls back and still returns the exact best of the filtered."""
    with corpus.connect() as conn:
        rare = conn.execute(
            text(
                "SELECT c FROM papers, jsonb_array_elements_text(categories::jsonb) AS c "
                "GROUP BY c HAVING count(*) BETWEEN 3 AND 15 ORDER BY count(*), c LIMIT 1"
            )
        ).scalar_one()
    filters = Filters(categories=[rare])
    full = run(corpus, "learning model", budget=UNPRUNED, limit=10, filters=filters)
    assert full
    calls = []
    original = pg_keyword.PgLexicalIndex._scored

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pg_keyword.PgLexicalIndex, "_scored", spy)
    short = IndexTuning(postings_per_term=5, rescored=5)
    budget = pg_keyword.PRUNE_BUDGET
    led = run(corpus, "learning model", budget=budget, limit=10, filters=filters, tuning=short)
    assert led == full
    assert calls, "the leaders sufficed: the test would not see the fallback"


def test_postings_total_is_exact_when_every_match_was_scored(corpus: Database) -> None:
    index = pg_keyword.PgLexicalIndex(corpus)
    rendered = index.render(parse("graph").root)
    hits, total = index.search(rendered, limit=5)
    with corpus.connect() as conn:
        sql = f"SELECT count(*) FROM papers WHERE {rendered.cond}"  # noqa: S608
        matches = pg_query.fetch(conn, sql)[0][0]
    assert 5 < matches < IndexTuning().rescored  # every match among the leaders
    assert len(hits) == 5
    assert total == matches


def _stale(db: Database) -> bool:
    with db.connect() as conn:
        return postings.postings_stale(conn)


def test_deferred_writes_mark_the_postings_stale_until_one_rebuild(pg_db: Database) -> None:
    """A bulk load's transactions leave the posting table alone and mark it
    stale with their papers; searches then skip it (and still find the new
    papers); one rebuild makes it equal the papers' postings again."""
    db = pg_db
    from paperfeed.db import papers as paper_store
    from tests.helpers import make_paper

    ingest(db, islice(read_jsonl(ARXIV_CS), 40))
    assert not _stale(db)
    assert postings.rebuild_postings(db) is False  # nothing deferred: nothing done
    with db.begin() as conn:
        postings.defer_postings(conn)
        paper_store.upsert_papers(conn, [make_paper("2501.00002", title="Quokka census")])
        conn.execute(text("DELETE FROM papers WHERE id = (SELECT min(id) FROM papers)"))
    assert _stale(db)
    assert _postings_of(db, "2501.00002") == set()
    assert _postings_drift(db)[2] > 0  # the deleted paper's rows are still there

    # Read, the stale table would say "no match" (its lists have no quokka).
    index = pg_keyword.PgLexicalIndex(db)
    hits, total = index.search(index.render(parse("quokka").root), limit=5)
    assert [i for i, _ in hits] == ["2501.00002"] and total == 1

    # A transaction without the setting keeps the table as before.
    with db.begin() as conn:
        paper_store.upsert_papers(conn, [make_paper("2501.00003", title="Wombat census")])
    assert "wombat" in _postings_of(db, "2501.00003")

    assert _visibility(db)[2] == AUTOVACUUM_OPTIONS  # migration 0015
    assert postings.rebuild_postings(db) is True
    assert not _stale(db)
    stored, expected, stale = _postings_drift(db)
    assert stored == expected > 40 and stale == 0
    # Vacuumed once built, so searches' index-only scans skip the heap; and
    # created with the options that keep autovacuum doing so.
    pages, visible, options = _visibility(db)
    assert pages > 0 and visible == pages
    assert options == AUTOVACUUM_OPTIONS
    assert "quokka" in _postings_of(db, "2501.00002")
    assert postings.rebuild_postings(db) is False
    # The rebuilt table is the one the triggers keep from now on.
    with db.begin() as conn:
        conn.execute(text("DELETE FROM papers WHERE id = '2501.00002'"))
    assert _postings_of(db, "2501.00002") == set()
    assert _postings_drift(db)[2] == 0
    with db.connect() as conn:
        names = {
            r[0]
            for r in conn.execute(
                text("SELECT indexname FROM pg_indexes WHERE tablename = 'lexical_postings'")
            )
        }
    assert names == {"ix_lexical_postings"}


def test_a_large_ingest_defers_the_postings_and_rebuilds_them_at_the_end(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``defer_postings_after`` papers a run's batches defer the table (it
    is stale while they run) and the run rebuilds it once, at its end."""
    db = pg_db
    from paperfeed.ingest import pipeline
    from paperfeed.tuning import IngestTuning

    rebuilds = []
    original = postings.rebuild_postings

    def counted(db: Database, **kwargs: bool) -> bool:
        rebuilds.append(original(db, **kwargs))
        return rebuilds[-1]

    monkeypatch.setattr(pipeline, "rebuild_postings", counted)
    seen: list[tuple[int, bool]] = []
    report = ingest(
        db,
        islice(read_jsonl(ARXIV_CS), 50),
        tuning=IngestTuning(batch_size=10, defer_postings_after=20),
        on_progress=lambda r: seen.append((r.read, _stale(db))),
    )
    assert report.inserted == 50
    assert seen[:2] == [(10, False), (20, False)]  # up to the threshold: row by row
    assert (30, True) in seen and (50, True) in seen
    assert rebuilds == [True]
    assert not _stale(db)
    stored, expected, stale = _postings_drift(db)
    assert stored == expected and stale == 0


def test_a_failed_large_ingest_still_rebuilds_what_it_stored(pg_db: Database) -> None:
    db = pg_db
    from paperfeed.tuning import IngestTuning

    def records_then_crash() -> Iterator:
        yield from islice(read_jsonl(ARXIV_CS), 30)
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        tuning = IngestTuning(batch_size=10, defer_postings_after=5)
        ingest(db, records_then_crash(), tuning=tuning)
    assert not _stale(db)
    stored, expected, stale = _postings_drift(db)
    assert expected > 0 and stored == expected and stale == 0


def test_the_next_ingest_rebuilds_a_table_a_killed_run_left_stale(pg_db: Database) -> None:
    """A bulk run killed before its rebuild leaves the mark set; any later run,
    however small, finds it and rebuilds (and a run that finds it clear does not)."""
    db = pg_db
    from paperfeed.db import papers as paper_store
    from tests.helpers import make_paper

    records = list(islice(read_jsonl(ARXIV_CS), 12))
    ingest(db, records[:10])
    with db.begin() as conn:  # the killed run's last committed batch
        postings.defer_postings(conn)
        paper_store.upsert_papers(conn, [make_paper("2501.00002", title="Quokka census")])
    assert _stale(db)
    ingest(db, records[10:11])
    assert not _stale(db)
    assert "quokka" in _postings_of(db, "2501.00002")
    stored, expected, stale = _postings_drift(db)
    assert stored == expected > 0 and stale == 0
    pages, visible, _ = _visibility(db)
    assert visible == pages  # rebuilt, so vacuumed
    with db.begin() as conn:
        conn.execute(text("INSERT INTO lexical_postings VALUES ('zzz', 1.0, 'nowhere')"))
    ingest(db, records[11:12])  # not stale: left as it is
    assert _postings_drift(db)[2] == 1


def test_reindex_on_postgresql_rebuilds_the_posting_table(
    pg_db: Database, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from paperfeed.cli import app
    from paperfeed.config import get_settings

    db = pg_db
    monkeypatch.setenv("PAPERFEED_DATABASE_URL", db.engine.url.render_as_string(False))
    monkeypatch.setenv("PAPERFEED_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PAPERFEED_SECRET_KEY", "test-secret-key-not-for-production")
    ingest(db, islice(read_jsonl(ARXIV_CS), 20))
    with db.begin() as conn:
        conn.execute(text("DELETE FROM lexical_postings"))  # however it got lost
    result = CliRunner().invoke(app, ["reindex", "--no-vectors"])
    assert result.exit_code == 0, result.output
    assert "keyword index rebuilt: 20 papers" in result.output
    stored, expected, stale = _postings_drift(db)
    assert stored == expected > 0 and stale == 0
    assert not (get_settings().index_dir / "lexical").exists()  # no tantivy sidecar


def test_downgrading_past_0014_rebuilds_a_stale_table(pg_db: Database) -> None:
    """0013's searches do not know the stale mark: the downgrade rebuilds first."""
    db = pg_db
    from alembic import command

    from paperfeed.db import papers as paper_store
    from paperfeed.db.engine import alembic_config
    from tests.helpers import make_paper

    ingest(db, islice(read_jsonl(ARXIV_CS), 10))
    with db.begin() as conn:
        postings.defer_postings(conn)
        paper_store.upsert_papers(conn, [make_paper("2501.00002", title="Quokka census")])
    assert _stale(db)
    command.downgrade(
        alembic_config(db.engine.url.render_as_string(hide_password=False)), "0013_pg_postings"
    )
    assert not _stale(db)
    assert "quokka" in _postings_of(db, "2501.00002")
    assert _postings_drift(db)[2] == 0
