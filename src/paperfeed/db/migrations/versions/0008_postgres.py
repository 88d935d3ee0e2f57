"""PostgreSQL search: tsvector column + GIN index, pgvector column + HNSW index

Revision ID: 0008
Revises: 0007

On PostgreSQL the database is the search index (index/pg_keyword.py, index/pgvector.py):
- papers.search_vector: a generated tsvector (title A, abstract B, english;
  authors C, simple), with a GIN index;
- embeddings.embedding: a pgvector column, filled from the portable float32
  ``vector`` bytes by the vector index's sync; a trigger clears it when
  ``vector`` changes, so a re-embedded paper is never searched with its old
  vector; an HNSW index (inner product) for the packaged model's 384
  dimensions (other dimensions get theirs when first synced).
On SQLite this migration does nothing: the sidecars (tantivy, hnswlib) do that job.
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCH_VECTOR = """
    setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
    || setweight(to_tsvector('english'::regconfig, coalesce(abstract, '')), 'B')
    || setweight(to_tsvector('simple'::regconfig, coalesce(authors::text, '')), 'C')
"""


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    available = bind.execute(
        text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
    ).first()
    if available is None:
        raise RuntimeError(
            "PostgreSQL lacks the pgvector extension: install pgvector on the server "
            "(https://github.com/pgvector/pgvector), then run: CREATE EXTENSION vector;"
        )
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute(
        f"ALTER TABLE papers ADD COLUMN search_vector tsvector "
        f"GENERATED ALWAYS AS ({SEARCH_VECTOR}) STORED"
    )
    op.execute("CREATE INDEX ix_papers_search_vector ON papers USING gin (search_vector)")
    op.execute("ALTER TABLE embeddings ADD COLUMN embedding vector")
    op.execute(
        """
        CREATE FUNCTION paperfeed_embedding_stale() RETURNS trigger AS $$
        BEGIN
            IF NEW.vector IS DISTINCT FROM OLD.vector
               AND NEW.embedding IS NOT DISTINCT FROM OLD.embedding THEN
                NEW.embedding := NULL;
            END IF;
            RETURN NEW;
        END
        $$ LANGUAGE plpgsql
        """
    )
    op.execute(
        "CREATE TRIGGER embeddings_stale BEFORE UPDATE ON embeddings "
        "FOR EACH ROW EXECUTE FUNCTION paperfeed_embedding_stale()"
    )
    # Finds the rows the vector index still has to fill, cheaply, at any size.
    op.execute(
        "CREATE INDEX ix_embeddings_unsynced ON embeddings (paper_id) WHERE embedding IS NULL"
    )
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_embeddings_hnsw_384 ON embeddings "
        "USING hnsw ((embedding::vector(384)) vector_ip_ops) "
        "WITH (m = 16, ef_construction = 100) WHERE dim = 384"
    )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS embeddings_stale ON embeddings")
    op.execute("DROP FUNCTION IF EXISTS paperfeed_embedding_stale()")
    op.execute("ALTER TABLE embeddings DROP COLUMN IF EXISTS embedding")
    op.execute("ALTER TABLE papers DROP COLUMN IF EXISTS search_vector")
