"""The Alembic migrations build exactly the schema that db/tables.py declares,
on both backends: a column, index or constraint added to one and not the other
is a diff here (new installs and upgraded ones would differ otherwise)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from paperfeed.db import Database
from paperfeed.db.tables import metadata

# Objects only PostgreSQL has, created by its own migrations (0003, 0008, 0013)
# and read through SQL in index/pg_*.py, index/pgvector.py and db/embeddings.py, not declared in
# tables.py: the pgvector column and its HNSW index, the full-text column and
# its GIN index, the partial index of vectors not yet in the HNSW index, and
# the impact-ordered posting table its triggers keep.
POSTGRESQL_ONLY = {
    "lexical_postings",
    "ix_lexical_postings",
    "embedding",
    "ix_embeddings_hnsw_384",
    "ix_embeddings_unsynced",
    "search_vector",
    "ix_papers_search_vector",
}


def _name(diff: tuple) -> str:
    kind = diff[0]
    if kind in ("add_index", "remove_index"):
        return str(diff[1].name)
    if kind in ("add_table", "remove_table"):
        return str(diff[1].name)
    if kind in ("add_column", "remove_column"):
        return str(diff[3].name)
    return ""


def _relevant(diff: object, backend: str) -> bool:
    if not isinstance(diff, tuple):  # a list of column modifications
        return True
    return not (backend == "postgresql" and _name(diff) in POSTGRESQL_ONLY)


def test_migrated_schema_matches_the_declared_tables(db: Database) -> None:
    with db.connect() as conn:
        context = MigrationContext.configure(conn)
        diffs = [d for d in compare_metadata(context, metadata) if _relevant(d, db.backend)]
    assert diffs == []


def test_the_outbox_is_read_through_its_index(db: Database) -> None:
    names = {index["name"] for index in _indexes(db, "index_queue")}
    assert "ix_index_queue_queued_at" in names


def _indexes(db: Database, table: str) -> list[dict]:
    with db.connect() as conn:
        return list(inspect(conn).get_indexes(table))
