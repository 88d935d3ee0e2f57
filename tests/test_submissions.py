"""Submissions through the real arXiv client against the fixture arXiv server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from paperfeed import readers as core
from paperfeed.app import Paperfeed
from paperfeed.config import Settings
from paperfeed.db import Database, index_queue, tables
from paperfeed.db import papers as paper_store
from paperfeed.ingest import pipeline
from paperfeed.services import ingest as ingest_service
from tests import feeds
from tests.fixture_server import FixtureServer, Reply
from tests.helpers import make_paper
from tests.readers_helpers import csrf_from, new_client, sign_in

NOW = datetime.now(UTC).replace(microsecond=0)


def _paper_count(db: Database) -> int:
    with db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(tables.papers)).scalar() or 0)


def _submit(client: TestClient, arxiv_id: str):
    csrf = csrf_from(client.get("/submit").text)
    return client.post("/submit", data={"arxiv_id": arxiv_id, "csrf_token": csrf})


def test_submit_a_recent_paper_lists_it_today(
    client: TestClient, settings: Settings, db: Database, fixture_server: FixtureServer
):
    fixture_server.add_arxiv_paper(
        "2511.01234", title="Fresh results on <b>things</b>", published=NOW - timedelta(days=2)
    )
    alice = sign_in(client, settings, db, "alice@example.org")
    response = _submit(client, "https://arxiv.org/abs/2511.01234v1")
    assert response.status_code == 200, response.text
    assert (
        "Submitted" in response.text
        and "Fresh results on &lt;b&gt;things&lt;/b&gt;" in response.text
    )
    with db.connect() as conn:
        stored = paper_store.get_paper(conn, "2511.01234")
    assert stored is not None
    today = NOW.date()
    assert paper_store._as_date(stored["listing_date"]) == today
    assert stored["submitted_by"] == "alice"
    assert 'id="paper-2511.01234"' in client.get(f"/papers/date/{today}").text
    assert [p["id"] for p in core.list_submissions(db, alice)] == ["2511.01234"]
    assert fixture_server.requests_to("/api/query")[0].query["id_list"] == "2511.01234"
    # A second reader may submit it too; the first stays the submitter.
    bob = new_client(client)
    sign_in(bob, settings, db, "bob@example.org")
    again = _submit(bob, "2511.01234")
    assert again.status_code == 200 and "Someone submitted it before you" in again.text
    with db.connect() as conn:
        assert paper_store.get_paper(conn, "2511.01234")["submitted_by"] == "alice"  # type: ignore[index]


def test_papers_older_than_the_limit_are_refused(
    client: TestClient, settings: Settings, db: Database, fixture_server: FixtureServer
):
    fixture_server.add_arxiv_paper("2510.00001", published=NOW - timedelta(days=15))
    sign_in(client, settings, db, "alice@example.org")
    response = _submit(client, "2510.00001")
    assert response.status_code == 400
    assert "only papers published in the last 14 days can be submitted" in response.text
    assert _paper_count(db) == 0
    settings.submission_max_age_days = 30
    assert _submit(client, "2510.00001").status_code == 200
    assert _paper_count(db) == 1


def test_unknown_junk_and_unreachable(
    client: TestClient, settings: Settings, db: Database, fixture_server: FixtureServer
):
    fixture_server.route(
        "/api/query", Reply(feeds.atom_feed([], total=0)), query={"id_list": "2511.09999"}
    )
    fixture_server.route(
        "/api/query",
        Reply("down for maintenance", 503, "text/plain"),
        query={"id_list": "2511.05555"},
    )
    settings.http_max_retries = 1
    sign_in(client, settings, db, "alice@example.org")
    unknown = _submit(client, "2511.09999")
    assert unknown.status_code == 404 and "arXiv has no paper 2511.09999" in unknown.text
    junk = _submit(client, "<script>alert(1)</script>")
    assert junk.status_code == 400 and "not an arXiv id" in junk.text
    assert "<script>alert(1)" not in junk.text
    down = _submit(client, "2511.05555")
    assert down.status_code == 502 and "Could not fetch arXiv 2511.05555" in down.text
    assert _paper_count(db) == 0


def test_submitting_a_known_paper_keeps_its_listing_day(
    client: TestClient,
    settings: Settings,
    db: Database,
    paperfeed: Paperfeed,
    fixture_server: FixtureServer,
):
    day = (NOW - timedelta(days=3)).date()
    pipeline.ingest(db, [make_paper("2511.04444", listing_date=day)])
    fixture_server.add_arxiv_paper("2511.04444", published=NOW - timedelta(days=3))
    reader = sign_in(client, settings, db, "alice@example.org")
    result = ingest_service.submit(paperfeed, reader, "2511.04444")
    assert result.listing_date == day and not result.new_to_paperfeed and result.first_submitter


def test_submit_through_the_api(
    client: TestClient, settings: Settings, db: Database, fixture_server: FixtureServer
):
    fixture_server.add_arxiv_paper("2511.07777", published=NOW - timedelta(days=1))
    reader = sign_in(client, settings, db, "alice@example.org")
    _, token = core.create_api_token(db, reader, "bot")
    script = new_client(client)
    response = script.post(
        "/api/submissions",
        json={"arxiv_id": "arXiv:2511.07777"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["paper_id"] == "2511.07777" and body["first_submitter"] is True
    assert body["listing_date"] == NOW.date().isoformat()
    with db.connect() as conn:  # keyword-searchable at once, as after any ingest
        assert index_queue.count_pending(conn) == 0
    mine = script.get("/api/me/submissions", headers={"Authorization": f"Bearer {token}"})
    assert [p["id"] for p in mine.json()] == ["2511.07777"]
    refused = script.post("/api/submissions", json={"arxiv_id": "2511.07777"})
    assert refused.status_code == 401
