"""The arXiv API client against a real HTTP server replaying recorded Atom."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import papers as paper_store
from paperfeed.ingest.arxiv_api import fetch_by_ids, fetch_category, search_query
from paperfeed.ingest.http import FetchError
from paperfeed.ingest.pipeline import ingest
from paperfeed.models import Paper, Skipped
from tests import feeds
from tests.fixture_server import FixtureServer, Reply

API = "/api/query"


def _papers(records: list[Paper | Skipped]) -> dict[str, Paper]:
    return {r.id: r for r in records if isinstance(r, Paper)}


def _fetch(settings: Settings, **kw: object) -> list[Paper | Skipped]:
    return list(fetch_category(settings, "cs.CL", date(2025, 1, 1), date(2025, 1, 2), **kw))  # type: ignore[arg-type]


def test_search_query_covers_both_days() -> None:
    assert search_query("cs.CL", date(2025, 1, 1), date(2025, 1, 2)) == (
        "cat:cs.CL AND submittedDate:[202501010000 TO 202501022359]"
    )


def test_real_feed_maps_every_field(fixture_server: FixtureServer, settings: Settings) -> None:
    fixture_server.route(API, Reply(feeds.real_atom()))
    # totalResults in the recording is 120839: stop after the 10 we have.
    records = _fetch(settings, max_results=10)
    papers = _papers(records)
    assert len(papers) == 10 and len(records) == 10
    query = fixture_server.requests_to(API)[0].query
    assert query["search_query"] == search_query("cs.CL", date(2025, 1, 1), date(2025, 1, 2))
    # Old-style ids keep their archive prefix; the version goes to versions.
    old = papers["quant-ph/0210005"]
    assert old.versions[0].number == 1
    assert old.abs_url == "https://arxiv.org/abs/quant-ph/0210005"
    assert old.pdf_url == "https://arxiv.org/pdf/quant-ph/0210005"
    assert "physics/0507092" in papers
    # Non-ASCII names intact, authors in order.
    assert papers["1503.01162"].authors == ["Peter Garik", "Yann Benétreau-Dupin"]
    assert papers["0808.0631"].authors == ["Hans R. Künsch"]
    assert papers["physics/0507092"].authors == ["G. Giacomelli", "R. Giacomelli"]
    p = papers["1503.01162"]
    assert p.title.startswith("Report on a Boston University Conference December 7-8, 2012 on")
    assert "\n" not in p.title and "  " not in p.abstract
    assert p.doi == "10.1007/s11191-014-9716-8"
    assert p.journal_ref == "Science & Education, September 2014, 23(9): 1853-1873"
    assert p.comment == "Conference funded by NSF grant REESE-1205273. 31 pages"
    assert p.primary_category == "physics.ed-ph"
    assert p.categories == ["physics.ed-ph", "physics.hist-ph", "physics.soc-ph"]
    assert p.published == datetime(2015, 3, 3, 23, 35, 54, tzinfo=UTC)
    assert p.source == "arxiv-api"
    assert not any(x.withdrawn for x in papers.values())


def test_paging_follows_total_results(
    fixture_server: FixtureServer, settings: Settings, db: Database
) -> None:
    pages = feeds.atom_pages(3)
    for i, page in enumerate(pages):
        fixture_server.route(API, Reply(page), query={"start": str(i * 3)})
    report = ingest(db, fetch_category(settings, "cs.CL", date(2025, 1, 1), date(2025, 1, 2)))
    assert report.inserted == 10
    starts = [r.query["start"] for r in fixture_server.requests_to(API)]
    assert starts == ["0", "3", "6", "9"]  # stops at totalResults, no extra request
    with db.connect() as conn:
        assert paper_store.count_papers(conn) == 10
        stored = paper_store.get_paper(conn, "quant-ph/0210005")
    assert stored is not None and stored["authors"] == ["Michael A. Nielsen"]


def test_pause_between_requests(fixture_server: FixtureServer, settings: Settings) -> None:
    settings.arxiv_delay_seconds = 0.3
    for i, page in enumerate(feeds.atom_pages(4)):
        fixture_server.route(API, Reply(page), query={"start": str(i * 4)})
    assert len(_papers(_fetch(settings))) == 10
    times = [r.at for r in fixture_server.requests_to(API)]
    assert len(times) == 3
    assert all(b - a >= 0.3 for a, b in zip(times, times[1:], strict=False))


def test_503_with_retry_after_is_honoured(
    fixture_server: FixtureServer, settings: Settings
) -> None:
    fixture_server.route(
        API,
        [
            Reply("busy", 503, "text/plain", headers={"Retry-After": "1"}),
            Reply(feeds.atom_pages(10)[0]),
        ],
    )
    assert len(_papers(_fetch(settings))) == 10
    first, second = fixture_server.requests_to(API)
    assert second.at - first.at >= 1.0  # the server asked for 1 s; backoff alone is 0.01 s


def test_truncated_body_is_fetched_again(fixture_server: FixtureServer, settings: Settings) -> None:
    full = feeds.atom_pages(10)[0]
    cut = full[: len(full) // 2]  # a complete HTTP answer whose XML stops midway
    fixture_server.route(API, [Reply(cut), Reply(full)])
    assert len(_papers(_fetch(settings))) == 10
    assert len(fixture_server.requests_to(API)) == 2


def test_connection_cut_mid_body_is_retried(
    fixture_server: FixtureServer, settings: Settings
) -> None:
    full = feeds.atom_pages(10)[0]
    fixture_server.route(API, [Reply(full, cut_after=2000), Reply(full)])
    assert len(_papers(_fetch(settings))) == 10
    assert len(fixture_server.requests_to(API)) == 2


def test_timeout_is_retried(fixture_server: FixtureServer, settings: Settings) -> None:
    settings.http_timeout_seconds = 0.3
    full = feeds.atom_pages(10)[0]
    fixture_server.route(API, [Reply(full, delay=1.0), Reply(full)])
    assert len(_papers(_fetch(settings))) == 10
    assert len(fixture_server.requests_to(API)) == 2


def test_persistent_truncation_gives_a_clear_error(
    fixture_server: FixtureServer, settings: Settings
) -> None:
    settings.http_max_retries = 2
    full = feeds.atom_pages(10)[0]
    fixture_server.route(API, Reply(full[:3000]))
    with pytest.raises(FetchError) as err:
        _fetch(settings)
    message = str(err.value)
    assert fixture_server.url + API in message
    assert "gave up after 3 attempts" in message and "not well-formed Atom" in message
    assert len(fixture_server.requests_to(API)) == 3


def test_server_errors_then_give_up(fixture_server: FixtureServer, settings: Settings) -> None:
    settings.http_max_retries = 3
    fixture_server.route(API, Reply("oops", 502, "text/plain"))
    with pytest.raises(FetchError, match="HTTP 502"):
        _fetch(settings)
    assert len(fixture_server.requests_to(API)) == 4


def test_html_instead_of_a_feed_is_an_error(
    fixture_server: FixtureServer, settings: Settings
) -> None:
    settings.http_max_retries = 1
    fixture_server.route(API, Reply("<html><body>Captive portal</body></html>", 200, "text/html"))
    with pytest.raises(FetchError, match="not an arXiv API feed"):
        _fetch(settings)


def test_client_error_is_not_retried(fixture_server: FixtureServer, settings: Settings) -> None:
    fixture_server.route(API, Reply("bad query", 400, "text/plain"))
    with pytest.raises(FetchError, match="HTTP 400: bad query"):
        _fetch(settings)
    assert len(fixture_server.requests_to(API)) == 1


def test_entry_with_missing_fields_is_skipped(
    fixture_server: FixtureServer, settings: Settings, db: Database
) -> None:
    entries = feeds.real_atom_entries()
    # Drop the title of one entry and the authors of another.
    no_title = entries[0].replace("<title>Defining Data Science</title>", "")
    no_authors = "\n".join(
        line for line in entries[6].splitlines() if "author>" not in line and "<name>" not in line
    )
    feed = feeds.atom_feed([no_title, *entries[1:6], no_authors + "\n", *entries[7:]], total=10)
    fixture_server.route(API, Reply(feed))
    report = ingest(db, fetch_category(settings, "cs.CL", date(2025, 1, 1), date(2025, 1, 2)))
    assert report.inserted == 8
    reasons = sorted(str(s) for s in report.skipped)
    assert len(reasons) == 2
    assert "entry 1501.05039: missing title" in reasons[1]
    assert "entry 0705.1367: missing author" in reasons[0]
    assert fixture_server.url in reasons[0]


def test_withdrawn_and_newer_version(fixture_server: FixtureServer, settings: Settings) -> None:
    v1 = datetime(2025, 11, 3, 10, 0, tzinfo=UTC)
    v3 = datetime(2025, 11, 20, 9, 0, tzinfo=UTC)
    fixture_server.add_arxiv_paper(
        "2511.00001",
        version=3,
        published=v1,
        updated=v3,
        comment="This paper has been withdrawn by the author due to an error in Lemma 2",
    )
    (paper,) = fetch_by_ids(settings, ["2511.00001v2"])
    assert paper.withdrawn
    assert [(v.number, v.created) for v in paper.versions] == [(1, v1), (3, v3)]
    # Submitted Monday 05:00 New York time: listed on Tuesday.
    assert paper.listing_date == date(2025, 11, 4)


def test_fetch_by_ids_for_a_recent_paper(fixture_server: FixtureServer, settings: Settings) -> None:
    fixture_server.add_arxiv_paper("2511.04321", title="Fresh results", authors=["Zoë Ünal"])
    fixture_server.add_arxiv_paper("quant-ph/0210005", title="Old style")
    papers = fetch_by_ids(settings, ["2511.04321"])
    assert [(p.id, p.title, p.authors) for p in papers] == [
        ("2511.04321", "Fresh results", ["Zoë Ünal"])
    ]
    assert papers[0].published is not None
    assert fixture_server.requests_to(API)[0].query["id_list"] == "2511.04321"
    (old,) = fetch_by_ids(settings, ["arXiv:quant-ph/0210005v1"])
    assert old.id == "quant-ph/0210005"


def test_fetch_by_ids_rejects_non_ids(settings: Settings) -> None:
    with pytest.raises(ValueError, match="not an arXiv id"):
        fetch_by_ids(settings, ["not-an-id"])


def test_cli_ingest_arxiv(
    fixture_server: FixtureServer, cli_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from paperfeed.cli import app

    monkeypatch.setenv("PAPERFEED_ARXIV_API_URL", f"{fixture_server.url}{API}")
    monkeypatch.setenv("PAPERFEED_ARXIV_DELAY_SECONDS", "0")
    monkeypatch.setenv("PAPERFEED_HTTP_BACKOFF_SECONDS", "0.01")
    fixture_server.route(API, Reply(feeds.real_atom()))
    runner = CliRunner(env={"COLUMNS": "400"})
    args = ["ingest", "arxiv", "--category", "cs.LO", "--from", "2025-01-01", "--max", "10"]
    result = runner.invoke(app, [*args, "--until", "2025-01-02"])
    assert result.exit_code == 0, result.output
    assert "10 read: 10 new" in result.output
    query = fixture_server.requests_to(API)[0].query
    assert query["search_query"] == "cat:cs.LO AND submittedDate:[202501010000 TO 202501022359]"
    assert query["max_results"] == "10"
    again = runner.invoke(app, args)  # --until defaults to --from
    assert "10 unchanged" in again.output
    assert (
        fixture_server.requests_to(API)[1]
        .query["search_query"]
        .endswith("[202501010000 TO 202501012359]")
    )
    bad = runner.invoke(app, [*args, "--until", "2024-12-31"])
    assert bad.exit_code != 0 and "--until is before --from" in bad.output


def test_api_error_entry_is_reported_not_retried(
    fixture_server: FixtureServer, settings: Settings
) -> None:
    entry = (
        "  <entry>\n    <id>http://arxiv.org/api/errors#incorrect_id_format_for_1234</id>\n"
        "    <title>Error</title>\n    <summary>incorrect id format for 1234</summary>\n"
        "    <updated>2025-01-01T00:00:00-05:00</updated>\n"
        '    <link href="http://arxiv.org/api/errors#incorrect_id_format_for_1234" '
        'rel="alternate" type="text/html"/>\n    <author>\n      <name>arXiv api core</name>\n'
        "    </author>\n  </entry>\n"
    )
    fixture_server.route(API, Reply(feeds.atom_feed([entry], total=1)))
    with pytest.raises(FetchError, match="arXiv API error: incorrect id format for 1234"):
        _fetch(settings)
    assert len(fixture_server.requests_to(API)) == 1


def test_papers_fetched_before_a_failure_are_kept(
    fixture_server: FixtureServer, settings: Settings, db: Database
) -> None:
    settings.http_max_retries = 1
    pages = feeds.atom_pages(4)
    fixture_server.route(API, Reply(pages[0]), query={"start": "0"})
    fixture_server.route(API, Reply("down", 503, "text/plain"), query={"start": "4"})
    with pytest.raises(FetchError, match="HTTP 503"):
        ingest(db, fetch_category(settings, "cs.CL", date(2025, 1, 1), date(2025, 1, 2)))
    with db.connect() as conn:
        assert paper_store.count_papers(conn) == 4
