"""The readers core against a real database: sign-in tokens, roles, votes,
saves, hides, collections, saved searches, API tokens, and the users CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from paperfeed import readers as core
from paperfeed.cli import app as cli_app
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import papers as paper_store
from paperfeed.db.tables import api_tokens, login_tokens
from paperfeed.ingest import pipeline
from tests.helpers import make_paper
from tests.readers_helpers import token_from_link


@pytest.fixture
def papers(db: Database) -> list[str]:
    ids = ["2501.00001", "2501.00002", "2501.00003"]
    pipeline.ingest(db, [make_paper(i) for i in ids])
    return ids


def _reader(db: Database, email: str) -> core.Reader:
    return core.grant_role(db, email, "reader")


def test_magic_link_signs_in_once_and_creates_the_reader(settings: Settings, db: Database):
    link = core.create_magic_link(settings, db, "New.Person@Example.org")
    assert link.startswith(settings.base_url + "/signin/verify?token=")
    reader = core.complete_sign_in(settings, db, token_from_link(link))
    assert reader.email == "new.person@example.org"
    assert reader.role == "reader"
    with pytest.raises(core.InvalidLink, match="already been used"):
        core.complete_sign_in(settings, db, token_from_link(link))
    # Signing in again with a fresh link finds the same reader.
    fresh = core.create_magic_link(settings, db, "new.person@example.org")
    again = core.complete_sign_in(settings, db, token_from_link(fresh))
    assert again.id == reader.id


def test_magic_link_expires_after_the_configured_minutes(settings: Settings, db: Database):
    issued = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    link = core.create_magic_link(settings, db, "a@example.org", now=issued)
    token = token_from_link(link)
    with pytest.raises(core.InvalidLink, match="expired"):
        core.complete_sign_in(settings, db, token, now=issued + timedelta(minutes=15, seconds=1))
    # Expiry does not use the link up: within the window it still works.
    reader = core.complete_sign_in(settings, db, token, now=issued + timedelta(minutes=14))
    assert reader.email == "a@example.org"


def test_forged_and_tampered_links_are_refused(settings: Settings, db: Database):
    link = core.create_magic_link(settings, db, "a@example.org")
    token = token_from_link(link)
    other = Settings(data_dir=settings.data_dir, secret_key="another-secret")
    forged = token_from_link(core.create_magic_link(other, db, "a@example.org"))
    for bad in (forged, token[:-2] + "xx", "", "not-a-token"):
        with pytest.raises(core.InvalidLink, match="not valid"):
            core.complete_sign_in(settings, db, bad)
    with db.connect() as conn:
        used = conn.execute(select(login_tokens.c.used_at)).scalars().all()
    assert used == [None, None]  # refused links used up nothing


def test_rate_limit_per_address_and_per_ip(settings: Settings, db: Database):
    settings.signin_limit_per_address = 2
    settings.signin_limit_per_ip = 3
    start = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    core.check_sign_in_rate(settings, db, "a@example.org", "10.0.0.1", now=start)
    core.check_sign_in_rate(settings, db, "a@example.org", "10.0.0.2", now=start)
    with pytest.raises(core.RateLimited, match="this address"):
        core.check_sign_in_rate(settings, db, "a@example.org", "10.0.0.3", now=start)
    core.check_sign_in_rate(settings, db, "b@example.org", "10.0.0.1", now=start)
    core.check_sign_in_rate(settings, db, "c@example.org", "10.0.0.1", now=start)
    with pytest.raises(core.RateLimited, match="network address"):
        core.check_sign_in_rate(settings, db, "d@example.org", "10.0.0.1", now=start)
    # After the window the address may ask again.
    later = start + timedelta(minutes=settings.signin_limit_window_minutes, seconds=1)
    core.check_sign_in_rate(settings, db, "a@example.org", "10.0.0.9", now=later)


def test_votes_are_one_per_reader_and_toggle(db: Database, papers: list[str]):
    alice, bob = _reader(db, "alice@example.org"), _reader(db, "bob@example.org")
    paper = papers[0]
    assert core.toggle_vote(db, alice, paper)["upvotes"] == 1
    assert core.set_flag(db, alice, "vote", paper, True)["upvotes"] == 1  # no double vote
    state = core.set_flag(db, bob, "vote", paper, True)
    assert state["upvotes"] == 2 and state["upvoted"]
    state = core.toggle_vote(db, alice, paper)
    assert state["upvotes"] == 1 and not state["upvoted"]
    assert core.paper_states(db, bob, [paper])[paper]["upvoted"]
    assert not core.paper_states(db, None, [paper])[paper]["upvoted"]


def test_upvote_count_includes_imported_upvotes(db: Database):
    pipeline.ingest(db, [make_paper("2501.00009", upvotes=41)])
    alice = _reader(db, "alice@example.org")
    assert core.set_flag(db, alice, "vote", "2501.00009", True)["upvotes"] == 42


def test_saves_and_hides_are_private_to_each_reader(db: Database, papers: list[str]):
    alice, bob = _reader(db, "alice@example.org"), _reader(db, "bob@example.org")
    core.set_flag(db, alice, "save", papers[0], True)
    core.set_flag(db, alice, "save", papers[1], True)
    core.set_flag(db, alice, "hide", papers[2], True)
    assert [p["id"] for p in core.library(db, alice)] == [papers[1], papers[0]]  # newest first
    assert core.library(db, bob) == []
    assert core.hidden_paper_ids(db, alice) == {papers[2]}
    assert core.hidden_paper_ids(db, bob) == set()
    core.set_flag(db, alice, "save", papers[0], False)
    assert [p["id"] for p in core.library(db, alice)] == [papers[1]]


def test_actions_on_unknown_papers_are_not_found(db: Database):
    alice = _reader(db, "alice@example.org")
    with pytest.raises(core.NotFound, match="no paper"):
        core.set_flag(db, alice, "vote", "9999.99999", True)


def test_collections_are_owned(db: Database, papers: list[str]):
    alice, bob = _reader(db, "alice@example.org"), _reader(db, "bob@example.org")
    private = core.create_collection(db, alice, "  Reading   list ")
    public = core.create_collection(db, alice, "Shared", is_public=True)
    core.add_to_collection(db, alice, private, papers[0])
    core.add_to_collection(db, alice, private, papers[0])  # twice is fine
    core.add_to_collection(db, alice, public, papers[1])
    found, in_private = core.get_collection(db, alice, private)
    assert found["name"] == "Reading list"
    assert [p["id"] for p in in_private] == [papers[0]]
    with pytest.raises(core.ReaderError, match="already have"):
        core.create_collection(db, alice, "Reading list")
    # Bob: sees the public one, not the private one, and can change neither.
    assert [p["id"] for p in core.get_collection(db, bob, public)[1]] == [papers[1]]
    assert [p["id"] for p in core.get_collection(db, None, public)[1]] == [papers[1]]
    for viewer in (bob, None):
        with pytest.raises(core.NotFound):
            core.get_collection(db, viewer, private)
    for attempt in (
        lambda: core.add_to_collection(db, bob, private, papers[2]),
        lambda: core.add_to_collection(db, bob, public, papers[2]),
        lambda: core.remove_from_collection(db, bob, public, papers[1]),
        lambda: core.update_collection(db, bob, public, name="mine now"),
        lambda: core.update_collection(db, bob, private, is_public=True),
        lambda: core.delete_collection(db, bob, public),
    ):
        with pytest.raises(core.NotFound):
            attempt()
    assert core.get_collection(db, alice, public)[0]["name"] == "Shared"
    assert [p["id"] for p in core.get_collection(db, alice, public)[1]] == [papers[1]]
    assert not core.get_collection(db, alice, private)[0]["is_public"]
    assert [c["paper_count"] for c in core.list_collections(db, alice)] == [1, 1]
    assert core.list_collections(db, bob) == []
    core.remove_from_collection(db, alice, private, papers[0])
    core.update_collection(db, alice, private, name="Done", is_public=True)
    assert core.get_collection(db, bob, private)[1] == []
    core.delete_collection(db, alice, private)
    assert [c["name"] for c in core.list_collections(db, alice)] == ["Shared"]


def test_saved_searches_crud_is_per_reader(db: Database):
    alice, bob = _reader(db, "alice@example.org"), _reader(db, "bob@example.org")
    search_id = core.create_saved_search(db, alice, "", "  graph neural networks ")
    assert core.get_saved_search(db, alice, search_id)["name"] == "graph neural networks"
    core.update_saved_search(db, alice, search_id, name="GNNs", query="gnn")
    assert [(s["name"], s["query"]) for s in core.list_saved_searches(db, alice)] == [
        ("GNNs", "gnn")
    ]
    assert core.list_saved_searches(db, bob) == []
    with pytest.raises(core.NotFound):
        core.get_saved_search(db, bob, search_id)
    with pytest.raises(core.NotFound):
        core.update_saved_search(db, bob, search_id, name="x", query="y")
    with pytest.raises(core.NotFound):
        core.delete_saved_search(db, bob, search_id)
    with pytest.raises(core.ReaderError, match="query"):
        core.create_saved_search(db, alice, "empty", "   ")
    core.delete_saved_search(db, alice, search_id)
    assert core.list_saved_searches(db, alice) == []


def test_api_tokens_store_only_a_hash_and_can_be_revoked(db: Database):
    alice, bob = _reader(db, "alice@example.org"), _reader(db, "bob@example.org")
    token_id, token = core.create_api_token(db, alice, "script")
    assert token.startswith("pf_")
    with db.connect() as conn:
        stored = conn.execute(select(api_tokens.c.token_hash)).scalars().all()
    assert stored == [core.hash_token(token)] and token not in stored
    found = core.reader_for_api_token(db, token)
    assert found is not None and found.id == alice.id
    assert core.list_api_tokens(db, alice)[0]["last_used_at"] is not None
    assert core.list_api_tokens(db, bob) == []
    with pytest.raises(core.NotFound):
        core.revoke_api_token(db, bob, token_id)
    assert core.reader_for_api_token(db, token) is not None
    core.revoke_api_token(db, alice, token_id)
    assert core.reader_for_api_token(db, token) is None
    assert core.reader_for_api_token(db, "pf_made-up") is None


def test_curation_needs_a_curator(db: Database, papers: list[str]):
    reader = _reader(db, "reader@example.org")
    with pytest.raises(core.Forbidden):
        core.curate(db, reader, papers[0], hidden=True)
    curator = core.grant_role(db, "cur@example.org", "curator")
    core.curate(db, curator, papers[0], featured=True)
    core.curate(db, curator, papers[1], hidden=True)
    with db.connect() as conn:
        got = paper_store.get_papers(conn, papers[:2])
        listed = paper_store.papers_listed_on(conn, got[papers[0]]["listing_date"])
    assert got[papers[0]]["featured"] and got[papers[1]]["hidden"]
    assert papers[1] not in [p["id"] for p in listed]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2501.01234", "2501.01234"),
        ("arXiv:2501.01234v3", "2501.01234"),
        ("https://arxiv.org/abs/2501.01234v2", "2501.01234"),
        ("https://arxiv.org/pdf/2501.01234.pdf", "2501.01234"),
        ("hep-th/9901001", "hep-th/9901001"),
    ],
)
def test_parse_arxiv_id(text: str, expected: str):
    assert core.parse_arxiv_id(text) == expected


@pytest.mark.parametrize("text", ["", "1234", "../etc/passwd", "<script>", "2501.1"])
def test_parse_arxiv_id_rejects_junk(text: str):
    with pytest.raises(core.ReaderError, match="not an arXiv id"):
        core.parse_arxiv_id(text)


def test_users_cli_grants_and_lists_roles(cli_env: Settings):
    runner = CliRunner()
    result = runner.invoke(cli_app, ["users", "grant", "Boss@Example.org", "admin"])
    assert result.exit_code == 0, result.output
    assert "boss@example.org is now admin" in result.output
    result = runner.invoke(cli_app, ["users", "grant", "boss@example.org", "emperor"])
    assert result.exit_code == 2
    assert "unknown role 'emperor'" in result.output
    result = runner.invoke(cli_app, ["users", "list"])
    assert result.exit_code == 0
    assert "boss@example.org" in result.output and "admin" in result.output
    db = Database(cli_env.database_url_resolved)
    try:
        assert [(r.email, r.role) for r in core.list_readers(db)] == [("boss@example.org", "admin")]
    finally:
        db.dispose()


def test_store_reports_what_changed(db: Database, papers: list[str]):
    """Second votes and second submissions change nothing, on both backends."""
    from paperfeed.db import readers as store

    alice, bob = _reader(db, "alice@example.org"), _reader(db, "bob@example.org")
    now = datetime.now(UTC)
    with db.begin() as conn:
        assert store.set_flag(conn, "vote", alice.id, papers[0], True, now) is True
        assert store.set_flag(conn, "vote", alice.id, papers[0], True, now) is False
        assert store.set_flag(conn, "vote", alice.id, papers[0], False, now) is True
        assert store.set_flag(conn, "vote", alice.id, papers[0], False, now) is False
        assert store.record_submission(conn, papers[1], alice.id, now) is True
        assert store.record_submission(conn, papers[1], bob.id, now) is False
