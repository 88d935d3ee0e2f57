"""What reference managers and search tools read, checked with real parsers:
extruct (JSON-LD, Dublin Core, and its HTML tree for the citation_* tags) on
the paper page, an XML parse of the OpenSearch description and a search
through its template, and the COinS spans of list and collection pages."""

from __future__ import annotations

from datetime import UTC, date, datetime
from urllib.parse import parse_qs, quote, urlsplit

import extruct
from defusedxml import ElementTree
from extruct.utils import parse_html
from fastapi.testclient import TestClient
from lxml import html as lxml_html

from paperfeed import readers as core
from paperfeed.app import Paperfeed
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.ingest.pipeline import ingest
from paperfeed.models import Paper
from tests.helpers import make_paper
from tests.readers_helpers import sign_in

HOSTILE = 'Robust </script><script>alert(1)</script> "quotes" & $x^2$'
AUTHORS = ["Ada Lovelace", "Alan Turing", "Grace O'Hopper"]
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"


def _paper(paper_id: str = "2503.00001", **fields: object) -> Paper:
    values: dict[str, object] = {
        "title": HOSTILE,
        "authors": AUTHORS,
        "published": datetime(2025, 3, 18, 17, 0, tzinfo=UTC),
        "listing_date": date(2025, 3, 19),
        "abs_url": f"https://arxiv.org/abs/{paper_id}",
        "doi": "10.1234/x.y",
        **fields,
    }
    return make_paper(paper_id, **values)


def test_paper_page_json_ld_is_a_scholarly_article(
    client: TestClient, settings: Settings, db: Database
) -> None:
    ingest(db, [_paper()])
    url = f"{settings.base_url}/papers/2503.00001"
    found = extruct.extract(
        client.get("/papers/2503.00001").text, base_url=url, syntaxes=["json-ld"]
    )
    [article] = found["json-ld"]
    assert article["@type"] == "ScholarlyArticle"
    assert article["name"] == article["headline"] == HOSTILE  # still data, not markup
    assert [a["name"] for a in article["author"]] == AUTHORS
    assert article["datePublished"] == "2025-03-18"
    assert article["url"] == url
    assert {"@type": "PropertyValue", "propertyID": "arXiv", "value": "2503.00001"} in (
        article["identifier"]
    )
    assert article["encoding"]["contentUrl"] == "https://arxiv.org/pdf/2503.00001"
    assert article["sameAs"] == "https://arxiv.org/abs/2503.00001"


def test_paper_page_citation_and_dublin_core_tags(
    client: TestClient, settings: Settings, db: Database
) -> None:
    ingest(db, [_paper(pdf_url="https://arxiv.org/pdf/2503.00001v2")])
    page = client.get("/papers/2503.00001").text
    tree = parse_html(page, encoding="UTF-8")  # the tree extruct's extractors read

    def meta(name: str) -> list[str]:
        return [str(v) for v in tree.xpath(f"//head/meta[@name='{name}']/@content")]

    assert meta("citation_title") == [HOSTILE]
    assert meta("citation_author") == AUTHORS  # every author, in order
    assert meta("citation_publication_date") == ["2025/03/18"]
    assert meta("citation_arxiv_id") == ["2503.00001"]
    assert meta("citation_pdf_url") == ["https://arxiv.org/pdf/2503.00001v2"]
    assert meta("citation_doi") == ["10.1234/x.y"]
    [dublin_core] = extruct.extract(page, syntaxes=["dublincore"])["dublincore"]
    elements = {(e["name"], e["content"]) for e in dublin_core["elements"]}
    assert ("DC.title", HOSTILE) in elements and ("DC.date", "2025-03-18") in elements
    assert {c for n, c in elements if n == "DC.creator"} == set(AUTHORS)


def test_a_slug_paper_has_no_arxiv_tags(client: TestClient, db: Database) -> None:
    ingest(db, [_paper("some-hf-slug", abs_url=None, doi=None)])
    tree = parse_html(client.get("/papers/some-hf-slug").text, encoding="UTF-8")
    assert tree.xpath("//meta[@name='citation_title']")
    assert not tree.xpath("//meta[@name='citation_arxiv_id' or @name='citation_pdf_url']")


def test_opensearch_description_parses_and_its_template_searches(
    client: TestClient, settings: Settings, db: Database, paperfeed: Paperfeed
) -> None:
    ingest(db, [make_paper("2503.00007", title="Graph neural networks for molecules")])
    paperfeed.indexes.sync_lexical()
    home = lxml_html.fromstring(client.get("/").text)
    [link] = home.xpath("//head/link[@rel='search']")
    assert link.get("type") == "application/opensearchdescription+xml"
    answer = client.get(link.get("href"))
    assert answer.headers["content-type"] == "application/opensearchdescription+xml"
    root = ElementTree.fromstring(answer.content)
    assert root.tag == f"{OPENSEARCH}OpenSearchDescription"
    assert root.findtext(f"{OPENSEARCH}ShortName") == settings.site_name
    templates = {u.get("type"): u.get("template") for u in root.findall(f"{OPENSEARCH}Url")}
    html_template = templates["text/html"]
    assert html_template.startswith(settings.base_url)
    search = html_template.replace("{searchTerms}", quote("graph neural"))
    found = client.get(urlsplit(search).path + "?" + urlsplit(search).query)
    assert found.status_code == 200 and "Graph neural networks for molecules" in found.text
    feed = templates["application/atom+xml"].replace("{searchTerms}", "graph")
    assert client.get(urlsplit(feed).path + "?" + urlsplit(feed).query).status_code == 200


def _coins(page: str) -> list[dict[str, list[str]]]:
    spans = lxml_html.fromstring(page).xpath("//span[@class='Z3988']")
    return [parse_qs(span.get("title"), strict_parsing=True) for span in spans]


def test_list_pages_carry_coins_for_every_paper(client: TestClient, db: Database) -> None:
    ingest(db, [_paper(), _paper("2503.00002", title="Second paper")])
    found = _coins(client.get("/papers/date/2025-03-19").text)
    assert len(found) == 2
    by_title = {c["rft.atitle"][0]: c for c in found}
    first = by_title[HOSTILE]
    assert first["ctx_ver"] == ["Z39.88-2004"]
    assert first["rft_val_fmt"] == ["info:ofi/fmt:kev:mtx:journal"]
    assert first["rft.genre"] == ["preprint"]
    assert first["rft.au"] == AUTHORS
    assert first["rft.date"] == ["2025-03-18"]
    assert set(first["rft_id"]) == {
        "info:arxiv/2503.00001",
        "info:doi/10.1234/x.y",
        "https://arxiv.org/abs/2503.00001",
    }
    assert "Second paper" in by_title


def test_a_collection_page_carries_coins(client: TestClient, settings: Settings, db: Database):
    ingest(db, [_paper(), _paper("2503.00002", title="Second paper")])
    reader = sign_in(client, settings, db, "ada@example.org")
    collection = core.create_collection(db, reader, "Reading group", is_public=True)
    core.add_to_collection(db, reader, collection, "2503.00002")
    found = _coins(client.get(f"/collections/{collection}").text)
    assert [c["rft.atitle"] for c in found] == [["Second paper"]]
