"""The JSON API: HF's response shapes (checked against the real recorded
responses), parameters, paging and errors."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from paperfeed.db import Database
from tests.conftest import FIXTURES
from tests.trending_support import add_papers, set_paper, vote

HF_ITEM = json.loads((FIXTURES / "hf_daily_papers/daily_papers_item_2602.23229.json").read_text())[
    0
]
HF_PAPER = json.loads((FIXTURES / "hf_daily_papers/paper_object_2509.04664.json").read_text())


def assert_same_shape(ours: Any, theirs: Any, where: str = "") -> None:
    """Every key we send exists in HF's real response, with a value of the same
    JSON type (recursively)."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), where
        extra = set(ours) - set(theirs)
        assert not extra, f"{where}: keys HF does not send: {extra}"
        for key in ours:
            assert_same_shape(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list), where
        for item in ours:
            if theirs:
                assert_same_shape(item, theirs[0], f"{where}[]")
    elif isinstance(theirs, bool):
        assert isinstance(ours, bool), where
    elif isinstance(theirs, int | float):
        assert isinstance(ours, int | float) and not isinstance(ours, bool), where
    else:
        assert type(ours) is type(theirs), f"{where}: {type(ours)} vs {type(theirs)}"


@pytest.fixture
def listed(db: Database) -> Database:
    add_papers(db, [(f"2503.{n:05d}", date(2025, 3, 18)) for n in range(1, 8)])
    add_papers(
        db,
        [("2503.00100", date(2025, 3, 20))],
        upvotes=12,
        submitted_by="akhaliq",
        featured_date=date(2025, 3, 20),
        published=datetime(2025, 3, 19, 17, 8, 18, tzinfo=UTC),
    )
    add_papers(db, [("2504.00001", date(2025, 4, 2))])
    return db


def test_daily_papers_items_have_hfs_shape(client: TestClient, listed: Database) -> None:
    response = client.get("/api/daily_papers", params={"date": "2025-03-20"})
    assert response.status_code == 200
    (item,) = response.json()
    assert_same_shape(item, HF_ITEM)
    # The keys HF always sends are there.
    for key in ("paper", "publishedAt", "title", "summary", "mediaUrls", "numComments"):
        assert key in item
    paper = item["paper"]
    assert set(paper["authors"][0]) == set(HF_ITEM["paper"]["authors"][0])
    assert len(paper["authors"][0]["_id"]) == 24
    assert paper["id"] == "2503.00100"
    assert paper["upvotes"] == 12
    assert paper["publishedAt"] == "2025-03-19T17:08:18.000Z"
    assert paper["submittedOnDailyAt"] == "2025-03-20T00:00:00.000Z"
    assert paper["submittedOnDailyBy"]["user"] == "akhaliq"
    assert item["submittedBy"]["name"] == "akhaliq"


def test_paper_object_has_hfs_shape(client: TestClient, listed: Database) -> None:
    response = client.get("/api/papers/2503.00100")
    assert response.status_code == 200
    paper = response.json()
    assert_same_shape(paper, HF_PAPER)
    assert {"id", "authors", "publishedAt", "title", "summary", "upvotes"} <= set(paper)
    assert paper["title"] == "A paper about 2503.00100"


def test_unknown_and_hidden_papers_are_404_in_hfs_error_shape(
    client: TestClient, listed: Database
) -> None:
    set_paper(listed, "2503.00001", hidden=True)
    for paper_id in ("2599.99999", "2503.00001"):
        response = client.get(f"/api/papers/{paper_id}")
        assert response.status_code == 404
        assert response.json() == {"error": "Paper not found"}
        assert response.headers["x-error-message"] == "Paper not found"
    listed_ids = [i["paper"]["id"] for i in client.get("/api/daily_papers?date=2025-03-18").json()]
    assert "2503.00001" not in listed_ids and len(listed_ids) == 6


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"date": "2025-02-30"}, "YYYY-MM-DD"),
        ({"date": "yesterday"}, "YYYY-MM-DD"),
        ({"week": "2025-W53"}, "ISO week"),
        ({"month": "2025-13"}, "YYYY-MM"),
        ({"date": "2025-03-18", "week": "2025-W12"}, "at most one"),
        ({"sort": "hot"}, "sort"),
        ({"p": "-1"}, "p:"),
        ({"p": "two"}, "p:"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
    ],
)
def test_bad_parameters_are_400_with_a_clear_message(
    client: TestClient, listed: Database, params: dict[str, str], message: str
) -> None:
    response = client.get("/api/daily_papers", params=params)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_periods_sorts_and_paging(client: TestClient, listed: Database) -> None:
    vote(listed, "2503.00003", at=datetime.now(UTC) - timedelta(hours=1))

    def ids(**params: Any) -> list[str]:
        response = client.get("/api/daily_papers", params=params)
        assert response.status_code == 200, response.text
        return [item["paper"]["id"] for item in response.json()]

    newest = ids(date="2025-03-18")
    assert newest == [f"2503.{n:05d}" for n in range(7, 0, -1)]  # publishedAt is the default
    assert ids(date="2025-03-18", sort="trending")[0] == "2503.00003"
    assert ids(date="2025-03-18", limit=3) + ids(date="2025-03-18", limit=3, p=1) == newest[:6]
    assert ids(date="2025-03-18", limit=3, p=5) == []
    assert len(ids(week="2025-W12")) == 8
    assert ids(month="2025-04") == ["2504.00001"]
    assert ids(limit=2) == ["2504.00001", "2503.00100"]  # no period: everything, newest first
    assert ids(submitter="akhaliq") == ["2503.00100"]
    upvotes = {
        i["paper"]["id"]: i["paper"]["upvotes"]
        for i in client.get("/api/daily_papers", params={"week": "2025-W12"}).json()
    }
    assert upvotes["2503.00003"] == 1 and upvotes["2503.00100"] == 12


def test_openapi_documents_the_api(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/api/daily_papers", "/api/papers/{paper_id}", "/api/papers/search"):
        assert path in spec["paths"], path
    params = {p["name"] for p in spec["paths"]["/api/daily_papers"]["get"]["parameters"]}
    assert {"date", "week", "month", "sort", "p", "limit"} <= params
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    # Swagger UI comes from /static, never a CDN, and its files are there.
    sources = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert sources and all(s.startswith("/static/vendor/swagger-ui/") for s in sources), sources
    assert "http" not in "".join(sources) and 'validatorUrl": null' in docs.text
    for source in sources:
        assert client.get(source).status_code == 200, source


@pytest.mark.parametrize("submitted_by", [None, "akhaliq"])
@pytest.mark.parametrize("with_dates", [True, False])
def test_hand_built_shapes_match_the_documented_models(
    submitted_by: str | None, with_dates: bool
) -> None:
    """The API builds its items as dicts (cheaper than the pydantic models);
    they must be exactly what the documented models validate and serialize to."""
    from pydantic import TypeAdapter

    from paperfeed.web.api import HFDailyPaper, HFPaper, hf_daily_dict, hf_paper_dict

    paper: dict[str, Any] = {
        "id": "2503.00100",
        "title": "Ünïcode <b>title</b>",
        "abstract": "An abstract.",
        "authors": ["Ada Lovelace", "Alan Turing"],
        "submitted_by": submitted_by,
        "imported_upvotes": 3,
        "upvotes": 5,
        "published": datetime(2025, 3, 19, 17, 8, 18, 123999) if with_dates else None,
        "listing_date": date(2025, 3, 20) if with_dates else None,
        "featured_date": None,
        "created_at": datetime(2025, 3, 21, 1, 2, 3, tzinfo=UTC),
    }
    items = TypeAdapter(list[HFDailyPaper])
    shaped = [hf_daily_dict(paper)]
    assert (
        items.dump_python(
            items.validate_python(shaped), by_alias=True, exclude_none=True, mode="json"
        )
        == shaped
    )
    # Same keys in the same order as the models write them.
    assert items.dump_json(items.validate_python(shaped), by_alias=True, exclude_none=True) == (
        json.dumps(shaped, ensure_ascii=False, separators=(",", ":")).encode()
    )
    one = hf_paper_dict(paper)
    assert HFPaper.model_validate(one).model_dump(by_alias=True, exclude_none=True) == one
    if with_dates:
        assert one["publishedAt"] == "2025-03-19T17:08:18.123Z"  # truncated to ms, as HF
        assert one["submittedOnDailyAt"] == "2025-03-20T00:00:00.000Z"
    else:
        assert "submittedOnDailyAt" not in one
        assert one["publishedAt"] == "2025-03-21T01:02:03.000Z"
    assert ("submittedOnDailyBy" in one) == bool(submitted_by)


@pytest.mark.parametrize(
    "path", ["/api/daily_papers?date=2025-03-18", "/api/papers/search?q=paper"]
)
def test_etag_and_304_for_anonymous_gets_private_when_signed_in(
    client: TestClient, listed: Database, path: str
) -> None:
    first = client.get(path)
    assert first.status_code == 200 and first.json()
    etag = first.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    assert first.headers["cache-control"] == "public, max-age=60"
    assert "Cookie" in first.headers["vary"] and "Authorization" in first.headers["vary"]

    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    assert client.get(path, headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    stale = client.get(path, headers={"If-None-Match": '"0123"'})
    assert stale.status_code == 200 and stale.content == first.content

    # Credentials: never a shared cache.
    signed = client.get(path, headers={"Authorization": "Bearer whatever"})
    assert signed.headers["cache-control"] == "private, no-cache"
    client.cookies.set("paperfeed_session", "x")
    assert client.get(path).headers["cache-control"] == "private, no-cache"
    client.cookies.clear()

    # A vote changes the upvotes in the body, so the tag changes with it.
    vote(listed, "2503.00001", at=datetime.now(UTC))
    changed = client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


def test_search_api_runs_two_searches_at_a_time(
    client: TestClient, listed: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Concurrent search requests beyond api.SEARCHES_AT_ONCE wait for a turn
    (holding no thread) and are all answered."""
    import threading
    import time

    from paperfeed.web import api

    running, peak, lock = 0, 0, threading.Lock()
    real = api.search_papers_with_upvotes

    def counted(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            time.sleep(0.05)  # long enough for the requests to pile up
            return real(*args, **kwargs)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(api, "search_papers_with_upvotes", counted)
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda i: client.get(f"/api/papers/search?q=paper+{i}"), range(6)))
    assert all(a.status_code == 200 for a in answers)
    assert peak == api.SEARCHES_AT_ONCE
