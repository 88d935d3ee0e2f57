"""readers: revocable server-side sessions, and API token scopes

Sessions become rows (``reader_sessions``) that sign-out revokes, replacing
the per-reader ``session_epoch`` that only "sign out everywhere" could bump.
Existing session cookies carry no session id and so end: readers sign in once
more. API tokens get ``scopes``; existing tokens keep what they could do
(read and write), but not managing tokens.

Revision ID: 0016_sessions_and_token_scopes
Revises: 0015_pg_postings_vacuum
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_sessions_and_token_scopes"
down_revision: str | None = "0015_pg_postings_vacuum"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reader_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("reader_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["reader_id"],
            ["readers.id"],
            name=op.f("fk_reader_sessions_reader_id_readers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_reader_sessions")),
    )
    op.create_index("ix_reader_sessions_reader_id", "reader_sessions", ["reader_id"])
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(
            sa.Column("scopes", sa.String(length=100), nullable=False, server_default="read write")
        )
    with op.batch_alter_table("readers") as batch:
        batch.drop_column("session_epoch")


def downgrade() -> None:
    with op.batch_alter_table("readers") as batch:
        batch.add_column(
            sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("scopes")
    op.drop_index("ix_reader_sessions_reader_id", table_name="reader_sessions")
    op.drop_table("reader_sessions")
