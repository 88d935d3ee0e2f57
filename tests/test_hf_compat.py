"""The real huggingface_hub client against a live Paperfeed server on 127.0.0.1.

Calls what huggingface_hub 2.4 offers for papers: ``list_daily_papers`` (date,
week, month, sort, paging), ``paper_info``, ``list_papers`` (search) and
``read_paper`` (``/papers/{id}.md``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.ingest.jsonl import read_jsonl
from paperfeed.ingest.pipeline import ingest
from tests.browser import LiveServer
from tests.conftest import ARXIV_CS
from tests.trending_support import add_papers, set_paper, vote

hf = pytest.importorskip("huggingface_hub")
from huggingface_hub.errors import BadRequestError, HfHubHTTPError  # noqa: E402
from huggingface_hub.hf_api import PaperInfo  # noqa: E402

DAY = "2025-03-18"  # 102 of the first 150 real papers were listed that day


@pytest.fixture
def api(
    settings: Settings, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[object]:
    # No token, no telemetry, nothing read from the user's HF cache.
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    ingest(db, itertools.islice(read_jsonl(ARXIV_CS), 150))
    add_papers(
        db,
        [("2503.99001", date(2025, 3, 18))],
        title="Featured on Hugging Face",
        upvotes=25,
        submitted_by="akhaliq",
        featured_date=date(2025, 3, 18),
    )
    with LiveServer(settings, db) as server:
        yield hf.HfApi(endpoint=server.url, token=False)


def test_list_daily_papers_by_date_sort_and_paging(api: object, db: Database) -> None:
    newest = list(api.list_daily_papers(date=DAY, limit=100))  # type: ignore[attr-defined]
    assert len(newest) == 100
    assert all(isinstance(p, PaperInfo) for p in newest)
    assert newest[0].id == "2503.99001"  # the highest id of the day
    assert [p.id for p in newest] == sorted((p.id for p in newest), reverse=True)
    first = newest[1]
    assert first.title and first.summary and first.authors and first.authors[0].name
    assert first.published_at is not None and first.published_at.date() == date(2025, 3, 18)

    page0 = list(api.list_daily_papers(date=DAY, limit=10, p=0))  # type: ignore[attr-defined]
    page1 = list(api.list_daily_papers(date=DAY, limit=10, p=1))  # type: ignore[attr-defined]
    assert [p.id for p in page0 + page1] == [p.id for p in newest[:20]]
    rest = list(api.list_daily_papers(date=DAY, limit=100, p=1))  # type: ignore[attr-defined]
    assert len(rest) == 3  # 102 real papers + 1 featured on that day

    vote(db, newest[50].id, at=datetime.now(UTC) - timedelta(minutes=5))
    trending_ids = [
        p.id
        for p in api.list_daily_papers(date=DAY, sort="trending", limit=3)  # type: ignore[attr-defined]
    ]
    # 25 HF upvotes from the featured day (long ago) decay below one fresh vote.
    assert trending_ids[:2] == [newest[50].id, "2503.99001"]


def test_list_daily_papers_by_week_and_month(api: object) -> None:
    week = list(api.list_daily_papers(week="2025-W12", limit=100, p=1))  # type: ignore[attr-defined]
    month = list(api.list_daily_papers(month="2025-03", limit=100, p=1))  # type: ignore[attr-defined]
    # 2025-W12 holds the 103 papers of March 18 and one of March 19; March adds one of the 28th.
    assert len(week) == 4 and len(month) == 5
    assert {p.submitted_at.date() for p in month if p.submitted_at} <= {
        date(2025, 3, d) for d in range(1, 32)
    }


def test_paper_info_and_read_paper(api: object) -> None:
    info = api.paper_info("2503.99001")  # type: ignore[attr-defined]
    assert info.id == "2503.99001"
    assert info.title == "Featured on Hugging Face"
    assert info.upvotes == 25
    assert [a.name for a in info.authors] == ["Ada Lovelace", "Alan Turing"]
    assert info.submitted_by is not None and info.submitted_by.username == "akhaliq"
    markdown = api.read_paper("2503.99001")  # type: ignore[attr-defined]
    assert markdown.startswith("# Featured on Hugging Face\n")
    assert "## Abstract" in markdown


def test_list_papers_searches(api: object) -> None:
    results = list(api.list_papers(query="robot manipulation", limit=5))  # type: ignore[attr-defined]
    assert 1 <= len(results) <= 5
    top = results[0]
    assert isinstance(top, PaperInfo)
    text = f"{top.title} {top.summary}".lower()
    assert "robot" in text or "manipulat" in text


def test_errors_reach_the_client_as_hf_errors(api: object, db: Database) -> None:
    with pytest.raises(HfHubHTTPError) as missing:
        api.paper_info("2599.99999")  # type: ignore[attr-defined]
    assert missing.value.response.status_code == 404
    assert "Paper not found" in str(missing.value)
    with pytest.raises(HfHubHTTPError) as missing_md:
        api.read_paper("2599.99999")  # type: ignore[attr-defined]
    assert missing_md.value.response.status_code == 404
    with pytest.raises(BadRequestError) as bad:
        list(api.list_daily_papers(week="2025-W53"))  # type: ignore[attr-defined]
    assert "ISO week" in str(bad.value)
    set_paper(db, "2503.99001", hidden=True)
    with pytest.raises(HfHubHTTPError):
        api.paper_info("2503.99001")  # type: ignore[attr-defined]


def test_the_client_reads_ai_summary_and_ai_keywords(
    api: object, settings: Settings, db: Database
) -> None:
    """The offline TL;DR and keyphrases (made by the embed job's extraction,
    stored per text hash) reach ``PaperInfo.ai_summary`` / ``ai_keywords``."""
    from sqlalchemy import select

    from paperfeed.db import teasers as teaser_store
    from paperfeed.db.tables import papers
    from paperfeed.index import teasers
    from paperfeed.index.embedder import get_embedder
    from paperfeed.index.embedding import teaser_method

    first = next(iter(api.list_daily_papers(date=DAY, limit=1)))  # type: ignore[attr-defined]
    assert first.ai_summary is None and first.ai_keywords is None  # none made yet
    with db.connect() as conn:
        rows = conn.execute(
            select(papers.c.id, papers.c.title, papers.c.abstract, papers.c.text_hash).where(
                papers.c.id.in_([first.id])
            )
        ).all()
    embedder = get_embedder(settings)
    _, made = teasers.embed_with_teasers(
        embedder, [r.title for r in rows], [r.abstract for r in rows]
    )
    with db.begin() as conn:
        teaser_store.store_teasers(
            conn,
            teaser_method(embedder.model_id),
            [(r.id, r.text_hash, t.keyphrases, t.tldr) for r, t in zip(rows, made, strict=True)],
        )
    expected = made[0]
    assert expected.tldr and expected.keyphrases

    info = api.paper_info(first.id)  # type: ignore[attr-defined]
    assert info.ai_summary == expected.tldr
    assert info.ai_keywords == expected.keyphrases
    listed = next(iter(api.list_daily_papers(date=DAY, limit=1)))  # type: ignore[attr-defined]
    assert listed.id == first.id
    assert listed.ai_summary == expected.tldr and listed.ai_keywords == expected.keyphrases


def test_the_client_reads_code_links_and_stars(
    api: object, settings: Settings, db: Database
) -> None:
    from paperfeed.app import Paperfeed
    from paperfeed.db import code as code_store
    from paperfeed.services import code_links

    # The real papers were stored before their links were looked for: the
    # backfill finds them (1904.11093's abstract ends "github.com/mahdiabavisani/DSRC.").
    code_links.backfill(Paperfeed(settings, db))
    with db.begin() as conn:
        code_store.observed(
            conn,
            "mahdiabavisani/dsrc",
            full_name="mahdiabavisani/DSRC",
            stars=42,
            etag=None,
            at=datetime.now(UTC),
        )
    info = api.paper_info("1904.11093")  # type: ignore[attr-defined]
    assert info.github_repo == "https://github.com/mahdiabavisani/DSRC"
    assert info.github_stars == 42
    assert info.project_page is None
    # 2409.02851 names a project page ("https://human-vdm.github.io/Human-VDM/").
    page = api.paper_info("2409.02851")  # type: ignore[attr-defined]
    assert page.project_page == "https://human-vdm.github.io/Human-VDM"
    assert page.github_repo is None and page.github_stars is None
    # The daily list and the search carry them too.
    listed = {
        p.id: p
        for p in api.list_daily_papers(date="2025-10-13", limit=100)  # type: ignore[attr-defined]
    }
    query = "Deep Sparse Representation-based Classification"
    found = {p.id: p for p in api.list_papers(query=query, limit=5)}  # type: ignore[attr-defined]
    for papers in (listed, found):
        assert papers["1904.11093"].github_repo == "https://github.com/mahdiabavisani/DSRC"
        assert papers["1904.11093"].github_stars == 42


def test_the_hf_organization_reaches_the_client(api: object, db: Database) -> None:
    """A paper HF listed under an organization (the recorded daily item) keeps
    it, and PaperInfo.organization reads it back."""
    import json

    from paperfeed.ingest.hf_daily import paper_from_item
    from tests.conftest import FIXTURES

    item = json.loads((FIXTURES / "hf_daily_papers/daily_papers_item_2602.23229.json").read_text())[
        0
    ]
    paper = paper_from_item(item, where="fixture")
    assert not isinstance(paper, str)
    ingest(db, [paper])
    info = api.paper_info("2602.23229")  # type: ignore[attr-defined]
    assert info.organization is not None
    assert info.organization.name == "MHUGLab"
    assert info.organization.fullname == "Multimedia and Human Understanding Group"
    assert api.paper_info("2503.99001").organization is None  # type: ignore[attr-defined]
