"""embeddings: index for the vector sidecar's catch-up

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_embeddings_model_created_at", "embeddings", ["model", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_embeddings_model_created_at", table_name="embeddings")
