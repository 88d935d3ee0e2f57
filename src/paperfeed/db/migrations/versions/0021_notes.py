"""readers: private notes on papers and on collection items

Revision ID: 0021_notes
Revises: 0020_community
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_notes"
down_revision: str | None = "0020_community"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("reader_id", sa.Integer(), nullable=False),
        sa.Column("paper_id", sa.String(length=200), nullable=False),
        sa.Column("collection_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["reader_id"],
            ["readers.id"],
            name=op.f("fk_notes_reader_id_readers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["paper_id"], ["papers.id"], name=op.f("fk_notes_paper_id_papers"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            name=op.f("fk_notes_collection_id_collections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notes")),
        sa.UniqueConstraint(
            "reader_id",
            "paper_id",
            "collection_id",
            name=op.f("uq_notes_reader_id_paper_id_collection_id"),
        ),
    )
    where = sa.text("collection_id IS NULL")
    op.create_index(
        "uq_notes_paper_note",
        "notes",
        ["reader_id", "paper_id"],
        unique=True,
        sqlite_where=where,
        postgresql_where=where,
    )


def downgrade() -> None:
    op.drop_index("uq_notes_paper_note", table_name="notes")
    op.drop_table("notes")
