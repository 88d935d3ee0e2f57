"""Every table, in SQLAlchemy Core. The schema is shared by SQLite and PostgreSQL.

Core rather than the ORM: ingest moves tens of thousands of rows a second in
executemany batches, and the rest of the code passes plain rows around.
Migrations (db/migrations) are generated from this file; change both together.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

# Stable constraint names, so Alembic migrations read the same on both backends.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

UTC_DATETIME = DateTime(timezone=True)

# ---------------------------------------------------------------- papers

papers = Table(
    "papers",
    metadata,
    # arXiv id without version ("2301.01234", "quant-ph/0210005"), or a slug.
    Column("id", String(200), primary_key=True),
    Column("title", Text, nullable=False),
    Column("abstract", Text, nullable=False, default=""),
    Column("authors", JSON, nullable=False),  # list[str], in order
    Column("primary_category", String(64)),
    Column("categories", JSON, nullable=False),  # list[str]
    Column("latest_version", Integer, nullable=False, default=0),
    Column("published", UTC_DATETIME),  # v1
    Column("updated", UTC_DATETIME),  # latest version
    Column("listing_date", Date, index=True),  # the day it appears in a daily list
    Column("comment", Text),
    Column("journal_ref", Text),
    Column("doi", String(200)),
    Column("abs_url", String(500)),
    Column("pdf_url", String(500)),
    # The richest source that contributed (db.papers.SOURCE_RANK), and all of them.
    Column("source", String(32), nullable=False),
    Column("sources", JSON),  # list[str]; NULL on rows from before 0002 means [source]
    Column("imported_upvotes", Integer, nullable=False, default=0),  # e.g. from HF
    Column("submitted_by", String(200)),  # HF submitter, or a Paperfeed reader's name
    Column("featured_date", Date),  # HF "submittedOnDailyAt"
    Column("withdrawn", Boolean, nullable=False, default=False),
    # Per author (in the order of ``authors``) the affiliations a source gave:
    # list[list[str]]; NULL when none did (0023).
    # none_as_null: most papers have neither, and SQL NULL costs ingest no JSON encoding.
    Column("affiliations", JSON(none_as_null=True)),
    Column("organization", JSON(none_as_null=True)),  # HF's: {"name", "fullname", "avatar"}
    # Curators' decisions.
    Column("featured", Boolean, nullable=False, default=False),
    Column("hidden", Boolean, nullable=False, default=False),
    # normalize_title(title): finds the same paper across sources with and without ids.
    Column("title_key", String(500), nullable=False, index=True),
    Column("content_hash", String(64), nullable=False),
    # models.text_hash(title, abstract): what a vector is built from. Embedding
    # staleness compares this, so an upvote never costs a re-embed (0009).
    Column("text_hash", String(64), nullable=False, server_default=""),
    Column("created_at", UTC_DATETIME, nullable=False),
    Column("modified_at", UTC_DATETIME, nullable=False),
)

paper_versions = Table(
    "paper_versions",
    metadata,
    Column("paper_id", String(200), ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("created", UTC_DATETIME),
)

# A slug paper later found under its arXiv id keeps its old URL working.
paper_aliases = Table(
    "paper_aliases",
    metadata,
    Column("alias", String(200), primary_key=True),
    Column("paper_id", String(200), ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
)

# Transactional outbox for the sidecar indexes: written in the same transaction
# as the paper change, deleted only after the sidecar has committed it. A crash
# anywhere in between means the paper is simply indexed again.
index_queue = Table(
    "index_queue",
    metadata,
    Column("paper_id", String(200), primary_key=True),
    Column("queued_at", UTC_DATETIME, nullable=False),
)

embeddings = Table(
    "embeddings",
    metadata,
    Column("paper_id", String(200), ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("model", String(200), primary_key=True),
    Column("dim", Integer, nullable=False),
    Column("vector", LargeBinary, nullable=False),  # float32, little-endian, L2-normalized
    # papers.text_hash of the text this vector embeds (before 0009 it held
    # papers.content_hash, which moved on every upvote); the column keeps its name.
    Column("content_hash", String(64), nullable=False),
    Column("created_at", UTC_DATETIME, nullable=False),
    # The vector sidecar catches up by "written since"; without this index that
    # is a full scan of a million rows on every open.
    Index("ix_embeddings_model_created_at", "model", "created_at"),
)

# Keyphrases and a one-sentence TL;DR, extracted offline by the embed job in
# the same pass as the vector (index/teasers.py). One row per paper, for the
# text_hash it was computed from: a paper whose text changed (new version,
# edited abstract) is pending again and gets new ones; a stale row is never shown.
paper_teasers = Table(
    "paper_teasers",
    metadata,
    Column("paper_id", String(200), ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("text_hash", String(64), nullable=False),
    # The extraction recipe and the embedder it ran on: a new one recomputes.
    Column("method", String(300), nullable=False),
    Column("keyphrases", JSON, nullable=False),  # list[str], best first
    Column("tldr", Text, nullable=False),  # one sentence of the abstract, or ""
    Column("created_at", UTC_DATETIME, nullable=False),
)

# Abstractive summaries from an OpenAI-compatible endpoint (services/summaries.py):
# at most one per paper version (text_hash) and prompt version for the whole
# instance, stored with the model that wrote it.
machine_summaries = Table(
    "machine_summaries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("paper_id", String(200), ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    Column("text_hash", String(64), nullable=False),
    Column("model", String(200), nullable=False),
    Column("prompt_version", String(50), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UTC_DATETIME, nullable=False),
    UniqueConstraint("paper_id", "text_hash", "prompt_version"),
)

# The daily cap of summary requests: one row per UTC day, its count raised by a
# conditional UPDATE before each request, so workers together stay under it.
summary_usage = Table(
    "summary_usage",
    metadata,
    Column("day", Date, primary_key=True),
    Column("requests", Integer, nullable=False, default=0),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)

# ---------------------------------------------------------------- readers

readers = Table(
    "readers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),  # stored lower-cased
    Column("name", String(200)),
    Column("role", String(20), nullable=False, default="reader"),  # reader|curator|admin
    Column("interests", JSON),  # cold start: {"categories": [...], "keywords": [...]}
    Column("created_at", UTC_DATETIME, nullable=False),
)

# Browser sessions: the signed cookie carries a random session id whose sha256
# is the key here, so signing out (one session, or all of a reader's) ends a
# copied cookie too; the cookie's signature alone cannot be taken back.
reader_sessions = Table(
    "reader_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # sha256 of the cookie's id
    Column("reader_id", Integer, ForeignKey("readers.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTC_DATETIME, nullable=False),
    Column("expires_at", UTC_DATETIME, nullable=False),
    Column("revoked_at", UTC_DATETIME),
    Index("ix_reader_sessions_reader_id", "reader_id"),
)

# The audit trail of role changes (web admin page and `paperfeed users grant`).
# Emails are copied, not only ids, so the trail still reads after an account goes.
role_changes = Table(
    "role_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("reader_id", Integer, ForeignKey("readers.id", ondelete="SET NULL")),
    Column("email", String(320), nullable=False),
    Column("old_role", String(20)),  # None: the account was created by the grant
    Column("new_role", String(20), nullable=False),
    Column("changed_by_id", Integer, ForeignKey("readers.id", ondelete="SET NULL")),
    Column("changed_by", String(320), nullable=False),  # an admin's email, or "command line"
    Column("changed_at", UTC_DATETIME, nullable=False, index=True),
)

# Magic links: the signed token carries this id; using it marks it used.
login_tokens = Table(
    "login_tokens",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("email", String(320), nullable=False),
    Column("created_at", UTC_DATETIME, nullable=False),
    Column("expires_at", UTC_DATETIME, nullable=False),
    Column("used_at", UTC_DATETIME),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("reader_id", Integer, ForeignKey("readers.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256; never the token
    Column("created_at", UTC_DATETIME, nullable=False),
    Column("last_used_at", UTC_DATETIME),
    Column("revoked_at", UTC_DATETIME),
    # Space-separated, from readers.TOKEN_SCOPES; tokens made before scopes
    # existed could read and write, so that is what they keep.
    Column("scopes", String(100), nullable=False, server_default="read write"),
)


# Sign-in attempts, kept in the database so the limits hold across web workers
# and restarts. bucket is "email" or "ip"; old rows are pruned as new ones arrive.
rate_limit_events = Table(
    "rate_limit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("bucket", String(16), nullable=False),
    Column("key", String(320), nullable=False),
    Column("created_at", UTC_DATETIME, nullable=False),
    Index("ix_rate_limit_events_bucket_key_created_at", "bucket", "key", "created_at"),
)


def _reader_paper_table(name: str) -> Table:
    return Table(
        name,
        metadata,
        Column(
            "reader_id",
            Integer,
            ForeignKey("readers.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        Column(
            "paper_id",
            String(200),
            ForeignKey("papers.id", ondelete="CASCADE"),
            primary_key=True,
            index=True,
        ),
        Column("created_at", UTC_DATETIME, nullable=False, index=True),
    )


votes = _reader_paper_table("votes")
saves = _reader_paper_table("saves")
hides = _reader_paper_table("hides")

collections = Table(
    "collections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("reader_id", Integer, ForeignKey("readers.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("is_public", Boolean, nullable=False, default=False),
    Column("created_at", UTC_DATETIME, nullable=False),
    UniqueConstraint("reader_id", "name"),
)

collection_papers = Table(
    "collection_papers",
    metadata,
    Column(
        "collection_id",
        Integer,
        ForeignKey("collections.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("paper_id", String(200), ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("added_at", UTC_DATETIME, nullable=False),
)

submissions = Table(
    "submissions",
    metadata,
    Column("paper_id", String(200), ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("reader_id", Integer, ForeignKey("readers.id", ondelete="SET NULL")),
    Column("submitted_at", UTC_DATETIME, nullable=False),
)

saved_searches = Table(
    "saved_searches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("reader_id", Integer, ForeignKey("readers.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("query", Text, nullable=False),
    Column("created_at", UTC_DATETIME, nullable=False),
)

# A reader's private notes: on a paper (collection_id NULL) or on one item of
# one of their collections. Only the owner ever reads them (db/library.py).
notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("reader_id", Integer, ForeignKey("readers.id", ondelete="CASCADE"), nullable=False),
    Column("paper_id", String(200), ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    Column("collection_id", Integer, ForeignKey("collections.id", ondelete="CASCADE")),
    Column("body", Text, nullable=False),
    Column("created_at", UTC_DATETIME, nullable=False),
    Column("updated_at", UTC_DATETIME, nullable=False),
    UniqueConstraint("reader_id", "paper_id", "collection_id"),
    # NULLs are distinct in a unique constraint: one paper note per reader needs its own index.
    Index(
        "uq_notes_paper_note",
        "reader_id",
        "paper_id",
        unique=True,
        sqlite_where=text("collection_id IS NULL"),
        postgresql_where=text("collection_id IS NULL"),
    ),
)

# ---------------------------------------------------------------- digests

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("reader_id", Integer, ForeignKey("readers.id", ondelete="SET NULL")),
    Column("frequency", String(10), nullable=False, default="daily"),  # daily|weekly
    Column("topics", JSON),  # categories / keywords that filter the trending section
    Column("trending_count", Integer, nullable=False, default=10),
    Column("personal_count", Integer, nullable=False, default=5),
    Column("include_saved_searches", Boolean, nullable=False, default=True),
    Column("search_count", Integer, nullable=False, default=5),  # per saved search
    # Single-use confirmation: the signed link carries this nonce; confirming clears it.
    Column("confirm_nonce", String(64)),
    Column("created_at", UTC_DATETIME, nullable=False),
    Column("confirmed_at", UTC_DATETIME),
    Column("unsubscribed_at", UTC_DATETIME),
    Column("suppressed_at", UTC_DATETIME),  # permanent SMTP failure
    Column("suppressed_reason", Text),
)

# One row per subscription and digest period ("2026-11-20" or "2026-W47"): the
# unique key makes sending idempotent across crashes and re-runs.
send_log = Table(
    "send_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "subscription_id",
        Integer,
        ForeignKey("subscriptions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("period", String(16), nullable=False),
    Column("status", String(16), nullable=False),  # pending|sent|failed|skipped
    Column("attempts", Integer, nullable=False, default=0),
    Column("message_id", String(300)),
    # The digest's content, frozen when the row is claimed (paper ids per section),
    # so a re-run after a crash sends the same email, not a recomposed one.
    Column("content", JSON),
    Column("last_error", Text),
    Column("created_at", UTC_DATETIME, nullable=False),
    Column("sent_at", UTC_DATETIME),
    UniqueConstraint("subscription_id", "period"),
)

sent_papers = Table(
    "sent_papers",
    metadata,
    Column(
        "subscription_id",
        Integer,
        ForeignKey("subscriptions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("paper_id", String(200), primary_key=True),
    Column("period", String(16), nullable=False),
)

Index("ix_papers_listing_hidden", papers.c.listing_date, papers.c.hidden)
Index("ix_send_log_period_status", send_log.c.period, send_log.c.status)
# The trending lists' "newest" order (migration 0006).
Index("ix_papers_newest", papers.c.listing_date, papers.c.published, papers.c.id)
# The indexer reads the queue oldest first in batches (index_queue.pending);
# without this, each batch of a 1M-paper rebuild sorted the whole queue.
Index("ix_index_queue_queued_at", index_queue.c.queued_at, index_queue.c.paper_id)

# ---------------------------------------------------------------- community

# Reading groups. Roles live on the membership (owner | moderator | member);
# invite links carry invite_nonce, and a new nonce revokes the old links.
reading_groups = Table(
    "reading_groups",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("invite_nonce", String(64), nullable=False),
    Column("created_by", Integer, ForeignKey("readers.id", ondelete="SET NULL")),
    Column("created_at", UTC_DATETIME, nullable=False),
)

group_members = Table(
    "group_members",
    metadata,
    Column(
        "group_id",
        Integer,
        ForeignKey("reading_groups.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("reader_id", Integer, ForeignKey("readers.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(20), nullable=False, default="member"),  # owner|moderator|member
    Column("joined_at", UTC_DATETIME, nullable=False),
    Index("ix_group_members_reader_id", "reader_id"),
)

# One meeting of a group: when, which papers (ids, in order), who presents.
# reminded_at: the day-before reminder went out (claimed once per session).
group_sessions = Table(
    "group_sessions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "group_id", Integer, ForeignKey("reading_groups.id", ondelete="CASCADE"), nullable=False
    ),
    Column("starts_at", UTC_DATETIME, nullable=False),
    Column("title", String(200), nullable=False, default=""),
    Column("paper_ids", JSON, nullable=False),  # list[str]
    Column("presenter_id", Integer, ForeignKey("readers.id", ondelete="SET NULL")),
    Column("created_at", UTC_DATETIME, nullable=False),
    Column("reminded_at", UTC_DATETIME),
    Index("ix_group_sessions_group_id_starts_at", "group_id", "starts_at"),
)

# Comments. A thread is a paper's public discussion ("paper:<id>") or a group
# session's members-only one ("session:<id>"); the foreign keys make a thread
# go with its paper or session. Deleting keeps the row (replies stay threaded)
# and blanks the text; a curator's hide keeps the text for curators only.
comments = Table(
    "comments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("thread", String(220), nullable=False),
    Column("paper_id", String(200), ForeignKey("papers.id", ondelete="CASCADE")),
    Column("session_id", Integer, ForeignKey("group_sessions.id", ondelete="CASCADE")),
    Column("parent_id", Integer, ForeignKey("comments.id", ondelete="SET NULL")),
    Column("reader_id", Integer, ForeignKey("readers.id", ondelete="CASCADE"), nullable=False),
    Column("body", Text, nullable=False),  # the Markdown as written
    Column("body_html", Text, nullable=False),  # sanitized, rendered when written
    Column("created_at", UTC_DATETIME, nullable=False),
    Column("edited_at", UTC_DATETIME),
    Column("deleted_at", UTC_DATETIME),
    Column("hidden_at", UTC_DATETIME),
    Column("hidden_by", Integer, ForeignKey("readers.id", ondelete="SET NULL")),
    Index("ix_comments_thread_id", "thread", "id"),
    Index("ix_comments_paper_id", "paper_id"),
    Index("ix_comments_reader_id", "reader_id"),
    Index("ix_comments_created_at", "created_at"),
)

# Who hears about a thread: its participants (added when they comment) and
# readers who follow it. muted: unsubscribed, and not re-added by commenting.
# seen_comment_id/notified_at: the notice batching watermark (one mail per
# thread per hour at most, covering every comment after seen_comment_id).
thread_follows = Table(
    "thread_follows",
    metadata,
    Column("reader_id", Integer, ForeignKey("readers.id", ondelete="CASCADE"), primary_key=True),
    Column("thread", String(220), primary_key=True),
    Column("muted", Boolean, nullable=False, default=False),
    Column("seen_comment_id", Integer, nullable=False, default=0),
    Column("notified_at", UTC_DATETIME),
    Column("created_at", UTC_DATETIME, nullable=False),
    Index("ix_thread_follows_thread", "thread"),
)

# ---------------------------------------------------------------- code (0022)

# Code and project links of a paper: extracted from its abstract or comment at
# ingest, or imported from HF daily papers. ``repo`` is the repositories key
# ("owner/name", lower case) of a GitHub link, NULL for other kinds. ``kind``:
# github, gitlab, hf_model, hf_dataset, hf_space, project. ``source``:
# abstract, comment, hf.
code_links = Table(
    "code_links",
    metadata,
    Column("paper_id", String(200), ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("url", String(500), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("source", String(16), nullable=False),
    Column("repo", String(200)),
    Column("created_at", UTC_DATETIME, nullable=False),
    Index("ix_code_links_repo", "repo"),
    Index("ix_code_links_kind_paper_id", "kind", "paper_id"),
)

# A GitHub repository's stars as last seen, and the state the stars job
# resumes from: the oldest ``checked_at`` first (NULL: never asked GitHub), the
# ETag for a conditional request. ``status``: ok, gone (GitHub answered 404)
# or renamed (``renamed_to`` names the new key; the links moved there).
# ``stars_source``: github, or hf (HF's figure, until GitHub is asked).
repositories = Table(
    "repositories",
    metadata,
    Column("name", String(200), primary_key=True),  # "owner/name", lower case
    Column("full_name", String(200), nullable=False),  # as GitHub spells it
    Column("stars", Integer),
    Column("stars_source", String(16)),
    Column("etag", String(200)),
    Column("checked_at", UTC_DATETIME),
    Column("status", String(16), nullable=False, default="ok"),
    Column("renamed_to", String(200)),
    Column("created_at", UTC_DATETIME, nullable=False),
    Index("ix_repositories_checked_at", "checked_at"),
)

# Star counts over time, one row per observation that changed or first saw
# them: stars gained over a period are the latest count minus the last one
# observed before the period began.
repository_stars = Table(
    "repository_stars",
    metadata,
    Column(
        "name",
        String(200),
        ForeignKey("repositories.name", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
    ),
    Column("observed_at", UTC_DATETIME, primary_key=True),
    Column("stars", Integer, nullable=False),
)

# ---------------------------------------------------------------- authors

# An author is a normalized name (paperfeed.names: ``key``, also its URL), the
# first spelling seen as its display name, and the ids a source gave.
authors = Table(
    "authors",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False, unique=True),
    Column("name", String(1000), nullable=False),
    # First initial and surname ("j-smith"): where an initials-only name looks
    # for the one full name it abbreviates (names.abbreviates).
    Column("initials_key", String(200), nullable=False, index=True),
    Column("initials", String(200), nullable=False, default=""),
    Column("abbreviated", Boolean, nullable=False, default=False),
    Column("orcid", String(19)),
    Column("openalex_id", String(20)),
    Column("semantic_scholar_id", String(20)),
    Column("created_at", UTC_DATETIME, nullable=False),
)

# Who wrote a paper, in order: each written name linked to its author, with the
# affiliations the source gave for that author on that paper.
paper_authors = Table(
    "paper_authors",
    metadata,
    Column("paper_id", String(200), ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("author_id", Integer, ForeignKey("authors.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(1000), nullable=False),  # as written on this paper
    Column("affiliation", Text),  # "; "-joined, as the source gave them
    Index("ix_paper_authors_author_id_paper_id", "author_id", "paper_id"),
)

organizations = Table(
    "organizations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False, unique=True),
    Column("name", String(1000), nullable=False),
    Column("hf_name", String(200)),  # the HF organization's handle, when HF named it
    Column("created_at", UTC_DATETIME, nullable=False),
)

paper_organizations = Table(
    "paper_organizations",
    metadata,
    Column("paper_id", String(200), ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "organization_id",
        Integer,
        ForeignKey("organizations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Index("ix_paper_organizations_organization_id", "organization_id"),
)

# Papers whose authors and organizations are to be (re)linked: written with the
# paper in ingest's transaction (a narrow row, so ingest keeps its rate), drained
# in batches by services.authors.link_pending, which deletes a row in the
# transaction that links its paper. 0023 queues every existing paper.
author_queue = Table(
    "author_queue",
    metadata,
    Column("paper_id", String(200), primary_key=True),
    Column("queued_at", UTC_DATETIME, nullable=False),
)

# A reader's followed authors: private to the reader (db/authors.py).
author_follows = Table(
    "author_follows",
    metadata,
    Column("reader_id", Integer, ForeignKey("readers.id", ondelete="CASCADE"), primary_key=True),
    Column("author_id", Integer, ForeignKey("authors.id", ondelete="CASCADE"), primary_key=True),
    Column("created_at", UTC_DATETIME, nullable=False),
    Index("ix_author_follows_author_id", "author_id"),
)
