"""The trending score and the lists built on it (paperfeed.trending)."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta

import pytest

from paperfeed import trending
from paperfeed.db import Database
from paperfeed.db import papers as paper_store
from paperfeed.trending import PeriodError, list_papers, parse_day, parse_month, parse_week
from tests.trending_support import (
    NOW,
    add_papers,
    add_reader,
    hide_for_reader,
    hours_ago,
    set_paper,
    vote,
    votes_for,
)

H = 48.0
DAY = date(2025, 6, 15)


def ranked_ids(db: Database, period: trending.Period | None, **kwargs: object) -> list[str]:
    with db.connect() as conn:
        page = list_papers(conn, period, half_life_hours=H, now=NOW, limit=100, **kwargs)  # type: ignore[arg-type]
    return [p["id"] for p in page.papers]


# ---------------------------------------------------------------- the formula


def test_a_vote_loses_half_its_weight_every_half_life() -> None:
    fresh = trending.trending_score([NOW], now=NOW, half_life_hours=H)
    one_half_life = trending.trending_score([hours_ago(H)], now=NOW, half_life_hours=H)
    two_half_lives = trending.trending_score([hours_ago(2 * H)], now=NOW, half_life_hours=H)
    assert fresh == pytest.approx(1.0)
    assert one_half_life == pytest.approx(0.5)
    assert two_half_lives == pytest.approx(0.25)
    # Two votes one half-life old are worth exactly one fresh vote.
    two_old = trending.trending_score([hours_ago(H)] * 2, now=NOW, half_life_hours=H)
    assert two_old == pytest.approx(fresh)


def test_the_half_life_setting_changes_the_decay() -> None:
    vote_day_old = [hours_ago(24)]
    slow = trending.trending_score(vote_day_old, now=NOW, half_life_hours=96)
    fast = trending.trending_score(vote_day_old, now=NOW, half_life_hours=12)
    assert slow == pytest.approx(2 ** (-24 / 96))
    assert fast == pytest.approx(0.25)
    with pytest.raises(ValueError, match="half-life"):
        trending.trending_score(vote_day_old, now=NOW, half_life_hours=0)


def test_imported_upvotes_count_as_cast_at_the_featured_time() -> None:
    featured = NOW.date() - timedelta(days=4)  # 2 days + 12 h before noon = 108 h
    score = trending.trending_score(
        [], now=NOW, half_life_hours=H, imported_upvotes=10, imported_at=featured
    )
    assert score == pytest.approx(10 * 2 ** (-(4 * 24 + 12) / H))


def test_votes_from_the_future_count_as_fresh_not_more() -> None:
    score = trending.trending_score([NOW + timedelta(hours=5)], now=NOW, half_life_hours=H)
    assert score == pytest.approx(1.0)


def test_naive_datetimes_from_sqlite_are_read_as_utc() -> None:
    naive = hours_ago(H).replace(tzinfo=None)
    assert trending.trending_score([naive], now=NOW, half_life_hours=H) == pytest.approx(0.5)


def test_log_space_keeps_decade_old_votes_ordered() -> None:
    # 10 years is ~1,800 half-lives: 2**-1800 underflows a float to 0, but the
    # log score still tells three old votes from one.
    decade = [hours_ago(24 * 3650)]
    one = trending.log2_score([(t, 1) for t in decade], NOW, H)
    three = trending.log2_score([(t, 1) for t in decade * 3], NOW, H)
    assert math.isfinite(one) and math.isfinite(three)
    assert three == pytest.approx(one + math.log2(3))
    assert trending.log2_score([], NOW, H) == -math.inf


# ---------------------------------------------------------------- ranking


def test_a_recent_vote_outranks_an_old_one(db: Database) -> None:
    add_papers(db, [("2506.00001", DAY), ("2506.00002", DAY), ("2506.00003", DAY)])
    vote(db, "2506.00001", at=hours_ago(72))
    vote(db, "2506.00002", at=hours_ago(1))
    assert ranked_ids(db, parse_day("2025-06-15"))[:2] == ["2506.00002", "2506.00001"]


def test_many_old_votes_lose_to_one_fresh_vote_but_not_to_many_fresh(db: Database) -> None:
    add_papers(db, [("2506.00001", DAY), ("2506.00002", DAY), ("2506.00003", DAY)])
    votes_for(db, "2506.00001", 3, at=hours_ago(5 * 24))  # 3 * 2**-2.5 = 0.53
    vote(db, "2506.00002", at=hours_ago(0.5))  # ~0.99
    votes_for(db, "2506.00003", 3, at=hours_ago(2))  # ~2.9
    assert ranked_ids(db, parse_day("2025-06-15")) == ["2506.00003", "2506.00002", "2506.00001"]


def test_imported_hf_upvotes_count(db: Database) -> None:
    add_papers(db, [("2506.00001", DAY), ("2506.00002", DAY)])
    add_papers(db, [("2506.00003", DAY)], upvotes=7, featured_date=DAY)
    vote(db, "2506.00001", at=hours_ago(12))  # 0.84 < 7 * 2**-0.25
    ids = ranked_ids(db, parse_day("2025-06-15"))
    assert ids[:2] == ["2506.00003", "2506.00001"]
    with db.connect() as conn:
        page = list_papers(conn, parse_day("2025-06-15"), half_life_hours=H, now=NOW)
    upvotes = {p["id"]: p["upvotes"] for p in page.papers}
    assert upvotes == {"2506.00003": 7, "2506.00001": 1, "2506.00002": 0}


def test_imported_upvotes_decay_from_the_featured_day(db: Database) -> None:
    # Featured ten days ago with 10 HF upvotes: 10 * 2**-5.25 < one vote today.
    add_papers(db, [("2506.00001", DAY)], upvotes=10, featured_date=DAY - timedelta(days=10))
    add_papers(db, [("2506.00002", DAY)])
    vote(db, "2506.00002", at=hours_ago(1))
    assert ranked_ids(db, parse_day("2025-06-15")) == ["2506.00002", "2506.00001"]


def test_hidden_papers_are_never_listed(db: Database) -> None:
    add_papers(db, [("2506.00001", DAY), ("2506.00002", DAY)])
    votes_for(db, "2506.00001", 5, at=hours_ago(1))
    with db.begin() as conn:
        paper_store.set_curation(conn, "2506.00001", hidden=True)
    period = parse_day("2025-06-15")
    assert ranked_ids(db, period) == ["2506.00002"]
    assert ranked_ids(db, period, sort="newest") == ["2506.00002"]
    assert ranked_ids(db, None) == ["2506.00002"]
    with db.connect() as conn:
        assert list_papers(conn, period, half_life_hours=H).total == 1
        assert trending.paper_with_upvotes(conn, "2506.00001", half_life_hours=H) is None
        # A day whose only paper is hidden is no stop for previous/next.
        assert trending.navigation(conn, parse_day("2025-06-16")).previous == period


def test_featured_papers_rank_first(db: Database) -> None:
    add_papers(db, [("2506.00001", DAY), ("2506.00002", DAY), ("2506.00003", DAY)])
    votes_for(db, "2506.00001", 4, at=hours_ago(1))
    with db.begin() as conn:
        paper_store.set_curation(conn, "2506.00003", featured=True)
    assert ranked_ids(db, parse_day("2025-06-15"))[:2] == ["2506.00003", "2506.00001"]


def test_papers_a_reader_hid_leave_only_that_readers_list(db: Database) -> None:
    add_papers(db, [("2506.00001", DAY), ("2506.00002", DAY)])
    reader, other = add_reader(db), add_reader(db)
    hide_for_reader(db, reader, "2506.00001")
    period = parse_day("2025-06-15")
    assert ranked_ids(db, period, reader_id=reader) == ["2506.00002"]
    assert sorted(ranked_ids(db, period, reader_id=other)) == ["2506.00001", "2506.00002"]


def test_unscored_papers_follow_newest_first_and_paging_covers_each_once(db: Database) -> None:
    ids = [f"2506.{n:05d}" for n in range(1, 13)]
    add_papers(db, [(pid, DAY) for pid in ids])
    votes_for(db, "2506.00003", 2, at=hours_ago(3))
    vote(db, "2506.00007", at=hours_ago(3))
    period = parse_day("2025-06-15")
    seen: list[str] = []
    with db.connect() as conn:
        for page in range(5):
            listing = list_papers(conn, period, half_life_hours=H, now=NOW, page=page, limit=5)
            assert listing.total == 12
            seen += [p["id"] for p in listing.papers]
            if not listing.has_next:
                break
    unscored = sorted(set(ids) - {"2506.00003", "2506.00007"}, reverse=True)
    assert seen == ["2506.00003", "2506.00007", *unscored]


def test_newest_sort_uses_listing_date_then_v1_time(db: Database) -> None:
    add_papers(db, [("2506.00009", date(2025, 6, 14))])
    add_papers(db, [("2506.00001", DAY)], published=datetime(2025, 6, 13, 9, tzinfo=UTC))
    add_papers(db, [("2506.00002", DAY)], published=datetime(2025, 6, 13, 18, tzinfo=UTC))
    vote(db, "2506.00009", at=hours_ago(1))
    week = parse_week("2025-W24")
    assert ranked_ids(db, week, sort="newest") == ["2506.00002", "2506.00001", "2506.00009"]
    assert ranked_ids(db, week, sort="publishedAt")[0] == "2506.00002"
    assert ranked_ids(db, week)[0] == "2506.00009"


def test_week_and_month_lists_span_their_days(db: Database) -> None:
    add_papers(
        db,
        [
            ("2503.00001", date(2025, 3, 31)),  # Monday of 2025-W14, last day of March
            ("2504.00001", date(2025, 4, 1)),
            ("2504.00002", date(2025, 4, 6)),  # Sunday of 2025-W14
            ("2504.00003", date(2025, 4, 7)),  # Monday of 2025-W15
        ],
    )
    assert sorted(ranked_ids(db, parse_week("2025-W14"))) == [
        "2503.00001",
        "2504.00001",
        "2504.00002",
    ]
    assert ranked_ids(db, parse_month("2025-03")) == ["2503.00001"]
    assert sorted(ranked_ids(db, parse_month("2025-04"))) == [
        "2504.00001",
        "2504.00002",
        "2504.00003",
    ]


def test_list_arguments_are_checked(db: Database) -> None:
    with db.connect() as conn:
        for bad in ({"sort": "hot"}, {"page": -1}, {"limit": 0}, {"limit": 101}):
            with pytest.raises(ValueError):
                list_papers(conn, None, half_life_hours=H, **bad)  # type: ignore[arg-type]


# ---------------------------------------------------------------- periods


def test_periods_parse_strictly() -> None:
    assert parse_day("2025-02-28").start == date(2025, 2, 28)
    assert parse_week("2026-W53").start == date(2026, 12, 28)  # 2026 has 53 ISO weeks
    assert parse_week("2026-W53").end == date(2027, 1, 3)
    assert parse_week("2026-W01").start == date(2025, 12, 29)  # starts in the old year
    assert parse_month("2024-02").end == date(2024, 2, 29)
    for bad in ("2025-02-29", "2025-13-01", "20250101", "2025-1-1", "0000-01-01", "", "x"):
        with pytest.raises(PeriodError, match="YYYY-MM-DD"):
            parse_day(bad)
    for bad in ("2025-W53", "2025-W00", "2025-W7", "2025W07", "0000-W01"):
        with pytest.raises(PeriodError, match="ISO week"):
            parse_week(bad)
    with pytest.raises(PeriodError, match="weeks 01 to 52"):
        parse_week("2025-W53")
    for bad in ("2025-00", "2025-13", "10000-01", "2025-1"):
        with pytest.raises(PeriodError, match="YYYY-MM"):
            parse_month(bad)


def test_periods_at_the_end_of_the_calendar_do_not_overflow() -> None:
    last_week = parse_week("9999-W52")
    assert last_week.end <= date.max
    assert trending.period_containing("week", date.max).end == date.max
    assert parse_day("9999-12-31").slug == "9999-12-31"


def test_period_slugs_titles_and_paths() -> None:
    week = parse_week("2025-W09")
    assert (week.slug, week.path) == ("2025-W09", "/papers/week/2025-W09")
    assert week.title == "Week 9, 2025 (Feb 24 – Mar 2)"
    assert parse_month("2025-03").title == "March 2025"
    assert parse_day("2025-03-08").path == "/papers/date/2025-03-08"


def test_navigation_skips_empty_periods_and_stops_at_the_edges(db: Database) -> None:
    add_papers(
        db,
        [
            ("2503.00001", date(2025, 3, 18)),
            ("2503.00002", date(2025, 3, 20)),
            ("2505.00001", date(2025, 5, 2)),
        ],
    )
    with db.connect() as conn:
        first = trending.navigation(conn, parse_day("2025-03-18"))
        assert first.previous is None and first.next == parse_day("2025-03-20")
        last = trending.navigation(conn, parse_day("2025-05-02"))
        assert last.previous == parse_day("2025-03-20") and last.next is None
        march = trending.navigation(conn, parse_month("2025-03"))
        assert march.previous is None and march.next == parse_month("2025-05")
        assert march.switch["day"] == parse_day("2025-03-20")  # its latest listed day
        assert march.switch["week"] == parse_week("2025-W12")
        assert trending.home_day(conn, date(2025, 4, 1)) == date(2025, 3, 20)
        assert trending.home_day(conn, date(2025, 1, 1)) == date(2025, 5, 2)


def test_a_vote_on_a_paper_can_lift_it_over_every_unscored_paper(db: Database) -> None:
    add_papers(db, [(f"2506.{n:05d}", DAY) for n in range(1, 6)])
    before = ranked_ids(db, parse_day("2025-06-15"))
    vote(db, "2506.00001", at=hours_ago(1))
    after = ranked_ids(db, parse_day("2025-06-15"))
    assert before[0] != "2506.00001" and after[0] == "2506.00001"
    set_paper(db, "2506.00001", hidden=True)
    assert "2506.00001" not in ranked_ids(db, parse_day("2025-06-15"))


def test_cli_prints_the_same_list(cli_env: object, db: Database) -> None:
    from typer.testing import CliRunner

    from paperfeed.cli import app

    add_papers(db, [("2506.00001", DAY), ("2506.00002", DAY), ("2506.00003", DAY)])
    vote(db, "2506.00001", at=datetime.now(UTC))
    runner = CliRunner(env={"COLUMNS": "200"})
    result = runner.invoke(app, ["trending", "--date", "2025-06-15", "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["id"] for r in rows] == ["2506.00001", "2506.00003", "2506.00002"]
    assert rows[0]["upvotes"] == 1 and rows[0]["trending_score"] > 0.9
    table = runner.invoke(app, ["trending", "--week", "2025-W24"])
    assert table.exit_code == 0 and "2506.00001" in table.output
    bad = runner.invoke(app, ["trending", "--week", "2025-W53"])
    assert bad.exit_code == 2 and "weeks 01 to 52" in bad.output


def test_a_list_read_again_on_one_connection_sees_every_new_vote(db: Database) -> None:
    # A pooled connection keeps the candidates of the lists it scored
    # (db.trending.scoring_candidates) until the database changes: a vote
    # committed elsewhere, or written through the connection itself, must
    # show at once.
    from paperfeed.db import trending as trending_store
    from paperfeed.db.tables import votes

    add_papers(db, [(f"2506.{n:05d}", DAY) for n in range(1, 4)])
    week = parse_week("2025-W24")
    where = trending_store.ListFilter(start=week.start, end=week.end)

    def ids(conn: object) -> list[str]:
        page = list_papers(conn, week, half_life_hours=H, now=NOW)  # type: ignore[arg-type]
        return [p["id"] for p in page.papers]

    vote(db, "2506.00001", at=hours_ago(5))
    with db.connect() as reader:
        first = ids(reader)
        assert first[0] == "2506.00001"
        # The cache is in effect: the same candidates.
        kept = trending_store.scoring_candidates(reader, where)
        assert trending_store.scoring_candidates(reader, where) is kept
        # Another connection commits two fresher votes.
        votes_for(db, "2506.00003", 2, at=hours_ago(1))
        assert ids(reader)[0] == "2506.00003"
    voters = [add_reader(db) for _ in range(3)]
    with db.begin() as writer:
        assert ids(writer)[0] == "2506.00003"
        # The connection's own (uncommitted) writes: one, read, then two more.
        for n, reader_id in enumerate(voters):
            writer.execute(
                votes.insert().values(
                    reader_id=reader_id, paper_id="2506.00002", created_at=hours_ago(0.5)
                )
            )
            if n == 0:
                assert ids(writer)[0] == "2506.00003"  # one fresh vote is not yet two
        assert ids(writer)[0] == "2506.00002"
    set_paper(db, "2506.00002", hidden=True)
    with db.connect() as reader:
        assert ids(reader)[0] == "2506.00003" and "2506.00002" not in ids(reader)
