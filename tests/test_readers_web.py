"""Reader pages and JSON API on the real app and database: sign-in by email
(real SMTP server), actions from the list page, the paper page and the API,
collections, tokens, curator controls."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient

from paperfeed import readers as core
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import papers as paper_store
from paperfeed.ingest import pipeline
from tests.helpers import make_paper
from tests.readers_helpers import LINK_RE, csrf_from, page_csrf, sign_in, use_link
from tests.smtp_server import SMTPServer

DAY = date(2025, 1, 15)


@pytest.fixture
def papers(db: Database) -> list[str]:
    ids = ["2501.00001", "2501.00002", "2501.00003"]
    pipeline.ingest(
        db,
        [make_paper(i, listing_date=DAY, upvotes=n) for n, i in zip((5, 3, 1), ids, strict=True)],
    )
    return ids


def test_sign_in_by_email_then_sign_out(
    client: TestClient, settings: Settings, db: Database, smtp_server: SMTPServer
):
    csrf = page_csrf(client, "/signin?next=/library")
    response = client.post(
        "/signin",
        data={"email": "Reader@Example.org", "csrf_token": csrf, "next": "/library"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/signin/check-email"
    assert "Check your email" in client.get("/signin/check-email").text
    [message] = smtp_server.inbox.to("reader@example.org")
    assert message["Subject"] == "Sign in to Paperfeed"
    link = LINK_RE.search(message.get_content()).group(1)
    assert "expires in 15 minutes" in message.get_content()
    cookie_header = next(
        v for k, v in response.headers.items() if k == "set-cookie" and "paperfeed_session" in v
    )
    assert "httponly" in cookie_header.lower() and "samesite=lax" in cookie_header.lower()
    assert "secure" not in cookie_header.lower()  # http base URL
    use_link(client, link)
    me = client.get("/api/me").json()
    assert me["email"] == "reader@example.org" and me["role"] == "reader"
    account = client.get("/account").text
    assert "reader@example.org" in account
    page = client.get("/")
    assert 'action="/signout"' in page.text
    out = client.post("/signout", data={"csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/api/me").status_code == 401
    assert (
        client.get("/account", follow_redirects=False)
        .headers["location"]
        .startswith("/signin?next=/account")
    )


def test_session_cookie_is_secure_behind_https(settings: Settings, db: Database):
    settings.base_url = "https://papers.example.org"
    from paperfeed.web.app import create_app

    with TestClient(create_app(settings, db), base_url="https://testserver") as client:
        response = client.get("/signin")
    cookie = response.headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie


def test_actions_from_the_list_page_redirect_back(
    client: TestClient, settings: Settings, db: Database, papers: list[str]
):
    anonymous = client.get(f"/papers/date/{DAY}").text
    assert "Sign in to upvote" in anonymous and 'name="csrf_token"' not in anonymous
    sign_in(client, settings, db, "alice@example.org")
    page = client.get(f"/papers/date/{DAY}")
    csrf = csrf_from(page.text)
    target = papers[2]
    response = client.post(
        f"/papers/{target}/upvote",
        data={"csrf_token": csrf, "next": f"/papers/date/{DAY}"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == f"/papers/date/{DAY}"
    page = client.get(f"/papers/date/{DAY}").text
    card = page[page.index(f'id="paper-{target}"') :]
    assert f'action="/papers/{target}/unvote"' in card[:3000]
    assert '<span class="upvote-count">2</span>' in card[:3000]
    # Save, hide and undo, from the paper page.
    for action in ("save", "hide", "unhide"):
        response = client.post(
            f"/papers/{target}/{action}", data={"csrf_token": csrf}, follow_redirects=False
        )
        assert response.status_code == 303 and response.headers["location"] == f"/papers/{target}"
    paper_page = client.get(f"/papers/{target}").text
    assert f'action="/papers/{target}/unsave"' in paper_page
    assert f'action="/papers/{target}/hide"' in paper_page
    assert "Saved papers" in client.get("/library").text
    assert target in client.get("/library").text


def test_actions_answer_json_for_the_script(
    client: TestClient, settings: Settings, db: Database, papers: list[str]
):
    sign_in(client, settings, db, "alice@example.org")
    csrf = csrf_from(client.get(f"/papers/{papers[0]}").text)
    response = client.post(
        f"/papers/{papers[0]}/upvote",
        data={"csrf_token": csrf},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["upvotes"] == 6 and body["upvoted"] is True
    assert f'action="/papers/{papers[0]}/unvote"' in body["html"]


def test_api_with_bearer_token(
    client: TestClient, settings: Settings, db: Database, papers: list[str]
):
    alice = sign_in(client, settings, db, "alice@example.org")
    page = client.get("/account")
    form = {"name": "my script", "scopes": ["read", "write", "tokens"]}
    created = client.post("/account/tokens", data={**form, "csrf_token": csrf_from(page.text)})
    assert created.status_code == 200
    token = created.text.split('id="new-token-value" type="text" readonly value="')[1].split('"')[0]
    assert token.startswith("pf_")
    assert token not in client.get("/account").text  # shown once
    api = TestClient(client.app)  # a script: no cookies, no CSRF
    auth = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/me", headers=auth).json()["email"] == alice.email
    state = api.post(f"/api/papers/{papers[1]}/upvote", headers=auth).json()
    assert state == {
        "paper_id": papers[1],
        "upvotes": 4,
        "upvoted": True,
        "saved": False,
        "hidden": False,
    }
    assert api.post(f"/api/papers/{papers[1]}/upvote", headers=auth).json()["upvotes"] == 4
    assert api.post(f"/api/papers/{papers[1]}/upvote/toggle", headers=auth).json()["upvotes"] == 3
    assert api.post(f"/api/papers/{papers[1]}/save", headers=auth).json()["saved"] is True
    assert api.post(f"/api/papers/{papers[2]}/hide", headers=auth).json()["hidden"] is True
    assert api.delete(f"/api/papers/{papers[2]}/hide", headers=auth).json()["hidden"] is False
    assert [p["id"] for p in api.get("/api/me/saved", headers=auth).json()] == [papers[1]]
    assert api.get(f"/api/me/papers/{papers[1]}", headers=auth).json()["saved"] is True
    assert api.post("/api/papers/0000.00000/upvote", headers=auth).status_code == 404
    # Collections CRUD.
    created = api.post(
        "/api/collections", json={"name": "To read", "is_public": True}, headers=auth
    )
    assert created.status_code == 201
    cid = created.json()["id"]
    assert api.put(f"/api/collections/{cid}/papers/{papers[0]}", headers=auth).status_code == 204
    got = api.get(f"/api/collections/{cid}").json()  # public: no auth needed
    assert [p["id"] for p in got["papers"]] == [papers[0]]
    patched = api.patch(f"/api/collections/{cid}", json={"name": "Later"}, headers=auth).json()
    assert patched["name"] == "Later" and patched["is_public"] is True
    assert api.get("/api/collections", headers=auth).json()[0]["paper_count"] == 1
    assert api.delete(f"/api/collections/{cid}/papers/{papers[0]}", headers=auth).status_code == 204
    assert api.delete(f"/api/collections/{cid}", headers=auth).status_code == 204
    assert api.get(f"/api/collections/{cid}", headers=auth).status_code == 404
    # Saved searches.
    saved = api.post("/api/me/saved_searches", json={"query": "diffusion"}, headers=auth).json()
    assert saved["name"] == "diffusion"
    assert len(api.get("/api/me/saved_searches", headers=auth).json()) == 1
    # Tokens through the API; revoking the one in use locks it out.
    tokens = api.get("/api/me/tokens", headers=auth).json()
    assert [t["name"] for t in tokens] == ["my script"] and "token" not in tokens[0]
    assert tokens[0]["scopes"] == ["read", "write", "tokens"]
    assert api.delete(f"/api/me/tokens/{tokens[0]['id']}", headers=auth).status_code == 204
    assert api.get("/api/me", headers=auth).status_code == 401


def test_session_json_calls_need_the_csrf_header(
    client: TestClient, settings: Settings, db: Database, papers: list[str]
):
    sign_in(client, settings, db, "alice@example.org")
    assert client.get("/api/me").status_code == 200  # reads need no token
    refused = client.post(f"/api/papers/{papers[0]}/upvote")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    csrf = csrf_from(client.get("/account").text)
    ok = client.post(f"/api/papers/{papers[0]}/upvote", headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200 and ok.json()["upvoted"]


def test_collections_pages(client: TestClient, settings: Settings, db: Database, papers: list[str]):
    sign_in(client, settings, db, "alice@example.org")
    csrf = csrf_from(client.get(f"/papers/{papers[0]}").text)
    response = client.post(
        "/library/collect",
        data={"csrf_token": csrf, "paper_id": papers[0], "new_collection": "Reading group"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    [collection] = core.list_collections(db, core.get_reader(db, 1))  # type: ignore[arg-type]
    page = client.get(f"/collections/{collection['id']}").text
    assert "Reading group" in page and papers[0] in page and "Private collection" in page
    # The paper card now offers the existing collection.
    assert (
        f'<option value="{collection["id"]}">Reading group</option>'
        in client.get(f"/papers/{papers[1]}").text
    )
    client.post(
        f"/collections/{collection['id']}/edit",
        data={"csrf_token": csrf, "name": "Group", "description": "weekly", "is_public": "1"},
    )
    anonymous = TestClient(client.app)
    public_page = anonymous.get(f"/collections/{collection['id']}")
    assert public_page.status_code == 200 and "Public collection" in public_page.text
    assert "Edit collection" not in public_page.text
    client.post(
        f"/collections/{collection['id']}/remove", data={"csrf_token": csrf, "paper_id": papers[0]}
    )
    assert "No papers in this collection yet" in client.get(f"/collections/{collection['id']}").text
    client.post(f"/collections/{collection['id']}/delete", data={"csrf_token": csrf})
    assert anonymous.get(f"/collections/{collection['id']}").status_code == 404


def test_curator_controls(client: TestClient, settings: Settings, db: Database, papers: list[str]):
    reader = sign_in(client, settings, db, "cur@example.org")
    page = client.get(f"/papers/{papers[0]}").text
    assert "Hide for everyone" not in page
    csrf = csrf_from(page)
    refused = client.post(f"/papers/{papers[0]}/curator-hide", data={"csrf_token": csrf})
    assert refused.status_code == 403
    core.grant_role(db, reader.email, "curator")
    page = client.get(f"/papers/{papers[0]}").text
    assert "Hide for everyone" in page and "Feature" in page
    client.post(f"/papers/{papers[0]}/curator-hide", data={"csrf_token": csrf})
    client.post(f"/papers/{papers[1]}/feature", data={"csrf_token": csrf})
    with db.connect() as conn:
        stored = paper_store.get_papers(conn, papers[:2])
    assert stored[papers[0]]["hidden"] and stored[papers[1]]["featured"]
    assert f'id="paper-{papers[0]}"' not in client.get(f"/papers/date/{DAY}").text
    curation = client.get("/curation").text
    hidden_part = curation[: curation.index('id="featured-heading"')]
    assert f'id="paper-{papers[0]}"' in hidden_part
    assert f'id="paper-{papers[1]}"' in curation[curation.index('id="featured-heading"') :]
    client.post(f"/papers/{papers[0]}/curator-unhide", data={"csrf_token": csrf})
    assert f'id="paper-{papers[0]}"' in client.get(f"/papers/date/{DAY}").text
    core.grant_role(db, reader.email, "reader")
    assert client.get("/curation").status_code == 403


def test_open_redirects_are_refused(
    client: TestClient, settings: Settings, db: Database, papers: list[str]
):
    sign_in(client, settings, db, "alice@example.org")
    csrf = csrf_from(client.get("/account").text)
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = client.post(
            f"/papers/{papers[0]}/save",
            data={"csrf_token": csrf, "next": evil},
            follow_redirects=False,
        )
        assert response.headers["location"] == f"/papers/{papers[0]}"
    signin = client.get("/signin?next=https://evil.example/").text
    assert 'name="next" value="/"' in signin


def test_openapi_documents_the_readers_api(client: TestClient):
    spec = client.get("/openapi.json").json()
    for path, method in (
        ("/api/papers/{paper_id}/upvote", "post"),
        ("/api/papers/{paper_id}/upvote", "delete"),
        ("/api/papers/{paper_id}/save", "post"),
        ("/api/papers/{paper_id}/hide", "delete"),
        ("/api/collections", "post"),
        ("/api/collections/{collection_id}", "patch"),
        ("/api/collections/{collection_id}/papers/{paper_id}", "put"),
        ("/api/me/tokens", "post"),
        ("/api/me/tokens/{token_id}", "delete"),
        ("/api/me/saved_searches", "get"),
        ("/api/submissions", "post"),
    ):
        assert method in spec["paths"][path], (path, method)
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert not any(p.startswith("/signin") for p in spec["paths"])  # pages stay out


def test_sign_in_form_explains_a_bad_address(client: TestClient, smtp_server: SMTPServer):
    csrf = page_csrf(client)
    response = client.post("/signin", data={"email": "not an address", "csrf_token": csrf})
    assert response.status_code == 400
    assert "not an email address: &#39;not an address&#39;" in response.text
    assert smtp_server.inbox.messages == []


def test_sessions_work_across_workers(client: TestClient, settings: Settings, db: Database):
    """Nothing is kept in process: a second app (another worker) with its own
    database handle accepts the session cookie and its CSRF token."""
    from paperfeed.web.app import create_app

    sign_in(client, settings, db, "alice@example.org")
    csrf = csrf_from(client.get("/account").text)
    other_db = Database(settings.database_url_resolved)
    try:
        with TestClient(create_app(settings, other_db)) as worker:
            worker.cookies.update(client.cookies)
            assert worker.get("/api/me").json()["email"] == "alice@example.org"
            form = {"name": "from worker 2", "csrf_token": csrf}
            created = worker.post("/collections", data=form)
            assert created.status_code == 200 and "from worker 2" in created.text
    finally:
        other_db.dispose()


def test_public_collection_feed(
    client: TestClient, settings: Settings, db: Database, papers: list[str]
):
    import feedparser

    alice = sign_in(client, settings, db, "alice@example.org")
    public = core.create_collection(db, alice, "Open <b>reads</b>", is_public=True)
    private = core.create_collection(db, alice, "Secret")
    for cid in (public, private):
        core.add_to_collection(db, alice, cid, papers[0])
    core.add_to_collection(db, alice, public, papers[1])
    anonymous = TestClient(client.app)
    response = anonymous.get(f"/collections/{public}/feed.xml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert not feed.bozo
    assert "Open <b>reads</b>" in feed.feed.title  # text, escaped by the feed writer
    assert [e.link.rsplit("/", 1)[1] for e in feed.entries] == [papers[1], papers[0]]
    assert f'href="/collections/{public}/feed.xml"' in anonymous.get(f"/collections/{public}").text
    # Private: no feed for anyone, not even the owner's browser.
    assert anonymous.get(f"/collections/{private}/feed.xml").status_code == 404
    assert client.get(f"/collections/{private}/feed.xml").status_code == 404
    assert "feed.xml" not in client.get(f"/collections/{private}").text
