"""The paper store: upserts, version history, idempotence, merging of duplicates."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from paperfeed.db import Database
from paperfeed.db import papers as paper_store
from paperfeed.db.tables import index_queue
from paperfeed.ingest.pipeline import ingest
from paperfeed.models import Version, slug_for
from tests.helpers import make_paper


def test_insert_then_identical_reingest_writes_nothing(db: Database) -> None:
    batch = [make_paper(f"2501.{i:05d}") for i in range(50)]
    first = ingest(db, batch)
    assert (first.inserted, first.updated, first.unchanged) == (50, 0, 0)
    with db.begin() as conn:
        conn.execute(index_queue.delete())
        before = paper_store.get_paper(conn, "2501.00007")
    again = ingest(db, [make_paper(f"2501.{i:05d}") for i in range(50)])
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 50)
    with db.connect() as conn:
        assert paper_store.get_paper(conn, "2501.00007") == before
        assert conn.execute(select(index_queue)).all() == []  # nothing to re-index


def test_new_version_updates_paper_and_keeps_history(db: Database) -> None:
    v1 = datetime(2025, 1, 2, tzinfo=UTC)
    v2 = datetime(2025, 3, 4, tzinfo=UTC)
    ingest(db, [make_paper("2501.00001", title="Old title", versions=[Version(1, v1)])])
    ingest(
        db,
        [make_paper("2501.00001", title="New title", versions=[Version(1, v1), Version(2, v2)])],
    )
    with db.connect() as conn:
        paper = paper_store.get_paper(conn, "2501.00001")
    assert paper is not None
    assert paper["title"] == "New title"
    assert paper["latest_version"] == 2
    assert [v["version"] for v in paper["versions"]] == [1, 2]


def test_older_version_does_not_overwrite_newer(db: Database) -> None:
    ingest(db, [make_paper("2501.00001", title="Second version", versions=[Version(2)])])
    ingest(db, [make_paper("2501.00001", title="First version", versions=[Version(1)])])
    with db.connect() as conn:
        paper = paper_store.get_paper(conn, "2501.00001")
    assert paper is not None
    assert paper["title"] == "Second version"
    assert [v["version"] for v in paper["versions"]] == [1, 2]


def test_missing_fields_do_not_erase_known_values(db: Database) -> None:
    ingest(db, [make_paper("2501.00001", doi="10.1/x", upvotes=7)])
    ingest(db, [make_paper("2501.00001", doi=None, upvotes=None, comment="ICML")])
    with db.connect() as conn:
        paper = paper_store.get_paper(conn, "2501.00001")
    assert paper is not None
    assert (paper["doi"], paper["imported_upvotes"], paper["comment"]) == ("10.1/x", 7, "ICML")


def test_slug_paper_is_merged_into_its_arxiv_twin(db: Database) -> None:
    title = "Harnessing Explanations: LLM-to-LM Interpreter"
    slug = slug_for(title)
    ingest(db, [make_paper(slug, title=title, authors=[], listing_date=date(2025, 4, 1))])
    ingest(db, [make_paper("2305.19523", title=title.upper() + ".")])
    with db.connect() as conn:
        assert paper_store.count_papers(conn) == 1
        by_alias = paper_store.get_paper(conn, slug)
    assert by_alias is not None and by_alias["id"] == "2305.19523"
    # And the page seen again later lands on the same paper, not a new slug.
    report = ingest(db, [make_paper(slug, title=title, authors=[])])
    assert report.inserted == 0
    with db.connect() as conn:
        assert paper_store.count_papers(conn) == 1


def test_get_papers_reads_what_sqlalchemy_reads(db: Database) -> None:
    """get_papers and vote_counts read through the driver's own cursor (sqlite3,
    psycopg): the rows must be what SQLAlchemy's column types give (values and
    types), on every column, on both backends."""
    from sqlalchemy import func, update

    from paperfeed.db.tables import papers, readers, votes
    from paperfeed.db.trending import vote_counts

    ingest(
        db,
        [
            make_paper(
                "2501.00001",
                versions=[Version(1, datetime(2025, 1, 2, 3, 4, 5, 6789, tzinfo=UTC))],
                listing_date=date(2025, 1, 3),
                upvotes=4,
                comment="ICML",
            ),
            make_paper("2501.00002", authors=[], categories=[], doi=None),
            make_paper("2501.00003", title="Ünïcode “quotes” and 'single' ones"),
        ],
    )
    now = datetime.now(UTC)
    with db.begin() as conn:
        conn.execute(
            update(papers)
            .where(papers.c.id == "2501.00002")
            .values(hidden=True, featured_date=date(2025, 2, 1), sources=None)
        )
        conn.execute(
            readers.insert(), [{"email": f"r{i}@example.org", "created_at": now} for i in range(3)]
        )
        reader_ids = list(conn.execute(select(readers.c.id)).scalars())
        conn.execute(
            votes.insert(),
            [{"reader_id": r, "paper_id": "2501.00001", "created_at": now} for r in reader_ids]
            + [{"reader_id": reader_ids[0], "paper_id": "2501.00003", "created_at": now}],
        )
    ids = ["2501.00003", "2501.00001", "2501.00002", "nope", "2501.00001"]
    with db.connect() as conn:
        fast = paper_store.get_papers(conn, ids)
        counts = vote_counts(conn, ids)
        # The reference: the same reads through SQLAlchemy's Core and column types.
        reference = {
            r.id: dict(r._mapping) for r in conn.execute(select(papers).where(papers.c.id.in_(ids)))
        }
        vote_query = select(votes.c.paper_id, func.count()).where(votes.c.paper_id.in_(ids))
        reference_counts = {
            pid: int(n) for pid, n in conn.execute(vote_query.group_by(votes.c.paper_id))
        }
    assert set(fast) == {"2501.00001", "2501.00002", "2501.00003"}
    assert fast == reference
    for paper_id, row in fast.items():
        assert list(row) == list(reference[paper_id])  # same keys, same order
        for key, value in row.items():
            assert type(value) is type(reference[paper_id][key]), key
    assert counts == reference_counts == {"2501.00001": 3, "2501.00003": 1}
