"""Issue 23's list and search pages, as HTML: the honest note on a list with no
votes yet, imported HF upvotes shown, the teaser, the remembered density, and
search hits that lead somewhere (every category, the reader actions, a count
that does not contradict itself, the mode, "also matched by meaning", save
this search and its feed)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from fastapi.testclient import TestClient
from lxml import html as lxml_html

from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.index.embedding import embed_pending
from paperfeed.ingest.pipeline import ingest
from paperfeed.search import SearchRequest, SearchResults
from paperfeed.web.search import count_line, saved_query
from paperfeed.web.templating import teaser
from tests.helpers import make_paper
from tests.readers_helpers import sign_in
from tests.trending_support import vote

DAY = date(2025, 3, 18)
DAY_PAGE = "/papers/date/2025-03-18"


def doc(response: Any) -> Any:
    assert response.status_code == 200, response.text[:300]
    return lxml_html.fromstring(response.text)


def test_a_list_without_votes_says_it_is_newest_first(client: TestClient, db: Database) -> None:
    ingest(db, [make_paper(f"2503.0000{n}", listing_date=DAY) for n in (1, 2, 3)])
    page = doc(client.get(DAY_PAGE))
    [note] = page.xpath("//p[contains(@class, 'no-votes')]")
    assert "newest first" in note.text_content()
    ids = [a.get("id") for a in page.xpath("//article")]
    assert ids == ["paper-2503.00003", "paper-2503.00002", "paper-2503.00001"]
    assert not doc(client.get(DAY_PAGE + "?sort=newest")).xpath("//p[contains(@class, 'no-votes')]")

    vote(db, "2503.00001", at=datetime.now(UTC))
    page = doc(client.get(DAY_PAGE))
    assert not page.xpath("//p[contains(@class, 'no-votes')]")
    assert page.xpath("//article/@id")[0] == "paper-2503.00001"


def test_imported_hf_upvotes_show_and_end_the_note(client: TestClient, db: Database) -> None:
    ingest(
        db,
        [
            make_paper("2503.00001", listing_date=DAY),
            make_paper("2503.00002", listing_date=DAY, upvotes=7),
        ],
    )
    page = doc(client.get(DAY_PAGE))
    assert not page.xpath("//p[contains(@class, 'no-votes')]")
    [chip] = page.xpath("//article[@id='paper-2503.00002']//span[@class='hf-upvotes']")
    assert chip.text_content() == "HF ▲7"
    assert not page.xpath("//article[@id='paper-2503.00001']//span[@class='hf-upvotes']")
    paper = doc(client.get("/papers/2503.00002"))
    assert "7 were imported from Hugging Face Papers" in paper.text_content()


def test_compact_card_teaser_and_remembered_density(client: TestClient, db: Database) -> None:
    abstract = "We prove $a. B$ holds. Then more follows. And more."
    ingest(db, [make_paper("2503.00001", listing_date=DAY, abstract=abstract)])
    page = doc(client.get(DAY_PAGE))
    [details] = page.xpath("//details[@class='abstract-details']")
    assert details.get("open") is None  # compact: the abstract is one click away
    assert details.xpath(".//span[contains(@class,'teaser')]")[0].text_content() == (
        "We prove $a. B$ holds."  # not cut inside the formula
    )
    assert details.xpath(".//p[contains(@class,'paper-abstract')]")[0].text_content() == abstract
    assert page.xpath("//html/@class") == ["density-compact"]
    client.cookies.set("density", "comfortable")
    page = doc(client.get(DAY_PAGE))
    assert page.xpath("//details[@class='abstract-details']")[0].get("open") is not None
    assert page.xpath("//html/@class") == ["density-comfortable"]
    client.cookies.set("density", '"><script>')  # anything else is the default
    assert doc(client.get(DAY_PAGE)).xpath("//html/@class") == ["density-compact"]


def test_teaser_prefers_a_tldr_and_keeps_formulas_whole() -> None:
    assert teaser({"tldr": "Short.", "abstract": "Long. Text."}) == "Short."
    assert teaser({"abstract": "One sentence only"}) == "One sentence only"
    assert teaser({"abstract": "Costs $5. And $10. Then."}) == "Costs $5. And $10."
    assert teaser({"abstract": None}) == ""


def test_search_hits_lead_somewhere(client: TestClient, db: Database) -> None:
    cats = ["cs.LG", "cs.RO", "cs.CV", "cs.AI", "stat.ML"]
    ingest(
        db,
        [
            make_paper(
                "2503.00001",
                title="Robot widgets",
                categories=cats,
                primary_category="cs.RO",
                abs_url="https://arxiv.org/abs/2503.00001",
                pdf_url="https://arxiv.org/pdf/2503.00001",
            )
        ],
    )
    page = doc(client.get("/search", params={"q": "cat:cs.RO widgets", "category": "cs.RO"}))
    [hit] = page.xpath("//article[contains(@class,'search-hit')]")
    chips = [a.text_content() for a in hit.xpath(".//a[@class='category']")]
    assert chips == ["cs.RO", "cs.LG", "cs.CV", "cs.AI", "stat.ML"]  # all, primary first
    links = {a.text_content().strip(): a.get("href") for a in hit.xpath(".//a")}
    assert links["arXiv"] == "https://arxiv.org/abs/2503.00001"
    assert links["PDF"] == "https://arxiv.org/pdf/2503.00001"
    assert links["Sign in to save"].startswith("/signin?next=")
    assert hit.xpath(".//*[contains(@class,'upvote')]")
    assert page.xpath("//p[@class='result-count']")[0].text_content() == "1 result"
    assert "Matched by words" in page.xpath("//p[@class='search-mode']")[0].text_content()
    [feed] = page.xpath("//a[@class='feed-link']")
    assert feed.get("href") == "/feeds/search.xml?q=cat%3Acs.RO+widgets+cat%3Acs.RO"
    assert client.get(feed.get("href")).status_code == 200
    assert page.xpath("//link[@rel='alternate' and @type='application/atom+xml']/@href") == [
        feed.get("href")
    ]
    assert page.xpath("//a[text()='Sign in to save this search']")


def test_hits_say_when_meaning_matched(
    client: TestClient, db: Database, settings: Settings
) -> None:
    ingest(
        db,
        [
            make_paper("2503.00001", title="Widgets in the wild"),
            make_paper("2503.00002", title="Gadget studies"),
        ],
    )

    # Real vectors from the packaged model: with two papers the meaning side
    # finds both, the words side only the one that says "widgets".
    assert embed_pending(db, settings) == 2
    page = doc(client.get("/search", params={"q": "widgets"}))
    said = {
        a.get("id"): " ".join(a.xpath(".//span[@class='matched-by']/text()"))
        for a in page.xpath("//article")
    }
    assert said == {
        "paper-2503.00001": "also matched by meaning",
        "paper-2503.00002": "matched by meaning",
    }
    assert "words and meaning" in page.xpath("//p[@class='search-mode']")[0].text_content()
    words_only = doc(client.get("/search", params={"q": "widgets", "mode": "lexical"}))
    assert not words_only.xpath("//span[@class='matched-by']")
    assert [a.get("id") for a in words_only.xpath("//article")] == ["paper-2503.00001"]
    [selected] = words_only.xpath("//select[@name='mode']/option[@selected]")
    assert selected.get("value") == "lexical"


def test_the_count_says_where_paging_stops() -> None:
    request = SearchRequest(query="x", per_page=20)
    assert count_line(SearchResults(request, [], 1725, "lexical")) == (
        "1,725 results; the first 1,000 can be paged through · page 1 of 50"
    )
    assert count_line(SearchResults(request, [], 40, "lexical")) == "40 results · page 1 of 2"
    assert count_line(SearchResults(request, [], 1, "lexical")) == "1 result"


def test_saved_query_folds_in_the_filters() -> None:
    request = SearchRequest(query=" graphs ", categories=("cs.LG",), authors=('Ada "A" Lovelace',))
    assert saved_query(request) == 'graphs cat:cs.LG author:"Ada A Lovelace"'
    assert saved_query(SearchRequest(query="")) == ""


def test_save_this_search_when_signed_in(
    client: TestClient, settings: Settings, db: Database
) -> None:
    ingest(db, [make_paper("2503.00001", title="Robot widgets")])
    sign_in(client, settings, db, "saver@example.org")
    page = client.get("/search", params={"q": "widgets"})
    form = doc(page).xpath("//form[contains(@class,'save-search')]")[0]
    fields = {i.get("name"): i.get("value") for i in form.xpath(".//input")}
    assert fields["query"] == "widgets" and fields["next"] == "/search?q=widgets"
    response = client.post(form.get("action"), data=fields, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/search?q=widgets"
    library = client.get("/library").text
    assert re.search(r'<a href="/search\?q=widgets">widgets</a>', library)
