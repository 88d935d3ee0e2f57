"""Embedding staleness follows the embedded text only (papers.text_hash, 0009).

An upvote (a reader's or an imported HF one) changes the stored paper row and
its content hash, but not the text its vector was built from: it must not make
the vector stale. A title or abstract change must.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import embeddings as vector_store
from paperfeed.db import papers as paper_store
from paperfeed.db.engine import alembic_config, make_engine
from paperfeed.index.backends import open_indexes
from paperfeed.index.embedder import get_embedder
from paperfeed.index.embedding import embed_pending
from paperfeed.ingest.pipeline import ingest
from paperfeed.models import document_text, text_hash
from tests.helpers import make_paper
from tests.pg_server import PostgresServer

PID = "2501.00001"


def _stored(db: Database, model: str) -> tuple[str, bytes, datetime]:
    with db.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT content_hash, vector, created_at FROM embeddings "
                "WHERE paper_id = :p AND model = :m"
            ),
            {"p": PID, "m": model},
        ).one()
    return row.content_hash, bytes(row.vector), row.created_at


def _pending(db: Database, model: str) -> list[str]:
    with db.connect() as conn:
        return [p.id for p in vector_store.pending_papers(conn, model)]


def test_text_hash_is_of_the_embedded_text() -> None:
    assert text_hash("T", "Some\n abstract") == text_hash("T", "Some abstract")
    assert text_hash("T", "A") != text_hash("T", "B")
    assert document_text("T", "A") == "T. A"


def test_upvotes_do_not_make_a_vector_stale_but_text_does(settings: Settings, db: Database) -> None:
    model = get_embedder(settings).model_id
    ingest(db, [make_paper(PID, upvotes=3)])
    assert embed_pending(db, settings) == 1
    index = open_indexes(settings, db).vectors
    index.sync(db)
    before = _stored(db, model)
    with db.connect() as conn:
        row = paper_store.get_papers(conn, [PID])[PID]
    assert before[0] == row["text_hash"] == text_hash(row["title"], row["abstract"])

    # An HF upvote count moves: the row (and its content hash) changes...
    ingest(db, [make_paper(PID, upvotes=40)])
    with db.connect() as conn:
        after_vote = paper_store.get_papers(conn, [PID])[PID]
    assert after_vote["imported_upvotes"] == 40
    assert after_vote["content_hash"] != row["content_hash"]
    # ...but the vector is current: nothing pending, nothing re-embedded.
    assert _pending(db, model) == []
    assert embed_pending(db, settings) == 0
    assert _stored(db, model) == before
    assert index.sync(db) == 0

    # A reader's upvote does not touch the vector either.
    from paperfeed.db import readers as reader_store

    now = datetime.now(UTC)
    with db.begin() as conn:
        reader = reader_store.get_or_create_reader(conn, "r@example.org", now)
        assert reader_store.set_flag(conn, "vote", reader["id"], PID, True, now)
    assert _pending(db, model) == []

    # A new abstract is new text: stale, re-embedded, and the sidecar follows.
    ingest(db, [make_paper(PID, upvotes=40, abstract="An entirely different abstract.")])
    assert _pending(db, model) == [PID]
    assert embed_pending(db, settings) == 1
    after_edit = _stored(db, model)
    assert after_edit[0] != before[0] and after_edit[1] != before[1]
    assert _pending(db, model) == []
    assert index.sync(db) == 1

    # So is a new title.
    ingest(
        db,
        [make_paper(PID, upvotes=40, title="Renamed", abstract="An entirely different abstract.")],
    )
    assert _pending(db, model) == [PID]


@pytest.fixture
def empty_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A database with no schema at all, to migrate step by step."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    server: PostgresServer = request.getfixturevalue("pg_server")
    return server.url(server.create_database())


def test_migration_backfills_text_hash_and_keeps_current_vectors(empty_url: str) -> None:
    cfg = alembic_config(empty_url)
    command.upgrade(cfg, "0009_web")
    engine = make_engine(empty_url)
    stamp = datetime(2025, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        old_papers = sa.Table("papers", sa.MetaData(), autoload_with=conn)
        # Named columns only: reflection would not know pgvector's type.
        old_embeddings = sa.table(
            "embeddings",
            *(sa.column(c) for c in ("paper_id", "model", "dim", "vector", "content_hash")),
            sa.column("created_at", sa.DateTime(timezone=True)),
        )
        for pid, title in (("p1", "First"), ("p2", "Second")):
            conn.execute(
                old_papers.insert().values(
                    id=pid,
                    title=title,
                    abstract=f"Abstract\n of {pid}.",
                    authors=[],
                    categories=[],
                    latest_version=1,
                    source="test",
                    sources=["test"],
                    imported_upvotes=0,
                    withdrawn=False,
                    featured=False,
                    hidden=False,
                    title_key=title.lower(),
                    content_hash=f"all-fields-{pid}",
                    created_at=stamp,
                    modified_at=stamp,
                )
            )
        for pid, content_hash in (("p1", "all-fields-p1"), ("p2", "an-older-hash")):
            conn.execute(
                old_embeddings.insert().values(
                    paper_id=pid,
                    model="m",
                    dim=1,
                    vector=b"\0\0\0\0",
                    content_hash=content_hash,
                    created_at=stamp,
                )
            )
    command.upgrade(cfg, "head")
    with engine.connect() as conn:
        hashes = dict(conn.execute(sa.text("SELECT id, text_hash FROM papers")).all())
        assert hashes == {
            "p1": text_hash("First", "Abstract of p1."),
            "p2": text_hash("Second", "Abstract of p2."),
        }
        # p1's vector was current and stays so; p2's was stale and stays stale.
        assert [p.id for p in vector_store.pending_papers(conn, "m")] == ["p2"]
    command.downgrade(cfg, "0009_web")
    with engine.connect() as conn:
        assert "text_hash" not in {c["name"] for c in sa.inspect(conn).get_columns("papers")}
        stored = dict(conn.execute(sa.text("SELECT paper_id, content_hash FROM embeddings")).all())
        assert stored == {"p1": "all-fields-p1", "p2": "an-older-hash"}
    engine.dispose()
