"""community: comments and their followers, reading groups, their members and sessions

Revision ID: 0020_community
Revises: 0016_sessions_and_token_scopes
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_community"
down_revision: str | None = "0016_sessions_and_token_scopes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    referred = target.split(".")[0]
    return sa.ForeignKeyConstraint(
        [column], [target], name=op.f(f"fk_{table}_{column}_{referred}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "reading_groups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("invite_nonce", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        _fk("reading_groups", "created_by", "readers.id", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reading_groups")),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("reader_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("joined_at", UTC, nullable=False),
        _fk("group_members", "group_id", "reading_groups.id", "CASCADE"),
        _fk("group_members", "reader_id", "readers.id", "CASCADE"),
        sa.PrimaryKeyConstraint("group_id", "reader_id", name=op.f("pk_group_members")),
    )
    op.create_index("ix_group_members_reader_id", "group_members", ["reader_id"])
    op.create_table(
        "group_sessions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", UTC, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("paper_ids", sa.JSON(), nullable=False),
        sa.Column("presenter_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("reminded_at", UTC, nullable=True),
        _fk("group_sessions", "group_id", "reading_groups.id", "CASCADE"),
        _fk("group_sessions", "presenter_id", "readers.id", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_sessions")),
    )
    op.create_index(
        "ix_group_sessions_group_id_starts_at", "group_sessions", ["group_id", "starts_at"]
    )
    op.create_table(
        "comments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("thread", sa.String(length=220), nullable=False),
        sa.Column("paper_id", sa.String(length=200), nullable=True),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("reader_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("edited_at", UTC, nullable=True),
        sa.Column("deleted_at", UTC, nullable=True),
        sa.Column("hidden_at", UTC, nullable=True),
        sa.Column("hidden_by", sa.Integer(), nullable=True),
        _fk("comments", "paper_id", "papers.id", "CASCADE"),
        _fk("comments", "session_id", "group_sessions.id", "CASCADE"),
        _fk("comments", "parent_id", "comments.id", "SET NULL"),
        _fk("comments", "reader_id", "readers.id", "CASCADE"),
        _fk("comments", "hidden_by", "readers.id", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comments")),
    )
    op.create_index("ix_comments_thread_id", "comments", ["thread", "id"])
    op.create_index("ix_comments_paper_id", "comments", ["paper_id"])
    op.create_index("ix_comments_reader_id", "comments", ["reader_id"])
    op.create_index("ix_comments_created_at", "comments", ["created_at"])
    op.create_table(
        "thread_follows",
        sa.Column("reader_id", sa.Integer(), nullable=False),
        sa.Column("thread", sa.String(length=220), nullable=False),
        sa.Column("muted", sa.Boolean(), nullable=False),
        sa.Column("seen_comment_id", sa.Integer(), nullable=False),
        sa.Column("notified_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        _fk("thread_follows", "reader_id", "readers.id", "CASCADE"),
        sa.PrimaryKeyConstraint("reader_id", "thread", name=op.f("pk_thread_follows")),
    )
    op.create_index("ix_thread_follows_thread", "thread_follows", ["thread"])


def downgrade() -> None:
    op.drop_table("thread_follows")
    op.drop_table("comments")
    op.drop_table("group_sessions")
    op.drop_table("group_members")
    op.drop_table("reading_groups")
