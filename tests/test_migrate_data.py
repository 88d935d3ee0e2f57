"""``paperfeed migrate-data``: a whole SQLite instance into PostgreSQL and back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import DateTime, Table, insert, select, text
from typer.testing import CliRunner

from paperfeed.cli import app
from paperfeed.db import Database, postings
from paperfeed.db import tables as t
from paperfeed.ingest.jsonl import read_jsonl
from paperfeed.ingest.pipeline import ingest
from tests.conftest import ARXIV_CS
from tests.helpers import real_records, write_jsonl
from tests.pg_server import PostgresServer

pytestmark = pytest.mark.postgres

STAMP = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    name = pg_server.create_database()  # empty: migrate-data migrates it
    yield pg_server.url(name)
    pg_server.drop_database(name)


def _fill(db: Database, tmp_path: Path) -> None:
    """Rows in every table of the schema, real papers included."""
    ingest(db, read_jsonl(write_jsonl(tmp_path / "s.jsonl", list(real_records(ARXIV_CS, 120)))))
    with db.connect() as conn:
        ids = [r[0] for r in conn.execute(select(t.papers.c.id).order_by(t.papers.c.id).limit(6))]
    rows: dict[Table, list[dict[str, Any]]] = {
        t.paper_versions: [{"paper_id": ids[0], "version": 1, "created": STAMP}],
        t.paper_aliases: [{"alias": "some-old-slug", "paper_id": ids[0]}],
        t.embeddings: [
            {
                "paper_id": i,
                "model": "m",
                "dim": 4,
                "vector": bytes(range(16)),
                "content_hash": "h",
                "created_at": STAMP,
            }
            for i in ids
        ],
        t.meta: [{"key": "k", "value": "v"}],
        t.rate_limit_events: [{"bucket": "ip", "key": "127.0.0.1", "created_at": STAMP}],
        t.readers: [
            {
                "email": f"r{n}@example.org",
                "name": f"R{n}",
                "role": "reader",
                "created_at": STAMP,
                "interests": {"categories": ["cs.LG"], "keywords": ["graphs"]},
            }
            for n in range(3)
        ],
        t.role_changes: [
            {
                "reader_id": 2,
                "email": "r1@example.org",
                "old_role": "reader",
                "new_role": "curator",
                "changed_by_id": 1,
                "changed_by": "r0@example.org",
                "changed_at": STAMP,
            }
        ],
        t.login_tokens: [
            {"id": "tok", "email": "r0@example.org", "created_at": STAMP, "expires_at": STAMP}
        ],
        t.rate_limit_events: [
            {"bucket": "email", "key": "r0@example.org", "created_at": STAMP},
            {"bucket": "ip", "key": "127.0.0.1", "created_at": STAMP},
        ],
        t.api_tokens: [
            {"reader_id": 1, "name": "cli", "token_hash": "x" * 64, "created_at": STAMP}
        ],
        t.reader_sessions: [
            {"id_hash": "s" * 64, "reader_id": 1, "created_at": STAMP, "expires_at": STAMP}
        ],
        t.votes: [{"reader_id": 1, "paper_id": ids[1], "created_at": STAMP}],
        t.saves: [{"reader_id": 2, "paper_id": ids[2], "created_at": STAMP}],
        t.hides: [{"reader_id": 3, "paper_id": ids[3], "created_at": STAMP}],
        t.collections: [
            {
                "reader_id": 1,
                "name": "reading",
                "description": "",
                "is_public": True,
                "created_at": STAMP,
            }
        ],
        t.collection_papers: [{"collection_id": 1, "paper_id": ids[4], "added_at": STAMP}],
        t.submissions: [{"paper_id": ids[5], "reader_id": 2, "submitted_at": STAMP}],
        t.saved_searches: [
            {"reader_id": 1, "name": "gnn", "query": "title:graph -survey", "created_at": STAMP}
        ],
        t.subscriptions: [
            {
                "email": "r0@example.org",
                "reader_id": 1,
                "frequency": "weekly",
                "topics": ["cs.LG"],
                "created_at": STAMP,
                "confirmed_at": STAMP,
            }
        ],
        t.send_log: [
            {
                "subscription_id": 1,
                "period": "2025-W10",
                "status": "sent",
                "attempts": 1,
                "created_at": STAMP,
                "sent_at": STAMP,
            }
        ],
        t.sent_papers: [{"subscription_id": 1, "paper_id": ids[0], "period": "2025-W10"}],
        t.notes: [
            {
                "reader_id": 1,
                "paper_id": ids[0],
                "body": "check *eq. 3*",
                "created_at": STAMP,
                "updated_at": STAMP,
            }
        ],
        t.reading_groups: [
            {
                "name": "Lab",
                "description": "",
                "invite_nonce": "n0",
                "created_by": 1,
                "created_at": STAMP,
            }
        ],
        t.group_members: [{"group_id": 1, "reader_id": 1, "role": "owner", "joined_at": STAMP}],
        t.group_sessions: [
            {
                "group_id": 1,
                "starts_at": STAMP,
                "title": "",
                "paper_ids": [ids[1]],
                "presenter_id": 1,
                "created_at": STAMP,
            }
        ],
        t.comments: [
            {
                "thread": f"paper:{ids[0]}",
                "paper_id": ids[0],
                "session_id": None,
                "parent_id": None,
                "reader_id": 1,
                "body": "Nice",
                "body_html": "<p>Nice</p>",
                "created_at": STAMP,
            },
            {
                "thread": "session:1",
                "paper_id": None,
                "session_id": 1,
                "parent_id": 1,
                "reader_id": 1,
                "body": "Reply",
                "body_html": "<p>Reply</p>",
                "created_at": STAMP,
            },
        ],
        t.paper_teasers: [
            {
                "paper_id": ids[0],
                "text_hash": "h",
                "method": "m",
                "keyphrases": ["graph rewiring"],
                "tldr": "We rewire.",
                "created_at": STAMP,
            }
        ],
        t.machine_summaries: [
            {
                "paper_id": ids[0],
                "text_hash": "h",
                "model": "llama",
                "prompt_version": "1",
                "body": "A summary.",
                "created_at": STAMP,
            }
        ],
        t.summary_usage: [{"day": STAMP.date(), "requests": 3}],
        t.authors: [
            {
                "key": "ada-lovelace",
                "name": "Ada Lovelace",
                "initials_key": "a-lovelace",
                "initials": "a",
                "abbreviated": False,
                "orcid": "0000-0002-1825-0097",
                "created_at": STAMP,
            }
        ],
        t.paper_authors: [
            {
                "paper_id": ids[0],
                "position": 0,
                "author_id": 1,
                "name": "Ada Lovelace",
                "affiliation": "Analytical Engine Society",
            }
        ],
        t.organizations: [
            {
                "key": "analytical-engine-society",
                "name": "Analytical Engine Society",
                "created_at": STAMP,
            }
        ],
        t.paper_organizations: [{"paper_id": ids[0], "organization_id": 1}],
        t.author_follows: [{"reader_id": 1, "author_id": 1, "created_at": STAMP}],
        t.thread_follows: [
            {
                "reader_id": 1,
                "thread": f"paper:{ids[0]}",
                "muted": False,
                "seen_comment_id": 1,
                "created_at": STAMP,
            }
        ],
        t.repositories: [
            {
                "name": "ada/engine",
                "full_name": "Ada/Engine",
                "stars": 12,
                "stars_source": "github",
                "etag": 'W/"abc"',
                "checked_at": STAMP,
                "status": "ok",
                "created_at": STAMP,
            }
        ],
        t.code_links: [
            {
                "paper_id": ids[0],
                "url": "https://github.com/Ada/Engine",
                "kind": "github",
                "source": "abstract",
                "repo": "ada/engine",
                "created_at": STAMP,
            }
        ],
        t.repository_stars: [{"name": "ada/engine", "observed_at": STAMP, "stars": 12}],
    }
    with db.begin() as conn:
        for table in t.metadata.sorted_tables:
            if table in rows:
                conn.execute(insert(table), rows[table])


def _dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, comparable across backends."""

    def norm(table: Table, row: Any) -> tuple[Any, ...]:
        values = []
        for column, value in zip(table.columns, row, strict=True):
            if isinstance(column.type, DateTime) and isinstance(value, datetime):
                value = value.replace(tzinfo=UTC) if value.tzinfo is None else value
                value = value.astimezone(UTC)
            values.append(value)
        return tuple(values)

    out = {}
    with db.connect() as conn:
        for table in t.metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            out[table.name] = [norm(table, r) for r in conn.execute(select(table).order_by(*order))]
    return out


def test_migrate_data_round_trip(tmp_path: Path, pg_url: str, pg_server: PostgresServer) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'source.db'}"
    source = Database(sqlite_url)
    _fill(source, tmp_path)
    original = _dump(source)
    assert all(original.values()), [k for k, v in original.items() if not v]  # every table used
    runner = CliRunner()

    result = runner.invoke(app, ["migrate-data", "--from", sqlite_url, "--to", pg_url])
    assert result.exit_code == 0, result.output
    assert "MISMATCH" not in result.output
    target = Database(pg_url)
    assert _dump(target) == original
    # The keyword posting table was deferred during the copy and built once.
    with target.connect() as conn:
        assert not postings.postings_stale(conn)
        stored = conn.execute(text("SELECT count(*) FROM lexical_postings")).scalar_one()
        expected = conn.execute(
            text("SELECT count(*) FROM papers, paperfeed_postings(search_vector, id)")
        ).scalar_one()
    assert stored == expected > 0
    # Sequences moved past the copied ids: a new reader gets a fresh id.
    with target.begin() as conn:
        new_id = conn.execute(
            insert(t.readers)
            .values(email="new@example.org", role="reader", created_at=STAMP)
            .returning(t.readers.c.id)
        ).scalar_one()
    assert new_id == 4

    # A second copy into the same target is refused, naming the tables.
    again = runner.invoke(app, ["migrate-data", "--from", sqlite_url, "--to", pg_url])
    assert again.exit_code == 2
    assert "papers" in again.output and "--wipe-target" in again.output

    # And back to a fresh SQLite file: the same rows (plus the new reader).
    back_url = f"sqlite:///{tmp_path / 'back.db'}"
    result = runner.invoke(app, ["migrate-data", "--from", pg_url, "--to", back_url])
    assert result.exit_code == 0, result.output
    back = _dump(Database(back_url))
    assert len(back["readers"]) == len(original["readers"]) + 1
    back["readers"] = back["readers"][:-1]
    assert back == original
    target.dispose()
    source.dispose()
