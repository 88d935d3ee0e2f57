"""Author and organization pages, feeds, follows (forms and JSON API), and
that a reader's follows stay theirs."""

from __future__ import annotations

from fastapi.testclient import TestClient

from paperfeed.app import Paperfeed
from paperfeed.config import Settings
from paperfeed.services.ingest import store
from tests.helpers import make_paper
from tests.readers_helpers import csrf_from, new_client, sign_in


def seed(paperfeed: Paperfeed) -> None:
    store(
        paperfeed,
        [
            make_paper(
                "2501.00001",
                title="Attention for <script>alert(1)</script> graphs",
                authors=["Laura Leal-Taixé", "Cengiz Öztireli"],
                affiliations=[["TU Munich; NVIDIA"], []],
                listing_date=__import__("datetime").date(2025, 1, 6),
            ),
            make_paper(
                "2501.00002",
                authors=["Laura Leal-Taixe", "Tat-Seng Chua"],
                categories=["cs.CV"],
                listing_date=__import__("datetime").date(2025, 1, 6),
            ),
            make_paper(
                "2501.00003",
                authors=["Ada Lovelace"],
                listing_date=__import__("datetime").date(2025, 1, 6),
            ),
        ],
    )


def test_author_page_lists_papers_coauthors_categories_and_a_feed(
    paperfeed: Paperfeed, client: TestClient
) -> None:
    seed(paperfeed)
    page = client.get("/authors/laura-leal-taixe")
    assert page.status_code == 200
    html = page.text
    assert "Laura Leal-Taixé" in html
    assert 'href="/authors/cengiz-oztireli"' in html and 'href="/authors/tat-seng-chua"' in html
    assert "cs.CV" in html and "cs.LG" in html
    assert "<script>alert(1)</script>" not in html  # escaped
    feed = client.get("/authors/laura-leal-taixe/feed.xml")
    assert feed.status_code == 200 and feed.headers["content-type"].startswith(
        "application/atom+xml"
    )
    assert feed.text.count("<entry>") == 2
    assert client.get("/authors/nobody-at-all").status_code == 404
    assert client.get("/authors/laura-leal-taixe?page=x").status_code == 400


def test_cards_and_paper_pages_link_authors_and_organizations(
    paperfeed: Paperfeed, client: TestClient
) -> None:
    seed(paperfeed)
    listing = client.get("/papers/date/2025-01-06")
    assert 'href="/authors/laura-leal-taixe"' in listing.text
    paper = client.get("/papers/2501.00001")
    assert 'href="/authors/laura-leal-taixe" title="TU Munich; NVIDIA"' in paper.text
    assert 'href="/organizations/tu-munich"' in paper.text
    assert 'href="/organizations/nvidia"' in paper.text
    org = client.get("/organizations/nvidia")
    assert org.status_code == 200 and "/papers/2501.00001" in org.text
    search = client.get("/search", params={"q": 'author:"Ada Lovelace"'})
    assert 'href="/authors/ada-lovelace"' in search.text
    # The author: search itself names the page, even with no hits.
    none = client.get("/search", params={"q": 'au:"Grace Hopper" compilers', "author": "Alan T."})
    assert 'Author pages: <a href="/authors/grace-hopper">Grace Hopper</a>' in none.text
    assert 'href="/authors/alan-t"' in none.text


def test_api_author_and_organization(paperfeed: Paperfeed, client: TestClient) -> None:
    seed(paperfeed)
    body = client.get("/api/authors/laura-leal-taixe", params={"per_page": 1}).json()
    assert body["author"]["name"] == "Laura Leal-Taixé" and body["total"] == 2
    assert len(body["papers"]) == 1 and body["following"] is False
    assert client.get("/api/authors/laura-leal-taixe", params={"per_page": 0}).status_code == 422
    assert client.get("/api/authors/nobody").status_code == 404
    org = client.get("/api/organizations/tu-munich").json()
    assert org["organization"]["name"] == "TU Munich" and org["total"] == 1


def test_follow_by_form_filters_lists_and_stays_private(
    paperfeed: Paperfeed, client: TestClient, settings: Settings
) -> None:
    seed(paperfeed)
    sign_in(client, settings, paperfeed.db, "ada@example.org")
    page = client.get("/authors/laura-leal-taixe")
    # Without the CSRF token: refused.
    refused = client.post("/authors/laura-leal-taixe/follow", data={}, follow_redirects=False)
    assert refused.status_code == 403
    done = client.post(
        "/authors/laura-leal-taixe/follow",
        data={"csrf_token": csrf_from(page.text), "next": "/authors/laura-leal-taixe"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert "Unfollow" in client.get("/authors/laura-leal-taixe").text
    filtered = client.get("/papers/date/2025-01-06?following=1")
    assert "/papers/2501.00001" in filtered.text and "/papers/2501.00002" in filtered.text
    assert "/papers/2501.00003" not in filtered.text
    unfiltered = client.get("/papers/date/2025-01-06")
    assert "/papers/2501.00003" in unfiltered.text
    assert [a["key"] for a in client.get("/api/me/following").json()] == ["laura-leal-taixe"]
    assert client.get("/following").status_code == 200
    # Another reader sees none of it.
    other = new_client(client)
    sign_in(other, settings, paperfeed.db, "bob@example.org")
    assert other.get("/api/me/following").json() == []
    assert "Unfollow" not in other.get("/authors/laura-leal-taixe").text
    assert other.get("/api/authors/laura-leal-taixe").json()["following"] is False
    bob_filtered = other.get("/papers/date/2025-01-06?following=1")
    assert "/papers/2501.00001" not in bob_filtered.text
    # A visitor: no follows at all.
    visitor = new_client(client)
    assert visitor.get("/api/me/following").status_code == 401


def test_follow_by_api_needs_a_write_token(
    paperfeed: Paperfeed, client: TestClient, settings: Settings
) -> None:
    from paperfeed import readers as core

    seed(paperfeed)
    reader = sign_in(client, settings, paperfeed.db, "ada@example.org")
    read_only = core.create_api_token(paperfeed.db, reader, "r", scopes="read")[1]
    writer = core.create_api_token(paperfeed.db, reader, "w", scopes="read write")[1]
    api = new_client(client)
    refused = api.put(
        "/api/me/following/ada-lovelace", headers={"Authorization": f"Bearer {read_only}"}
    )
    assert refused.status_code == 403
    done = api.put("/api/me/following/ada-lovelace", headers={"Authorization": f"Bearer {writer}"})
    assert done.status_code == 200 and done.json() == {
        "key": "ada-lovelace",
        "name": "Ada Lovelace",
        "following": True,
    }
    papers = api.get("/api/me/following/papers", headers={"Authorization": f"Bearer {writer}"})
    assert [p["id"] for p in papers.json()] == ["2501.00003"]
    gone = api.delete(
        "/api/me/following/ada-lovelace", headers={"Authorization": f"Bearer {writer}"}
    )
    assert gone.json()["following"] is False
    assert (
        api.put(
            "/api/me/following/nobody", headers={"Authorization": f"Bearer {writer}"}
        ).status_code
        == 404
    )
    # The session cookie without the CSRF header: refused.
    assert client.put("/api/me/following/ada-lovelace").status_code == 403


def test_follows_are_in_the_archive_and_go_with_the_account(
    paperfeed: Paperfeed, client: TestClient, settings: Settings
) -> None:
    from paperfeed.services import authors as author_service
    from paperfeed.services import library as library_service

    seed(paperfeed)
    ada = sign_in(client, settings, paperfeed.db, "ada@example.org")
    author_service.follow(paperfeed, ada, "laura-leal-taixe")
    archive = client.get("/api/me/export", params={"what": "account", "format": "json"}).json()
    assert [(a["key"], a["name"]) for a in archive["followed_authors"]] == [
        ("laura-leal-taixe", "Laura Leal-Taixé")
    ]
    assert "author_follows" not in archive  # one section, not the raw table too
    touched = library_service.delete_account(paperfeed, ada, "ada@example.org")
    assert touched["author_follows"] == 1
    with paperfeed.db.connect() as conn:
        from sqlalchemy import func, select

        from paperfeed.db.tables import author_follows

        assert conn.execute(select(func.count()).select_from(author_follows)).scalar() == 0


def test_author_and_organization_pages_page_on(paperfeed: Paperfeed, client: TestClient) -> None:
    from datetime import date

    store(
        paperfeed,
        [
            make_paper(
                f"2502.{n:05d}",
                authors=["Grace Hopper"],
                affiliations=[["Harvard University"]],
                listing_date=date(2025, 2, 3),
            )
            for n in range(1, 28)
        ],
    )
    for path in ("/authors/grace-hopper", "/organizations/harvard-university"):
        first = client.get(path).text
        assert "page 1 of 2" in first and 'rel="next" href="?page=2"' in first, path
        second = client.get(path, params={"page": 2}).text
        assert "page 2 of 2" in second and 'rel="prev" href="?page=1"' in second, path
        assert 'rel="next"' not in second, path
