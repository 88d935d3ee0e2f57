"""trending: an index for the lists' "newest" order

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 10:05:00

Lists page through papers by listing date, then v1 date, then id, newest
first (db/trending.newest_order); this index serves that order directly, so a
page of a month or of the whole archive never sorts the table.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"  # chained after readers (merged into this branch)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain CREATE INDEX (not batch mode): SQLite needs no table rebuild for it.
    op.create_index("ix_papers_newest", "papers", ["listing_date", "published", "id"])


def downgrade() -> None:
    op.drop_index("ix_papers_newest", table_name="papers")
