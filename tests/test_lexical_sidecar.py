"""The lexical sidecar stays consistent with the database: the outbox, crashes
between the two commits, re-ingest, merges, and format-version rebuilds."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import index_queue as queue
from paperfeed.db import papers as paper_store
from paperfeed.index import lexical
from paperfeed.index.lexical import (
    FORMAT_FILE,
    TantivyIndex,
    combine,
    lexical_path,
    render,
)
from paperfeed.ingest.pipeline import ingest
from paperfeed.models import Version
from paperfeed.query import parse
from tests.helpers import make_paper


@pytest.fixture(params=[0, 2], ids=["shards-auto", "shards-2"])
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """Every consistency test on one shard (what a small corpus gets) and on two."""
    return settings.model_copy(update={"lexical_shards": request.param})


def reopen(settings: Settings, db: Database) -> TantivyIndex:
    return TantivyIndex.open(settings, db)  # as after a restart


def hits(index: TantivyIndex, text: str) -> list[str]:
    found, _ = index.search(combine(render(parse(text).root)), limit=100)
    return [paper_id for paper_id, _ in found]


def pending(db: Database) -> int:
    with db.connect() as conn:
        return queue.count_pending(conn)


def test_ingest_then_open_catches_up(settings: Settings, db: Database) -> None:
    ingest(db, [make_paper("2501.00001", title="Quantum annealing schedules")])
    assert pending(db) == 1
    index = TantivyIndex.open(settings, db)
    assert hits(index, "annealing") == ["2501.00001"]
    assert pending(db) == 0
    assert json.loads((lexical_path(settings) / FORMAT_FILE).read_text())["format"] == (
        lexical.FORMAT_VERSION
    )


def test_later_looks_catch_up_on_a_background_thread(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the first open, a due look starts the catch-up on a thread and
    returns: a request never waits for a commit and its merges."""
    index = TantivyIndex.open(settings, db)
    ingest(db, [make_paper("2501.00005", title="Spectral graph sparsification")])
    release = threading.Event()
    original_sync = TantivyIndex.sync

    def slow_sync(self: TantivyIndex, db: Database, **kwargs: Any) -> int:
        release.wait(timeout=60)  # a deadlock guard, not a speed limit
        return original_sync(self, db, **kwargs)

    monkeypatch.setattr(TantivyIndex, "sync", slow_sync)
    index._background.last_start -= lexical.SYNC_EVERY_SECONDS  # due now
    index.sync_if_due(db)  # returns with the sync still blocked
    catch_up = index._background.thread
    assert catch_up is not None and catch_up.is_alive()
    assert hits(index, "sparsification") == []  # not indexed yet
    release.set()
    catch_up.join(timeout=60)
    assert not catch_up.is_alive()
    assert hits(index, "sparsification") == ["2501.00005"]
    assert pending(db) == 0


def test_a_stopped_sync_leaves_the_rest_queued(settings: Settings, db: Database) -> None:
    """A catch-up asked to stop (at exit) ends between batches; what it did not
    index stays in the queue for the next look."""
    index = TantivyIndex.open(settings, db)
    ingest(db, [make_paper(f"2501.0010{i}", title=f"Matroid bandits {i}") for i in range(5)])
    batches: list[int] = []

    def stop_after_one() -> bool:
        batches.append(pending(db))
        return len(batches) > 1

    assert index.sync(db, batch=2, stop=stop_after_one) == 2
    assert pending(db) == 3
    assert len(hits(index, "matroid")) == 2
    assert index.sync(db) == 3
    assert len(hits(index, "matroid")) == 5


def test_crash_between_sidecar_commit_and_queue_delete(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = TantivyIndex.open(settings, db)
    ingest(db, [make_paper(f"2501.0000{i}", title=f"Tensor sketching {i}") for i in range(1, 4)])

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt("killed after the tantivy commit")

    monkeypatch.setattr(queue, "done", crash)
    with pytest.raises(KeyboardInterrupt):
        index.sync(db)
    monkeypatch.undo()
    assert pending(db) == 3  # the outbox still holds them
    index = reopen(settings, db)
    assert pending(db) == 0
    found = hits(index, "sketching")
    assert sorted(found) == ["2501.00001", "2501.00002", "2501.00003"]  # no duplicates
    assert index.num_docs == 3


def test_crash_before_the_sidecar_commit(settings: Settings, db: Database) -> None:
    """Papers committed to the database but never indexed (the process died
    right after ingest): the queue rows bring them in on the next open."""
    TantivyIndex.open(settings, db)
    ingest(db, [make_paper("2501.00009", title="Lattice cryptanalysis")])
    index = reopen(settings, db)
    assert hits(index, "cryptanalysis") == ["2501.00009"]


def test_reingest_of_an_updated_paper_updates_its_hit(settings: Settings, db: Database) -> None:
    v1 = [Version(1)]
    v2 = [Version(1), Version(2)]
    ingest(db, [make_paper("2501.00001", title="Sparse mixtures of experts", versions=v1)])
    index = TantivyIndex.open(settings, db)
    assert hits(index, "experts") == ["2501.00001"]
    ingest(db, [make_paper("2501.00001", title="Dense routing for transformers", versions=v2)])
    index.sync(db)
    assert hits(index, "experts") == []
    assert hits(index, "routing") == ["2501.00001"]
    assert index.num_docs == 1
    ingest(db, [make_paper("2501.00001", title="Dense routing for transformers", versions=v2)])
    assert pending(db) == 0  # unchanged content queues nothing


def test_a_change_made_while_indexing_stays_queued(settings: Settings, db: Database) -> None:
    ingest(db, [make_paper("2501.00001", title="First title", versions=[Version(1)])])
    with db.connect() as conn:
        read = queue.pending(conn)
    # Meanwhile the paper changes again (another process commits v2) ...
    ingest(db, [make_paper("2501.00001", title="Second title", versions=[Version(1), Version(2)])])
    with db.begin() as conn:
        queue.done(conn, read)  # ... and the indexer finishes with what it read.
    assert pending(db) == 1
    index = TantivyIndex.open(settings, db)
    assert hits(index, "second") == ["2501.00001"]


def test_merged_slug_paper_leaves_the_index(settings: Settings, db: Database) -> None:
    ingest(
        db,
        [make_paper("hf-some-slug", title="Compositional video agents", source="hf", authors=[])],
    )
    index = TantivyIndex.open(settings, db)
    assert hits(index, "compositional") == ["hf-some-slug"]
    ingest(db, [make_paper("2501.00042", title="Compositional video agents")])
    index.sync(db)
    assert hits(index, "compositional") == ["2501.00042"]
    with db.connect() as conn:
        assert paper_store.get_paper(conn, "hf-some-slug")["id"] == "2501.00042"


def test_format_change_rebuilds(settings: Settings, db: Database) -> None:
    ingest(db, [make_paper(f"2501.0001{i}", title=f"Protein folding {i}") for i in range(5)])
    index = TantivyIndex.open(settings, db)
    assert index.num_docs == 5
    (lexical_path(settings) / FORMAT_FILE).write_text(json.dumps({"format": 0}))
    index = reopen(settings, db)
    assert index.num_docs == 5
    assert json.loads((lexical_path(settings) / FORMAT_FILE).read_text())["format"] == (
        lexical.FORMAT_VERSION
    )
    assert len(hits(index, "folding")) == 5


def test_lost_index_directory_is_rebuilt(settings: Settings, db: Database) -> None:
    import shutil

    ingest(db, [make_paper("2501.00077", title="Kernel ridge regression")])
    TantivyIndex.open(settings, db)
    shutil.rmtree(lexical_path(settings))
    index = reopen(settings, db)
    assert hits(index, "ridge") == ["2501.00077"]


def test_rebuild_lexical(settings: Settings, db: Database) -> None:
    ingest(db, [make_paper(f"2501.0002{i}", title=f"Bandit feedback {i}") for i in range(3)])
    index = TantivyIndex.rebuild(settings, db)
    assert index.num_docs == 3
    assert pending(db) == 0
    assert len(hits(index, "bandit")) == 3


def test_rebuild_adds_a_paper_requeued_meanwhile_once(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuild skips the per-document delete, except for a paper it meets a
    second time (an ingest re-queued it during the rebuild): no duplicate."""
    ingest(db, [make_paper(f"2501.0003{i}", title=f"Sparse coding {i}") for i in range(6)])
    real_pending = queue.pending
    calls: list[str] = []

    def requeue_then_pending(conn, limit=2000):  # type: ignore[no-untyped-def]
        rows = real_pending(conn, limit=limit)
        if not calls and rows:
            # Before the rebuild reads its first batch: an ingest will update a
            # paper of that batch once it is indexed (re-queued with a later stamp).
            calls.append(rows[0][0])
        elif len(calls) == 1:
            calls.append("updated")
            ingest(db, [make_paper(calls[0], title="Sparse coding revisited")])
            rows = real_pending(conn, limit=limit)
        return rows

    monkeypatch.setattr(queue, "pending", requeue_then_pending)
    monkeypatch.setattr(
        lexical.TantivyIndex,
        "sync",
        lambda self, db, batch=5000, rebuild=False, _sync=lexical.TantivyIndex.sync: _sync(
            self, db, batch=2 if rebuild else batch, rebuild=rebuild
        ),
    )
    index = TantivyIndex.rebuild(settings, db)
    assert index.num_docs == 6
    assert hits(index, "revisited") == calls[:1]
    assert len(hits(index, "sparse")) == 6


def test_cli_ingest_makes_papers_searchable_at_once(cli_env: Settings, tmp_path) -> None:
    from typer.testing import CliRunner

    from paperfeed.cli import app
    from tests.helpers import write_jsonl

    path = write_jsonl(
        tmp_path / "papers.jsonl",
        [
            {
                "id": "2501.01234",
                "title": "Holographic reduced representations",
                "abstract": "We revisit binding.",
                "authors": ["A. Author"],
                "categories": ["cs.LG"],
                "listing_date": "2025-01-02",
            }
        ],
    )
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", "jsonl", str(path)]).exit_code == 0
    db = Database(cli_env.database_url_resolved)
    assert pending(db) == 0  # indexed by the ingest command itself
    result = runner.invoke(app, ["search", "holographic", "--json", "--mode", "lexical"])
    assert result.exit_code == 0 and "2501.01234" in result.output
