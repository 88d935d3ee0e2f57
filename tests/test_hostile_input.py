"""Hostile input never gets a 500 (issue 22, classes 1-4, 6 and 7), over real
HTTP on a live server and through the CLI, on both backends.

Each class is fixed once, at its root: row ids (web.params.RowId), the query
parser (no recursion per prefix), numbers in parameters (web.params.whole_number
and WholeNumber), text with control characters (models.CONTROL_CHARACTER,
applied by web.params.reject_control_characters and at ingest), record limits
(models.record_problem) and per-line decoding of JSON-lines files.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from paperfeed import readers as core
from paperfeed.cli import app
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import papers as paper_store
from paperfeed.ingest import pipeline
from tests.browser import LiveServer
from tests.helpers import make_paper
from tests.readers_helpers import csrf_from, token_from_link
from tests.smtp_server import SMTPServer

runner = CliRunner(env={"COLUMNS": "400"})
BEYOND_64_BITS = "9223372036854775808"  # 2**63: well-formed, and no row can have it


@pytest.fixture
def site(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, follow_redirects=False, timeout=60) as client:
        yield client


@pytest.fixture
def signed_in(site: httpx.Client, settings: Settings, db: Database) -> dict[str, Any]:
    """A reader signed in through the magic link (session cookie in ``site``),
    with an API token, a collection, a saved search and a paper."""
    pipeline.ingest(db, [make_paper("2501.00001")])
    token = token_from_link(core.create_magic_link(settings, db, "ada@example.org"))
    page = site.get("/signin/verify", params={"token": token})
    answer = site.post("/signin/verify", data={"token": token, "csrf_token": csrf_from(page.text)})
    assert answer.status_code == 303, answer.text[:300]
    reader = core.get_reader(db, site.get("/api/me").json()["id"])
    assert reader is not None
    _, api_token = core.create_api_token(db, reader, "hostile", scopes=core.TOKEN_SCOPES)
    return {
        "csrf": csrf_from(site.get("/account").text),
        "bearer": {"Authorization": f"Bearer {api_token}"},
        "collection": core.create_collection(db, reader, "Mine"),
        "search": core.create_saved_search(db, reader, "s", "graphs"),
    }


def _problems(results: list[tuple[str, int, int]]) -> list[str]:
    return [f"{what}: {got} (expected {want})" for what, got, want in results if got != want]


# ---------------------------------------------------------------- 1. ids outside 64 bits


def test_ids_beyond_64_bits_are_404_and_malformed_ids_422(
    site: httpx.Client, signed_in: dict[str, Any]
) -> None:
    csrf, bearer = signed_in["csrf"], signed_in["bearer"]
    results = []
    beyond_32_bits = "2147483648"  # PostgreSQL's id columns are 32-bit
    for bad, want in (
        (BEYOND_64_BITS, 404),
        (beyond_32_bits, 404),
        ("9" * 5000, 404),
        ("abc", 422),
        ("²", 422),
    ):
        calls: list[tuple[str, str, dict[str, Any]]] = [
            ("GET", f"/collections/{bad}", {}),
            ("GET", f"/collections/{bad}/feed.xml", {}),
            ("GET", f"/api/collections/{bad}", {}),
            ("POST", f"/collections/{bad}/edit", {"data": {"csrf_token": csrf, "name": "x"}}),
            ("POST", f"/collections/{bad}/delete", {"data": {"csrf_token": csrf}}),
            (
                "POST",
                f"/collections/{bad}/remove",
                {"data": {"csrf_token": csrf, "paper_id": "2501.00001"}},
            ),
            ("POST", f"/saved-searches/{bad}/delete", {"data": {"csrf_token": csrf}}),
            ("POST", f"/account/tokens/{bad}/revoke", {"data": {"csrf_token": csrf}}),
            (
                "POST",
                "/library/collect",
                {"data": {"csrf_token": csrf, "paper_id": "2501.00001", "collection_id": bad}},
            ),
            ("PATCH", f"/api/collections/{bad}", {"json": {"name": "x"}, "headers": bearer}),
            ("DELETE", f"/api/collections/{bad}", {"headers": bearer}),
            ("PUT", f"/api/collections/{bad}/papers/2501.00001", {"headers": bearer}),
            ("DELETE", f"/api/collections/{bad}/papers/2501.00001", {"headers": bearer}),
            ("DELETE", f"/api/me/tokens/{bad}", {"headers": bearer}),
            (
                "PUT",
                f"/api/me/saved_searches/{bad}",
                {"json": {"name": "s", "query": "q"}, "headers": bearer},
            ),
            ("DELETE", f"/api/me/saved_searches/{bad}", {"headers": bearer}),
        ]
        for method, path, kwargs in calls:
            got = site.request(method, path, **kwargs).status_code
            results.append((f"{method} {path[:60]} {kwargs.get('data', '')}"[:120], got, want))
    assert _problems(results) == []
    # The same routes still work for a real id.
    assert site.get(f"/collections/{signed_in['collection']}").status_code == 200
    assert site.get(f"/api/collections/{signed_in['collection']}").status_code == 200


# ---------------------------------------------------------------- 2. query nesting


def test_deeply_negated_query_is_searched_not_a_crash(
    site: httpx.Client, db: Database, cli_env: Settings
) -> None:
    pipeline.ingest(db, [make_paper("2501.00001"), make_paper("2501.00002", title="Graphs")])
    query = "NOT " * 990 + "graphs"
    assert len(query) < 4000
    page = site.get("/search", params={"q": query})
    assert page.status_code == 200, page.text[:300]
    api = site.get("/api/search", params={"q": query})
    assert api.status_code == 200, api.text[:300]
    result = runner.invoke(app, ["search", query])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output


# ---------------------------------------------------------------- 3. numbers in parameters


def test_numbers_in_parameters_are_ascii_digits_and_bounded(site: httpx.Client) -> None:
    huge = "9" * 5000
    results = []
    for bad in ("²", "①", "٣", huge, "1_0", " 5x"):
        for path in ("/search", "/api/search"):
            for name in ("page", "per_page"):
                response = site.get(path, params={"q": "graphs", name: bad})
                results.append((f"{path}?{name}={bad[:10]}", response.status_code, 400))
                if response.status_code == 400:
                    assert name in response.text, response.text[:300]
        results.append((f"/?page={bad[:10]}", site.get("/", params={"page": bad}).status_code, 400))
        for name in ("p", "limit"):
            # The Hugging Face-compatible API answers 400 with its error shape.
            response = site.get("/api/daily_papers", params={name: bad})
            results.append((f"/api/daily_papers?{name}={bad[:10]}", response.status_code, 400))
    assert _problems(results) == []
    assert site.get("/search", params={"q": "graphs", "page": "2"}).status_code == 200


# ---------------------------------------------------------------- 4. NUL and control characters


def test_control_characters_in_paths_and_parameters(
    site: httpx.Client, smtp_server: SMTPServer
) -> None:
    results = [
        ("/papers/2606%00.99901", site.get("/papers/2606%00.99901").status_code, 422),
        ("/api/papers/a%00b", site.get("/api/papers/a%00b").status_code, 400),  # HF's shape
    ]
    response = site.get("/api/daily_papers?submitter=%00")
    results.append(("/api/daily_papers?submitter=%00", response.status_code, 400))
    assert "submitter" in response.text and "U+0000" in response.text, response.text
    results.append(("/search?q=a%00b", site.get("/search?q=a%00b").status_code, 422))
    for char in ("\x00", "\x01", "\x7f"):
        address = f"a{char}b@example.org"
        answer = site.post("/api/digest/subscribe", json={"email": address})
        results.append((f"subscribe API {char!r}", answer.status_code, 422))
        csrf = csrf_from(site.get("/digest").text)
        answer = site.post("/digest/subscribe", data={"email": address, "csrf_token": csrf})
        results.append((f"subscribe form {char!r}", answer.status_code, 422))
        csrf = csrf_from(site.get("/signin").text)
        answer = site.post("/signin", data={"email": address, "csrf_token": csrf})
        results.append((f"sign-in {char!r}", answer.status_code, 422))
    assert _problems(results) == []
    assert smtp_server.inbox.messages == []  # nothing was passed to SMTP


def _stored_ids(settings: Settings) -> set[str]:
    db = Database(settings.database_url_resolved)
    try:
        with db.connect() as conn:
            return set(paper_store.get_papers(conn, [f"2501.0000{i}" for i in range(1, 10)]))
    finally:
        db.dispose()


def _records(count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"2501.0000{i}",
            "title": f"Paper {i}",
            "abstract": f"About {i}.",
            "authors": ["Ada Lovelace"],
            "categories": ["cs.LG"],
            "listing_date": "2025-01-15",
        }
        for i in range(1, count + 1)
    ]


def _ingest(path: Path) -> Any:
    result = runner.invoke(app, ["ingest", "jsonl", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_nul_in_a_record_skips_that_record_only(cli_env: Settings, tmp_path: Path) -> None:
    records = _records(5)
    records[2]["title"] = "Bad\x00title"
    records[3]["authors"] = ["Ada\x01Lovelace"]
    path = tmp_path / "nul.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = _ingest(path)
    assert result.exit_code == 0, result.output
    assert f"{path}:3 (id 2501.00003): title: contains the control character U+0000" in (
        result.output
    )
    assert f"{path}:4 (id 2501.00004): authors: contains the control character U+0001" in (
        result.output
    )
    assert _stored_ids(cli_env) == {"2501.00001", "2501.00002", "2501.00005"}


# ---------------------------------------------------------------- 6. oversized records


def test_oversized_records_are_skipped_and_reported(cli_env: Settings, tmp_path: Path) -> None:
    records = _records(5)
    records[1]["title"] = "T" * 10_000_000
    records[2]["authors"] = [f"Author {i}" for i in range(100_000)]
    records[3]["title"] = "T" * 501  # past papers.title_key's width on PostgreSQL
    path = tmp_path / "big.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = _ingest(path)
    assert result.exit_code == 0, result.output
    assert f"{path}:2 (id 2501.00002): title: 10,000,000 characters (at most 500)" in (
        result.output
    )
    assert f"{path}:4 (id 2501.00004): title: 501 characters (at most 500)" in result.output
    assert f"{path}:3 (id 2501.00003): authors: 100,000 entries (at most 10,000)" in (result.output)
    assert _stored_ids(cli_env) == {"2501.00001", "2501.00005"}


# ---------------------------------------------------------------- 7. invalid UTF-8


def test_invalid_utf8_is_reported_at_its_own_line(cli_env: Settings, tmp_path: Path) -> None:
    lines = [json.dumps(r).encode() for r in _records(6)]
    lines[4] = lines[4].replace(b"Paper 5", b"Paper \xff\xfe 5")
    path = tmp_path / "latin.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = _ingest(path)
    assert result.exit_code == 0, result.output
    assert f"{path}:5: not UTF-8 text" in result.output, result.output
    assert f"{path}:1:" not in result.output
    assert _stored_ids(cli_env) == {f"2501.0000{i}" for i in (1, 2, 3, 4, 6)}
