"""Several sources contributing to one paper: the richer source's metadata and
name stay, poorer ones fill gaps, and alternating sources rewrite nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from paperfeed.db import Database
from paperfeed.db import papers as paper_store
from paperfeed.db.tables import index_queue
from paperfeed.ingest.pipeline import ingest
from paperfeed.models import Paper, Version, slug_for
from tests.helpers import make_paper

TITLE = "Sparse Mixtures of Experts Scale Gracefully"


def _jsonl() -> Paper:
    return make_paper(
        "2503.01234",
        title=TITLE,
        abstract="The full arXiv abstract, as listed.",
        listing_date=date(2025, 3, 20),
        source="jsonl",
    )


def _hf_page() -> Paper:
    return make_paper(
        slug_for(TITLE),
        title=TITLE.upper(),
        abstract="A shorter abstract shown on the page.",
        authors=[],
        categories=[],
        listing_date=date(2025, 4, 1),
        source="hf-page",
    )


def _queue(db: Database) -> list[str]:
    with db.connect() as conn:
        return [r.paper_id for r in conn.execute(select(index_queue))]


def _clear_queue(db: Database) -> None:
    with db.begin() as conn:
        conn.execute(index_queue.delete())


def test_hf_page_does_not_take_over_a_jsonl_paper(db: Database) -> None:
    ingest(db, [_jsonl()])
    report = ingest(db, [_hf_page()])
    assert report.updated == 1
    with db.connect() as conn:
        assert paper_store.count_papers(conn) == 1
        paper = paper_store.get_paper(conn, "2503.01234")
    assert paper is not None
    assert paper["source"] == "jsonl"
    assert paper["sources"] == ["hf-page", "jsonl"]
    assert paper["title"] == TITLE
    assert paper["abstract"] == "The full arXiv abstract, as listed."
    assert paper["authors"] == ["Ada Lovelace", "Alan Turing"]
    assert paper["listing_date"] == date(2025, 3, 20)
    # Re-ingesting either source, in any order, changes nothing more.
    _clear_queue(db)
    for records in ([_hf_page()], [_jsonl()], [_hf_page()]):
        again = ingest(db, records)
        assert (again.inserted, again.updated, again.unchanged) == (0, 0, 1)
    assert _queue(db) == []
    with db.connect() as conn:
        assert paper_store.get_paper(conn, "2503.01234") == paper


def test_page_first_then_arxiv_export(db: Database) -> None:
    ingest(db, [_hf_page()])
    ingest(db, [_jsonl()])
    with db.connect() as conn:
        assert paper_store.count_papers(conn) == 1
        paper = paper_store.get_paper(conn, slug_for(TITLE))  # the old URL still works
    assert paper is not None and paper["id"] == "2503.01234"
    assert paper["source"] == "jsonl"
    assert paper["abstract"] == "The full arXiv abstract, as listed."


def test_richer_source_takes_over_and_keeps_history(db: Database) -> None:
    ingest(db, [_jsonl()])
    v1 = datetime(2025, 3, 18, 10, tzinfo=UTC)
    v2 = datetime(2025, 5, 2, 10, tzinfo=UTC)
    api = make_paper(
        "2503.01234",
        title=TITLE + " (revised)",
        abstract="The revised abstract.",
        versions=[Version(1, v1), Version(2, v2)],
        published=v1,
        updated=v2,
        listing_date=date(2025, 3, 19),
        doi="10.1/abc",
        source="arxiv-api",
    )
    ingest(db, [api])
    # The export again (poorer, no versions) does not undo the revision.
    again = ingest(db, [_jsonl()])
    assert again.updated == 0
    with db.connect() as conn:
        paper = paper_store.get_paper(conn, "2503.01234")
    assert paper is not None
    assert paper["title"] == TITLE + " (revised)"
    assert paper["source"] == "arxiv-api"
    assert paper["sources"] == ["arxiv-api", "jsonl"]
    assert paper["doi"] == "10.1/abc"
    assert paper["latest_version"] == 2
    assert paper["listing_date"] == date(2025, 3, 19)  # the earliest listing wins
    assert [v["version"] for v in paper["versions"]] == [1, 2]


def test_stats_count_by_richest_source(db: Database) -> None:
    ingest(db, [_jsonl(), make_paper("2503.00002", source="hf-daily", upvotes=3)])
    ingest(db, [_hf_page()])
    with db.connect() as conn:
        stats = paper_store.stats(conn)
    assert stats["by_source"] == {"jsonl": 1, "hf-daily": 1}
