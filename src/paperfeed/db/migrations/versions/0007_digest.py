"""digest: frozen digest content, per-search counts, single-use confirmation nonce

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("search_count", sa.Integer(), nullable=False, server_default="5")
        )
        batch_op.add_column(sa.Column("confirm_nonce", sa.String(length=64), nullable=True))
    with op.batch_alter_table("send_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content", sa.JSON(), nullable=True))
        batch_op.create_index("ix_send_log_period_status", ["period", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("send_log", schema=None) as batch_op:
        batch_op.drop_index("ix_send_log_period_status")
        batch_op.drop_column("content")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("confirm_nonce")
        batch_op.drop_column("search_count")
