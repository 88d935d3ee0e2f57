"""Security tests on the real app and database: CSRF, magic links (forged,
reused, expired), other readers' private collections, revoked API tokens, XSS,
sign-in rate limits and account enumeration."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from paperfeed import readers as core
from paperfeed.app import Paperfeed
from paperfeed.config import Settings
from paperfeed.db import Database, tables
from paperfeed.ingest import pipeline
from tests.helpers import make_paper
from tests.readers_helpers import csrf_from, new_client, page_csrf, sign_in, token_from_link
from tests.smtp_server import SMTPServer

DAY = date(2025, 1, 15)
XSS_SCRIPT = "<script>alert('xss-title')</script>"
XSS_IMG = '"><img src=x onerror=alert("xss-img")>'
XSS_URL = "javascript:alert('xss-url')"


@pytest.fixture
def papers(db: Database) -> list[str]:
    ids = ["2501.00001", "2501.00002"]
    pipeline.ingest(db, [make_paper(i, listing_date=DAY) for i in ids])
    return ids


def _counts(db: Database) -> dict[str, int]:
    names = (
        "votes",
        "saves",
        "hides",
        "collections",
        "collection_papers",
        "api_tokens",
        "saved_searches",
        "login_tokens",
        "readers",
        "submissions",
    )
    with db.connect() as conn:
        return {
            n: int(conn.execute(select(func.count()).select_from(getattr(tables, n))).scalar() or 0)
            for n in names
        }


# ---------------------------------------------------------------- CSRF

FORMS: list[tuple[str, dict[str, Any]]] = [
    ("/papers/2501.00001/upvote", {}),
    ("/papers/2501.00001/save", {}),
    ("/papers/2501.00001/hide", {}),
    ("/library/collect", {"paper_id": "2501.00001", "new_collection": "x"}),
    ("/collections", {"name": "x"}),
    ("/account/tokens", {"name": "x"}),
    ("/saved-searches", {"query": "x"}),
    ("/submit", {"arxiv_id": "2501.00001"}),
    ("/signin", {"email": "someone@example.org"}),
    ("/signout", {}),
]


@pytest.mark.parametrize(("path", "data"), FORMS, ids=[p for p, _ in FORMS])
@pytest.mark.parametrize("token", [None, "wrong-token"], ids=["missing", "wrong"])
def test_forms_without_the_csrf_token_are_refused(
    client: TestClient,
    settings: Settings,
    db: Database,
    papers: list[str],
    path: str,
    data: dict[str, Any],
    token: str | None,
):
    sign_in(client, settings, db, "alice@example.org")
    before = _counts(db)
    form = dict(data) if token is None else {**data, "csrf_token": token}
    response = client.post(path, data=form, follow_redirects=False)
    assert response.status_code == 403
    assert "CSRF" in response.text and "Nothing was changed" in response.text
    assert _counts(db) == before
    assert client.get("/api/me").status_code == 200  # not even signed out


def test_csrf_token_of_another_session_is_refused(
    client: TestClient, settings: Settings, db: Database, papers: list[str]
):
    sign_in(client, settings, db, "alice@example.org")
    attacker = new_client(client)
    sign_in(attacker, settings, db, "mallory@example.org")
    foreign = csrf_from(attacker.get("/account").text)
    response = client.post(f"/papers/{papers[0]}/upvote", data={"csrf_token": foreign})
    assert response.status_code == 403
    assert _counts(db)["votes"] == 0


def test_collection_edit_without_csrf_changes_nothing(
    client: TestClient, settings: Settings, db: Database
):
    alice = sign_in(client, settings, db, "alice@example.org")
    cid = core.create_collection(db, alice, "Mine")
    response = client.post(f"/collections/{cid}/edit", data={"name": "pwned", "is_public": "1"})
    assert response.status_code == 403
    found, _ = core.get_collection(db, alice, cid)
    assert found["name"] == "Mine" and not found["is_public"]
    assert client.post(f"/collections/{cid}/delete").status_code == 403
    assert core.list_collections(db, alice)


# ---------------------------------------------------------------- magic links


def _verify(client: TestClient, token: str) -> Any:
    page = client.get(f"/signin/verify?token={token}")
    return client.post("/signin/verify", data={"token": token, "csrf_token": csrf_from(page.text)})


def test_forged_magic_link_is_refused(client: TestClient, settings: Settings, db: Database):
    forger = Settings(data_dir=settings.data_dir, secret_key="guessed-secret")
    forged = token_from_link(core.create_magic_link(forger, db, "victim@example.org"))
    response = _verify(client, forged)
    assert response.status_code == 400 and "not valid" in response.text
    assert client.get("/api/me").status_code == 401
    assert _counts(db)["readers"] == 0


def test_reused_magic_link_is_refused(client: TestClient, settings: Settings, db: Database):
    token = token_from_link(core.create_magic_link(settings, db, "alice@example.org"))
    assert _verify(client, token).status_code == 200
    other_browser = new_client(client)
    response = _verify(other_browser, token)
    assert response.status_code == 400 and "already been used" in response.text
    assert other_browser.get("/api/me").status_code == 401


def test_expired_magic_link_is_refused(client: TestClient, settings: Settings, db: Database):
    issued = datetime.now(UTC) - timedelta(minutes=16)
    token = token_from_link(core.create_magic_link(settings, db, "alice@example.org", now=issued))
    response = _verify(client, token)
    assert response.status_code == 400 and "expired" in response.text
    assert client.get("/api/me").status_code == 401


# ---------------------------------------------------------------- other readers' data


def test_private_collection_of_another_reader(
    client: TestClient, settings: Settings, db: Database, papers: list[str]
):
    alice = sign_in(client, settings, db, "alice@example.org")
    secret = core.create_collection(db, alice, "Secret plans", description="hush")
    core.add_to_collection(db, alice, secret, papers[0])
    public = core.create_collection(db, alice, "Open", is_public=True)
    bob = new_client(client)
    sign_in(bob, settings, db, "bob@example.org")
    token = core.create_api_token(db, core.get_reader(db, 2), "bob")[1]  # type: ignore[arg-type]
    auth = {"Authorization": f"Bearer {token}"}
    anonymous = new_client(client)
    # Viewing: 404 for Bob and for anonymous visitors, by page and by API.
    for viewer, headers in ((bob, {}), (anonymous, {}), (bob, auth)):
        page = viewer.get(f"/collections/{secret}", headers=headers)
        assert page.status_code == 404 and "Secret plans" not in page.text
        api = viewer.get(f"/api/collections/{secret}", headers=headers)
        assert api.status_code == 404 and "Secret plans" not in api.text
    assert "Secret plans" not in bob.get("/api/collections", headers=auth).text
    # Modifying, by page forms (with Bob's valid CSRF token) and by API.
    csrf = csrf_from(bob.get("/account").text)
    for target in (secret, public):
        for path, data in (
            (f"/collections/{target}/edit", {"name": "mine", "is_public": "1"}),
            (f"/collections/{target}/remove", {"paper_id": papers[0]}),
            (f"/collections/{target}/delete", {}),
            ("/library/collect", {"paper_id": papers[1], "collection_id": str(target)}),
        ):
            response = bob.post(path, data={**data, "csrf_token": csrf}, follow_redirects=False)
            assert response.status_code == 404, (path, response.status_code)
        for method, path, body in (
            ("PATCH", f"/api/collections/{target}", {"name": "mine", "is_public": True}),
            ("DELETE", f"/api/collections/{target}", None),
            ("PUT", f"/api/collections/{target}/papers/{papers[1]}", None),
            ("DELETE", f"/api/collections/{target}/papers/{papers[0]}", None),
        ):
            response = bob.request(method, path, json=body, headers=auth)
            assert response.status_code == 404, (method, path, response.status_code)
    found, in_secret = core.get_collection(db, alice, secret)
    assert (found["name"], found["is_public"]) == ("Secret plans", False)
    assert [p["id"] for p in in_secret] == [papers[0]]
    assert core.get_collection(db, alice, public)[1] == []
    # Alice still sees her own private collection.
    assert client.get(f"/collections/{secret}").status_code == 200


def test_other_readers_tokens_and_library_are_out_of_reach(
    client: TestClient, settings: Settings, db: Database, papers: list[str]
):
    alice = sign_in(client, settings, db, "alice@example.org")
    alice_token_id, _ = core.create_api_token(db, alice, "alice's")
    core.set_flag(db, alice, "save", papers[0], True)
    bob = new_client(client)
    sign_in(bob, settings, db, "bob@example.org")
    csrf = csrf_from(bob.get("/account").text)
    response = bob.post(f"/account/tokens/{alice_token_id}/revoke", data={"csrf_token": csrf})
    assert response.status_code == 404
    assert core.list_api_tokens(db, alice)[0]["revoked_at"] is None
    assert "alice&#39;s" not in bob.get("/account").text
    assert papers[0] not in bob.get("/library").text
    assert bob.get("/api/me/saved").json() == []


def test_revoked_api_token_gets_401(client: TestClient, settings: Settings, db: Database):
    alice = sign_in(client, settings, db, "alice@example.org")
    token_id, token = core.create_api_token(db, alice, "ci")
    script = new_client(client)
    auth = {"Authorization": f"Bearer {token}"}
    assert script.get("/api/me", headers=auth).status_code == 200
    csrf = csrf_from(client.get("/account").text)
    client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf})
    response = script.get("/api/me", headers=auth)
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid or revoked API token."
    assert response.headers["www-authenticate"] == "Bearer"
    assert script.post("/api/collections", json={"name": "x"}, headers=auth).status_code == 401
    assert script.get("/api/me", headers={"Authorization": "Basic abc"}).status_code == 401


# ---------------------------------------------------------------- XSS

LIVE_MARKUP = re.compile(r"<script>alert|<img src=x|=\s*[\"']?javascript:", re.I)


def test_xss_payloads_are_rendered_inert(client: TestClient, settings: Settings, db: Database):
    pipeline.ingest(
        db,
        [
            make_paper(
                "2501.06666",
                title=f"Attention {XSS_SCRIPT} {XSS_IMG}",
                abstract=f"We show {XSS_IMG} and {XSS_SCRIPT}.",
                authors=[XSS_IMG, f"Eve {XSS_SCRIPT}"],
                comment=XSS_IMG,
                listing_date=DAY,
                abs_url=XSS_URL,
                pdf_url=XSS_URL,
                doi=XSS_IMG,
            )
        ],
    )
    alice = sign_in(client, settings, db, "alice@example.org")
    cid = core.create_collection(db, alice, f"My {XSS_SCRIPT}{XSS_IMG}", is_public=True)
    core.add_to_collection(db, alice, cid, "2501.06666")
    core.create_saved_search(db, alice, XSS_IMG, XSS_SCRIPT)
    anonymous = new_client(client)
    pages = [
        client.get(f"/papers/date/{DAY}"),
        client.get("/papers/2501.06666"),
        anonymous.get("/papers/2501.06666"),
        client.get(f"/collections/{cid}"),
        anonymous.get(f"/collections/{cid}"),
        client.get("/collections"),
        client.get("/library"),
        anonymous.get("/signin", params={"next": f'/x"><script>alert(1)</script>{XSS_IMG}'}),
        client.get("/signin/verify", params={"token": XSS_IMG}),
        anonymous.get("/search", params={"q": f"{XSS_SCRIPT} {XSS_IMG}"}),
        client.get("/search", params={"q": "attention"}),  # the payload paper as a result
    ]
    csrf = page_csrf(anonymous)
    pages.append(anonymous.post("/signin", data={"email": XSS_IMG, "csrf_token": csrf}))
    for response in pages:
        assert response.status_code in (200, 400), response.url
        html = response.text
        assert not LIVE_MARKUP.search(html), (response.url, LIVE_MARKUP.search(html))
    paper_page = pages[1].text
    assert "&lt;script&gt;alert(" in paper_page  # shown as text, not dropped
    assert not re.search(r"(href|src|action)=[\"']?\s*javascript:", paper_page, re.I)
    assert "&lt;script&gt;" in pages[3].text  # the collection name
    assert "2501.06666" in pages[10].text  # the search results include the payload paper
    # JSON is data, not markup, but must round-trip exactly.
    api = client.get(f"/api/collections/{cid}").json()
    assert api["name"] == f"My {XSS_SCRIPT}{XSS_IMG}"


# ---------------------------------------------------------------- rate limits, enumeration


def _request_link(client: TestClient, email: str) -> Any:
    csrf = page_csrf(client)
    return client.post("/signin", data={"email": email, "csrf_token": csrf}, follow_redirects=False)


def test_sign_in_is_rate_limited_per_address(
    client: TestClient, settings: Settings, smtp_server: SMTPServer
):
    settings.signin_limit_per_address = 3
    for _ in range(3):
        assert _request_link(client, "alice@example.org").status_code == 303
    refused = _request_link(client, "ALICE@example.org")
    assert refused.status_code == 429
    assert "Too many sign-in requests for this address" in refused.text
    assert int(refused.headers["retry-after"]) > 0
    assert len(smtp_server.inbox.to("alice@example.org")) == 3
    assert _request_link(client, "bob@example.org").status_code == 303


def test_sign_in_is_rate_limited_per_ip(
    client: TestClient, settings: Settings, smtp_server: SMTPServer
):
    settings.signin_limit_per_ip = 4
    for i in range(4):
        assert _request_link(client, f"user{i}@example.org").status_code == 303
    refused = _request_link(client, "fresh@example.org")
    assert refused.status_code == 429
    assert "Too many sign-in requests for your network address" in refused.text
    assert smtp_server.inbox.to("fresh@example.org") == []


def test_rate_limits_hold_across_app_instances(
    settings: Settings, db: Database, smtp_server: SMTPServer
):
    """Two web workers (two apps, two database handles) share the counts."""
    from paperfeed.web.app import create_app

    settings.signin_limit_per_address = 2
    other_db = Database(settings.database_url_resolved)
    try:
        with (
            TestClient(create_app(Paperfeed(settings, db))) as first,
            TestClient(create_app(Paperfeed(settings, other_db))) as second,
        ):
            assert _request_link(first, "alice@example.org").status_code == 303
            assert _request_link(second, "alice@example.org").status_code == 303
            assert _request_link(first, "alice@example.org").status_code == 429
            assert _request_link(second, "alice@example.org").status_code == 429
    finally:
        other_db.dispose()


def test_no_account_enumeration(
    client: TestClient, settings: Settings, db: Database, smtp_server: SMTPServer
):
    core.grant_role(db, "known@example.org", "reader")
    responses = []
    for email in ("known@example.org", "unknown@example.org"):
        browser = new_client(client)
        posted = _request_link(browser, email)
        landing = browser.get(posted.headers["location"])
        location = posted.headers["location"]
        responses.append((posted.status_code, location, posted.text, landing.text))
    assert responses[0] == responses[1]
    # Both get a link; the unknown address has no account until it is used.
    assert smtp_server.inbox.to("known@example.org") and smtp_server.inbox.to("unknown@example.org")
    assert [r.email for r in core.list_readers(db)] == ["known@example.org"]


def test_sign_out_everywhere_ends_copied_session_cookies(
    client: TestClient, settings: Settings, db: Database
):
    sign_in(client, settings, db, "alice@example.org")
    laptop = new_client(client)
    sign_in(laptop, settings, db, "alice@example.org")
    stolen = new_client(client)
    stolen.cookies.update(client.cookies)  # a copy of the phone's cookie
    assert stolen.get("/api/me").status_code == 200
    csrf = csrf_from(client.get("/account").text)
    response = client.post(
        "/account/signout-everywhere", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert response.status_code == 303
    for browser in (client, laptop, stolen):
        assert browser.get("/api/me").status_code == 401
    sign_in(laptop, settings, db, "alice@example.org")  # a new sign-in works again
    assert laptop.get("/api/me").status_code == 200
    assert stolen.get("/api/me").status_code == 401


# Unsafe routes outside /api/ that take no session CSRF token, and why. A new
# form route fails test_every_form_route_checks_csrf until it is protected (or
# deliberately listed here).
CSRF_EXEMPT = {
    # Capability links from emails: the token in the URL is the credential.
    "/digest/confirm/{token}": "token in the URL",
    "/unsubscribe/{token}": "RFC 8058 one-click unsubscribe, token in the URL",
    "/digest/manage/{token}": "token in the URL",
    "/comments/unsubscribe/{token}": "RFC 8058 one-click (comment notices), token in the URL",
}


def _depends_on(dependant: Any, call: Any) -> bool:
    return any(d.call is call or _depends_on(d, call) for d in dependant.dependencies)


def _api_routes(routes: Any) -> Any:
    """Every APIRoute, looking inside included routers (newer FastAPI keeps them nested)."""
    from fastapi.routing import APIRoute

    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from _api_routes(route.original_router.routes)


def test_every_form_route_checks_csrf(client: TestClient):
    from paperfeed.web.auth import api_reader, verify_csrf

    unprotected = []
    checked = set()
    for route in _api_routes(client.app.routes):
        checked.add(route.path)
        if not route.methods - {"GET", "HEAD", "OPTIONS"}:
            continue
        if route.path.startswith("/api/"):
            # JSON: a session caller must send X-CSRF-Token (api_reader); bearer
            # tokens and anonymous endpoints carry no ambient credentials.
            assert not _depends_on(route.dependant, verify_csrf), route.path
            continue
        if route.path in CSRF_EXEMPT:
            continue
        if not (
            _depends_on(route.dependant, verify_csrf) or _depends_on(route.dependant, api_reader)
        ):
            unprotected.append((sorted(route.methods), route.path))
    assert {"/library/collect", "/signin", "/api/collections", "/digest/subscribe"} <= checked
    assert unprotected == []


def test_sign_in_when_the_mail_server_is_down(client: TestClient, settings: Settings):
    from tests.smtp_server import free_port

    settings.smtp_host, settings.smtp_port = "127.0.0.1", free_port()  # nothing listens
    csrf = page_csrf(client)
    response = client.post("/signin", data={"email": "a@example.org", "csrf_token": csrf})
    assert response.status_code == 503
    assert "could not be sent right now" in response.text


def test_security_headers(client: TestClient):
    page = client.get("/signin")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"  # magic-link tokens stay here
    assert "content-security-policy" in client.get("/api/me").headers
    # Swagger UI boots from an inline script: /docs goes without the policy.
    docs = client.get("/docs")
    assert docs.status_code == 200 and "content-security-policy" not in docs.headers
