"""PostgreSQL: autovacuum keeps the posting table's visibility map current.

A search reads the top of each term's posting list with an index-only scan of
``ix_lexical_postings``, which skips the heap only for pages the visibility
map marks all-visible. Rows just inserted are not, until a VACUUM: a freshly
built or rebuilt table made every posting read visit the heap, and at 75k
papers a keyword search took half again as long (median 24.4 ms against
14.4-15.7 ms once vacuumed; docs/benchmarks.md, session 11). PostgreSQL's default
autovacuum waits for 20 % of a table's rows to change, ~1.7M posting rows at
75k papers. This migration lowers that to 2 % for inserts and 5 % for dead
rows; ``db.postings.rebuild_postings`` creates its table with the same options
and vacuums it once built.

On SQLite this migration does nothing.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015_pg_postings_vacuum"
down_revision: str | None = "0014_pg_postings_deferred"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same options as db.postings.POSTINGS_STORAGE (a migration is a snapshot).
OPTIONS = "autovacuum_vacuum_insert_scale_factor = 0.02, autovacuum_vacuum_scale_factor = 0.05"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE lexical_postings SET ({OPTIONS})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "ALTER TABLE lexical_postings RESET "
        "(autovacuum_vacuum_insert_scale_factor, autovacuum_vacuum_scale_factor)"
    )
