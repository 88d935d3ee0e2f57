"""An index for reading the lexical index's outbox in order.

``index_queue.pending`` reads the oldest rows first, a batch at a time; with
no index on ``queued_at`` every batch of a full rebuild (every paper queued)
sorted the whole table.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012_index_queue_order"
down_revision: str | None = "0011_pgsearch"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_index_queue_queued_at", "index_queue", ["queued_at", "paper_id"])


def downgrade() -> None:
    op.drop_index("ix_index_queue_queued_at", table_name="index_queue")
