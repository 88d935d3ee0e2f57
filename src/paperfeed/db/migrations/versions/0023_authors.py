"""authors as entities: authors, paper authors with affiliations, organizations,
reader follows, and the queue that links papers to them (every existing paper
is queued here; services.authors.link_pending does the linking, resumably)

Revision ID: 0023_authors
Revises: 0022_code_links
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_authors"
down_revision: str | None = "0022_code_links"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Plain ADD COLUMN (nullable, no default): no table rebuild on SQLite.
    op.add_column("papers", sa.Column("affiliations", sa.JSON(), nullable=True))
    op.add_column("papers", sa.Column("organization", sa.JSON(), nullable=True))
    op.create_table(
        "authors",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=1000), nullable=False),
        sa.Column("initials_key", sa.String(length=200), nullable=False),
        sa.Column("initials", sa.String(length=200), nullable=False),
        sa.Column("abbreviated", sa.Boolean(), nullable=False),
        sa.Column("orcid", sa.String(length=19), nullable=True),
        sa.Column("openalex_id", sa.String(length=20), nullable=True),
        sa.Column("semantic_scholar_id", sa.String(length=20), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authors")),
        sa.UniqueConstraint("key", name=op.f("uq_authors_key")),
    )
    op.create_index(op.f("ix_authors_initials_key"), "authors", ["initials_key"], unique=False)
    op.create_table(
        "paper_authors",
        sa.Column("paper_id", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=1000), nullable=False),
        sa.Column("affiliation", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["paper_id"],
            ["papers.id"],
            name=op.f("fk_paper_authors_paper_id_papers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["authors.id"],
            name=op.f("fk_paper_authors_author_id_authors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("paper_id", "position", name=op.f("pk_paper_authors")),
    )
    op.create_index(
        "ix_paper_authors_author_id_paper_id",
        "paper_authors",
        ["author_id", "paper_id"],
        unique=False,
    )
    op.create_table(
        "organizations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=1000), nullable=False),
        sa.Column("hf_name", sa.String(length=200), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sa.UniqueConstraint("key", name=op.f("uq_organizations_key")),
    )
    op.create_table(
        "paper_organizations",
        sa.Column("paper_id", sa.String(length=200), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_id"],
            ["papers.id"],
            name=op.f("fk_paper_organizations_paper_id_papers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_paper_organizations_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("paper_id", "organization_id", name=op.f("pk_paper_organizations")),
    )
    op.create_index(
        "ix_paper_organizations_organization_id",
        "paper_organizations",
        ["organization_id"],
        unique=False,
    )
    op.create_table(
        "author_queue",
        sa.Column("paper_id", sa.String(length=200), nullable=False),
        sa.Column("queued_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("paper_id", name=op.f("pk_author_queue")),
    )
    op.create_table(
        "author_follows",
        sa.Column("reader_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["reader_id"],
            ["readers.id"],
            name=op.f("fk_author_follows_reader_id_readers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["authors.id"],
            name=op.f("fk_author_follows_author_id_authors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("reader_id", "author_id", name=op.f("pk_author_follows")),
    )
    op.create_index("ix_author_follows_author_id", "author_follows", ["author_id"], unique=False)
    # The backfill: every existing paper is queued for linking; the embed job
    # (and every ingest through services.ingest.store) drains the queue in
    # batches, each its own transaction, so an interrupted backfill resumes.
    op.execute(
        "INSERT INTO author_queue (paper_id, queued_at) SELECT id, CURRENT_TIMESTAMP FROM papers"
    )


def downgrade() -> None:
    op.drop_index("ix_author_follows_author_id", table_name="author_follows")
    op.drop_table("author_follows")
    op.drop_table("author_queue")
    op.drop_index("ix_paper_organizations_organization_id", table_name="paper_organizations")
    op.drop_table("paper_organizations")
    op.drop_table("organizations")
    op.drop_index("ix_paper_authors_author_id_paper_id", table_name="paper_authors")
    op.drop_table("paper_authors")
    op.drop_index(op.f("ix_authors_initials_key"), table_name="authors")
    op.drop_table("authors")
    op.drop_column("papers", "organization")
    op.drop_column("papers", "affiliations")
