"""Authors and organizations as entities: linking (on both backends), the
initials merge, the backfill queue, and what the arXiv API and HF give."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from paperfeed.app import Paperfeed
from paperfeed.db import authors as author_store
from paperfeed.db.tables import author_queue, authors, paper_authors
from paperfeed.ingest.arxiv_api import parse_feed
from paperfeed.ingest.hf_daily import paper_from_item
from paperfeed.services import authors as author_service
from paperfeed.services.ingest import store
from tests.conftest import FIXTURES
from tests.helpers import make_paper


def author_keys(app: Paperfeed, paper_id: str) -> list[str]:
    return [a["key"] for a in author_service.paper_authors(app, paper_id)]


def test_store_links_authors_and_the_spellings_of_one_author_meet(paperfeed: Paperfeed) -> None:
    store(
        paperfeed,
        [
            make_paper("2501.00001", authors=["Laura Leal-Taixé", "Cengiz Öztireli"]),
            make_paper("2501.00002", authors=["Laura Leal-Taixe", "Tat-Seng Chua"]),
        ],
    )
    assert author_keys(paperfeed, "2501.00001") == ["laura-leal-taixe", "cengiz-oztireli"]
    page = author_service.author_page(paperfeed, "laura-leal-taixe")
    assert page.author["name"] == "Laura Leal-Taixé"  # the first spelling seen
    assert {p["id"] for p in page.papers} == {"2501.00001", "2501.00002"}
    assert page.total == 2
    assert {c["key"] for c in page.coauthors} == {"cengiz-oztireli", "tat-seng-chua"}
    assert page.categories == [{"category": "cs.LG", "papers": 2}]
    with paperfeed.db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(author_queue)).scalar() == 0


def test_an_initials_form_joins_the_one_full_name_whatever_the_order(
    paperfeed: Paperfeed,
) -> None:
    # Short form first: it is an author of its own until the full name arrives.
    store(paperfeed, [make_paper("2501.00001", authors=["M. Walmsley", "F. Ricci"])])
    assert author_keys(paperfeed, "2501.00001") == ["m-walmsley", "f-ricci"]
    store(paperfeed, [make_paper("2501.00002", authors=["Mike Walmsley"])])
    assert author_keys(paperfeed, "2501.00001") == ["mike-walmsley", "f-ricci"]
    # Full name known: the short form links to it at once.
    store(paperfeed, [make_paper("2501.00003", authors=["M. Walmsley"])])
    assert author_keys(paperfeed, "2501.00003") == ["mike-walmsley"]
    # The short key still leads to the author.
    assert author_service.author_page(paperfeed, "m-walmsley").author["key"] == "mike-walmsley"
    with paperfeed.db.connect() as conn:
        assert author_store.get_author(conn, "m-walmsley") is None


def test_an_ambiguous_initials_form_stays_apart(paperfeed: Paperfeed) -> None:
    store(
        paperfeed,
        [
            make_paper("2501.00001", authors=["Marco Martinelli"]),
            make_paper("2501.00002", authors=["Massimo Martinelli"]),
            make_paper("2501.00003", authors=["M. Martinelli"]),
        ],
    )
    assert author_keys(paperfeed, "2501.00003") == ["m-martinelli"]
    page = author_service.author_page(paperfeed, "m-martinelli")
    assert page.author["key"] == "m-martinelli" and page.total == 1


def test_relinking_after_an_update_replaces_the_authors(paperfeed: Paperfeed) -> None:
    store(paperfeed, [make_paper("2501.00001", authors=["Ada Lovelace"])])
    store(paperfeed, [make_paper("2501.00001", authors=["Alan Turing", "Ada Lovelace"])])
    assert author_keys(paperfeed, "2501.00001") == ["alan-turing", "ada-lovelace"]


def test_the_backfill_links_papers_queued_by_the_migration_in_resumable_batches(
    paperfeed: Paperfeed,
) -> None:
    from dataclasses import replace

    store(paperfeed, [make_paper(f"2501.{i:05d}", authors=[f"Author Number{i}"]) for i in range(5)])
    with paperfeed.db.begin() as conn:  # as migration 0023 leaves an old instance
        conn.execute(paper_authors.delete())
        conn.execute(authors.delete())
        conn.execute(
            author_queue.insert().from_select(
                ["paper_id", "queued_at"],
                select(paper_authors.c.paper_id, func.current_timestamp()).where(False),
            )
        )
        for i in range(5):
            conn.execute(
                author_queue.insert().values(paper_id=f"2501.{i:05d}", queued_at=func.now())
            )
    paperfeed.tuning = replace(
        paperfeed.tuning, ingest=replace(paperfeed.tuning.ingest, link_batch_size=2)
    )
    first = author_service.link_pending(paperfeed, limit=3)
    assert (first.papers, first.left) == (3, 2)  # stopped part-way: the rest stays queued
    rest = author_service.link_pending(paperfeed)
    assert (rest.papers, rest.left) == (2, 0)
    assert author_keys(paperfeed, "2501.00004") == ["author-number4"]


def test_arxiv_api_affiliations_become_organizations(paperfeed: Paperfeed) -> None:
    body = (FIXTURES / "arxiv_api" / "query_all_science_2019-08-10.atom.xml").read_bytes()
    records = parse_feed(body, where="fixture").records
    store(paperfeed, records)
    linked = author_service.paper_authors(paperfeed, "physics/0507092")
    assert linked == [
        {
            "name": "G. Giacomelli",
            "key": "g-giacomelli",
            "affiliation": "Bologna University and INFN",
        },
        {
            "name": "R. Giacomelli",
            "key": "r-giacomelli",
            "affiliation": "Bologna University and INFN",
        },
    ]
    orgs = author_service.paper_organizations(paperfeed, ["physics/0507092", "1501.05039"])
    assert orgs == {
        "physics/0507092": [
            {
                "key": "bologna-university-and-infn",
                "name": "Bologna University and INFN",
                "hf_name": None,
            }
        ]
    }
    page = author_service.organization_page(paperfeed, "bologna-university-and-infn")
    assert [p["id"] for p in page.papers] == ["physics/0507092"]


def test_the_hf_organization_is_kept_and_linked(paperfeed: Paperfeed) -> None:
    items = json.loads(
        (FIXTURES / "hf_daily_papers" / "daily_papers_item_2602.23229.json").read_text()
    )
    paper = paper_from_item(items[0], where="fixture")
    assert not isinstance(paper, type(None))
    store(paperfeed, [paper])
    orgs = author_service.paper_organizations(paperfeed, ["2602.23229"])["2602.23229"]
    assert orgs == [
        {
            "key": "multimedia-and-human-understanding-group",
            "name": "Multimedia and Human Understanding Group",
            "hf_name": "MHUGLab",
        }
    ]
    # A richer source arriving later keeps HF's organization.
    store(paperfeed, [make_paper("2602.23229", source="arxiv-api", authors=["Marco Garosi"])])
    assert author_service.paper_organizations(paperfeed, ["2602.23229"])["2602.23229"] == orgs


def test_a_paper_without_the_new_fields_keeps_its_content_hash() -> None:
    paper = make_paper("2501.00001")
    before = paper.content_hash()
    paper.affiliations = []
    assert paper.content_hash() == before
    paper.affiliations = [["MIT"], []]
    assert paper.content_hash() != before


def test_the_digest_has_a_from_authors_you_follow_section(paperfeed: Paperfeed) -> None:
    from datetime import date

    from paperfeed import readers as core
    from paperfeed.digest import compose as composer
    from paperfeed.digest import runner
    from paperfeed.digest.schedule import parse_period

    day = date(2025, 1, 6)
    store(
        paperfeed,
        [
            make_paper("2501.00001", authors=["Ada Lovelace"], listing_date=day, upvotes=1),
            make_paper("2501.00002", authors=["Alan Turing"], listing_date=day, upvotes=50),
            make_paper("2501.00003", authors=["A. Lovelace"], listing_date=day, upvotes=5),
        ],
    )
    ada_fan = core.grant_role(paperfeed.db, "fan@example.org", "reader")
    author_service.follow(paperfeed, ada_fan, "ada-lovelace")
    sub = {
        "id": 1,
        "reader_id": ada_fan.id,
        "personal_count": 0,
        "include_saved_searches": False,
        "search_count": 0,
        "trending_count": 5,
        "topics": None,
        "email": "fan@example.org",
    }
    with paperfeed.db.connect() as conn:
        period_papers = composer.PeriodPapers.load(conn, parse_period(str(day)))
    [(_, content)] = runner.compose_batch(
        paperfeed.db, [sub], period_papers, search_matches=lambda q: [], personal=None
    )
    followed, trending = content["sections"]
    assert followed["title"] == "From authors you follow"
    # "A. Lovelace" is the one full name's initials form: hers too.
    assert [i["id"] for i in followed["items"]] == ["2501.00003", "2501.00001"]
    assert [i["id"] for i in trending["items"]] == ["2501.00002"]
    # Another reader's digest has no such section.
    sub["reader_id"] = core.grant_role(paperfeed.db, "other@example.org", "reader").id
    [(_, content)] = runner.compose_batch(
        paperfeed.db, [sub], period_papers, search_matches=lambda q: [], personal=None
    )
    assert [s["key"] for s in content["sections"]] == ["trending"]


def test_a_bulk_ingest_leaves_linking_to_the_background(paperfeed: Paperfeed) -> None:
    from dataclasses import replace

    paperfeed.tuning = replace(
        paperfeed.tuning, ingest=replace(paperfeed.tuning.ingest, link_inline_max=1)
    )
    store(paperfeed, [make_paper("2501.00001"), make_paper("2501.00002")])
    assert author_keys(paperfeed, "2501.00001") == []  # queued, not linked yet
    assert author_service.link_pending(paperfeed).papers == 2
    assert author_keys(paperfeed, "2501.00001") == ["ada-lovelace", "alan-turing"]
    store(paperfeed, [make_paper("2501.00003", authors=["Grace Hopper"])])  # one: at once
    assert author_keys(paperfeed, "2501.00003") == ["grace-hopper"]


def test_a_merged_hyphenated_initials_key_still_finds_its_author(paperfeed: Paperfeed) -> None:
    store(
        paperfeed,
        [
            make_paper("2501.00001", authors=["L. Leal-Taixe"]),
            make_paper("2501.00002", authors=["Laura Leal-Taixé"]),
        ],
    )
    assert author_keys(paperfeed, "2501.00001") == ["laura-leal-taixe"]
    found = author_service.author_page(paperfeed, "l-leal-taixe")  # the card's link
    assert found.author["key"] == "laura-leal-taixe" and found.total == 2
