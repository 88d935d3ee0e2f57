"""The GitHub stars job against GitHub-shaped answers (tests/fixtures/github)
served by a real HTTP server on 127.0.0.1: ETag and 304, a rate limit that
stops the run until its reset, 404 (gone), a renamed repository (301 and a
new full_name), retries, the token, and resuming oldest-checked first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from paperfeed.app import Paperfeed
from paperfeed.db import code as code_store
from paperfeed.db.tables import code_links, repository_stars
from paperfeed.models import Paper
from paperfeed.services import github_stars
from paperfeed.services.ingest import store
from tests.fixture_server import JSON, FixtureServer, Reply

GITHUB = Path(__file__).parent / "fixtures" / "github"


def recorded(name: str, status: int = 200, **headers: str) -> Reply:
    return Reply((GITHUB / name).read_text(), status, JSON, headers=headers)


def _papers(paperfeed: Paperfeed) -> None:
    store(
        paperfeed,
        [
            Paper(
                id="2602.23229",
                title="Large Multimodal Models as General In-Context Classifiers",
                abstract="Code: https://github.com/marco-garosi/CIRCLE",
                authors=["Marco Garosi"],
                source="jsonl",
            ),
            Paper(
                id="2503.12559",
                title="Video FlexReduc",
                abstract="Our code is available at https://github.com/SCZwangxiao/video-FlexReduc.git.",
                authors=["X. Wang"],
                source="jsonl",
            ),
            Paper(
                id="2503.11892",
                title="DecAlign",
                abstract="Code: https://github.com/taco-group/DecAlign.",
                authors=["T. Group"],
                source="jsonl",
            ),
            Paper(
                id="2503.00404",
                title="Deleted code",
                abstract="Code: https://github.com/someone/deleted-repo",
                authors=["S. One"],
                source="jsonl",
            ),
        ],
    )


def _routes(server: FixtureServer) -> None:
    server.route(
        "/github/repos/marco-garosi/CIRCLE",
        [
            recorded("repo_marco-garosi_CIRCLE.json", ETag='W/"circle-1"'),
            recorded("repo_marco-garosi_CIRCLE.json", 304),
        ],
    )
    server.route(
        "/github/repos/SCZwangxiao/video-FlexReduc",
        Reply(
            (GITHUB / "moved_permanently.json").read_text(),
            301,
            JSON,
            headers={"Location": f"{server.url}/github/repositories/948120377"},
        ),
    )
    server.route(
        "/github/repositories/948120377",
        recorded("repo_renamed_SCZwangxiao_FlexReduc.json", ETag='"flex-1"'),
    )
    server.route("/github/repos/taco-group/DecAlign", recorded("repo_taco-group_DecAlign.json"))
    server.route("/github/repos/someone/deleted-repo", recorded("not_found.json", 404))


def test_a_refresh_records_stars_gone_and_renamed_repositories(
    paperfeed: Paperfeed, fixture_server: FixtureServer
) -> None:
    _papers(paperfeed)
    _routes(fixture_server)
    report = github_stars.refresh(paperfeed)
    assert report.stopped == ""
    assert (report.due, report.checked, report.gone) == (4, 4, 1)
    assert report.renamed == [("SCZwangxiao/video-FlexReduc", "SCZwangxiao/FlexReduc")]
    with paperfeed.db.connect() as conn:
        shown = code_store.code_for(conn, ["2602.23229", "2503.12559", "2503.00404"])
        old = code_store.repository(conn, "sczwangxiao/video-flexreduc")
        new = code_store.repository(conn, "sczwangxiao/flexreduc")
        deleted = code_store.repository(conn, "someone/deleted-repo")
        links = conn.execute(
            select(code_links.c.url, code_links.c.repo).where(code_links.c.paper_id == "2503.12559")
        ).all()
    assert shown["2602.23229"]["github_stars"] == 9
    # The renamed repository: links follow it, the old name says where it went.
    assert links == [("https://github.com/SCZwangxiao/FlexReduc", "sczwangxiao/flexreduc")]
    assert shown["2503.12559"]["github_repo"] == "https://github.com/SCZwangxiao/FlexReduc"
    assert shown["2503.12559"]["github_stars"] == 57
    assert old is not None and (old["status"], old["renamed_to"]) == (
        "renamed",
        "sczwangxiao/flexreduc",
    )
    assert new is not None and (new["stars"], new["etag"]) == (57, '"flex-1"')
    # Gone: no "Code" link to a 404, and not asked again.
    assert deleted is not None and deleted["status"] == "gone"
    assert shown["2503.00404"]["code_url"] is None
    # Every request carried GitHub's media type.
    assert all(
        r.headers.get("accept") == "application/vnd.github+json" for r in fixture_server.requests
    )
    assert all("authorization" not in r.headers for r in fixture_server.requests)


def test_an_etag_makes_the_next_check_conditional_and_304_keeps_the_stars(
    paperfeed: Paperfeed, fixture_server: FixtureServer
) -> None:
    _papers(paperfeed)
    _routes(fixture_server)
    first = github_stars.refresh(paperfeed)
    assert first.checked == 4
    # Nothing is due again within github_recheck_hours.
    assert github_stars.refresh(paperfeed).due == 0
    later = datetime.now(UTC) + timedelta(hours=paperfeed.settings.github_recheck_hours + 1)
    second = github_stars.refresh(paperfeed, now=later)
    assert second.not_modified == 1
    asked = fixture_server.requests_to("/github/repos/marco-garosi/CIRCLE")
    assert "if-none-match" not in asked[0].headers
    assert asked[1].headers["if-none-match"] == 'W/"circle-1"'
    with paperfeed.db.connect() as conn:
        repo = code_store.repository(conn, "marco-garosi/circle")
        history = conn.execute(
            select(repository_stars.c.stars).where(repository_stars.c.name == "marco-garosi/circle")
        ).all()
    assert repo is not None and repo["stars"] == 9 and repo["etag"] == 'W/"circle-1"'
    assert repo["checked_at"] is not None
    assert history == [(9,)]  # a 304 adds no observation


def test_a_rate_limit_stops_the_run_until_its_reset_and_the_next_run_resumes(
    paperfeed: Paperfeed, fixture_server: FixtureServer
) -> None:
    _papers(paperfeed)
    reset = int((datetime.now(UTC) + timedelta(minutes=30)).timestamp())
    # The first repository asked (never-checked ones by name) uses up the limit.
    fixture_server.route(
        "/github/repos/marco-garosi/CIRCLE",
        recorded(
            "repo_marco-garosi_CIRCLE.json",
            ETag='W/"circle-1"',
            **{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
        ),
    )
    first = github_stars.refresh(paperfeed)
    assert first.checked == 1
    assert first.resume_at == datetime.fromtimestamp(reset, UTC)
    assert "rate limited" in first.stopped
    # Before the reset: nothing is asked.
    asked = len(fixture_server.requests)
    assert github_stars.refresh(paperfeed).checked == 0
    assert len(fixture_server.requests) == asked
    # After it, a 403 rate-limit answer (GitHub's primary limit) stops it again.
    after = datetime.fromtimestamp(reset, UTC) + timedelta(seconds=1)
    later_reset = reset + 3600
    fixture_server.route(
        "/github/repos/SCZwangxiao/video-FlexReduc",
        recorded(
            "rate_limited.json",
            403,
            **{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(later_reset)},
        ),
    )
    second = github_stars.refresh(paperfeed, now=after)
    assert second.checked == 0
    assert second.resume_at == datetime.fromtimestamp(later_reset, UTC)
    # A 429 with Retry-After (GitHub's secondary limit) is honoured the same way.
    fixture_server.route(
        "/github/repos/SCZwangxiao/video-FlexReduc",
        recorded("rate_limited.json", 429, **{"Retry-After": "120"}),
    )
    third_at = datetime.fromtimestamp(later_reset, UTC) + timedelta(seconds=1)
    third = github_stars.refresh(paperfeed, now=third_at)
    assert third.checked == 0 and third.resume_at is not None
    assert third.resume_at > datetime.now(UTC) + timedelta(seconds=100)
    # Then GitHub answers again: the run resumes with the repositories not yet
    # checked (the one checked before the limit is not due).
    _routes(fixture_server)
    fourth = github_stars.refresh(paperfeed, now=third.resume_at + timedelta(seconds=1))
    assert fourth.stopped == ""
    assert (fourth.due, fourth.checked) == (3, 3)


def test_server_errors_are_retried_and_the_token_is_sent(
    paperfeed: Paperfeed, fixture_server: FixtureServer
) -> None:
    paperfeed.settings.github_token = "ghp_test_token"
    store(
        paperfeed,
        [
            Paper(
                id="2503.11892",
                title="DecAlign",
                abstract="Code: https://github.com/taco-group/DecAlign.",
                authors=["T. Group"],
                source="jsonl",
            )
        ],
    )
    fixture_server.route(
        "/github/repos/taco-group/DecAlign",
        [
            Reply("upstream failure", 502, "text/plain"),
            Reply('{"full_name": "taco-gr', 200, JSON),  # a cut body
            recorded("repo_taco-group_DecAlign.json"),
        ],
    )
    report = github_stars.refresh(paperfeed)
    assert (report.checked, report.changed) == (1, 1)
    asked = fixture_server.requests_to("/github/repos/taco-group/DecAlign")
    assert len(asked) == 3
    assert {r.headers["authorization"] for r in asked} == {"Bearer ghp_test_token"}


def test_a_github_that_is_down_stops_the_run_and_loses_nothing(
    paperfeed: Paperfeed, fixture_server: FixtureServer
) -> None:
    _papers(paperfeed)
    fixture_server.route("/github/repos/marco-garosi/CIRCLE", Reply("down", 503, "text/plain"))
    paperfeed.settings.http_max_retries = 1
    report = github_stars.refresh(paperfeed)
    assert report.checked == 0 and "503" in report.stopped
    with paperfeed.db.connect() as conn:
        assert (
            len(code_store.due_repositories(conn, checked_before=datetime.now(UTC), limit=10)) == 4
        )


@pytest.mark.parametrize("body", ['{"message": "x"}', "[]", "not json"])
def test_an_answer_without_stars_is_a_bad_body(body: str) -> None:
    import httpx

    from paperfeed.ingest.http import BadBody

    with pytest.raises(BadBody):
        github_stars._answer(httpx.Response(200, content=body.encode()))


def test_the_cli_and_the_job_run_the_same_refresh(
    paperfeed: Paperfeed,
    fixture_server: FixtureServer,
    cli_env: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from paperfeed import jobs
    from paperfeed.cli import app

    _papers(paperfeed)
    _routes(fixture_server)
    monkeypatch.setenv("PAPERFEED_GITHUB_API_URL", paperfeed.settings.github_api_url)
    monkeypatch.setenv("PAPERFEED_GITHUB_DELAY_SECONDS", "0")
    result = CliRunner().invoke(app, ["code", "refresh", "--limit", "2", "--json"])
    assert result.exit_code == 0, result.output
    assert '"checked": 2' in result.output
    outcome = jobs.execute(paperfeed, jobs.JobSpec("github-stars"))
    assert outcome["checked"] == 2  # the two the CLI left
    stats = CliRunner().invoke(app, ["code", "stats"])
    assert "papers_with_code: 4" in stats.output
    assert "gone: 1" in stats.output
