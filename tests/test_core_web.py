"""The first pages over real papers: list, paper, navigation and errors."""

from __future__ import annotations

from fastapi.testclient import TestClient

from paperfeed.db import Database
from paperfeed.ingest.jsonl import paper_from_record
from paperfeed.ingest.pipeline import ingest
from tests.conftest import ARXIV_CS
from tests.helpers import make_paper, real_records


def test_home_lists_latest_day_with_links(client: TestClient, db: Database) -> None:
    papers = [paper_from_record(r, default_listing_date=None) for r in real_records(ARXIV_CS, 200)]
    ingest(db, papers)
    latest = max(p.listing_date for p in papers if p.listing_date)
    on_latest = [p for p in papers if p.listing_date == latest]
    page = client.get("/")
    assert page.status_code == 200
    for paper in on_latest[:5]:
        assert f'href="/papers/{paper.id}"' in page.text
        assert f'href="https://arxiv.org/abs/{paper.id}"' in page.text
    detail = client.get(f"/papers/{on_latest[0].id}")
    assert detail.status_code == 200
    assert on_latest[0].authors[0] in detail.text


def test_titles_and_abstracts_are_escaped(client: TestClient, db: Database) -> None:
    payload = '<script>alert("x")</script>'
    from datetime import date

    ingest(
        db,
        [
            make_paper(
                "2501.00001",
                title=payload,
                abstract=payload,
                authors=[payload],
                listing_date=date(2025, 1, 2),
            )
        ],
    )
    for url in ("/", "/papers/2501.00001"):
        html = client.get(url).text
        assert payload not in html
        assert "&lt;script&gt;" in html


def test_unknown_paper_and_bad_date(client: TestClient) -> None:
    assert client.get("/papers/2501.99999").status_code == 404
    assert client.get("/papers/date/2025-13-45").status_code == 400
