"""OAI-PMH harvest against a real HTTP server replaying arXivRaw answers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paperfeed.cli import app
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import papers as paper_store
from paperfeed.db.meta import get_meta
from paperfeed.ingest.http import FetchError
from paperfeed.ingest.oai_pmh import OAIError, OAIHarvest, watermark_key
from paperfeed.ingest.pipeline import ingest
from paperfeed.models import Paper
from tests.fixture_server import XML, FixtureServer, Reply

OAI = "/oai"
HERE = Path(__file__).parent / "fixtures"


def _fixture(name: str) -> bytes:
    return (HERE / name).read_bytes()


def _serve_two_pages(server: FixtureServer) -> None:
    server.route(OAI, Reply(_fixture("oai_arxivraw_page1.xml"), content_type=XML))
    server.route(
        OAI,
        Reply(_fixture("oai_arxivraw_page2.xml"), content_type=XML),
        query={"resumptionToken": "6960524|1001"},
    )


def test_harvest_follows_resumption_token(
    fixture_server: FixtureServer, settings: Settings, db: Database
) -> None:
    _serve_two_pages(fixture_server)
    harvest = OAIHarvest(settings, "cs", date(2025, 1, 1))
    report = ingest(db, harvest.records())
    first, second = (r.query for r in fixture_server.requests_to(OAI))
    assert first == {
        "verb": "ListRecords",
        "metadataPrefix": "arXivRaw",
        "set": "cs",
        "from": "2025-01-01",
    }
    # The token goes alone, as OAI-PMH requires.
    assert second == {"verb": "ListRecords", "resumptionToken": "6960524|1001"}
    assert report.inserted == 6
    deleted, no_title = (str(s) for s in report.skipped)
    assert "oai:arXiv.org:0704.0009" in deleted and "deleted" in deleted
    assert "record 0704.0005: missing title" in no_title
    assert harvest.complete_size == 8
    assert harvest.next_from == date(2025, 1, 3)  # the server's responseDate
    with db.connect() as conn:
        paper = paper_store.get_paper(conn, "0704.0001")
        old = paper_store.get_paper(conn, "quant-ph/0210005")
        gone = paper_store.get_paper(conn, "0704.0156")
        three = paper_store.get_paper(conn, "0704.0003")
    assert paper is not None and old is not None and gone is not None and three is not None
    # TeX accents in arXivRaw's author line become text; order is kept.
    assert paper["authors"] == ["C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C.-P. Yuan"]
    assert [v["version"] for v in three["versions"]] == [1, 2, 3]
    assert three["versions"][2]["created"].replace(tzinfo=UTC) == datetime(
        2008, 1, 13, 0, 36, 28, tzinfo=UTC
    )
    assert three["latest_version"] == 3
    assert paper["doi"] == "10.1103/PhysRevD.76.013009"
    assert paper["journal_ref"] == "Phys.Rev.D76:013009,2007"
    assert paper["source"] == "arxiv-oai"
    assert old["categories"] == ["quant-ph"]
    assert gone["withdrawn"] is True and paper["withdrawn"] is False


def test_no_records_match_is_an_empty_result(
    fixture_server: FixtureServer, settings: Settings
) -> None:
    fixture_server.route(OAI, Reply(_fixture("oai_no_records_match.xml"), content_type=XML))
    harvest = OAIHarvest(settings, "cs", date(2031, 1, 1))
    assert list(harvest.records()) == []
    assert harvest.next_from == date(2025, 1, 3)


def test_other_oai_errors_are_clear(fixture_server: FixtureServer, settings: Settings) -> None:
    fixture_server.route(OAI, Reply(_fixture("oai_arxivraw_page1.xml"), content_type=XML))
    fixture_server.route(
        OAI,
        Reply(_fixture("oai_bad_resumption_token.xml"), content_type=XML),
        query={"resumptionToken": "6960524|1001"},
    )
    harvest = OAIHarvest(settings, "cs")
    with pytest.raises(OAIError, match="badResumptionToken: The value of the resumptionToken"):
        list(harvest.records())
    assert harvest.next_from is None  # an unfinished harvest moves no watermark


def test_503_retry_after_then_success(fixture_server: FixtureServer, settings: Settings) -> None:
    page = Reply(_fixture("oai_no_records_match.xml"), content_type=XML)
    busy = Reply("Retry later", 503, "text/plain", headers={"Retry-After": "1"})
    fixture_server.route(OAI, [busy, page])
    assert list(OAIHarvest(settings, "cs").records()) == []
    first, second = fixture_server.requests_to(OAI)
    assert second.at - first.at >= 1.0


def test_truncated_page_is_fetched_again(fixture_server: FixtureServer, settings: Settings) -> None:
    full = _fixture("oai_arxivraw_page2.xml")
    fixture_server.route(OAI, [Reply(full[:1500], content_type=XML), Reply(full, content_type=XML)])
    records = list(OAIHarvest(settings).records())
    assert len([r for r in records if isinstance(r, Paper)]) == 2
    assert len(fixture_server.requests_to(OAI)) == 2


def test_truncated_for_good_is_an_error(fixture_server: FixtureServer, settings: Settings) -> None:
    settings.http_max_retries = 1
    fixture_server.route(OAI, Reply(_fixture("oai_arxivraw_page2.xml")[:1500], content_type=XML))
    with pytest.raises(FetchError, match="not well-formed XML"):
        list(OAIHarvest(settings).records())


def test_arxiv_format(fixture_server: FixtureServer, settings: Settings) -> None:
    body = (
        _fixture("oai_no_records_match.xml")
        .decode()
        .replace(
            '<error code="noRecordsMatch">The combination of the values of the from, until, set '
            "and metadataPrefix arguments results in an empty list.</error>",
            """<ListRecords><record><header><identifier>oai:arXiv.org:0704.0001</identifier>
<datestamp>2008-11-13</datestamp><setSpec>physics:hep-ph</setSpec></header><metadata>
<arXiv xmlns="http://arxiv.org/OAI/arXiv/"><id>0704.0001</id><created>2007-04-02</created>
<updated>2007-07-24</updated><authors><author><keyname>Bal\\'azs</keyname><forenames>C.</forenames>
</author><author><keyname>Yuan</keyname><forenames>C. -P.</forenames></author></authors>
<title>Calculation of prompt diphoton production</title><categories>hep-ph</categories>
<abstract>A fully differential calculation.</abstract></arXiv></metadata></record>
<resumptionToken cursor="0" completeListSize="1"/></ListRecords>""",
        )
    )
    fixture_server.route(OAI, Reply(body, content_type=XML))
    (paper,) = list(OAIHarvest(settings, metadata_prefix="arXiv").records())
    assert isinstance(paper, Paper)
    assert paper.authors == ["C. Balázs", "C. -P. Yuan"]
    assert paper.published == datetime(2007, 4, 2, tzinfo=UTC)
    assert fixture_server.requests_to(OAI)[0].query["metadataPrefix"] == "arXiv"


def test_unknown_format_is_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match="not supported"):
        OAIHarvest(settings, metadata_prefix="oai_dc")


def test_cli_remembers_the_watermark(
    fixture_server: FixtureServer, cli_env: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAPERFEED_ARXIV_OAI_URL", f"{fixture_server.url}{OAI}")
    monkeypatch.setenv("PAPERFEED_HTTP_BACKOFF_SECONDS", "0.01")
    monkeypatch.setenv("PAPERFEED_ARXIV_DELAY_SECONDS", "0")
    _serve_two_pages(fixture_server)
    runner = CliRunner()
    result = runner.invoke(app, ["ingest", "oai", "--set", "cs", "--from", "2025-01-01"])
    assert result.exit_code == 0, result.output
    assert "6 new" in result.output and "2 skipped" in result.output
    with db.connect() as conn:
        assert get_meta(conn, watermark_key("cs")) == "2025-01-03"
    result = runner.invoke(app, ["ingest", "oai", "--set", "cs"])
    assert result.exit_code == 0, result.output
    third = fixture_server.requests_to(OAI)[2]
    assert third.query["from"] == "2025-01-03"  # continued where the last run stopped
    assert "0 new" in result.output and "6 unchanged" in result.output


def test_cli_failed_harvest_keeps_watermark(
    fixture_server: FixtureServer, cli_env: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAPERFEED_ARXIV_OAI_URL", f"{fixture_server.url}{OAI}")
    monkeypatch.setenv("PAPERFEED_HTTP_BACKOFF_SECONDS", "0.01")
    monkeypatch.setenv("PAPERFEED_HTTP_MAX_RETRIES", "1")
    fixture_server.route(OAI, Reply("down", 500, "text/plain"))
    result = CliRunner().invoke(app, ["ingest", "oai", "--set", "cs", "--from", "2025-01-01"])
    assert result.exit_code == 1
    assert "HTTP 500" in result.output and fixture_server.url in result.output
    with db.connect() as conn:
        assert get_meta(conn, watermark_key("cs")) is None


def test_cli_backfill_does_not_move_the_watermark_back(
    fixture_server: FixtureServer, cli_env: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAPERFEED_ARXIV_OAI_URL", f"{fixture_server.url}{OAI}")
    monkeypatch.setenv("PAPERFEED_HTTP_BACKOFF_SECONDS", "0.01")
    fixture_server.route(OAI, Reply(_fixture("oai_no_records_match.xml"), content_type=XML))
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", "oai", "--set", "cs"]).exit_code == 0
    with db.connect() as conn:
        assert get_meta(conn, watermark_key("cs")) == "2025-01-03"
    args = ["ingest", "oai", "--set", "cs", "--from", "2024-01-01", "--until", "2024-02-01"]
    assert runner.invoke(app, args).exit_code == 0
    with db.connect() as conn:
        assert get_meta(conn, watermark_key("cs")) == "2025-01-03"
