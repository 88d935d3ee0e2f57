"""papers.text_hash: embedding staleness by the embedded text only

Revision ID: 0010_text_hash
Revises: 0009_web

Before this, a vector was stale when ``papers.content_hash`` (a hash of every
stored field) moved on, so an upvote or a new DOI re-embedded the paper.
``papers.text_hash`` hashes only what the vector is built from
(``paperfeed.models.text_hash``: title and abstract as the embedder formats
them), and ``embeddings.content_hash`` now holds that. Backfill:
- every paper gets its text hash (computed here in Python, in batches);
- a vector that was current (its hash equalled the paper's content hash)
  gets the paper's text hash, so it stays current and is not re-embedded;
  a stale vector keeps its old hash and stays stale.
``created_at`` of the vectors is not touched: their bytes did not change.
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_text_hash"
down_revision: str | None = "0009_web"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000


def _document_text(title: str | None, abstract: str | None) -> str:
    # A frozen copy of paperfeed.models.document_text as of this revision: a
    # migration must not change meaning when the application code does later.
    title = " ".join((title or "").split())
    abstract = " ".join((abstract or "").split())
    if title and abstract:
        return f"{title}. {abstract}"
    return title or abstract


def _text_hash(title: str | None, abstract: str | None) -> str:
    return hashlib.sha256(_document_text(title, abstract).encode()).hexdigest()[:32]


papers = sa.table(
    "papers",
    sa.column("id", sa.String),
    sa.column("title", sa.Text),
    sa.column("abstract", sa.Text),
    sa.column("content_hash", sa.String),
    sa.column("text_hash", sa.String),
)


def upgrade() -> None:
    op.add_column(
        "papers",
        sa.Column("text_hash", sa.String(length=64), nullable=False, server_default=""),
    )
    bind = op.get_bind()
    update = (
        sa.update(papers)
        .where(papers.c.id == sa.bindparam("pid"))
        .values(text_hash=sa.bindparam("th"))
    )
    last = ""
    while True:
        # Keyset pagination: no OFFSET rescans, and no cursor held open across
        # the updates (SQLite would see its own writes mid-scan).
        rows = bind.execute(
            sa.select(papers.c.id, papers.c.title, papers.c.abstract)
            .where(papers.c.id > last)
            .order_by(papers.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        bind.execute(update, [{"pid": r.id, "th": _text_hash(r.title, r.abstract)} for r in rows])
        last = rows[-1].id
    op.execute(
        """
        UPDATE embeddings SET content_hash = (
            SELECT papers.text_hash FROM papers WHERE papers.id = embeddings.paper_id
        )
        WHERE content_hash = (
            SELECT papers.content_hash FROM papers WHERE papers.id = embeddings.paper_id
        )
        """
    )


def downgrade() -> None:
    op.execute(
        """
        UPDATE embeddings SET content_hash = (
            SELECT papers.content_hash FROM papers WHERE papers.id = embeddings.paper_id
        )
        WHERE content_hash = (
            SELECT papers.text_hash FROM papers WHERE papers.id = embeddings.paper_id
        )
        """
    )
    with op.batch_alter_table("papers", schema=None) as batch_op:
        batch_op.drop_column("text_hash")
