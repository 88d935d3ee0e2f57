"""Search over a slice of real arXiv papers: fields, phrases, exclusions,
AND/OR, filters, sorts, pagination, snippets, and the HTTP interfaces."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from itertools import islice
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from paperfeed.app import Paperfeed
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import papers as paper_store
from paperfeed.index.lexical import ANALYZERS, TEXT_ANALYZER
from paperfeed.ingest.jsonl import read_jsonl
from paperfeed.ingest.pipeline import ingest
from paperfeed.models import control_character
from paperfeed.query import QueryError
from paperfeed.search import SearchRequest, formulas_unmarked, search
from paperfeed.web.app import create_app
from tests.conftest import ARXIV_CS, PG_TEMPLATE
from tests.helpers import make_paper
from tests.test_query import ABUSE

SLICE = 400


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="pg", marks=pytest.mark.postgres),
    ],
)
def corpus(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Paperfeed]:
    """The slice, stored and indexed once per module and backend (the tantivy
    sidecar on SQLite; the database's own tsvector index on PostgreSQL)."""
    tmp = tmp_path_factory.mktemp("search")
    pg_database = None
    url = f"sqlite:///{tmp / 'paperfeed.db'}"
    if request.param == "postgresql":
        server = request.getfixturevalue("pg_server")
        pg_database = server.create_database(template=PG_TEMPLATE)
        url = server.url(pg_database)
    settings = Settings(
        data_dir=tmp / "data",
        database_url=url,
        secret_key="test-secret-key-not-for-production",
    )
    db = Database(settings.database_url_resolved)
    ingest(db, islice(read_jsonl(ARXIV_CS), SLICE))
    paperfeed = Paperfeed(settings, db)
    paperfeed.indexes.sync_lexical()
    yield paperfeed
    db.dispose()
    if pg_database is not None:
        server.drop_database(pg_database)


@pytest.fixture(scope="module")
def papers(corpus: Paperfeed) -> dict[str, dict]:
    db = corpus.db
    with db.connect() as conn:
        ids = [p["id"] for p in islice(read_jsonl_dicts(), SLICE)]
        return paper_store.get_papers(conn, ids)


def read_jsonl_dicts() -> Iterator[dict]:
    from tests.helpers import real_records

    return real_records(ARXIV_CS, SLICE)


@pytest.fixture(scope="module")
def corpus_client(corpus: Paperfeed) -> Iterator[TestClient]:
    with TestClient(create_app(corpus)) as test_client:
        yield test_client


def run(corpus: Paperfeed, query: str = "", **kw: object) -> list[str]:
    kw.setdefault("per_page", 100)
    kw.setdefault("mode", "lexical")
    return [h.id for h in search(corpus.indexes, SearchRequest(query=query, **kw)).hits]  # type: ignore[arg-type]


def stems(text: str) -> set[str]:
    return set(ANALYZERS[TEXT_ANALYZER].analyze(text))


def all_ids(corpus: Paperfeed, query: str) -> set[str]:
    found: set[str] = set()
    page = 1
    while True:
        request = SearchRequest(query=query, per_page=100, page=page, mode="lexical")
        res = search(corpus.indexes, request)
        found.update(h.id for h in res.hits)
        if page >= res.pages:
            return found
        page += 1


def test_title_phrase_finds_the_paper_first(corpus, papers) -> None:
    for paper in list(papers.values())[:20]:
        title = " ".join(paper["title"].replace('"', " ").split())
        assert run(corpus, f'title:"{title}"')[0] == paper["id"]


def test_author_field_only_returns_that_author(corpus, papers) -> None:
    paper = next(iter(papers.values()))
    author = paper["authors"][0]
    hits = run(corpus, f'author:"{author}"')
    assert paper["id"] in hits
    for hit in hits:
        names = [a.lower() for a in papers[hit]["authors"]]
        assert any(author.lower() in n for n in names)


def test_category_field_and_archive_prefix(corpus, papers) -> None:
    hits = run(corpus, "cat:cs.CV")
    expected = {i for i, p in papers.items() if "cs.CV" in p["categories"]}
    assert set(all_ids(corpus, "cat:cs.CV")) == expected
    assert hits
    in_cs = {i for i, p in papers.items() if any(c.startswith("cs.") for c in p["categories"])}
    assert all_ids(corpus, "cat:cs") == in_cs


def test_exclusion_removes_every_paper_with_the_word(corpus, papers) -> None:
    with_model = all_ids(corpus, "learning")
    without = all_ids(corpus, "learning -model")
    assert without and without < with_model
    for hit in without:
        p = papers[hit]
        assert "model" not in stems(p["title"] + " " + p["abstract"])
    for hit in with_model - without:
        p = papers[hit]
        assert "model" in stems(p["title"] + " " + p["abstract"])


def test_and_or_are_set_operations(corpus) -> None:
    a, b = all_ids(corpus, "segmentation"), all_ids(corpus, "medical")
    assert a and b
    assert all_ids(corpus, "segmentation AND medical") == a & b
    assert all_ids(corpus, "segmentation OR medical") == a | b
    assert all_ids(corpus, "segmentation medical") == a | b  # the default operator is OR
    assert all_ids(corpus, "+segmentation +medical") == a & b
    assert all_ids(corpus, "(segmentation OR medical) -segmentation") == b - a


def test_phrase_is_stricter_than_words(corpus, papers) -> None:
    phrase = all_ids(corpus, '"language models"')
    words = all_ids(corpus, "+language +models")
    assert phrase and phrase <= words and phrase != words


def test_filters_dates_categories_authors(corpus, papers) -> None:
    days = sorted({p["listing_date"] for p in papers.values() if p["listing_date"]})
    since = days[len(days) // 2]
    hits = run(corpus, "learning", since=since)
    assert hits and all(papers[h]["listing_date"] >= since for h in hits)
    hits = run(corpus, "learning", until=since)
    assert hits and all(papers[h]["listing_date"] <= since for h in hits)
    hits = run(corpus, "learning", categories=("cs.CL",))
    assert hits and all("cs.CL" in papers[h]["categories"] for h in hits)
    author = next(iter(papers.values()))["authors"][0]
    assert run(corpus, "", authors=(author,))
    assert run(corpus, "", authors=("Nobody Ofthisname",)) == []


def test_filter_only_query_is_newest_first(corpus, papers) -> None:
    res = search(corpus.indexes, SearchRequest(query="", categories=("cs.LG",), per_page=50))
    assert res.total == sum("cs.LG" in p["categories"] for p in papers.values())
    dates = [papers[h.id]["listing_date"] for h in res.hits]
    assert dates == sorted(dates, reverse=True)


def test_sorts_and_pages(corpus, papers) -> None:
    by_date = run(corpus, "learning", sort="date")
    dates = [papers[h]["listing_date"] for h in by_date]
    assert dates == sorted(dates, reverse=True)
    page1 = run(corpus, "learning", per_page=10, page=1)
    page2 = run(corpus, "learning", per_page=10, page=2)
    assert len(page1) == 10 and len(page2) == 10 and not set(page1) & set(page2)
    assert run(corpus, "learning", per_page=20)[:20] == page1 + page2
    res = search(corpus.indexes, SearchRequest(query="learning", sort="upvotes", per_page=100))
    ups = [h.upvotes for h in res.hits]
    assert ups == sorted(ups, reverse=True)


def test_bad_requests_are_query_errors(corpus) -> None:
    for request in (
        SearchRequest(sort="sideways"),
        SearchRequest(page=0),
        SearchRequest(per_page=1000),
        SearchRequest(since=date(2026, 1, 2), until=date(2026, 1, 1)),
        SearchRequest(query="q" * 10240),
    ):
        with pytest.raises(QueryError):
            search(corpus.indexes, request)


@pytest.mark.parametrize("text", ABUSE, ids=lambda t: repr(t[:20]))
def test_abuse_through_the_function(corpus, text: str) -> None:
    res = search(corpus.indexes, SearchRequest(query=text))
    assert res.total >= len(res.hits)


@pytest.mark.parametrize("text", [*ABUSE, "a" * 10240], ids=lambda t: repr(t[:20]))
def test_abuse_through_http(corpus_client: TestClient, text: str) -> None:
    text = text.replace("\ud800", "\ufffd")  # a URL cannot carry a lone surrogate
    api = corpus_client.get("/api/search", params={"q": text})
    page = corpus_client.get("/search", params={"q": text})
    if len(text) > 4000:
        assert api.status_code == 400 and "too long" in api.json()["detail"]
        assert page.status_code == 400 and "too long" in page.text
    elif control_character(text):  # refused at the web's boundary (web.params)
        assert api.status_code == page.status_code == 422
        assert api.json()["detail"][0]["loc"] == ["query", "q"]
    else:
        assert api.status_code == 200, api.text
        body = api.json()
        assert body["total"] >= len(body["hits"])
        assert page.status_code == 200


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "yesterday"}, "since must be a date"),
        ({"until": "2026-13-01"}, "until must be a date"),
        ({"page": "-1"}, "page must be a whole number"),
        ({"page": "1e9"}, "page must be a whole number"),
        ({"per_page": "0"}, "per_page must be a whole number"),
        ({"sort": "random"}, "unknown sort"),
        ({"mode": "psychic"}, "unknown mode"),
    ],
)
def test_bad_parameters_are_400(corpus_client: TestClient, params: dict, message: str) -> None:
    response = corpus_client.get("/api/search", params={"q": "learning", **params})
    assert response.status_code == 400
    assert message in response.json()["detail"]


def test_api_shape(corpus_client: TestClient, papers) -> None:
    response = corpus_client.get(
        "/api/search", params={"q": "segmentation", "category": "cs.CV", "per_page": "5"}
    )
    body = response.json()
    assert response.status_code == 200
    assert body["page"] == 1 and body["per_page"] == 5 and len(body["hits"]) == 5
    hit = body["hits"][0]
    assert set(hit) >= {"id", "title", "authors", "snippet", "score", "listing_date"}
    assert hit["title"] == papers[hit["id"]]["title"]
    assert hit["listing_date"] == papers[hit["id"]]["listing_date"].isoformat()
    assert "<b>" in hit["snippet"].lower() or "segment" in hit["snippet"].lower()


def test_results_page_and_search_box(corpus_client: TestClient) -> None:
    home = corpus_client.get("/")
    assert 'action="/search"' in home.text and 'name="q"' in home.text
    page = corpus_client.get("/search", params={"q": "segmentation", "per_page": "5"})
    assert page.status_code == 200
    assert page.text.count('<article class="paper-card search-hit"') == 5
    assert 'rel="next"' in page.text and "page=2" in page.text
    assert 'value="segmentation"' in page.text  # the query stays in the box


def test_snippet_escapes_html(paperfeed: Paperfeed, db: Database, client: TestClient) -> None:
    evil = make_paper(
        "2501.66666",
        title="Robust <i>widgets</i>",
        abstract='We show <script>alert("x")</script> that widgets & gadgets <b>fail</b> safely.',
    )
    ingest(db, [evil])
    res = search(paperfeed.indexes, SearchRequest(query="widgets"))
    assert [h.id for h in res.hits] == ["2501.66666"]
    snippet = res.hits[0].snippet
    assert "<script>" not in snippet and "&lt;script&gt;" in snippet
    assert "<b>widgets</b>" in snippet and "&amp;" in snippet
    assert "&lt;b&gt;fail&lt;/b&gt;" in snippet  # markup in the text stays text
    page = client.get("/search", params={"q": "widgets"})
    assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text
    assert "<i>widgets</i>" not in page.text


def test_a_matched_term_inside_a_formula_is_not_marked(paperfeed: Paperfeed, db: Database) -> None:
    paper = make_paper(
        "2501.77777",
        title="Sparse widgets",
        abstract="We bound the widget rank $k$ by $O(k \\log k)$ and show that widgets scale.",
    )
    ingest(db, [paper])
    [hit] = search(paperfeed.indexes, SearchRequest(query="widgets k")).hits
    assert "<b>widgets</b>" in hit.snippet  # terms outside formulas are still marked
    assert "$k$" in hit.snippet and "$O(k \\log k)$" in hit.snippet
    assert formulas_unmarked("a <b>k</b> $$<b>k</b>^2$$ $x_<b>k</b>$") == "a <b>k</b> $$k^2$$ $x_k$"


def test_snippets_can_be_skipped(corpus, papers) -> None:
    title = next(iter(papers.values()))["title"]
    with_snippets = search(corpus.indexes, SearchRequest(query=title))
    without = search(corpus.indexes, SearchRequest(query=title, snippets=False))
    assert [h.id for h in without.hits] == [h.id for h in with_snippets.hits]
    assert any(h.snippet for h in with_snippets.hits)
    assert all(h.snippet == "" for h in without.hits)


def test_missing_vectors_fall_back_to_lexical(paperfeed: Paperfeed, db: Database) -> None:
    ingest(db, [make_paper("2501.00001", title="Graph rewiring for message passing")])
    res = search(paperfeed.indexes, SearchRequest(query="rewiring"))
    assert [h.id for h in res.hits] == ["2501.00001"]
    assert res.mode == "lexical"
    assert any("keyword results only" in n for n in res.notes)


def test_cli_search(cli_env: Settings, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from paperfeed.cli import app

    db = Database(cli_env.database_url_resolved)
    ingest(db, [make_paper("2501.00002", title="Sparse attention kernels")])
    runner = CliRunner()
    result = runner.invoke(app, ["search", "attention", "--json", "--mode", "lexical"])
    assert result.exit_code == 0, result.output
    assert '"2501.00002"' in result.output
    result = runner.invoke(app, ["search", "x" * 5000])
    assert result.exit_code == 2 and "too long" in result.output
    result = runner.invoke(app, ["search", "a", "--since", "soon"])
    assert result.exit_code != 0 and "--since must be a date" in result.output


def test_query_vector_cache_embeds_a_repeated_query_once() -> None:
    import numpy as np

    from paperfeed.search import QueryVectorCache

    class CountingEmbedder:
        def __init__(self) -> None:
            self.calls: list[str] = []

        def embed_queries(self, texts: list[str]) -> np.ndarray:
            self.calls += texts
            return np.array([[float(len(t)), 1.0] for t in texts], dtype=np.float32)

    cache, embedder = QueryVectorCache(size=2), CountingEmbedder()
    first = cache.get(embedder, "graph neural networks")
    again = cache.get(embedder, "graph neural networks")
    assert again is first and embedder.calls == ["graph neural networks"]
    assert not first.flags.writeable  # shared between requests: nobody may change it
    cache.get(embedder, "diffusion")
    cache.get(embedder, "transformers")  # the oldest ("graph ...") goes
    cache.get(embedder, "graph neural networks")
    assert embedder.calls.count("graph neural networks") == 2
    other = CountingEmbedder()  # another model never gets this one's vectors
    cache.get(other, "diffusion")
    assert other.calls == ["diffusion"]
