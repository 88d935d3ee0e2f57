"""The paper page: URLs in the abstract and comment become safe links, and
"More similar papers" leads to a page with more than the six shown."""

from __future__ import annotations

from fastapi.testclient import TestClient
from lxml import html as lxml_html

from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.index.embedder import current_model_id
from paperfeed.ingest.pipeline import ingest
from paperfeed.web.templating import linkify
from tests.helpers import make_paper, seed_papers_with_vectors

ABSTRACT = (
    "We release our code at https://github.com/ada/AgentDropout. Data: "
    "huggingface.co/datasets/ada/x, and <b>bold</b> claims & javascript:alert(1) "
    'or "https://e.test/a"onmouseover="alert(1)" and www.example.org/p?a=1&b=2.'
)


def _links(page: str) -> list[lxml_html.HtmlElement]:
    return lxml_html.fromstring(page).xpath("//section[@class='abstract']//a")


def test_urls_in_the_abstract_and_comment_are_safe_links(client: TestClient, db: Database):
    ingest(db, [make_paper("2503.00001", abstract=ABSTRACT, comment="Code: http://c.test/x")])
    page = client.get("/papers/2503.00001").text
    links = _links(page)
    assert [a.get("href") for a in links] == [
        "https://github.com/ada/AgentDropout",
        "http://huggingface.co/datasets/ada/x",
        "https://e.test/a",
        "http://www.example.org/p?a=1&b=2",
    ]
    assert all(a.get("rel") == "nofollow noopener" for a in links)
    # The sentence's full stop stays text; nothing else became markup.
    assert links[0].text == "https://github.com/ada/AgentDropout"
    tree = lxml_html.fromstring(page)
    assert not tree.xpath("//section[@class='abstract']//b")
    assert not tree.xpath("//*[@onmouseover]")
    assert "javascript:alert(1)" in tree.xpath("string(//section[@class='abstract'])")
    [comment] = tree.xpath("//dl[@class='paper-facts']//a[@href='http://c.test/x']")
    assert comment.get("rel") == "nofollow noopener"


def test_linkify_refuses_other_schemes_and_escapes() -> None:
    out = str(linkify("javascript:alert(1) data:text/html,x ftp://f.test/a mailto:a@b.test <i>"))
    assert "<a" not in out and "&lt;i&gt;" in out
    assert str(linkify("")) == "" and str(linkify(None)) == ""
    assert str(linkify("a https://x.test/q?a=<b>")) == (
        'a <a href="https://x.test/q?a=" rel="nofollow noopener">https://x.test/q?a=</a>&lt;b&gt;'
    )
    assert str(linkify('"https://x.test/a"')) == (
        '&#34;<a href="https://x.test/a" rel="nofollow noopener">https://x.test/a</a>&#34;'
    )


def test_the_bibtex_block_wraps_inside_the_page(client: TestClient, db: Database) -> None:
    ingest(db, [make_paper("2503.00001", title="A " + "very-long-title-" * 20)])
    page = client.get("/papers/2503.00001").text
    assert '<pre class="bibtex"' in page
    css = client.get("/static/paperfeed.css").text
    [rule] = [line for line in css.splitlines() if line.startswith(".bibtex {")]
    assert "white-space: pre-wrap" in rule and "overflow-wrap: anywhere" in rule


def test_more_similar_papers(client: TestClient, settings: Settings, db: Database) -> None:
    seed_papers_with_vectors(db, 20, model=current_model_id(settings), dim=384)
    page = lxml_html.fromstring(client.get("/papers/2501.00003").text)
    shown = page.xpath("//ol[@class='similar-list']/li")
    assert len(shown) == 6
    [more] = page.xpath("//p[@class='more-similar']/a")
    assert more.get("href") == "/papers/2501.00003/similar"
    listing = lxml_html.fromstring(client.get(more.get("href")).text)
    ids = [a.get("href") for a in listing.xpath("//ol[@class='similar-list']/li/a")]
    assert len(ids) == 19 and "/papers/2501.00003" not in ids
    first_six = [a.get("href") for a in page.xpath("//ol[@class='similar-list']/li/a")]
    assert ids[:6] == first_six  # the same order: the page continues the list
    assert client.get("/papers/2599.99999/similar").status_code == 404


def test_no_more_link_when_there_is_no_more(client: TestClient, settings: Settings, db: Database):
    seed_papers_with_vectors(db, 5, model=current_model_id(settings), dim=384)
    page = lxml_html.fromstring(client.get("/papers/2501.00001").text)
    assert len(page.xpath("//ol[@class='similar-list']/li")) == 4
    assert not page.xpath("//p[@class='more-similar']")
