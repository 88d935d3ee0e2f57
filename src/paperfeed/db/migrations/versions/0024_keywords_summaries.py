"""papers: keyphrases and TL;DR per paper version; machine summaries and their daily cap

Revision ID: 0024_keywords_summaries
Revises: 0023_authors

``paper_teasers`` is empty after the upgrade: the embed job finds every paper
without a current row pending and fills it in its usual pass.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024_keywords_summaries"
down_revision: str | None = "0023_authors"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "paper_teasers",
        sa.Column("paper_id", sa.String(length=200), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=300), nullable=False),
        sa.Column("keyphrases", sa.JSON(), nullable=False),
        sa.Column("tldr", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_id"],
            ["papers.id"],
            name=op.f("fk_paper_teasers_paper_id_papers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("paper_id", name=op.f("pk_paper_teasers")),
    )
    op.create_table(
        "machine_summaries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("paper_id", sa.String(length=200), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("prompt_version", sa.String(length=50), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_id"],
            ["papers.id"],
            name=op.f("fk_machine_summaries_paper_id_papers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_machine_summaries")),
        sa.UniqueConstraint(
            "paper_id",
            "text_hash",
            "prompt_version",
            name=op.f("uq_machine_summaries_paper_id_text_hash_prompt_version"),
        ),
    )
    op.create_table(
        "summary_usage",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_summary_usage")),
    )


def downgrade() -> None:
    op.drop_table("summary_usage")
    op.drop_table("machine_summaries")
    op.drop_table("paper_teasers")
