"""index_queue: one row per sidecar consumer

Revision ID: 0004
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONSUMERS = ("lexical", "vectors")


def _swap(columns: list[sa.Column], pk: list[str], copy_sql: list[str]) -> None:
    # A new primary key is simplest as a new table. The old rows wait in a
    # key-less holding table so the constraint name pk_index_queue is free
    # (PostgreSQL names indexes per schema).
    op.execute("CREATE TABLE index_queue_hold AS SELECT * FROM index_queue")
    op.drop_table("index_queue")
    op.create_table(
        "index_queue", *columns, sa.PrimaryKeyConstraint(*pk, name=op.f("pk_index_queue"))
    )
    for sql in copy_sql:
        op.execute(sql)
    op.drop_table("index_queue_hold")


def upgrade() -> None:
    # Rows already queued are queued for every consumer.
    _swap(
        [
            sa.Column("consumer", sa.String(length=32), nullable=False),
            sa.Column("paper_id", sa.String(length=200), nullable=False),
            sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        ],
        ["consumer", "paper_id"],
        [
            # The consumer names are the constants above, not input.
            "INSERT INTO index_queue (consumer, paper_id, queued_at) "  # noqa: S608
            f"SELECT '{consumer}', paper_id, queued_at FROM index_queue_hold"
            for consumer in CONSUMERS
        ],
    )


def downgrade() -> None:
    _swap(
        [
            sa.Column("paper_id", sa.String(length=200), nullable=False),
            sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        ],
        ["paper_id"],
        [
            "INSERT INTO index_queue (paper_id, queued_at) "
            "SELECT paper_id, MAX(queued_at) FROM index_queue_hold GROUP BY paper_id"
        ],
    )
