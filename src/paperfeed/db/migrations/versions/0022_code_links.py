"""code: papers' code and project links, GitHub repositories' stars and their history

Revision ID: 0022_code_links
Revises: 0021_notes
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_code_links"
down_revision: str | None = "0021_notes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "code_links",
        sa.Column("paper_id", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("repo", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_id"],
            ["papers.id"],
            name=op.f("fk_code_links_paper_id_papers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("paper_id", "url", name=op.f("pk_code_links")),
    )
    op.create_index("ix_code_links_repo", "code_links", ["repo"])
    op.create_index("ix_code_links_kind_paper_id", "code_links", ["kind", "paper_id"])
    op.create_table(
        "repositories",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("stars", sa.Integer(), nullable=True),
        sa.Column("stars_source", sa.String(length=16), nullable=True),
        sa.Column("etag", sa.String(length=200), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("renamed_to", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_repositories")),
    )
    op.create_index("ix_repositories_checked_at", "repositories", ["checked_at"])
    op.create_table(
        "repository_stars",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stars", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["name"],
            ["repositories.name"],
            name=op.f("fk_repository_stars_name_repositories"),
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
        sa.PrimaryKeyConstraint("name", "observed_at", name=op.f("pk_repository_stars")),
    )


def downgrade() -> None:
    op.drop_table("repository_stars")
    op.drop_index("ix_repositories_checked_at", table_name="repositories")
    op.drop_table("repositories")
    op.drop_index("ix_code_links_kind_paper_id", table_name="code_links")
    op.drop_index("ix_code_links_repo", table_name="code_links")
    op.drop_table("code_links")
