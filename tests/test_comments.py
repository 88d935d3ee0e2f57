"""Discussion: the sanitizer, comments through pages and the JSON API (scopes,
ownership, curators' hides, rate limits), counts, the "discussed" sort,
numComments, the Atom feeds, and batched notices through a real SMTP server."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser

import feedparser
import pytest
from fastapi.testclient import TestClient

from paperfeed import readers as core
from paperfeed.app import Paperfeed
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.ingest import pipeline
from paperfeed.services import comments
from paperfeed.services.markup import TAGS, render
from tests.helpers import make_paper
from tests.readers_helpers import csrf_from, new_client, sign_in
from tests.smtp_server import SMTPServer
from tests.test_security import LIVE_MARKUP, XSS_IMG, XSS_SCRIPT, XSS_URL

DAY = date(2025, 1, 15)
PAPER = "2501.00001"
THREAD = comments.paper_thread(PAPER)

# ---------------------------------------------------------------- the sanitizer

MARKDOWN_PAYLOADS = [
    XSS_SCRIPT,
    XSS_IMG,
    f"[click]({XSS_URL})",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    "<a href=\"javascript:alert('raw')\">raw link</a>",
    "<iframe src=https://evil.example></iframe>",
    "<div onmouseover=alert(1)>hover</div>",
    "![pixel](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<img src=data:image/png;base64,xx onerror=alert(1)>",
    "[x](vbscript:msgbox(1))",
    "$\\href{javascript:alert(1)}{click}$",
    "$$\\url{javascript:alert(1)}</span><script>alert(1)</script>$$",
    "`<script>alert(1)</script>`",
    "<svg><script>alert(1)</script></svg>",
    '[t](https://ok.example "a\\" onmouseover=\\"alert(1)")',
]


class _Tags(HTMLParser):
    """The elements and attributes a browser would build from the HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.found


@pytest.mark.parametrize("payload", MARKDOWN_PAYLOADS)
def test_markdown_payloads_are_rendered_inert(payload: str) -> None:
    html = render(payload)
    for tag, attrs in elements(html):
        assert tag in TAGS, html
        assert not any(name.startswith("on") or name in ("style", "src") for name in attrs), html
        if tag == "a":
            assert attrs.get("rel") == "nofollow ugc noopener", html
            href = attrs.get("href") or ""
            assert not href or href.startswith(("http://", "https://", "mailto:")), html
        if "class" in attrs:
            assert attrs["class"] == "math", html


def test_markdown_keeps_what_readers_write() -> None:
    html = render("Nice **result**, see [the code](https://example.org/x) and $a_1 * b_2$.")
    assert "<strong>result</strong>" in html
    assert '<a href="https://example.org/x" rel="nofollow ugc noopener">the code</a>' in html
    # Math is left as TeX text in a .math element for KaTeX (trust off), its
    # underscores and stars untouched by emphasis.
    assert '<span class="math">\\(a_1 * b_2\\)</span>' in html
    assert "&lt;script&gt;" in render(XSS_SCRIPT)  # raw HTML is shown as text
    href_math = render("$\\href{javascript:alert(1)}{x}$")
    assert "<a" not in href_math and "\\href{javascript:alert(1)}{x}" in href_math


def test_the_math_script_keeps_katex_trust_off(client: TestClient) -> None:
    script = client.get("/static/paperfeed-math.js").text
    assert "trust: false" in script


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def papers(db: Database) -> list[str]:
    ids = [PAPER, "2501.00002", "2501.00003"]
    pipeline.ingest(db, [make_paper(i, listing_date=DAY) for i in ids])
    return ids


def _post(client: TestClient, body: str, parent: int | None = None, thread: str = THREAD):
    csrf = csrf_from(client.get(f"/papers/{PAPER}").text)
    data = {"thread": thread, "body": body, "csrf_token": csrf, "next": f"/papers/{PAPER}"}
    if parent:
        data["parent_id"] = str(parent)
    return client.post("/discussions/comment", data=data, follow_redirects=False)


# ---------------------------------------------------------------- pages


def test_readers_discuss_a_paper_on_its_page(
    client: TestClient, settings: Settings, db: Database, papers: list[str]
) -> None:
    sign_in(client, settings, db, "alice@example.org")
    # An empty thread says so in a sentence, not as item 1 of an empty list.
    empty = client.get(f"/papers/{PAPER}").text
    assert '<p class="empty">No comments yet.</p>' in empty and 'class="comments"' not in empty
    response = _post(client, f"First! {XSS_IMG} $x^2$ [code](https://example.org)")
    assert response.status_code == 303 and response.headers["location"].startswith(
        f"/papers/{PAPER}#comment-"
    )
    first = int(response.headers["location"].rsplit("-", 1)[1])
    bob = new_client(client)
    sign_in(bob, settings, db, "bob@example.org")
    assert _post(bob, "A reply *to Alice*", parent=first).status_code == 303
    page = new_client(client).get(f"/papers/{PAPER}").text  # anonymous readers see it too
    assert not LIVE_MARKUP.search(page)
    assert "Discussion (2)" in page and "<em>to Alice</em>" in page
    assert 'rel="nofollow ugc noopener"' in page
    assert '<span class="math">\\(x^2\\)</span>' in page
    # The reply sits under its parent.
    assert re.search(r'id="comment-\d+" style="margin-left: 1.5em"', page)
    # Bob cannot edit or delete Alice's comment: it is not his (404, unchanged).
    csrf = csrf_from(bob.get(f"/papers/{PAPER}").text)
    for action in ("edit", "delete"):
        r = bob.post(f"/comments/{first}/{action}", data={"csrf_token": csrf, "body": "pwned"})
        assert r.status_code == 404
    # ... nor hide it: only curators.
    r = bob.post(f"/comments/{first}/hide", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 403
    assert "First!" in client.get(f"/papers/{PAPER}").text
    # Without a CSRF token nothing is posted.
    r = bob.post("/discussions/comment", data={"thread": THREAD, "body": "forged"})
    assert r.status_code == 403 and "forged" not in client.get(f"/papers/{PAPER}").text


def test_edit_delete_and_curator_hide(
    client: TestClient, settings: Settings, db: Database, papers: list[str]
) -> None:
    paperfeed = Paperfeed(settings, db)
    alice = sign_in(client, settings, db, "alice@example.org")
    posted = comments.post(paperfeed, alice, THREAD, "original text")
    reply = comments.post(paperfeed, alice, THREAD, "a reply", parent_id=posted["id"])
    csrf = csrf_from(client.get(f"/papers/{PAPER}").text)
    client.post(
        f"/comments/{posted['id']}/edit", data={"csrf_token": csrf, "body": "edited **text**"}
    )
    assert "<strong>text</strong>" in client.get(f"/papers/{PAPER}").text
    curator = core.grant_role(db, "cora@example.org", "curator")
    comments.set_hidden(paperfeed, curator, reply["id"], True)
    shown = {c["id"]: c for c in comments.thread(paperfeed, None, THREAD)}
    assert shown[reply["id"]]["status"] == "hidden" and shown[reply["id"]]["html"] == ""
    page = new_client(client).get(f"/papers/{PAPER}").text
    assert "[hidden by a curator]" in page and "a reply" not in page
    # Curators still read it (to undo), and can.
    as_curator = {c["id"]: c for c in comments.thread(paperfeed, curator, THREAD)}
    assert as_curator[reply["id"]]["body"] == "a reply"
    client.post(f"/comments/{posted['id']}/delete", data={"csrf_token": csrf})
    page = new_client(client).get(f"/papers/{PAPER}").text
    assert "[deleted]" in page and "edited <strong>" not in page
    # A deleted comment cannot be edited back.
    r = client.post(f"/comments/{posted['id']}/edit", data={"csrf_token": csrf, "body": "again"})
    assert r.status_code == 404
    comments.set_hidden(paperfeed, curator, reply["id"], False)
    assert "a reply" in new_client(client).get(f"/papers/{PAPER}").text


def test_comments_are_rate_limited_per_reader(
    client: TestClient, settings: Settings, db: Database, papers: list[str]
) -> None:
    settings.comment_limit = 3
    sign_in(client, settings, db, "alice@example.org")
    for i in range(3):
        assert _post(client, f"comment {i}").status_code == 303
    refused = _post(client, "one too many")
    assert refused.status_code == 429 and "Too many comments" in refused.text
    assert int(refused.headers["retry-after"]) == settings.comment_limit_window_minutes * 60
    bob = new_client(client)
    sign_in(bob, settings, db, "bob@example.org")
    assert _post(bob, "Bob has his own count").status_code == 303


def test_bad_comments_are_refused_clearly(
    client: TestClient, settings: Settings, db: Database, papers: list[str]
) -> None:
    sign_in(client, settings, db, "alice@example.org")
    assert _post(client, "   ").status_code == 400
    assert _post(client, "x" * 10_001).status_code == 400
    assert _post(client, "hello", thread="paper:2599.99999").status_code == 404
    assert _post(client, "hello", thread="session:1").status_code == 404
    assert _post(client, "hello", thread="nonsense").status_code == 404
    other = comments.post(
        Paperfeed(settings, db),
        core.get_reader(db, 1),
        comments.paper_thread(papers[1]),
        "elsewhere",
    )  # type: ignore[arg-type]
    assert _post(client, "reply", parent=other["id"]).status_code == 400  # not this thread


# ---------------------------------------------------------------- the JSON API


def test_comment_api_with_token_scopes(
    client: TestClient, settings: Settings, db: Database, papers: list[str]
) -> None:
    alice = sign_in(client, settings, db, "alice@example.org")
    _, writer = core.create_api_token(db, alice, "rw", ["read", "write"])
    _, reader_only = core.create_api_token(db, alice, "ro", ["read"])
    rw = {"Authorization": f"Bearer {writer}"}
    ro = {"Authorization": f"Bearer {reader_only}"}
    api = new_client(client)
    created = api.post(f"/api/papers/{PAPER}/comments", json={"body": "via *API*"}, headers=rw)
    assert created.status_code == 201, created.text
    comment = created.json()
    assert comment["html"] == "<p>via <em>API</em></p>\n" and comment["author"] == "alice"
    refused = api.post(f"/api/papers/{PAPER}/comments", json={"body": "no"}, headers=ro)
    assert refused.status_code == 403 and "'write' scope" in refused.json()["detail"]
    listed = api.get(f"/api/papers/{PAPER}/comments", headers=ro).json()
    assert [c["body"] for c in listed] == ["via *API*"]
    assert new_client(client).get(f"/api/papers/{PAPER}/comments").status_code == 200  # public
    reply = api.post(
        f"/api/papers/{PAPER}/comments", json={"body": "re", "parent_id": comment["id"]}, headers=rw
    ).json()
    assert reply["parent_id"] == comment["id"]
    listed = api.get(f"/api/papers/{PAPER}/comments").json()
    assert [(c["id"], c["depth"]) for c in listed] == [(comment["id"], 0), (reply["id"], 1)]
    edited = api.patch(f"/api/comments/{comment['id']}", json={"body": "changed"}, headers=rw)
    assert edited.json()["body"] == "changed" and edited.json()["edited_at"]
    assert (
        api.patch(f"/api/comments/{comment['id']}", json={"body": "x"}, headers=ro).status_code
        == 403
    )
    # Another reader's token cannot change it; a session cookie needs the CSRF header.
    bob = new_client(client)
    bob_reader = sign_in(bob, settings, db, "bob@example.org")
    bob_auth = {"Authorization": f"Bearer {core.create_api_token(db, bob_reader, 'b')[1]}"}
    assert api.delete(f"/api/comments/{comment['id']}", headers=bob_auth).status_code == 404
    assert api.put(f"/api/comments/{comment['id']}/hidden", headers=bob_auth).status_code == 403
    assert bob.post(f"/api/papers/{PAPER}/comments", json={"body": "x"}).status_code == 403
    assert api.delete(f"/api/comments/{comment['id']}", headers=rw).status_code == 204
    gone = api.get(f"/api/papers/{PAPER}/comments").json()[0]
    assert (gone["status"], gone["body"], gone["html"]) == ("deleted", "", "")
    # Bad input: 422 from the model, 404 for unknown papers and comments.
    assert (
        api.post(f"/api/papers/{PAPER}/comments", json={"body": ""}, headers=rw).status_code == 422
    )
    assert (
        api.post(f"/api/papers/{PAPER}/comments", json={"body": 5}, headers=rw).status_code == 422
    )
    assert api.get("/api/papers/2599.99999/comments").status_code == 404
    assert api.patch("/api/comments/999", json={"body": "x"}, headers=rw).status_code == 404


# ---------------------------------------------------------------- counts, sort, feeds


def test_counts_discussed_sort_num_comments_and_feeds(
    client: TestClient, settings: Settings, db: Database, papers: list[str]
) -> None:
    paperfeed = Paperfeed(settings, db)
    alice = sign_in(client, settings, db, "alice@example.org")
    for i in range(2):
        comments.post(paperfeed, alice, comments.paper_thread(papers[2]), f"on three {i}")
    comments.post(paperfeed, alice, comments.paper_thread(papers[1]), "on two")
    hidden = comments.post(paperfeed, alice, comments.paper_thread(papers[1]), "spam <b>")
    curator = core.grant_role(db, "cora@example.org", "curator")
    comments.set_hidden(paperfeed, curator, hidden["id"], True)
    page = client.get(f"/papers/date/{DAY}?sort=discussed").text
    order = [m for m in re.findall(r'id="paper-([\d.]+)"', page)]
    assert order == [papers[2], papers[1], papers[0]]
    assert "2 comments" in page and "1 comment<" in page and "0 comments" in page
    daily = client.get("/api/daily_papers", params={"date": str(DAY), "sort": "discussed"}).json()
    assert [(d["paper"]["id"], d["numComments"]) for d in daily] == [
        (papers[2], 2),
        (papers[1], 1),
        (papers[0], 0),
    ]
    thread = feedparser.parse(client.get(f"/papers/{papers[1]}/comments.xml").content)
    assert [e.summary for e in thread.entries] == ["<p>on two</p>"]  # the hidden one is left out
    whole = client.get("/comments.xml")
    assert whole.headers["content-type"].startswith("application/atom+xml")
    assert len(feedparser.parse(whole.content).entries) == 3
    assert client.get("/papers/2599.99999/comments.xml").status_code == 404


# ---------------------------------------------------------------- notices


def test_notices_are_batched_per_thread_and_hour_and_unsubscribe_in_one_click(
    client: TestClient, settings: Settings, db: Database, papers: list[str], smtp_server: SMTPServer
) -> None:
    paperfeed = Paperfeed(settings, db)
    alice = sign_in(client, settings, db, "alice@example.org")
    bob = core.grant_role(db, "bob@example.org", "reader")
    carol = core.grant_role(db, "carol@example.org", "reader")
    t0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
    comments.post(paperfeed, alice, THREAD, "Alice opens", now=t0)
    comments.set_following(paperfeed, carol, THREAD, True)  # a follower, not a participant
    comments.post(paperfeed, bob, THREAD, "Bob replies", now=t0)
    comments.post(paperfeed, bob, THREAD, "Bob again", now=t0)
    assert comments.send_notices(paperfeed, now=t0) == {"sent": 2, "refused": 0}
    [to_alice] = smtp_server.inbox.to("alice@example.org")
    text = to_alice.get_content() if not to_alice.is_multipart() else ""
    assert "Bob replies" in text and "Bob again" in text and "Alice opens" not in text
    [to_carol] = smtp_server.inbox.to("carol@example.org")
    # A follower hears of what comes after they followed.
    assert "Bob replies" in to_carol.get_content() and "Alice opens" not in to_carol.get_content()
    assert not smtp_server.inbox.to("bob@example.org")  # nothing new from others for Bob
    # Within the hour: news waits; after it, one notice with what came since.
    comments.post(paperfeed, bob, THREAD, "Bob a third time", now=t0)
    assert comments.send_notices(paperfeed, now=t0 + timedelta(minutes=30))["sent"] == 0
    assert comments.send_notices(paperfeed, now=t0 + timedelta(minutes=61))["sent"] == 2
    latest = smtp_server.inbox.to("alice@example.org")[-1].get_content()
    assert "Bob a third time" in latest and "Bob again" not in latest
    # One click (RFC 8058) with no cookie and no CSRF token mutes the thread.
    header = str(smtp_server.inbox.to("alice@example.org")[-1]["List-Unsubscribe"])
    url = header.strip("<>")
    path = url.split(settings.base_url.rstrip("/"), 1)[1]
    anonymous = new_client(client)
    assert anonymous.get(path).status_code == 200
    response = anonymous.post(path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and "Unsubscribed" in response.text
    assert anonymous.post(path[:-3] + "abc").status_code == 400  # a forged token
    comments.post(paperfeed, bob, THREAD, "Bob, fourth", now=t0 + timedelta(hours=3))
    comments.post(
        paperfeed, alice, THREAD, "Alice comments, still muted", now=t0 + timedelta(hours=3)
    )
    comments.post(paperfeed, bob, THREAD, "Bob, fifth", now=t0 + timedelta(hours=3))
    before = len(smtp_server.inbox.to("alice@example.org"))
    comments.send_notices(paperfeed, now=t0 + timedelta(hours=3))
    assert len(smtp_server.inbox.to("alice@example.org")) == before
    assert "Bob, fifth" in smtp_server.inbox.to("carol@example.org")[-1].get_content()
