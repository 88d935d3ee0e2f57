"""The list and paper pages: periods, navigation, sorting, errors, exports,
local assets only, and escaping of hostile text."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import bibtexparser
import pytest
from fastapi.testclient import TestClient
from markdown_it import MarkdownIt

from paperfeed.db import Database
from paperfeed.db import papers as paper_store
from paperfeed.web import app as web_app
from tests.helpers import make_paper
from tests.trending_support import add_papers, set_paper, vote

XSS_TITLE = '<script>alert("t")</script> & <img src=x onerror=alert(1)>'
XSS_AUTHOR = "<img src=x onerror=alert('a')>"
XSS_ABSTRACT = "</p><script>alert('abs')</script><a href=javascript:alert(1)>x</a>"


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text of each element id."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


def tags(html: str) -> list[tuple[str, dict[str, str]]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


def links(html: str, rel: str) -> list[str]:
    return [a["href"] for t, a in tags(html) if t == "a" and a.get("rel") == rel]


def card_ids(html: str) -> list[str]:
    return re.findall(r'<article class="paper-card[^"]*" id="paper-([^"]+)"', html)


@pytest.fixture
def three_days(db: Database) -> Database:
    add_papers(db, [("2503.00001", date(2025, 3, 18)), ("2503.00002", date(2025, 3, 18))])
    add_papers(db, [("2503.00003", date(2025, 3, 20))])
    add_papers(db, [("2504.00001", date(2025, 4, 1))])
    return db


def test_home_shows_the_latest_day_with_papers(client: TestClient, three_days: Database) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert card_ids(page.text) == ["2504.00001"]
    assert "April 1, 2025" in page.text
    assert links(page.text, "prev") == ["/papers/date/2025-03-20"]


def test_day_page_navigation_edges(client: TestClient, three_days: Database) -> None:
    first = client.get("/papers/date/2025-03-18")
    assert first.status_code == 200
    assert sorted(card_ids(first.text)) == ["2503.00001", "2503.00002"]
    assert links(first.text, "prev") == []
    assert links(first.text, "next") == ["/papers/date/2025-03-20"]
    middle = client.get("/papers/date/2025-03-19")  # no papers that day
    assert middle.status_code == 200 and card_ids(middle.text) == []
    assert links(middle.text, "prev") == ["/papers/date/2025-03-18"]
    assert links(middle.text, "next") == ["/papers/date/2025-03-20"]
    last = client.get("/papers/date/2025-04-01")
    assert links(last.text, "next") == []


def test_week_and_month_pages_with_switcher(client: TestClient, three_days: Database) -> None:
    week = client.get("/papers/week/2025-W12")
    assert week.status_code == 200
    assert sorted(card_ids(week.text)) == ["2503.00001", "2503.00002", "2503.00003"]
    assert links(week.text, "next") == ["/papers/week/2025-W14"]
    assert links(week.text, "prev") == []
    switch = [a["href"] for t, a in tags(week.text) if t == "a" and "href" in a]
    # Day lands on the week's latest listed day; month is that day's month.
    assert "/papers/date/2025-03-20" in switch and "/papers/month/2025-03" in switch
    month = client.get("/papers/month/2025-03")
    assert sorted(card_ids(month.text)) == ["2503.00001", "2503.00002", "2503.00003"]
    assert links(month.text, "next") == ["/papers/month/2025-04"]
    april = client.get("/papers/month/2025-04")
    assert card_ids(april.text) == ["2504.00001"] and links(april.text, "next") == []


def test_iso_week_53_and_year_boundaries(client: TestClient, db: Database) -> None:
    add_papers(db, [("2512.00001", date(2025, 12, 29)), ("2612.00001", date(2026, 12, 31))])
    # 2025-12-29 is Monday of 2026-W01; 2026-12-31 is in 2026-W53.
    assert card_ids(client.get("/papers/week/2026-W01").text) == ["2512.00001"]
    w53 = client.get("/papers/week/2026-W53")
    assert w53.status_code == 200 and card_ids(w53.text) == ["2612.00001"]
    assert links(w53.text, "prev") == ["/papers/week/2026-W01"]
    assert client.get("/papers/week/2025-W53").status_code == 400


@pytest.mark.parametrize(
    "url",
    [
        "/papers/date/2025-02-30",
        "/papers/date/2025-13-01",
        "/papers/date/20250318",
        "/papers/date/0000-01-01",
        "/papers/date/<script>",
        "/papers/week/2025-W00",
        "/papers/week/2025-W54",
        "/papers/week/2025-12",
        "/papers/month/2025-13",
        "/papers/month/99999-01",
        "/papers/date/2025-03-18?sort=hot",
        "/papers/date/2025-03-18?page=0",
        "/papers/date/2025-03-18?page=abc",
        "/papers/date/2025-03-18/feed.xml?sort=hot",
        "/papers/week/2025-W99/feed.xml",
    ],
)
def test_bad_periods_and_parameters_are_400(
    client: TestClient, three_days: Database, url: str
) -> None:
    response = client.get(url)
    assert response.status_code == 400, url
    assert "<script>" not in response.text


def test_the_last_possible_days_do_not_crash(client: TestClient, three_days: Database) -> None:
    for url in ("/papers/date/9999-12-31", "/papers/week/9999-W52", "/papers/month/9999-12"):
        assert client.get(url).status_code == 200, url


def test_sort_switch_and_pages(client: TestClient, db: Database) -> None:
    day = date(2025, 3, 18)
    add_papers(db, [(f"2503.{n:05d}", day) for n in range(1, 56)])
    vote(db, "2503.00002", at=datetime.now(UTC) - timedelta(hours=1))
    trending_page = client.get("/papers/date/2025-03-18")
    assert card_ids(trending_page.text)[:2] == ["2503.00002", "2503.00055"]
    assert len(card_ids(trending_page.text)) == 50
    assert "?sort=trending&amp;page=2" in trending_page.text
    newest = client.get("/papers/date/2025-03-18?sort=newest")
    assert card_ids(newest.text)[:2] == ["2503.00055", "2503.00054"]
    second = client.get("/papers/date/2025-03-18?sort=newest&page=2")
    assert card_ids(second.text) == [f"2503.{n:05d}" for n in range(5, 0, -1)]
    beyond = client.get("/papers/date/2025-03-18?page=9")
    assert beyond.status_code == 200 and card_ids(beyond.text) == []


def test_featured_papers_are_marked_and_first(client: TestClient, three_days: Database) -> None:
    with three_days.begin() as conn:
        paper_store.set_curation(conn, "2503.00002", featured=True)
    page = client.get("/papers/date/2025-03-18")
    assert card_ids(page.text)[0] == "2503.00002"
    assert page.text.count("featured-badge") == 1


def test_hidden_paper_is_gone_from_lists_and_its_page(
    client: TestClient, three_days: Database
) -> None:
    set_paper(three_days, "2503.00001", hidden=True)
    assert card_ids(client.get("/papers/date/2025-03-18").text) == ["2503.00002"]
    assert client.get("/papers/2503.00001").status_code == 404
    assert client.get("/papers/2503.00001.bib").status_code == 404
    assert client.get("/papers/2503.00001.md").status_code == 404


# ---------------------------------------------------------------- the paper page


def test_paper_page_shows_everything(client: TestClient, db: Database) -> None:
    with db.begin() as conn:
        paper_store.upsert_papers(
            conn,
            [
                make_paper(
                    "2503.01234",
                    title="Sparse attention in $O(n \\log n)$",
                    abstract="We prove $\\sum_{i=1}^n x_i \\le 1$ for all $n$.",
                    categories=["cs.LG", "stat.ML"],
                    primary_category="cs.LG",
                    listing_date=date(2025, 3, 18),
                    published=datetime(2025, 3, 17, 9, tzinfo=UTC),
                    abs_url="https://arxiv.org/abs/2503.01234",
                    pdf_url="https://arxiv.org/pdf/2503.01234",
                    doi="10.1000/xyz",
                    upvotes=4,
                )
            ],
        )
    vote(db, "2503.01234", at=datetime.now(UTC))
    page = client.get("/papers/2503.01234")
    assert page.status_code == 200
    text = page.text
    for expected in (
        "Sparse attention in $O(n \\log n)$",
        # Each author links to their page (issue 24).
        '<a href="/authors/ada-lovelace">Ada Lovelace</a>, '
        '<a href="/authors/alan-turing">Alan Turing</a>',
        "Mar 17, 2025",
        "Mar 18, 2025",
        "stat.ML",
        'href="https://arxiv.org/abs/2503.01234"',
        'href="https://arxiv.org/pdf/2503.01234"',
        'href="https://doi.org/10.1000/xyz"',
        'href="/papers/2503.01234.bib"',
        "@misc{lovelace2025sparseattentiono",
        'href="/papers/date/2025-03-18"',
    ):
        assert expected in text, expected
    # 4 imported + 1 reader vote (shown by the readers' upvote button once installed).
    assert re.search(r'class="[a-z-]*count">5</span>', text)
    assert "/static/vendor/katex/katex.min.js" in text
    assert "/static/paperfeed-math.js" in text
    assert "/static/vendor/katex/katex.min.css" in text


def test_unknown_paper_is_a_404_page(client: TestClient) -> None:
    response = client.get("/papers/2599.99999")
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]


def test_old_style_ids_and_aliases(client: TestClient, db: Database) -> None:
    add_papers(db, [("hep-th/9901001", date(2025, 3, 18))])
    assert client.get("/papers/hep-th/9901001").status_code == 200
    assert client.get("/papers/hep-th/9901001.bib").text.startswith("@misc{")
    add_papers(db, [("2503.00001", date(2025, 3, 18))])
    with db.begin() as conn:
        from paperfeed.db.tables import paper_aliases

        conn.execute(paper_aliases.insert().values(alias="old-slug-abc", paper_id="2503.00001"))
    moved = client.get("/papers/old-slug-abc", follow_redirects=False)
    assert moved.status_code == 301 and moved.headers["location"] == "/papers/2503.00001"
    versioned = client.get("/papers/2503.00001v3", follow_redirects=False)
    assert versioned.status_code == 301 and versioned.headers["location"] == "/papers/2503.00001"
    moved_md = client.get("/papers/old-slug-abc.md", follow_redirects=False)
    assert moved_md.headers["location"] == "/papers/2503.00001.md"


def test_bibtex_is_valid_and_escaped(client: TestClient, db: Database) -> None:
    title = "Cats & dogs: 100% of {braces} in $\\mathcal{O}(n^2)$ #1_best ~ Café"
    add_papers(
        db,
        [("2503.00042", date(2025, 3, 18))],
        title=title,
        authors=["José Ñúñez", "Smith, Jr., John", "Zoë O'Brien"],
        primary_category="cs.LG",
    )
    response = client.get("/papers/2503.00042.bib")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-bibtex")
    text = response.text
    library = bibtexparser.parse_string(text)
    assert library.failed_blocks == []
    (entry,) = library.entries
    assert entry.entry_type == "misc"
    assert entry.key == "nunez2025catsdogs100"
    fields = entry.fields_dict
    title_tex = fields["title"].value
    for escaped in ("{\\&}", "100{\\%}", "{\\#}1{\\_}best", "Caf{\\'e}", "{\\textbraceleft}braces"):
        assert escaped in title_tex, escaped
    assert "$\\mathcal{O}(n^2)$" in title_tex  # balanced inline math kept as written
    assert fields["author"].value.split(" and ")[1] == "{Smith, Jr., John}"
    assert fields["eprint"].value == "2503.00042"
    assert fields["archivePrefix"].value == "arXiv"
    # Every field's braces balance (what BibTeX itself checks).
    depth = 0
    for ch in text:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0
    assert depth == 0


def test_markdown_export(client: TestClient, db: Database) -> None:
    add_papers(db, [("2503.00042", date(2025, 3, 18))], title="A *markdown* paper")
    response = client.get("/papers/2503.00042.md")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/markdown")
    assert response.text.startswith("# A *markdown* paper\n")
    assert "## Abstract\n\nWe study 2503.00042 and report results." in response.text
    assert "**Authors:** Ada Lovelace, Alan Turing" in response.text
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]


class _Tags(HTMLParser):
    """The tags and link targets of rendered HTML, and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.hrefs: list[str] = []
        self.attributes: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            self.attributes.add(name)
            if name in ("href", "src"):
                self.hrefs.append(value or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


HOSTILE_TITLE = 'Fast <img src=x onerror="alert(1)"> [click](javascript:alert(2)) <javascript:x>'
HOSTILE_ABSTRACT = (
    "We <script>alert(3)</script> study\n\n<iframe src=//evil></iframe>\n\n"
    "[x]: javascript:alert(4)\n\n[ref][x] and \\[display\\] math $a<b$ &lt;b&gt; "
    "![i](javascript:alert(5)) \\<svg onload=alert(6)>"
)


def test_markdown_export_is_inert_in_a_renderer_that_allows_html(
    client: TestClient, db: Database
) -> None:
    add_papers(
        db,
        [("2503.00042", date(2025, 3, 18))],
        title=HOSTILE_TITLE,
        abstract=HOSTILE_ABSTRACT,
        authors=["<b onmouseover=alert(7)>Eve</b>", "[Mallory](javascript:alert(8))"],
        comment="<style>*{}</style>",
        abs_url="https://arxiv.org/abs/2503.00042)<img/src=x/onerror=alert(9)>",
    )
    text = client.get("/papers/2503.00042.md").text
    renderer = MarkdownIt("commonmark", {"html": True})
    renderer.validateLink = lambda url: True  # as permissive as renderers get
    parsed = _Tags()
    parsed.feed(renderer.render(text))
    assert parsed.tags <= {"h1", "h2", "p", "strong", "a", "br", "em", "code"}, parsed.tags
    assert parsed.attributes <= {"href"}
    assert all(h.startswith(("http://", "https://")) for h in parsed.hrefs), parsed.hrefs
    # The source text is still all there, shown as written.
    shown = "".join(parsed.text)
    for value in (HOSTILE_TITLE, "<b onmouseover=alert(7)>Eve</b>", "<style>*{}</style>"):
        assert value in shown
    assert "\\[display\\] math $a<b$ &lt;b&gt;" in shown


# ---------------------------------------------------------------- assets and escaping


def test_katex_is_served_locally_with_its_fonts(client: TestClient) -> None:
    for path in (
        "/static/vendor/katex/katex.min.js",
        "/static/vendor/katex/contrib/auto-render.min.js",
        "/static/paperfeed-math.js",
    ):
        response = client.get(path)
        assert response.status_code == 200 and len(response.content) > 200, path
    css = client.get("/static/vendor/katex/katex.min.css")
    assert css.status_code == 200
    fonts = set(re.findall(r"url\((fonts/[^)]+)\)", css.text))
    assert len(fonts) >= 20
    for font in sorted(fonts):
        assert client.get(f"/static/vendor/katex/{font}").status_code == 200, font
    vendored = Path(web_app.STATIC_DIR) / "vendor" / "katex"
    assert (vendored / "VERSION").read_text().startswith("katex ")


ALLOWED_LINK_HOSTS = ("https://arxiv.org/", "http://arxiv.org/", "https://doi.org/")


def test_no_page_loads_anything_from_another_host(client: TestClient, db: Database) -> None:
    add_papers(
        db,
        [("2503.00001", date(2025, 3, 18))],
        abs_url="https://arxiv.org/abs/2503.00001",
        pdf_url="https://arxiv.org/pdf/2503.00001",
        doi="10.1/x",
    )
    urls = [
        "/",
        "/papers/date/2025-03-18",
        "/papers/week/2025-W12",
        "/papers/month/2025-03",
        "/papers/2503.00001",
        "/papers/2599.00000",
        "/papers/date/nope",
    ]
    for url in urls:
        html = client.get(url).text
        for tag, attrs in tags(html):
            for attr in ("src", "href", "srcset", "data", "poster", "action"):
                value = attrs.get(attr, "")
                external = value.startswith(("http:", "https:", "//"))
                if tag == "a" and attr == "href":
                    assert not external or value.startswith(ALLOWED_LINK_HOSTS), (url, value)
                else:
                    assert not external, (url, tag, attr, value)
        assert "@import" not in html


def test_hostile_text_stays_inert(client: TestClient, db: Database) -> None:
    add_papers(
        db,
        [("2503.00666", date(2025, 3, 18))],
        title=XSS_TITLE,
        authors=[XSS_AUTHOR, "Eve"],
        abstract=XSS_ABSTRACT,
        comment="<b onmouseover=alert(2)>c</b>",
    )
    for url in ("/papers/date/2025-03-18", "/papers/2503.00666", "/papers/week/2025-W12"):
        html = client.get(url).text
        assert "<script>alert" not in html, url
        assert "<img src=x" not in html, url
        hrefs = [a.get("href", "") for _, a in tags(html)]
        assert not [h for h in hrefs if h.strip().lower().startswith("javascript:")], url
        assert "&lt;script&gt;alert(" in html, url
        scripts = [a for t, a in tags(html) if t == "script"]
        # Code only from /static; the one inline block is JSON-LD data, in
        # which tojson wrote every "<" as \u003c (no "</script>" can end it).
        assert all(
            a.get("src", "").startswith("/static/") or a.get("type") == "application/ld+json"
            for a in scripts
        ), url
        for block in re.findall(r'<script type="application/ld\+json">(.*?)</script>', html):
            assert "<" not in block and json.loads(block)["name"] == XSS_TITLE, url
        assert not [t for t, _ in tags(html) if t == "img"], url
        assert not any(k.startswith("on") for _, a in tags(html) for k in a), url
