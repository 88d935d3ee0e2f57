"""PostgreSQL: keep papers.search_vector in the row (STORAGE MAIN).

Ranking reads every candidate's tsvector. Stored out of line (the default,
EXTENDED: ~1.8 kB per paper, so TOASTed), each one costs several extra buffer
reads from the TOAST table: 36k buffers for a 6k-match query at 75k papers,
6k with the tsvector kept in the row (the abstract moves out of line instead).
New and updated rows get it at once; existing ones on the next table rewrite
(``VACUUM FULL papers``; docs/benchmarks.md).

On SQLite this migration does nothing.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011_pgsearch"
down_revision: str | None = "0010_text_hash"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE papers ALTER COLUMN search_vector SET STORAGE MAIN")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE papers ALTER COLUMN search_vector SET STORAGE EXTENDED")
