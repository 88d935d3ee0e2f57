"""Helpers for the readers' tests: sign a reader in through the real magic-link
flow, and read the CSRF token a page carries."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient

from paperfeed import readers as core
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.readers import Reader

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
LINK_RE = re.compile(r"(https?://\S+/signin/verify\?token=\S+)")


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


def page_csrf(client: TestClient, path: str = "/signin") -> str:
    response = client.get(path)
    assert response.status_code == 200, response.text[:500]
    return csrf_from(response.text)


def token_from_link(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


def use_link(client: TestClient, link: str) -> None:
    """Open a magic link and press its confirm button, as a browser would."""
    token = token_from_link(link)
    page = client.get(f"/signin/verify?token={token}")
    response = client.post(
        "/signin/verify",
        data={"token": token, "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:500]


def sign_in(client: TestClient, settings: Settings, db: Database, email: str) -> Reader:
    use_link(client, core.create_magic_link(settings, db, email))
    me = client.get("/api/me")
    assert me.status_code == 200, me.text
    reader = core.get_reader(db, me.json()["id"])
    assert reader is not None
    return reader


def new_client(client: TestClient) -> TestClient:
    """A second browser on the same app (its own cookie jar)."""
    return TestClient(client.app)
