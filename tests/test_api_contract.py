"""The JSON API's contract, one example per rule (issue 22, class 5 and the
OpenAPI bullets): request bodies are validated strictly and a 422 can always
be written; every answer is what /openapi.json declares for it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient

from paperfeed import readers as core
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import digests as digest_store
from paperfeed.digest import subscriptions as subs
from paperfeed.digest import tokens
from paperfeed.ingest.pipeline import ingest
from tests.helpers import make_paper
from tests.readers_helpers import token_from_link

# JSON that Python's parser reads but that no JSON encoder may write back
# (allow_nan=False; UTF-8), each in a field where it fails validation.
UNWRITABLE = {"NaN": "NaN", "Infinity": "Infinity", "1e999": "1e999", "surrogate": '"\\ud800"'}


def _bearer(settings: Settings, db: Database) -> tuple[core.Reader, dict[str, str]]:
    reader = core.complete_sign_in(
        settings, db, token_from_link(core.create_magic_link(settings, db, "ada@example.org"))
    )
    _id, token = core.create_api_token(db, reader, "contract", scopes=core.TOKEN_SCOPES)
    return reader, {"Authorization": f"Bearer {token}"}


def _subscription_token(settings: Settings, db: Database) -> str:
    with db.begin() as conn:
        sub, _ = digest_store.request_subscription(
            conn, "sub@example.org", nonce="n", reader_id=None, preferences={}
        )
    return tokens.make(settings, tokens.MANAGE, sub["id"])


def _spec_operation(client: TestClient, path: str, method: str) -> Any:
    return schemathesis.openapi.from_dict(client.get("/openapi.json").json())[path][method]


def _documented(client: TestClient, path: str, method: str, response: Any) -> None:
    """The response's status, content type and body are the documented ones."""
    operation = _spec_operation(client, path, method)
    declared = operation.definition.raw["responses"]
    assert str(response.status_code) in declared, (response.status_code, sorted(declared))
    media_type = response.headers["content-type"].split(";")[0]
    assert media_type in declared[str(response.status_code)].get("content", {}), media_type
    operation.validate_response(response)


# ---------------------------------------------------------------- class 5: JSON bodies


# (method, path template, field) of every JSON request body.
BODIES = [
    ("post", "/api/digest/subscribe", "email"),
    ("post", "/api/recommend", "limit"),
    ("put", "/api/digest/subscription/{token}", "trending_count"),
    ("post", "/api/collections", "name"),
    ("patch", "/api/collections/{collection_id}", "name"),
    ("post", "/api/me/tokens", "name"),
    ("post", "/api/me/saved_searches", "query"),
    ("put", "/api/me/saved_searches/{search_id}", "query"),
    ("post", "/api/submissions", "arxiv_id"),
    ("post", "/api/papers/{paper_id}/curation", "featured"),
    ("put", "/api/papers/{paper_id}/note", "body"),
    ("put", "/api/collections/{collection_id}/notes/{paper_id}", "body"),
    ("post", "/api/me/import", "save"),
    ("post", "/api/me/import/zotero", "save"),
    ("post", "/api/me/delete", "confirm_email"),
]


@pytest.mark.parametrize(("method", "template", "field"), BODIES, ids=[b[1] for b in BODIES])
def test_a_body_json_cannot_echo_is_a_422_naming_the_field(
    client: TestClient, settings: Settings, db: Database, method: str, template: str, field: str
) -> None:
    reader, auth = _bearer(settings, db)
    ingest(db, [make_paper("2501.00001")])
    path = template.format(
        token=_subscription_token(settings, db),
        collection_id=core.create_collection(db, reader, "Mine"),
        search_id=core.create_saved_search(db, reader, "s", "graphs"),
        paper_id="2501.00001",
    )
    for name, raw in UNWRITABLE.items():
        response = client.request(
            method,
            path,
            content=f'{{"{field}": {raw}}}',
            headers={**auth, "Content-Type": "application/json"},
        )
        assert response.status_code == 422, (name, response.text)
        assert ["body", field] in [issue["loc"] for issue in response.json()["detail"]], name
        _documented(client, template, method.upper(), response)


def test_subscription_counts_are_finite_whole_numbers(
    client: TestClient, settings: Settings, db: Database
) -> None:
    token = _subscription_token(settings, db)
    for raw in ("Infinity", "-Infinity", "NaN", "2.5", '"7"', "true"):
        response = client.put(
            f"/api/digest/subscription/{token}",
            content=f'{{"trending_count": {raw}}}',
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 422, (raw, response.text)
        assert response.json()["detail"][0]["loc"] == ["body", "trending_count"]
    fine = client.put(f"/api/digest/subscription/{token}", json={"trending_count": 7})
    assert fine.status_code == 200 and fine.json()["trending_count"] == 7


def test_booleans_are_json_booleans(client: TestClient, settings: Settings, db: Database) -> None:
    """``"false"`` used to be stored as true (bool("false"))."""
    token = _subscription_token(settings, db)
    before = client.get(f"/api/digest/subscription/{token}").json()["include_saved_searches"]
    for value in ("false", "true", 0, 1, "no"):
        response = client.put(
            f"/api/digest/subscription/{token}", json={"include_saved_searches": value}
        )
        assert response.status_code == 422, (value, response.text)
    after = client.get(f"/api/digest/subscription/{token}").json()["include_saved_searches"]
    assert after == before
    assert (
        client.put(
            f"/api/digest/subscription/{token}", json={"include_saved_searches": False}
        ).json()["include_saved_searches"]
        is False
    )
    subscribe = client.post(
        "/api/digest/subscribe",
        json={"email": "new@example.org", "include_saved_searches": "false"},
    )
    assert subscribe.status_code == 422
    assert subscribe.json()["detail"][0]["loc"] == ["body", "include_saved_searches"]
    _reader, auth = _bearer(settings, db)
    refused = client.post(
        "/api/collections", json={"name": "x", "is_public": "false"}, headers=auth
    )
    assert refused.status_code == 422
    assert client.get("/api/collections", headers=auth).json() == []


def test_unknown_preferences_are_still_refused(
    client: TestClient, settings: Settings, db: Database
) -> None:
    token = _subscription_token(settings, db)
    response = client.put(f"/api/digest/subscription/{token}", json={"colour": "blue"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "colour"]
    with pytest.raises(subs.SubscriptionError):
        subs.clean_preferences({"colour": "blue"})


# ---------------------------------------------------------------- OpenAPI matches answers


def test_timestamps_carry_a_time_zone(client: TestClient, settings: Settings, db: Database) -> None:
    _reader, auth = _bearer(settings, db)
    created = client.post("/api/collections", json={"name": "Reading"}, headers=auth)
    tokens_listed = client.get("/api/me/tokens", headers=auth).json()
    saved = client.post("/api/me/saved_searches", json={"query": "graphs"}, headers=auth)
    stamps = [
        created.json()["created_at"],
        tokens_listed[0]["created_at"],
        tokens_listed[0]["last_used_at"],
        saved.json()["created_at"],
    ]
    for stamp in stamps:
        parsed = datetime.fromisoformat(stamp)
        assert parsed.utcoffset() is not None and parsed.utcoffset().total_seconds() == 0, stamp
    _documented(client, "/api/collections", "POST", created)


def test_string_details_are_documented(
    client: TestClient, settings: Settings, db: Database
) -> None:
    """A semantic 422 says one message; the spec allows it beside the list."""
    response = client.post("/api/recommend", json={})
    assert response.status_code == 422 and isinstance(response.json()["detail"], str)
    _documented(client, "/api/recommend", "POST", response)
    token = _subscription_token(settings, db)
    too_many = client.put(f"/api/digest/subscription/{token}", json={"trending_count": 999})
    assert too_many.status_code == 422 and "trending_count" in too_many.json()["detail"]
    _documented(client, "/api/digest/subscription/{token}", "PUT", too_many)


def test_client_errors_are_documented(client: TestClient, settings: Settings, db: Database) -> None:
    _reader, auth = _bearer(settings, db)
    checks = [
        ("GET", "/api/me", "/api/me", {}, 401),
        ("GET", "/api/collections/{collection_id}", "/api/collections/999", auth, 404),
        ("POST", "/api/me/saved_searches", "/api/me/saved_searches", auth, 400),
        ("GET", "/api/daily_papers", "/api/daily_papers?date=2025-13-01", {}, 400),
        ("GET", "/api/daily_papers", "/api/daily_papers?limit=0", {}, 400),
        ("GET", "/api/papers/{paper_id}", "/api/papers/2501.99999", {}, 404),
        ("GET", "/api/search", "/api/search?since=yesterday", {}, 400),
        ("GET", "/api/digest/subscription/{token}", "/api/digest/subscription/nope", {}, 404),
    ]
    for method, template, url, headers, status in checks:
        body = {"query": "   "} if method == "POST" else None
        response = client.request(method, url, headers=headers, json=body)
        assert response.status_code == status, (url, response.text)
        _documented(client, template, method, response)
    spec = client.get("/openapi.json").json()
    assert "422" not in spec["paths"]["/api/daily_papers"]["get"]["responses"]  # a 400 there


@pytest.mark.parametrize(
    ("template", "url", "media_type"),
    [
        ("/papers/{paper_id}.bib", "/papers/2501.00001.bib", "application/x-bibtex"),
        ("/papers/{paper_id}.md", "/papers/2501.00001.md", "text/markdown"),
        ("/feeds/search.xml", "/feeds/search.xml?q=graphs", "application/atom+xml"),
        ("/papers/date/{day}/feed.xml", "/papers/date/2025-01-06/feed.xml", "application/atom+xml"),
    ],
)
def test_documents_declare_their_content_type(
    client: TestClient, db: Database, template: str, url: str, media_type: str
) -> None:
    ingest(db, [make_paper("2501.00001", title="Graphs")])
    response = client.get(url)
    assert response.status_code == 200 and response.headers["content-type"].startswith(media_type)
    _documented(client, template, "GET", response)


def test_search_feed_query_is_required_and_not_blank(client: TestClient) -> None:
    parameter = next(
        p
        for p in client.get("/openapi.json").json()["paths"]["/feeds/search.xml"]["get"][
            "parameters"
        ]
        if p["name"] == "q"
    )
    assert parameter["required"] is True
    assert parameter["schema"]["minLength"] == 1 and parameter["schema"]["pattern"] == r"\S"
    for url in ("/feeds/search.xml", "/feeds/search.xml?q=", "/feeds/search.xml?q=%20%20"):
        response = client.get(url)
        assert response.status_code == 422, url
        _documented(client, "/feeds/search.xml", "GET", response)


@pytest.mark.parametrize(
    "path",
    ["/papers/date/2025-01-06", "/papers/week/2025-W02", "/papers/month/2025-01", "/search"],
)
def test_posting_to_a_page_is_405_with_allow(client: TestClient, path: str) -> None:
    response = client.post(path, data={"a": "b"})
    assert response.status_code == 405, response.text[:200]
    assert response.headers["allow"] == "GET"


def test_paper_actions_still_post(client: TestClient, settings: Settings, db: Database) -> None:
    """The narrower action route still takes every form action."""
    ingest(db, [make_paper("2501.00001")])
    response = client.post("/papers/2501.00001/save", data={"csrf_token": "wrong"})
    assert response.status_code == 403  # routed to the action; its CSRF check refuses
    unknown = client.post("/papers/2501.00001/unknown-action", data={"csrf_token": "x"})
    assert unknown.status_code == 404
