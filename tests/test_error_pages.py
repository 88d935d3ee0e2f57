"""Error answers: browsers get an HTML page with a search box, the API and
other clients keep JSON; the favicon; the natural guesses at list URLs."""

from __future__ import annotations

import struct
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from lxml import html as lxml_html

from paperfeed.app import Paperfeed
from paperfeed.web.app import create_app

BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def _search_form(page: str) -> lxml_html.HtmlElement:
    [form] = lxml_html.fromstring(page).xpath("//main//form[@role='search']")
    return form


def test_a_browser_gets_a_404_page_with_a_search_box(client: TestClient) -> None:
    answer = client.get("/no/such/page", headers=BROWSER)
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "Page not found" in answer.text and "/no/such/page" in answer.text
    form = _search_form(answer.text)
    assert form.get("action") == "/search" and form.xpath(".//input[@name='q']")


def test_the_404_page_escapes_the_address(client: TestClient) -> None:
    answer = client.get("/%3Cscript%3Ealert(1)%3C%2Fscript%3E", headers=BROWSER)
    assert answer.status_code == 404
    assert "<script>alert(1)" not in answer.text and "&lt;script&gt;" in answer.text


@pytest.mark.parametrize(
    ("path", "headers"),
    [("/no/such/page", {}), ("/no/such/page", {"accept": "application/json"}),
     ("/api/no/such", BROWSER), ("/api/papers/9999.99999", BROWSER)],
)  # fmt: skip
def test_the_api_and_other_clients_keep_json(
    client: TestClient, path: str, headers: dict[str, str]
) -> None:
    answer = client.get(path, headers=headers)
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/json"
    assert "detail" in answer.json() or "error" in answer.json()


def test_a_wrong_method_on_a_page_stays_405_with_allow(client: TestClient) -> None:
    answer = client.delete("/search", headers=BROWSER)
    assert answer.status_code == 405 and answer.headers["allow"] == "GET"
    assert answer.headers["content-type"].startswith("text/html")


@pytest.fixture
def failing_client(paperfeed: Paperfeed) -> Iterator[TestClient]:
    app = create_app(paperfeed)

    def broken_page() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/broken", broken_page)
    app.add_api_route("/api/broken", broken_page)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_a_failing_page_shows_a_500_page(failing_client: TestClient) -> None:
    answer = failing_client.get("/broken", headers=BROWSER)
    assert answer.status_code == 500
    assert "Something went wrong" in answer.text and "a bug" not in answer.text
    assert _search_form(answer.text).get("action") == "/search"
    api = failing_client.get("/api/broken", headers=BROWSER)
    assert api.status_code == 500 and api.json() == {"detail": "Internal Server Error"}


@pytest.mark.parametrize("path", ["/trending", "/papers"])
def test_natural_guesses_lead_to_the_lists(client: TestClient, path: str) -> None:
    answer = client.get(path, headers=BROWSER, follow_redirects=False)
    assert answer.status_code == 302 and answer.headers["location"] == "/"
    assert client.get(path, headers=BROWSER).status_code == 200


def test_the_favicon_is_an_icon(client: TestClient) -> None:
    answer = client.get("/favicon.ico")
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/x-icon"
    reserved, kind, count = struct.unpack("<HHH", answer.content[:6])
    assert (reserved, kind) == (0, 1) and count >= 1
    for entry in range(count):
        at = 6 + 16 * entry + 8
        size, offset = struct.unpack("<II", answer.content[at : at + 8])
        assert answer.content[offset : offset + 8] == b"\x89PNG\r\n\x1a\n"
        assert offset + size <= len(answer.content)
    page = client.get("/")
    [icon] = lxml_html.fromstring(page.text).xpath("//link[@rel='icon']")
    svg = client.get(icon.get("href"))
    assert svg.status_code == 200 and svg.text.startswith("<svg")


def test_the_home_page_invites_to_subscribe(client: TestClient) -> None:
    page = lxml_html.fromstring(client.get("/").text)
    [link] = page.xpath("//p[@class='subscribe-callout']/a[@href='/digest']")
    assert "email inbox" in link.text_content()
    assert client.get("/digest").status_code == 200
