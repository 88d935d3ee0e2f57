"""readers: sign-in rate-limit events, session epochs

Revision ID: 0005
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("readers") as batch:
        batch.add_column(
            sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "rate_limit_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("bucket", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_limit_events")),
    )
    op.create_index(
        "ix_rate_limit_events_bucket_key_created_at",
        "rate_limit_events",
        ["bucket", "key", "created_at"],
    )


def downgrade() -> None:
    with op.batch_alter_table("readers") as batch:
        batch.drop_column("session_epoch")
    op.drop_index("ix_rate_limit_events_bucket_key_created_at", table_name="rate_limit_events")
    op.drop_table("rate_limit_events")
