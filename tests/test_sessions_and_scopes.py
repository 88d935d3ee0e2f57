"""Sign-out ends the session (a copied cookie stops working), "sign out
everywhere" ends every session and API token, and API tokens carry scopes
that the JSON API enforces: a leaked token without the "tokens" scope cannot
mint a replacement. On the real app and both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import get_args

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from paperfeed import readers as core
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db.engine import alembic_config, make_engine
from paperfeed.db.tables import api_tokens, reader_sessions, readers
from paperfeed.web.api_readers import TokenScope
from tests.readers_helpers import csrf_from, new_client, sign_in


def _copy_of(client: TestClient) -> TestClient:
    """Another machine holding a copy of this browser's session cookie."""
    thief = new_client(client)
    thief.cookies.update(client.cookies)
    return thief


def test_sign_out_ends_a_copied_session_cookie(
    client: TestClient, settings: Settings, db: Database
):
    sign_in(client, settings, db, "alice@example.org")
    thief = _copy_of(client)
    assert thief.get("/api/me").status_code == 200
    other_device = new_client(client)
    sign_in(other_device, settings, db, "alice@example.org")
    csrf = csrf_from(client.get("/account").text)
    assert (
        client.post("/signout", data={"csrf_token": csrf}, follow_redirects=False).status_code
        == 303
    )
    assert thief.get("/api/me").status_code == 401
    assert thief.get("/account", follow_redirects=False).status_code == 303
    # Only that session ended: the reader's other device stays signed in.
    assert other_device.get("/api/me").status_code == 200


def test_sign_out_everywhere_ends_every_session_and_token(
    client: TestClient, settings: Settings, db: Database
):
    alice = sign_in(client, settings, db, "alice@example.org")
    other_device = new_client(client)
    sign_in(other_device, settings, db, "alice@example.org")
    thief = _copy_of(other_device)
    _, token = core.create_api_token(db, alice, "laptop script")
    script = new_client(client)
    auth = {"Authorization": f"Bearer {token}"}
    assert script.get("/api/me", headers=auth).status_code == 200
    bob = new_client(client)
    sign_in(bob, settings, db, "bob@example.org")
    csrf = csrf_from(client.get("/account").text)
    response = client.post(
        "/account/signout-everywhere", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert response.status_code == 303
    for device in (client, other_device, thief):
        assert device.get("/api/me").status_code == 401
    assert script.get("/api/me", headers=auth).status_code == 401
    assert all(t["revoked_at"] is not None for t in core.list_api_tokens(db, alice))
    assert bob.get("/api/me").json()["email"] == "bob@example.org"  # only alice's
    # Signing in again works as before.
    sign_in(client, settings, db, "alice@example.org")


def test_sessions_expire_in_the_database_too(settings: Settings, db: Database):
    alice = core.Reader.from_row(
        {"id": _new_reader(db), "email": "a@example.org", "name": None, "role": "reader"}
    )
    long_ago = datetime.now(UTC) - timedelta(days=core.SESSION_DAYS + 1)
    stale = core.start_session(db, alice, now=long_ago)
    assert core.reader_for_session(db, stale, now=long_ago) == alice
    ended = core.start_session(db, alice, now=long_ago)
    core.end_session(db, ended, now=long_ago)
    fresh = core.start_session(db, alice)
    assert core.reader_for_session(db, stale) is None
    assert core.reader_for_session(db, fresh) == alice
    # Ended sessions are forgotten when the reader signs in again.
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(reader_sessions)).scalar() == 1


def _new_reader(db: Database) -> int:
    with db.begin() as conn:
        from paperfeed.db import readers as store

        return int(store.get_or_create_reader(conn, "a@example.org", datetime.now(UTC))["id"])


def _token(client: TestClient, name: str, scopes: list[str]) -> dict[str, str]:
    csrf = csrf_from(client.get("/account").text)
    response = client.post(
        "/api/me/tokens", json={"name": name, "scopes": scopes}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 201, response.text
    assert response.json()["scopes"] == scopes
    return {"Authorization": f"Bearer {response.json()['token']}"}


def test_token_scopes_are_enforced(client: TestClient, settings: Settings, db: Database):
    sign_in(client, settings, db, "alice@example.org")
    api = new_client(client)
    reader_only = _token(client, "dashboard", ["read"])
    read_write = _token(client, "script", ["read", "write"])
    manager = _token(client, "token manager", ["read", "write", "tokens"])
    writer_only = _token(client, "writer", ["write"])

    assert api.get("/api/me/saved_searches", headers=reader_only).status_code == 200
    refused = api.post("/api/me/saved_searches", json={"query": "gan"}, headers=reader_only)
    assert refused.status_code == 403 and "'write' scope" in refused.json()["detail"]
    assert api.get("/api/me/saved_searches", headers=writer_only).status_code == 403
    assert (
        api.post("/api/me/saved_searches", json={"query": "gan"}, headers=writer_only).status_code
        == 201
    )
    assert (
        api.post("/api/me/saved_searches", json={"query": "gan"}, headers=read_write).status_code
        == 201
    )

    # A leaked read+write token cannot list, mint or revoke tokens, so revoking
    # it locks its holder out.
    for method, path, body in (
        ("GET", "/api/me/tokens", None),
        ("POST", "/api/me/tokens", {"name": "backdoor", "scopes": ["read"]}),
        ("DELETE", "/api/me/tokens/1", None),
    ):
        response = api.request(method, path, json=body, headers=read_write)
        assert response.status_code == 403, (method, path, response.text)
        assert "'tokens' scope" in response.json()["detail"]
    assert [t["name"] for t in core.list_api_tokens(db, core.get_reader(db, 1))] == [  # type: ignore[arg-type]
        "writer",
        "token manager",
        "script",
        "dashboard",
    ]

    # A token with "tokens" can manage them, but not mint more than it has.
    listed = api.get("/api/me/tokens", headers=manager).json()
    assert {t["name"]: t["scopes"] for t in listed}["dashboard"] == ["read"]
    minted = api.post("/api/me/tokens", json={"name": "child", "scopes": ["read"]}, headers=manager)
    assert minted.status_code == 201 and minted.json()["scopes"] == ["read"]
    default = api.post("/api/me/tokens", json={"name": "defaults"}, headers=manager)
    assert default.json()["scopes"] == ["read", "write"]
    child = {"Authorization": f"Bearer {minted.json()['token']}"}
    assert api.post("/api/me/tokens", json={"name": "x"}, headers=child).status_code == 403
    bad = api.post("/api/me/tokens", json={"name": "x", "scopes": ["admin"]}, headers=manager)
    assert bad.status_code == 422
    none = api.post("/api/me/tokens", json={"name": "x", "scopes": []}, headers=manager)
    assert none.status_code == 422


def test_a_token_cannot_mint_beyond_its_scopes(db: Database):
    reader = core.Reader(id=_new_reader(db), email="a@example.org", name="a", role="reader")
    limited = core.Reader(**{**reader.__dict__, "scopes": frozenset({"read", "tokens"})})
    with pytest.raises(core.Forbidden, match="more scopes than its own"):
        core.create_api_token(db, limited, "wider", ["read", "write"])
    with pytest.raises(core.Forbidden, match="'tokens' scope"):
        core.create_api_token(
            db, core.Reader(**{**reader.__dict__, "scopes": frozenset({"read"})}), "x", ["read"]
        )
    with pytest.raises(core.ReaderError, match="unknown token scope 'delete'"):
        core.create_api_token(db, reader, "x", "read delete")
    _, token = core.create_api_token(db, limited, "narrow", ["read"])
    found = core.reader_for_api_token(db, token)
    assert found is not None and found.scopes == frozenset({"read"})
    core.require_scope(found, "read")
    with pytest.raises(core.Forbidden):
        core.require_scope(found, "write")
    # The API's schema offers exactly the core's scopes.
    assert get_args(TokenScope) == core.TOKEN_SCOPES


def test_account_page_chooses_and_shows_scopes(
    client: TestClient, settings: Settings, db: Database
):
    sign_in(client, settings, db, "alice@example.org")
    page = client.get("/account").text
    assert 'name="scopes" value="read" checked' in page
    assert 'name="scopes" value="tokens">' in page  # not checked by default
    created = client.post(
        "/account/tokens",
        data={"name": "feed reader", "scopes": ["read"], "csrf_token": csrf_from(page)},
    )
    assert created.status_code == 200
    assert "<td>feed reader</td>\n      <td>read</td>" in created.text
    refused = client.post(
        "/account/tokens", data={"name": "nothing", "csrf_token": csrf_from(page)}
    )
    assert refused.status_code == 400 and "at least one scope" in refused.text


# ---------------------------------------------------------------- migration


@pytest.fixture
def empty_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    server = request.getfixturevalue("pg_server")
    name = server.create_database()
    yield server.url(name)
    server.drop_database(name)


def test_existing_tokens_keep_read_and_write_after_the_migration(empty_url: str):
    engine = make_engine(empty_url)
    cfg = alembic_config(empty_url)
    now = datetime.now(UTC)
    try:
        command.upgrade(cfg, "0015_pg_postings_vacuum")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO readers (id, email, name, role, created_at, session_epoch) "
                    "VALUES (1, 'old@example.org', 'old', 'reader', :now, 3)"
                ),
                {"now": now},
            )
            conn.execute(
                text(
                    "INSERT INTO api_tokens (reader_id, name, token_hash, created_at) "
                    "VALUES (1, 'old script', :hash, :now)"
                ),
                {"hash": "0" * 64, "now": now},
            )
        command.upgrade(cfg, "head")
        with engine.connect() as conn:
            assert conn.execute(select(api_tokens.c.scopes)).scalar_one() == "read write"
            assert conn.execute(select(readers.c.email)).scalar_one() == "old@example.org"
        command.downgrade(cfg, "0015_pg_postings_vacuum")
        command.upgrade(cfg, "head")
    finally:
        engine.dispose()
