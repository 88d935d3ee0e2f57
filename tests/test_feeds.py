"""Atom feeds: they parse (feedparser), list the right papers in order, and
carry hostile or broken text safely."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import feedparser
from fastapi.testclient import TestClient
from lxml import etree

from paperfeed.db import Database
from tests.trending_support import add_papers, add_reader, set_paper, vote

HOSTILE_TITLE = 'Q&A <script>alert("x")</script> ]]> \x0b\x01 bits & "quotes"'


def parse(client: TestClient, url: str) -> feedparser.FeedParserDict:
    response = client.get(url)
    assert response.status_code == 200, (url, response.text[:200])
    assert response.headers["content-type"].startswith("application/atom+xml")
    etree.fromstring(response.content)  # well-formed XML, or this raises
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    return feed


def test_day_feed_lists_the_trending_order(client: TestClient, db: Database) -> None:
    add_papers(db, [(f"2503.{n:05d}", date(2025, 3, 18)) for n in range(1, 5)])
    add_papers(db, [("2503.00009", date(2025, 3, 19))])
    vote(db, "2503.00002", at=datetime.now(UTC) - timedelta(hours=2))
    feed = parse(client, "/papers/date/2025-03-18/feed.xml")
    links = [e.link for e in feed.entries]
    assert links == [
        "http://127.0.0.1:8000/papers/2503.00002",
        "http://127.0.0.1:8000/papers/2503.00004",
        "http://127.0.0.1:8000/papers/2503.00003",
        "http://127.0.0.1:8000/papers/2503.00001",
    ]
    entry = feed.entries[0]
    assert entry.title == "A paper about 2503.00002"
    assert entry.summary == "We study 2503.00002 and report results."
    assert [a.name for a in entry.authors] == ["Ada Lovelace", "Alan Turing"]
    assert [t.term for t in entry.tags] == ["cs.LG"]
    assert "March 18, 2025" in feed.feed.title
    newest = parse(client, "/papers/date/2025-03-18/feed.xml?sort=newest")
    assert newest.entries[0].link.endswith("/papers/2503.00004")


def test_week_month_and_moving_feeds(client: TestClient, db: Database) -> None:
    add_papers(db, [("2503.00001", date(2025, 3, 18)), ("2503.00002", date(2025, 3, 24))])
    add_papers(db, [("2504.00001", date(2025, 4, 1))])
    assert len(parse(client, "/papers/week/2025-W12/feed.xml").entries) == 1
    assert len(parse(client, "/papers/month/2025-03/feed.xml").entries) == 2
    # The moving feeds follow the latest day with papers: 2025-04-01 (2025-W14).
    daily = parse(client, "/feeds/trending/daily.xml")
    assert [e.link.rsplit("/", 1)[1] for e in daily.entries] == ["2504.00001"]
    weekly = parse(client, "/feeds/trending/weekly.xml")
    assert [e.link.rsplit("/", 1)[1] for e in weekly.entries] == ["2504.00001"]
    monthly = parse(client, "/feeds/trending/monthly.xml")
    assert len(monthly.entries) == 1
    assert client.get("/feeds/trending/yearly.xml").status_code == 404


def test_feeds_escape_and_drop_what_xml_cannot_carry(client: TestClient, db: Database) -> None:
    add_papers(
        db,
        [("2503.00666", date(2025, 3, 18))],
        title=HOSTILE_TITLE,
        abstract="a < b && c > d \x0c <b>bold</b>",
        authors=["<Eve & Mallory>"],
    )
    response = client.get("/papers/date/2025-03-18/feed.xml")
    assert b"<script>" not in response.content
    assert b"&lt;script&gt;" in response.content
    feed = parse(client, "/papers/date/2025-03-18/feed.xml")
    (entry,) = feed.entries
    assert entry.title == 'Q&A <script>alert("x")</script> ]]>  bits & "quotes"'
    assert entry.summary == "a < b && c > d  <b>bold</b>"
    assert entry.summary_detail.type == "text/plain"
    assert entry.authors[0].name == "<Eve & Mallory>"


def test_hidden_papers_stay_out_of_feeds(client: TestClient, db: Database) -> None:
    add_papers(db, [("2503.00001", date(2025, 3, 18)), ("2503.00002", date(2025, 3, 18))])
    set_paper(db, "2503.00001", hidden=True)
    feed = parse(client, "/papers/date/2025-03-18/feed.xml")
    assert [e.link.rsplit("/", 1)[1] for e in feed.entries] == ["2503.00002"]


def test_empty_site_and_empty_period_feeds_are_valid(client: TestClient) -> None:
    assert parse(client, "/feeds/trending/daily.xml").entries == []
    assert parse(client, "/papers/date/2025-03-18/feed.xml").entries == []


def test_search_feed(client: TestClient, db: Database) -> None:
    add_papers(db, [("2503.00001", date(2025, 3, 18))], title="Graph neural networks for molecules")
    add_papers(db, [("2503.00002", date(2025, 3, 20))], title="Neural graph rewiring")
    add_papers(db, [("2503.00003", date(2025, 3, 21))], title="Protein folding at scale")
    feed = parse(client, "/feeds/search.xml?q=graph")
    # Newest match first; the non-matching paper is absent.
    assert [e.link.rsplit("/", 1)[1] for e in feed.entries] == ["2503.00002", "2503.00001"]
    assert "graph" in feed.feed.title
    # q is required and not blank, as /openapi.json declares: a validation error.
    assert client.get("/feeds/search.xml").status_code == 422
    assert client.get("/feeds/search.xml?q=%20").status_code == 422


def test_public_collection_feed(client: TestClient, db: Database) -> None:
    from paperfeed import readers

    add_papers(db, [(f"2503.{n:05d}", date(2025, 3, 18)) for n in range(1, 4)])
    owner = readers.get_reader(db, add_reader(db, "owner@example.org"))
    assert owner is not None
    public = readers.create_collection(
        db, owner, "Reading <group> & friends", description="Weekly picks", is_public=True
    )
    private = readers.create_collection(db, owner, "Secret", is_public=False)
    for paper_id in ("2503.00002", "2503.00001", "2503.00003"):
        readers.add_to_collection(db, owner, public, paper_id)
        readers.add_to_collection(db, owner, private, paper_id)
    set_paper(db, "2503.00003", hidden=True)
    feed = parse(client, f"/collections/{public}/feed.xml")
    assert feed.feed.title == "Paperfeed: Reading <group> & friends"
    assert feed.feed.subtitle == "Weekly picks"
    assert sorted(e.link.rsplit("/", 1)[1] for e in feed.entries) == ["2503.00001", "2503.00002"]
    # A private collection is not found, like one that does not exist.
    assert client.get(f"/collections/{private}/feed.xml").status_code == 404
    assert client.get("/collections/99999/feed.xml").status_code == 404
    assert client.get("/collections/abc/feed.xml").status_code == 404
    page = client.get(f"/collections/{public}")
    assert f'href="/collections/{public}/feed.xml"' in page.text
