"""Hugging Face daily papers against a real HTTP server replaying the recorded item."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from typer.testing import CliRunner

from paperfeed.cli import app
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import papers as paper_store
from paperfeed.ingest.arxiv_api import fetch_by_ids
from paperfeed.ingest.hf_daily import PAGE_SIZE, fetch_day
from paperfeed.ingest.pipeline import ingest
from paperfeed.models import Paper
from tests import feeds
from tests.fixture_server import JSON, FixtureServer, Reply

DAILY = "/api/daily_papers"


def _items(count: int) -> list[dict[str, Any]]:
    """``count`` items in the recorded shape, with distinct ids and titles."""
    real = feeds.hf_item()
    items = []
    for i in range(count):
        item = copy.deepcopy(real)
        item["paper"]["id"] = f"2603.{i:05d}"
        item["paper"]["title"] = item["title"] = f"{real['title']} (part {i})"
        item["paper"]["upvotes"] = i
        items.append(item)
    return items


def test_real_item_keeps_upvotes_submitter_and_featured_date(
    fixture_server: FixtureServer, settings: Settings, db: Database
) -> None:
    items = [feeds.hf_item(), {"paper": feeds.hf_paper_object()}]
    fixture_server.route(DAILY, Reply(json.dumps(items), content_type=JSON))
    records = list(fetch_day(settings, date(2026, 3, 6)))
    papers = {r.id: r for r in records if isinstance(r, Paper)}
    assert set(papers) == {"2602.23229", "2509.04664"}
    p = papers["2602.23229"]
    assert p.upvotes == 10
    assert p.submitted_by == "marco-garosi"
    assert p.featured_date == date(2026, 3, 6)
    assert p.published == datetime(2026, 2, 26, 17, 8, 18, tzinfo=UTC)
    assert p.authors == [
        "Marco Garosi",
        "Matteo Farina",
        "Alessandro Conti",
        "Massimiliano Mancini",
        "Elisa Ricci",
    ]
    assert p.title == "Large Multimodal Models as General In-Context Classifiers"
    assert p.abstract.startswith("Which multimodal model should we use for classification?")
    assert p.source == "hf-daily"
    other = papers["2509.04664"]
    assert (other.upvotes, other.submitted_by) == (26, "taesiri")
    assert other.featured_date == date(2025, 9, 8)
    assert "\n" not in other.abstract
    query = fixture_server.requests_to(DAILY)[0].query
    assert query["date"] == "2026-03-06"
    report = ingest(db, records)
    assert report.inserted == 2
    with db.connect() as conn:
        stored = paper_store.get_paper(conn, "2602.23229")
    assert stored is not None
    assert (stored["imported_upvotes"], stored["submitted_by"]) == (10, "marco-garosi")
    assert stored["featured_date"] == date(2026, 3, 6)


def test_paging(fixture_server: FixtureServer, settings: Settings) -> None:
    items = _items(PAGE_SIZE + 30)
    fixture_server.route(
        DAILY, Reply(json.dumps(items[:PAGE_SIZE]), content_type=JSON), query={"p": "0"}
    )
    fixture_server.route(
        DAILY, Reply(json.dumps(items[PAGE_SIZE:]), content_type=JSON), query={"p": "1"}
    )
    papers = [r for r in fetch_day(settings, date(2026, 3, 6)) if isinstance(r, Paper)]
    assert len(papers) == PAGE_SIZE + 30
    assert len({p.id for p in papers}) == PAGE_SIZE + 30
    assert [r.query["p"] for r in fixture_server.requests_to(DAILY)] == ["0", "1"]


def test_server_without_paging_is_not_looped(
    fixture_server: FixtureServer, settings: Settings
) -> None:
    fixture_server.route(DAILY, Reply(json.dumps(_items(PAGE_SIZE)), content_type=JSON))
    papers = [r for r in fetch_day(settings, date(2026, 3, 6)) if isinstance(r, Paper)]
    assert len(papers) == PAGE_SIZE
    assert len(fixture_server.requests_to(DAILY)) == 2  # page 1 repeated page 0: stop


def test_retry_after_and_bad_items(fixture_server: FixtureServer, settings: Settings) -> None:
    items: list[Any] = _items(2)
    del items[1]["paper"]["summary"], items[1]["summary"]
    items.append("not an object")
    busy = Reply("slow down", 429, "text/plain", headers={"Retry-After": "1"})
    fixture_server.route(DAILY, [busy, Reply(json.dumps(items)[:50]), Reply(json.dumps(items))])
    records = list(fetch_day(settings, date(2026, 3, 6)))
    assert [type(r).__name__ for r in records] == ["Paper", "Skipped", "Skipped"]
    assert "paper 2603.00001" in str(records[1]) and "missing summary" in str(records[1])
    assert "expected a JSON object" in str(records[2])
    first, second, third = fixture_server.requests_to(DAILY)
    assert second.at - first.at >= 1.0


def test_hf_daily_enriches_an_arxiv_paper_without_overwriting_it(
    fixture_server: FixtureServer, settings: Settings, db: Database
) -> None:
    fixture_server.add_arxiv_paper(
        "2602.23229",
        title="Large Multimodal Models as General In-Context Classifiers",
        authors=["Marco Garosi", "Matteo Farina"],
        abstract="The arXiv abstract.",
        published=datetime(2026, 2, 26, 17, 8, 18, tzinfo=UTC),
        doi="10.1000/xyz",
    )
    ingest(db, fetch_by_ids(settings, ["2602.23229"]))
    fixture_server.route(DAILY, Reply(json.dumps([feeds.hf_item()]), content_type=JSON))
    report = ingest(db, fetch_day(settings, date(2026, 3, 6)))
    assert report.updated == 1
    with db.connect() as conn:
        paper = paper_store.get_paper(conn, "2602.23229")
    assert paper is not None
    assert paper["abstract"] == "The arXiv abstract."  # the richer source's text stays
    assert paper["doi"] == "10.1000/xyz"
    assert paper["authors"] == ["Marco Garosi", "Matteo Farina"]
    assert paper["source"] == "arxiv-api"
    assert paper["sources"] == ["arxiv-api", "hf-daily"]
    assert (paper["imported_upvotes"], paper["submitted_by"]) == (10, "marco-garosi")
    again = ingest(db, fetch_day(settings, date(2026, 3, 6)))
    assert (again.updated, again.unchanged) == (0, 1)


def test_cli_hf_daily_range(
    fixture_server: FixtureServer, cli_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAPERFEED_HF_API_URL", fixture_server.url)
    monkeypatch.setenv("PAPERFEED_HF_DELAY_SECONDS", "0")
    items = _items(3)
    for i, day in enumerate(("2026-03-05", "2026-03-06")):
        fixture_server.route(
            DAILY, Reply(json.dumps(items[i : i + 2]), content_type=JSON), query={"date": day}
        )
    result = CliRunner().invoke(
        app, ["ingest", "hf-daily", "--date", "2026-03-05", "--to", "2026-03-06"]
    )
    assert result.exit_code == 0, result.output
    # 2603.00001 is on both days: every record is accounted for
    assert "4 read: 3 new, 0 updated, 0 unchanged, 1 duplicates" in result.output
    assert [r.query["date"] for r in fixture_server.requests_to(DAILY)] == [
        "2026-03-05",
        "2026-03-06",
    ]
