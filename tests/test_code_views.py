"""Code links in every view, on both backends: the has-code filter (search
``has:code`` and ``has_code=1``, lists ``code=1``, the JSON API), the
trending-by-code list and its formula, and the code fields of the JSON API,
the HF-compatible shapes, feeds, Markdown and MCP."""

from __future__ import annotations

import asyncio
import math
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from paperfeed import trending
from paperfeed.app import Paperfeed
from paperfeed.db import code as code_store
from paperfeed.search import SearchRequest
from paperfeed.services import search as search_service
from paperfeed.services.ingest import store
from tests.helpers import make_paper
from tests.mcp_support import call, local_client

DAY = date(2025, 3, 18)  # a Tuesday: its ISO week is 2025-W12
WEEK_START = datetime(2025, 3, 17, tzinfo=UTC)


def _seed(paperfeed: Paperfeed) -> None:
    store(
        paperfeed,
        [
            make_paper(
                "2503.00001",
                title="Graph transformers with code",
                abstract="Graph transformers. Code: https://github.com/ada/graphs.",
                listing_date=DAY,
            ),
            make_paper(
                "2503.00002",
                title="Graph transformers without code",
                abstract="Graph transformers, no code released.",
                listing_date=DAY,
                upvotes=40,
            ),
            make_paper(
                "2503.00003",
                title="Graph datasets on the Hub",
                abstract="Graph benchmark at https://huggingface.co/datasets/ada/graph-bench.",
                listing_date=DAY,
                upvotes=3,
            ),
            make_paper(
                "2503.00004",
                title="Popular graph library",
                abstract="Graph library: https://github.com/bob/popular-graphs",
                listing_date=DAY,
            ),
            make_paper(
                "2503.00005",
                title="Only a project page",
                abstract="Graph demo at https://ada.github.io/demo/.",
                listing_date=DAY,
            ),
        ],
    )
    with paperfeed.db.begin() as conn:
        # ada/graphs: 10 stars before the week, 110 during it: +100.
        code_store.observed(
            conn, "ada/graphs", full_name="ada/graphs", stars=10, etag=None,
            at=WEEK_START - timedelta(days=3),
        )  # fmt: skip
        code_store.observed(
            conn, "ada/graphs", full_name="ada/graphs", stars=110, etag=None,
            at=WEEK_START + timedelta(days=2),
        )  # fmt: skip
        # bob/popular-graphs: 5,000 stars, but only 5 of them gained this week.
        code_store.observed(
            conn, "bob/popular-graphs", full_name="bob/popular-graphs", stars=5000,
            etag=None, at=WEEK_START - timedelta(days=30),
        )  # fmt: skip
        code_store.observed(
            conn, "bob/popular-graphs", full_name="bob/popular-graphs", stars=5005,
            etag=None, at=WEEK_START + timedelta(days=1),
        )  # fmt: skip


def test_stars_gained_and_the_score_follow_the_documented_formula() -> None:
    start, end = WEEK_START, WEEK_START + timedelta(days=7)
    history = [(start - timedelta(days=1), 10), (start + timedelta(days=1), 60)]
    assert trending.stars_gained(history, start, end) == 50
    assert trending.stars_gained(history, None, end) == 60  # no start: every star
    assert trending.stars_gained([(start + timedelta(days=1), 7)], start, end) == 7
    assert trending.stars_gained([(start + timedelta(days=9), 7)], start, end) == 0
    assert trending.stars_gained([(start - timedelta(days=1), 9), (start, 4)], start, end) == 0
    assert trending.code_score(100, 3, 1.0) == pytest.approx(math.log2(101) + 2.0)
    assert trending.code_score(0, 0, 1.0) == 0.0


def test_search_has_code_on_both_indexes(paperfeed: Paperfeed) -> None:
    _seed(paperfeed)

    def ids(**kw: object) -> set[str]:
        request = SearchRequest(mode="lexical", per_page=50, **kw)  # type: ignore[arg-type]
        return {h.id for h in search_service.search(paperfeed, request).hits}

    everything = ids(query="graph")
    assert everything == {f"2503.0000{i}" for i in range(1, 6)}
    with_code = {"2503.00001", "2503.00003", "2503.00004"}
    assert ids(query="graph has:code") == with_code
    assert ids(query="graph", has_code=True) == with_code
    assert ids(query="HAS:CODE graph -library") == {"2503.00001", "2503.00003"}
    assert ids(query="has:code", sort="date") == with_code  # a filter-only query
    # Another has: is plain text.
    assert ids(query="has:nothing graph") <= everything


def test_lists_filter_by_code_and_rank_by_stars_gained(paperfeed: Paperfeed) -> None:
    _seed(paperfeed)
    week = trending.parse_period("week", "2025-W12")
    now = WEEK_START + timedelta(days=3)
    with paperfeed.db.connect() as conn:
        filtered = trending.list_papers(conn, week, half_life_hours=48, has_code=True, now=now)
        coded = trending.list_papers(conn, week, half_life_hours=48, sort="code", now=now)
    assert {p["id"] for p in filtered.papers} == {"2503.00001", "2503.00003", "2503.00004"}
    assert filtered.total == 3
    # +100 stars beats 5,005 stars of which 5 this week; 3 upvotes and no
    # repository (a dataset) ranks by its votes; the project page is no code.
    assert [p["id"] for p in coded.papers] == ["2503.00001", "2503.00004", "2503.00003"]
    assert [p["stars_gained"] for p in coded.papers] == [100, 5, 0]
    assert coded.papers[0]["code_score"] == pytest.approx(math.log2(101))
    assert coded.papers[2]["code_score"] == pytest.approx(math.log2(4))
    assert coded.papers[1]["github_stars"] == 5005


def test_pages_show_the_code_link_and_the_code_lists(
    client: TestClient, paperfeed: Paperfeed
) -> None:
    _seed(paperfeed)
    page = client.get("/papers/2503.00004")
    assert 'class="button code-link" href="https://github.com/bob/popular-graphs"' in page.text
    assert "★ 5,005" in page.text
    listed = client.get("/papers/week/2025-W12?code=1")
    assert listed.status_code == 200
    assert "2503.00001" in listed.text and "2503.00002" not in listed.text
    assert 'href="https://ada.github.io/demo"' not in listed.text  # not code
    coded = client.get("/papers/week/2025-W12?sort=code")
    assert coded.text.index("2503.00001") < coded.text.index("2503.00004")
    assert "+5 stars" in coded.text
    assert client.get("/papers/week/2025-W12?code=maybe").status_code == 400
    assert client.get("/trending/code").status_code == 200
    home = client.get("/")
    assert 'href="/trending/code"' in home.text
    found = client.get("/search?q=graph&has_code=1")
    assert "2503.00001" in found.text and "2503.00002" not in found.text
    assert client.get("/search?q=graph&has_code=perhaps").status_code == 400


def test_the_json_api_carries_and_filters_code(client: TestClient, paperfeed: Paperfeed) -> None:
    _seed(paperfeed)
    hits = client.get("/api/search", params={"q": "graph", "has_code": "1", "mode": "lexical"})
    assert hits.status_code == 200
    by_id = {h["id"]: h for h in hits.json()["hits"]}
    assert set(by_id) == {"2503.00001", "2503.00003", "2503.00004"}
    assert by_id["2503.00004"]["github_repo"] == "https://github.com/bob/popular-graphs"
    assert by_id["2503.00004"]["github_stars"] == 5005
    assert by_id["2503.00003"]["code_url"] == "https://huggingface.co/datasets/ada/graph-bench"
    assert hits.json()["filters"]["has_code"] is True
    daily = client.get("/api/daily_papers", params={"week": "2025-W12", "sort": "code"})
    assert daily.status_code == 200
    items = daily.json()
    assert [i["paper"]["id"] for i in items][0] == "2503.00001"
    assert items[0]["paper"]["githubRepo"] == "https://github.com/ada/graphs"
    assert items[0]["paper"]["githubStars"] == 110
    assert items[0]["githubStars"] == 110
    only = client.get("/api/daily_papers", params={"date": "2025-03-18", "has_code": "true"})
    assert {i["paper"]["id"] for i in only.json()} == {"2503.00001", "2503.00003", "2503.00004"}
    info = client.get("/api/papers/2503.00005").json()
    assert info["projectPage"] == "https://ada.github.io/demo"
    assert "githubRepo" not in info
    assert client.get("/api/daily_papers", params={"has_code": "perhaps"}).status_code in (400, 422)
    schema = client.get("/openapi.json").json()
    params = {p["name"] for p in schema["paths"]["/api/daily_papers"]["get"]["parameters"]}
    assert "has_code" in params


def test_feeds_and_markdown_carry_the_code_link(client: TestClient, paperfeed: Paperfeed) -> None:
    _seed(paperfeed)
    feed = client.get("/papers/week/2025-W12/feed.xml?sort=code")
    assert feed.status_code == 200
    assert "Code: https://github.com/ada/graphs (★ 110)" in feed.text
    assert (
        "Project page: https://ada.github.io/demo"
        in client.get("/papers/date/2025-03-18/feed.xml").text
    )
    markdown = client.get("/papers/2503.00004.md").text
    assert "[Code (★ 5,005)](https://github.com/bob/popular-graphs)" in markdown


def test_mcp_trending_sorts_by_code(paperfeed: Paperfeed) -> None:
    _seed(paperfeed)

    async def go() -> tuple[dict, dict]:
        async with local_client(paperfeed, None) as client:
            coded = await call(client, "trending", period="week", when="2025-W12", sort="code")
            found = await call(
                client, "search_papers", query="graph", has_code=True, mode="lexical"
            )
            return coded, found

    paperfeed.settings.mcp_anonymous_read = True
    # In a thread of its own: a browser test's Playwright may hold this
    # thread's event loop.
    with ThreadPoolExecutor(1) as pool:
        coded, found = pool.submit(asyncio.run, go()).result()
    assert coded["papers"][0]["id"] == "2503.00001"
    assert coded["papers"][0]["githubStars"] == 110
    assert coded["total"] == 3
    assert {h["id"] for h in found["hits"]} == {"2503.00001", "2503.00003", "2503.00004"}
    assert {h.get("github_stars") for h in found["hits"]} == {110, 5005, None}


@pytest.mark.parametrize(
    ("raw", "has_code", "free"),
    [
        ("graph has:code", True, "graph"),
        ("HAS:CODE graph", True, "graph"),
        ("(has:code) graph", True, "graph"),
        ("graph has:codes", False, None),  # not the filter: plain text
        ("graph has:nothing", False, None),
        ('"has:code" graph', False, None),  # inside a phrase, it stays words
    ],
)
def test_has_code_in_the_query_language(raw: str, has_code: bool, free: str | None) -> None:
    from paperfeed.query import parse

    parsed = parse(raw)
    assert parsed.has_code is has_code
    if free is not None:
        assert parsed.free_text.strip("() ") == free
        assert all("code" not in t.text for t in parsed.terms)
