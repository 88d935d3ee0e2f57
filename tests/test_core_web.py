"""The first pages over real papers: list, paper, navigation and errors."""

from __future__ import annotations

import threading

import httpx
from fastapi.testclient import TestClient

from paperfeed.db import Database
from paperfeed.ingest.jsonl import paper_from_record
from paperfeed.ingest.pipeline import ingest
from tests.browser import LiveServer
from tests.conftest import ARXIV_CS
from tests.helpers import make_paper, real_records
from tests.readers_helpers import csrf_from
from tests.smtp_server import SMTPServer


def test_home_lists_latest_day_with_links(client: TestClient, db: Database) -> None:
    papers = [paper_from_record(r, default_listing_date=None) for r in real_records(ARXIV_CS, 200)]
    ingest(db, papers)
    latest = max(p.listing_date for p in papers if p.listing_date)
    on_latest = [p for p in papers if p.listing_date == latest]
    page = client.get("/")
    assert page.status_code == 200
    for paper in on_latest[:5]:
        assert f'href="/papers/{paper.id}"' in page.text
        assert f'href="https://arxiv.org/abs/{paper.id}"' in page.text
    detail = client.get(f"/papers/{on_latest[0].id}")
    assert detail.status_code == 200
    assert on_latest[0].authors[0] in detail.text


def test_titles_and_abstracts_are_escaped(client: TestClient, db: Database) -> None:
    payload = '<script>alert("x")</script>'
    from datetime import date

    ingest(
        db,
        [
            make_paper(
                "2501.00001",
                title=payload,
                abstract=payload,
                authors=[payload],
                listing_date=date(2025, 1, 2),
            )
        ],
    )
    for url in ("/", "/papers/2501.00001"):
        html = client.get(url).text
        assert payload not in html
        assert "&lt;script&gt;" in html


def test_unknown_paper_and_bad_date(client: TestClient) -> None:
    assert client.get("/papers/2501.99999").status_code == 404
    assert client.get("/papers/date/2025-13-45").status_code == 400


def test_a_stalled_mail_server_does_not_hold_up_other_requests(
    live_server: LiveServer, smtp_server: SMTPServer
) -> None:
    """One uvicorn worker (one event loop): while the mail server holds a
    subscription's confirmation email unanswered, a page asked for meanwhile is
    still served. Blocking work in an ``async def`` route would stall the loop,
    and the page would come only after the mail server let go."""
    smtp_server.inbox.hold_at = 1
    finished: list[str] = []
    page_served = threading.Event()
    with httpx.Client(base_url=live_server.url, timeout=120) as visitor:
        form = visitor.get("/digest")
        token = csrf_from(form.text)

        def subscribe() -> None:
            answer = visitor.post(
                "/digest/subscribe",
                data={"email": "stalled@example.org", "frequency": "daily", "csrf_token": token},
            )
            finished.append(f"subscribe {answer.status_code}")

        def browse() -> None:
            answer = httpx.get(f"{live_server.url}/digest", timeout=120)
            finished.append(f"page {answer.status_code}")
            page_served.set()

        sender = threading.Thread(target=subscribe)
        sender.start()
        assert smtp_server.inbox.held.wait(60), "the confirmation email never reached the server"
        browser = threading.Thread(target=browse)
        browser.start()
        # Let the mail server go once the page is served; the wait's limit
        # only ends the test on a server that serves nothing meanwhile.
        page_served.wait(60)
        smtp_server.inbox.release.set()
        sender.join()
        browser.join()
    # The page came while the subscription was still waiting for the mail server,
    # which then refused the message (451); the mailer's retry went through.
    assert finished == ["page 200", "subscribe 200"]


def test_templates_query_nothing_and_routes_do_not_block_the_loop() -> None:
    """Pages get their data from their handlers (and web.templating.page_context),
    never from a template global that queries; the only globals are Jinja's and
    Starlette's url_for. Every route is a plain ``def`` (run in the threadpool)
    except the HF search, which hands its work to a thread itself."""
    import importlib
    import inspect
    import pkgutil

    import jinja2
    from fastapi import APIRouter

    import paperfeed.web
    from paperfeed.web.templating import templates

    modules = [
        importlib.import_module(f"paperfeed.web.{m.name}")
        for m in pkgutil.iter_modules(paperfeed.web.__path__)
    ]
    assert set(templates.env.globals) - set(jinja2.Environment().globals) == {"url_for"}
    coroutines = {
        getattr(route, "path", "")
        for module in modules
        for router in vars(module).values()
        if isinstance(router, APIRouter)
        for route in router.routes
        if inspect.iscoroutinefunction(getattr(route, "endpoint", None))
    }
    assert coroutines == {"/api/papers/search"}
