"""Embeddings, the vector sidecar and similar papers, with the real packaged model."""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import delete
from typer.testing import CliRunner

from paperfeed import jobs
from paperfeed.app import Paperfeed
from paperfeed.cli import app
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import embeddings as vector_store
from paperfeed.db import papers as paper_store
from paperfeed.db.tables import papers as papers_table
from paperfeed.index import vectors as vectors_module
from paperfeed.index.backends import open_indexes
from paperfeed.index.embedder import (
    PACKAGED_MINILM,
    EmbedderUnavailable,
    OnnxEmbedder,
    document_text,
    get_embedder,
    load_embedder,
)
from paperfeed.index.embedding import embed_pending
from paperfeed.index.vectors import FaissIndex
from paperfeed.ingest.jsonl import read_jsonl
from paperfeed.ingest.pipeline import ingest
from paperfeed.similar import more_like_these, similar_papers
from paperfeed.tuning import IndexTuning, JobsTuning
from tests.conftest import ARXIV_CS, PG_TEMPLATE
from tests.helpers import (
    make_paper,
    real_records,
    seed_papers_with_vectors,
    unit_vectors,
    write_jsonl,
)
from tests.workers import wait_for

# ---------------------------------------------------------------- embedder


def test_embedder_shape_and_unit_length(settings: Settings) -> None:
    embedder = get_embedder(settings)
    assert get_embedder(settings) is embedder  # one per process
    texts = ["Graph neural networks", "", "ü" * 5000]  # empty and over-long text too
    vectors = embedder.embed_documents(texts)
    assert vectors.shape == (3, embedder.dim) == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed_queries(["Graph neural networks"]).shape == (1, 384)
    assert embedder.embed_documents([]).shape == (0, 384)


def test_embedder_batches_do_not_change_vectors(settings: Settings) -> None:
    """Batches give each text the vector it gets alone.

    Within float rounding with the shipped float32-compute file (length-sorted,
    padded batches). With the int8 default, activations share one quantization
    scale per batch, so batchmates would move a text a little (padding
    included: cosine 0.978 for attn-qint8-v2); since mha-qint8-v3 its attention
    takes no mask and a batch holds texts of one token length only, so texts of
    different lengths run apart and get exactly their own vector, and equal
    lengths share a batch (close, not bitwise)."""
    texts = ["short", "a much longer text about transformers and attention " * 6, "mid length text"]
    shipped = load_embedder(PACKAGED_MINILM)
    together = shipped.embed_documents(texts)
    alone = np.stack([shipped.embed_documents([t])[0] for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-4)
    embedder = get_embedder(settings)
    together = embedder.embed_documents(texts)
    alone = np.stack([embedder.embed_documents([t])[0] for t in texts])
    np.testing.assert_array_equal(together, alone)
    np.testing.assert_array_equal(alone[0], embedder.embed_documents(["short"])[0])
    same_length = ["graph neural networks", "image retrieval methods"]  # 5 tokens each
    assert isinstance(embedder, OnnxEmbedder)
    assert len({len(e.ids) for e in embedder._tokenizer.encode_batch(same_length)}) == 1
    pair = embedder.embed_documents(same_length)
    apart = np.stack([embedder.embed_documents([t])[0] for t in same_length])
    assert ((pair * apart).sum(axis=1) > 0.97).all()


def test_a_single_query_gets_its_document_vector(settings: Settings) -> None:
    """One query runs on a one-thread session of the same model (cheaper for a
    few tokens); its vector is exactly the one the batch session gives."""
    embedder = get_embedder(settings)
    texts = ["graph neural networks", "Sparse attention kernels for long-context language models"]
    for text in texts:
        np.testing.assert_array_equal(
            embedder.embed_queries([text])[0], embedder.embed_documents([text])[0]
        )
    np.testing.assert_array_equal(embedder.embed_queries(texts), embedder.embed_documents(texts))


def test_close_texts_score_higher_than_unrelated(settings: Settings) -> None:
    embedder = get_embedder(settings)
    query = embedder.embed_query("image classification with convolutional neural networks")
    docs = embedder.embed_documents(
        [
            "We train a deep CNN to recognise objects in photographs (ImageNet).",
            "Large language models are fine-tuned to follow instructions.",
            "The central bank raised interest rates to curb inflation.",
            "A recipe for sourdough bread with a long cold fermentation.",
        ]
    )
    scores = docs @ query
    assert scores.argmax() == 0
    assert scores[0] > scores[1] > scores[2]
    assert scores[0] > scores[3]


def test_document_text_puts_the_title_first() -> None:
    assert document_text("Title", "Some\n  abstract") == "Title. Some abstract"
    assert document_text("Title", "") == "Title"
    assert document_text(None, "Only abstract") == "Only abstract"


def test_unknown_models_fail_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(EmbedderUnavailable, match="unknown packaged model"):
        load_embedder("packaged:nope")
    # Without the optional extra, a sentence-transformers model name says what
    # to install (None in sys.modules makes the import fail, as uninstalled).
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(EmbedderUnavailable, match=r"my/model.*sentence-transformers\]"):
        load_embedder("my/model")


# ---------------------------------------------------------------- vector index


def _exact_top(stored: dict[str, np.ndarray], query: np.ndarray, k: int) -> list[str]:
    ids = list(stored)
    scores = np.stack([stored[i] for i in ids]) @ query
    return [ids[i] for i in np.argsort(-scores)[:k]]


MODEL = "test-model@16"


def test_index_search_matches_exact_search(settings: Settings, db: Database) -> None:
    stored = seed_papers_with_vectors(db, 300, model=MODEL)
    index = FaissIndex.open(settings, db, model_id=MODEL)
    assert len(index) == 300
    query = unit_vectors(np.random.default_rng(7), 1)[0]
    hits = index.search(query, 10)
    assert [pid for pid, _ in hits] == _exact_top(stored, query, 10)
    assert hits[0][1] == pytest.approx(float(stored[hits[0][0]] @ query), abs=1e-5)
    # A filter restricts the answer to the allowed papers.
    allowed = list(stored)[:20]
    filtered = index.search(query, 5, allowed_ids=allowed)
    assert [pid for pid, _ in filtered] == _exact_top({a: stored[a] for a in allowed}, query, 5)
    assert index.search(query, 5, exclude=[hits[0][0]])[0][0] == hits[1][0]


def test_hnsw_path_finds_nearest(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With exact search switched off, the graph answers, including with a filter."""
    stored = seed_papers_with_vectors(db, 500, model=MODEL)
    graph_only = IndexTuning(exact_max_index=0, exact_max_candidates=0)
    index = FaissIndex.open(settings, db, model_id=MODEL, tuning=graph_only)
    rng = np.random.default_rng(3)
    overlap = 0
    for query in unit_vectors(rng, 20):
        got = [pid for pid, _ in index.search(query, 10)]
        overlap += len(set(got) & set(_exact_top(stored, query, 10)))
    assert overlap / 200 >= 0.9
    # A stored vector finds itself first.
    some = list(stored)[123]
    assert index.search(stored[some], 1)[0][0] == some
    allowed = set(list(stored)[:100])
    got = index.search(stored[some], 5, allowed_ids=allowed)
    assert got and all(pid in allowed for pid, _ in got)


def test_index_persists_and_reopens(settings: Settings, db: Database) -> None:
    stored = seed_papers_with_vectors(db, 50, model=MODEL)
    index = FaissIndex.open(settings, db, model_id=MODEL)
    index.save()
    files = {p.name for p in Path(settings.index_dir).iterdir()}
    assert "vectors.json" in files and any(f.endswith(".faiss") for f in files)
    reopened = FaissIndex.open(settings, model_id=MODEL)  # no database: the file alone
    assert len(reopened) == 50
    some = list(stored)[7]
    assert reopened.search(stored[some], 1)[0][0] == some


def test_index_catches_up_after_a_crash(settings: Settings, db: Database) -> None:
    stored = seed_papers_with_vectors(db, 40, model=MODEL)
    index = FaissIndex.open(settings, db, model_id=MODEL)
    index.save()
    # After the save, the database moves on while the sidecar is not saved
    # (a crash): one paper is re-embedded, one removed, new ones arrive.
    rng = np.random.default_rng(11)
    changed, gone = "2501.00003", "2501.00004"
    ingest(db, [make_paper(changed, abstract="A rewritten abstract.")])
    ingest(db, [make_paper(f"2502.{i:05d}") for i in range(5)])
    new_vectors = unit_vectors(rng, 6)
    with db.begin() as conn:
        rows = paper_store.get_papers(conn, [changed] + [f"2502.{i:05d}" for i in range(5)])
        items = [(pid, rows[pid]["text_hash"], new_vectors[k]) for k, pid in enumerate(rows)]
        vector_store.store_vectors(conn, MODEL, items)
        conn.execute(delete(papers_table).where(papers_table.c.id == gone))  # cascades
    for pid, _, vector in items:
        stored[pid] = vector
    del stored[gone]

    reopened = FaissIndex.open(settings, db, model_id=MODEL)
    assert len(reopened) == len(stored) == 44
    assert gone not in reopened
    for pid in (changed, "2502.00004"):
        assert reopened.search(stored[pid], 1)[0][0] == pid
    query = unit_vectors(rng, 1)[0]
    assert [p for p, _ in reopened.search(query, 10)] == _exact_top(stored, query, 10)

    # A lost sidecar (deleted files) or a half-written one is rebuilt from the table.
    reopened.save()
    for path in Path(settings.index_dir).glob("vectors-*.faiss"):
        path.write_bytes(b"truncated")
    rebuilt = FaissIndex.open(settings, db, model_id=MODEL)
    assert [p for p, _ in rebuilt.search(query, 10)] == _exact_top(stored, query, 10)
    for path in Path(settings.index_dir).iterdir():
        path.unlink()
    rebuilt = FaissIndex.open(settings, db, model_id=MODEL)
    assert [p for p, _ in rebuilt.search(query, 10)] == _exact_top(stored, query, 10)


def test_index_built_by_another_model_is_rebuilt(settings: Settings, db: Database) -> None:
    seed_papers_with_vectors(db, 10, model=MODEL)
    first = FaissIndex.open(settings, db, model_id=MODEL)
    first.save()
    other = FaissIndex.open(settings, db, model_id="other-model@16")
    assert len(other) == 0  # no vectors of that model yet; the old graph is not used


def test_index_reuses_deleted_slots(settings: Settings, db: Database) -> None:
    index = FaissIndex(Path(settings.index_dir), MODEL)
    vectors = unit_vectors(np.random.default_rng(1), 30)
    index.add([f"p{i}" for i in range(20)], vectors[:20])
    index.remove([f"p{i}" for i in range(10)])
    index.add([f"q{i}" for i in range(10)], vectors[20:])
    assert len(index) == 20
    assert index.search(vectors[25], 1)[0][0] == "q5"
    assert "p3" not in {p for p, _ in index.search(vectors[3], 20)}
    with pytest.raises(ValueError, match="dimension"):
        index.add(["x"], np.ones((1, 8), dtype=np.float32))


# ---------------------------------------------------------------- real slice


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="pg", marks=pytest.mark.postgres),
    ],
)
def real_slice(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, Database]]:
    """200 real papers, embedded once for the module's tests (faiss sidecar on
    SQLite, pgvector on PostgreSQL)."""
    tmp = tmp_path_factory.mktemp("real")
    url = f"sqlite:///{tmp / 'paperfeed.db'}"
    pg_database = None
    if request.param == "postgresql":
        server = request.getfixturevalue("pg_server")
        pg_database = server.create_database(template=PG_TEMPLATE)
        url = server.url(pg_database)
    settings = Settings(data_dir=tmp / "data", database_url=url, secret_key="test")
    db = Database(settings.database_url_resolved)
    source = write_jsonl(tmp / "slice.jsonl", list(real_records(ARXIV_CS, 200)))
    ingest(db, read_jsonl(source))
    assert embed_pending(db, settings) == 200
    yield settings, db
    db.dispose()
    if pg_database is not None:
        server.drop_database(pg_database)


@pytest.mark.slow
def test_similar_papers_on_real_slice(real_slice: tuple[Settings, Database]) -> None:
    settings, db = real_slice
    records = list(real_records(ARXIV_CS, 200))
    target = records[0]
    hits = similar_papers(open_indexes(settings, db), target["id"], k=10)
    assert len(hits) == 10
    assert target["id"] not in {pid for pid, _ in hits}
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    # Related means: the neighbours share the paper's categories far more
    # often than the slice does at large.
    cats = {r["id"]: set(r["categories"]) for r in records}
    share = sum(bool(cats[pid] & cats[target["id"]]) for pid, _ in hits) / len(hits)
    base = sum(bool(c & cats[target["id"]]) for c in cats.values()) / len(cats)
    assert share > base


@pytest.mark.slow
def test_near_duplicate_is_the_most_similar(real_slice: tuple[Settings, Database]) -> None:
    """A paper ingested after the embedding run (no vector yet) is embedded on
    the fly, and its reworded twin is its nearest neighbour."""
    settings, db = real_slice
    original = next(iter(real_records(ARXIV_CS, 1)))
    words = original["abstract"].split()
    twin = make_paper(
        "2599.00001",
        title=original["title"].upper(),
        abstract=" ".join(words[: len(words) // 2] + ["Moreover,"] + words[len(words) // 2 :]),
    )
    ingest(db, [twin])
    hits = similar_papers(open_indexes(settings, db), "2599.00001", k=3)
    assert hits[0][0] == original["id"]
    assert "2599.00001" not in {p for p, _ in hits}
    # "More like these": the set itself and the excluded ids never come back.
    records = list(real_records(ARXIV_CS, 5))
    liked = [r["id"] for r in records[:3]]
    more = more_like_these(open_indexes(settings, db), liked, k=10, exclude=[records[3]["id"]])
    got = {pid for pid, _ in more}
    assert len(more) == 10 and not got & (set(liked) | {records[3]["id"]})
    assert similar_papers(open_indexes(settings, db), "no-such-paper") == []


@pytest.mark.slow
def test_hidden_papers_are_not_suggested(real_slice: tuple[Settings, Database]) -> None:
    settings, db = real_slice
    target = next(iter(real_records(ARXIV_CS, 1)))["id"]
    first = similar_papers(open_indexes(settings, db), target, k=1)[0][0]
    with db.begin() as conn:
        paper_store.set_curation(conn, first, hidden=True)
    try:
        assert first not in {p for p, _ in similar_papers(open_indexes(settings, db), target, k=10)}
    finally:
        with db.begin() as conn:
            paper_store.set_curation(conn, first, hidden=False)


# ---------------------------------------------------------------- commands and worker


def test_embed_command_on_a_tiny_database(cli_env: Settings, tmp_path: Path) -> None:
    runner = CliRunner()
    source = write_jsonl(tmp_path / "tiny.jsonl", list(real_records(ARXIV_CS, 12)))
    assert runner.invoke(app, ["ingest", "jsonl", str(source)]).exit_code == 0
    result = runner.invoke(app, ["embed"])
    assert result.exit_code == 0, result.output
    assert "embedded 12 papers" in result.output
    db = Database(cli_env.database_url_resolved)
    model = get_embedder(cli_env).model_id
    with db.connect() as conn:
        assert vector_store.count_vectors(conn, model) == 12
        assert vector_store.count_pending(conn, model) == 0
    if db.backend == "sqlite":
        assert (Path(cli_env.index_dir) / "vectors.json").is_file()
    else:  # no sidecar: the pgvector column is the index
        assert len(open_indexes(cli_env, db).vectors) == 12

    # Nothing to do the second time; a changed abstract makes one paper stale.
    assert "embedded 0 papers" in runner.invoke(app, ["embed"]).output
    changed = list(real_records(ARXIV_CS, 1))[0] | {"abstract": "Entirely new abstract text."}
    write_jsonl(source, [changed])
    assert runner.invoke(app, ["ingest", "jsonl", str(source)]).exit_code == 0
    assert "embedded 1 papers" in runner.invoke(app, ["embed"]).output

    result = runner.invoke(app, ["reindex"])
    assert result.exit_code == 0 and "re-embedded 12 papers" in result.output
    result = runner.invoke(app, ["similar", changed["id"], "-k", "3"])
    assert result.exit_code == 0 and result.output.count('"id"') == 3
    assert runner.invoke(app, ["similar", "9999.99999"]).exit_code == 1
    db.dispose()


SERVE_EMBEDS = "checks the faiss sidecar, which only SQLite has"


def _serve_embed_entry(settings: Settings, db: Database) -> jobs.Periodic:
    """The embed entry of ``paperfeed serve``, with its period moved years away:
    in these tests only the start and wake-ups can run it."""
    entries = {entry.name: entry for entry in jobs.background_jobs(Paperfeed(settings, db))}
    assert entries["embed"].every_seconds == JobsTuning().embed_every_seconds
    return dataclasses.replace(entries["embed"], every_seconds=1e9)


@pytest.mark.sqlite_only(SERVE_EMBEDS)
def test_serve_embeds_new_papers_and_keeps_its_index_in_step(
    settings: Settings, db: Database
) -> None:
    ingest(db, [make_paper("2501.00001"), make_paper("2501.00002")])
    paperfeed = Paperfeed(settings, db)
    scheduler = jobs.Scheduler(paperfeed, [_serve_embed_entry(settings, db)])
    status = scheduler.status["embed"]
    scheduler.start()
    try:
        wait_for(lambda: status.runs >= 1, what="the first embed run")
        assert status.last_result is not None and status.last_result["embedded"] == 2
        served = paperfeed.indexes.vectors  # what searches use
        ingest(db, [make_paper("2501.00003", abstract="Brand new work on sparse attention.")])
        scheduler.wake("embed")
        wait_for(lambda: status.runs >= 2, what="the embed run after the wake-up")
    finally:
        scheduler.stop()
    assert status.last_result["embedded"] == 1 and status.failures == 0
    assert "2501.00003" in served  # synced by the job, not by a later refresh
    assert "2501.00003" in FaissIndex.open(settings, db)  # and saved


def test_an_in_process_ingest_job_wakes_the_embedder(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "new.jsonl", list(real_records(ARXIV_CS, 20)))
    scheduler = jobs.Scheduler(Paperfeed(settings, db), [_serve_embed_entry(settings, db)])
    status = scheduler.status["embed"]
    scheduler.start()
    try:
        wait_for(lambda: status.runs >= 1, what="the first embed run")
        assert status.last_result == {"embedded": 0, **_times(status.last_result)}
        # As a PAPERFEED_SCHEDULE ingest entry runs: on the scheduler's runner.
        ingested = scheduler.runner.submit(jobs.JobSpec("ingest", {"path": str(path)}))
        inserted = scheduler.runner.result(ingested)["inserted"]
        assert inserted > 0
        wait_for(lambda: status.runs >= 2, what="the embed run the ingest asked for")
    finally:
        scheduler.stop()
    assert status.last_result["embedded"] == inserted


def _times(result: dict | None) -> dict:
    """The bookkeeping fields ``execute`` adds to every result."""
    assert result is not None
    return {key: result[key] for key in ("started", "finished", "pid")}


def test_long_lived_index_sees_vectors_written_elsewhere(settings: Settings, db: Database) -> None:
    """A web process's index picks up vectors that another process (``embed
    --watch``, a worker) stored after it was opened."""
    stored = seed_papers_with_vectors(db, 5, model=MODEL)
    index = FaissIndex.open(settings, db, model_id=MODEL)
    assert index.refresh_if_due(db, every=0) == 0  # nothing new
    ingest(db, [make_paper("2503.00001")])
    vector = unit_vectors(np.random.default_rng(9), 1)[0]
    with db.begin() as conn:
        content_hash = paper_store.get_papers(conn, ["2503.00001"])["2503.00001"]["text_hash"]
        vector_store.store_vectors(conn, MODEL, [("2503.00001", content_hash, vector)])
    assert index.refresh_if_due(db, every=3600) == 0  # not due yet
    assert index.refresh_if_due(db, every=0) == 1
    assert index.search(vector, 1)[0][0] == "2503.00001"
    assert len(index) == len(stored) + 1


def _store_new(db: Database, ids: list[str], vectors: np.ndarray) -> None:
    ingest(db, [make_paper(i) for i in ids])
    with db.begin() as conn:
        hashes = {r["id"]: r["text_hash"] for r in paper_store.get_papers(conn, ids).values()}
        vector_store.store_vectors(
            conn, MODEL, [(i, hashes[i], vectors[k]) for k, i in enumerate(ids)]
        )


def test_catch_up_runs_in_the_background_and_lets_searches_in_between_chunks(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request path only starts a catch-up; the catch-up adds a few vectors
    per hold of the index lock, so a search runs between two chunks instead of
    waiting for the whole catch-up (at 1M papers a 4,500-vector catch-up
    inside a request took 2.5 s)."""
    # 8 + 6: fewer than twice what the 8-bit ranges were learnt from, so this
    # is a catch-up, not a retraining rebuild.
    seed_papers_with_vectors(db, 8, model=MODEL)
    index = FaissIndex.open(settings, db, model_id=MODEL, tuning=IndexTuning(catch_up_chunk=2))
    new_ids = [f"2503.{i:05d}" for i in range(6)]
    new_vectors = unit_vectors(np.random.default_rng(21), 6)
    _store_new(db, new_ids, new_vectors)
    chunks: list[int] = []
    searched_between: list[list[tuple[str, float]]] = []
    original_add = FaissIndex.add

    def add_then_search(self: FaissIndex, ids, vectors, hashes=None) -> None:  # type: ignore[no-untyped-def]
        original_add(self, ids, vectors, hashes)
        chunks.append(len(ids))
        if len(chunks) == 1:
            # A search from another thread, as a request would: it must get
            # the index lock now, while the catch-up is still under way.
            found: list[list[tuple[str, float]]] = []
            request = threading.Thread(target=lambda: found.append(self.search(new_vectors[0], 3)))
            request.start()
            request.join(timeout=60)  # a deadlock guard, not a speed limit
            assert not request.is_alive(), "the search waited for the whole catch-up"
            searched_between.extend(found)

    monkeypatch.setattr(FaissIndex, "add", add_then_search)
    index._background.last_start -= vectors_module.REFRESH_SECONDS  # due now
    index.sync_if_due(db)
    follower = index._background.thread
    assert follower is not None and follower.name == "vector-catch-up"
    follower.join(timeout=60)
    assert not follower.is_alive()
    assert chunks == [2] * 3  # six vectors, two per hold of the lock
    assert searched_between and searched_between[0][0][0] == "2503.00000"
    assert all(pid in index for pid in new_ids) and len(index) == 14
    assert index.search(new_vectors[5], 1)[0][0] == "2503.00005"
    index.sync_if_due(db)  # not due again yet: no new thread
    assert index._background.thread is follower


def test_a_stopped_catch_up_leaves_the_rest_for_the_next_sync(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stop() (run at exit) ends a catch-up between two chunks; what it did not
    add, and a save made after it, do not hide the rest from the next open."""
    seed_papers_with_vectors(db, 5, model=MODEL)
    index = FaissIndex.open(settings, db, model_id=MODEL, tuning=IndexTuning(catch_up_chunk=2))
    index.save()
    new_ids = [f"2503.{i:05d}" for i in range(4)]  # 9 < 2 x 5: a catch-up
    _store_new(db, new_ids, unit_vectors(np.random.default_rng(22), 4))
    original_add = FaissIndex.add

    def add_then_stop(self: FaissIndex, ids, vectors, hashes=None) -> None:  # type: ignore[no-untyped-def]
        original_add(self, ids, vectors, hashes)
        self._background._stopping.set()  # as stop() does, from the exit handler

    monkeypatch.setattr(FaissIndex, "add", add_then_stop)
    synced_before = index._synced_at
    assert index.refresh_if_due(db, every=0) == 2  # one chunk, then stopped
    assert index._synced_at == synced_before
    index.save()
    monkeypatch.setattr(FaissIndex, "add", original_add)
    reopened = FaissIndex.open(settings, db, model_id=MODEL)
    assert all(pid in reopened for pid in new_ids) and len(reopened) == 9


def test_index_graph_skips_dead_and_rescores_from_the_table(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the graph path: a replaced vector answers with its new value, a
    removed paper is never returned; with re-scoring on, neither is one
    deleted from the table since the last sync, and scores are the exact
    float32 ones; a graph mostly made of dead labels is rebuilt by sync."""
    stored = seed_papers_with_vectors(db, 200, model=MODEL)
    rescoring = IndexTuning(exact_max_index=0, exact_max_candidates=0, rescore_graph=True)
    index = FaissIndex.open(settings, db, model_id=MODEL, tuning=rescoring)
    ids = list(stored)
    # Re-embed one paper: it moves (a new label), its old vector is dead.
    moved = ids[0]
    with db.begin() as conn:
        content_hash = paper_store.get_papers(conn, [moved])[moved]["text_hash"]
        vector_store.store_vectors(conn, MODEL, [(moved, content_hash, stored[ids[1]])])
    index.add([moved], stored[ids[1]][None, :], [content_hash])
    assert index._dead == 1
    assert len(index) == 200
    got = [pid for pid, _ in index.search(stored[ids[1]], 2)]
    assert set(got) == {moved, ids[1]}
    # Removed from the index: never returned.
    index.remove(ids[2:12])
    for pid in ids[2:12]:
        assert pid not in {p for p, _ in index.search(stored[pid], 20)}
    # Deleted from the table, not yet synced: re-scoring drops it.
    gone = ids[50]
    with db.begin() as conn:
        conn.execute(delete(papers_table).where(papers_table.c.id == gone))
    hits = index.search(stored[gone], 10)
    assert gone not in {p for p, _ in hits}
    # Exact scores from the table, not the 8-bit ones.
    pid, score = hits[0]
    assert score == pytest.approx(float(stored[pid] @ stored[gone]), abs=1e-6)
    # Dead labels past the share: the next sync rebuilds from the table.
    index.remove(ids[100:180])
    index.sync(db)
    assert len(index) == 199 and index._dead == 0
    assert gone not in index and moved in index
    assert index.search(stored[ids[150]], 1)[0][0] == ids[150]
