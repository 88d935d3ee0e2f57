"""Trending: upvotes decayed by age, and the daily, weekly and monthly lists.

The score
---------
Every upvote loses half its weight every ``half_life_hours`` (setting
``trending_half_life_hours``, 48 h by default)::

    score(paper, now) = sum over votes v of  2 ** (-age_hours(v) / H)
                      + U * 2 ** (-age_hours(imported_at) / H)

where U is the paper's imported Hugging Face upvote count, counted as if cast
when the paper was featured on HF's daily list (``featured_date``), else when
it was first listed, else when it was published. Ages are clamped at zero, so
a clock running slightly ahead cannot give a vote more than full weight.

Why this shape rather than Hacker News' ``votes / (age + 2) ** gravity``:

- Each vote decays by *its own* age, not the paper's. An older paper that
  readers discover today rises; a paper that got all its votes last week sinks,
  however recently it was published. HN's formula cannot tell a fresh vote
  from a week-old one.
- Exponential decay multiplies every score by the same factor as time passes,
  so the *order* of a list does not depend on when it is rendered: a list is
  stable between two page loads, and API pages do not reshuffle mid-paging.
- One interpretable knob. 48 h matches the daily rhythm of arXiv listings: a
  vote from yesterday still counts 70 %, one from a week ago 9 %, one from a
  month ago practically nothing.

Scores are computed in log space (log2 of the sum) so that months-old votes do
not underflow to zero and ties between old papers still rank correctly.

The lists
---------
A list is the papers first listed on a day, in an ISO week or in a month,
minus papers a curator hid (and papers the reader marked "not interested").
Sorted by ``trending``: curator-featured papers first, then by score, then by
total upvotes, then newest; papers with nothing to score follow, newest first.
Sorted by ``newest``: listing date, then arXiv v1 date, then id, descending.
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import Connection

from paperfeed.db import code as code_store
from paperfeed.db import comments as comment_store
from paperfeed.db import papers as paper_store
from paperfeed.db import teasers as teaser_store
from paperfeed.db import trending as trending_store
from paperfeed.db.trending import Candidate, ListFilter
from paperfeed.models import is_arxiv_id, split_arxiv_id

PeriodKind = Literal["day", "week", "month"]
PERIOD_KINDS: tuple[PeriodKind, ...] = ("day", "week", "month")
SORTS = ("trending", "newest", "discussed", "code")
MAX_LIMIT = 100


class PeriodError(ValueError):
    """A day, week or month that does not parse or does not exist."""


# ---------------------------------------------------------------- the score


def as_utc(value: datetime | date) -> datetime:
    """Datetimes from SQLite come back naive (they were stored as UTC); dates
    count from midnight UTC."""
    if not isinstance(value, datetime):
        return datetime.combine(value, time(0, 0), tzinfo=UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def age_hours(when: datetime | date, now: datetime) -> float:
    return _Clock(now).age_hours(when)


class _Clock:
    """``now`` in both forms a stored time can come in, so scoring hundreds of
    votes does not convert each one (SQLite hands back naive UTC datetimes)."""

    __slots__ = ("aware", "naive")

    def __init__(self, now: datetime) -> None:
        self.aware = as_utc(now)
        self.naive = self.aware.replace(tzinfo=None)

    def age_hours(self, when: datetime | date) -> float:
        if isinstance(when, datetime):
            delta = (self.naive - when) if when.tzinfo is None else (self.aware - when)
        else:
            delta = self.aware - as_utc(when)
        return max(0.0, delta.total_seconds() / 3600.0)


def log2_score(
    events: Iterable[tuple[datetime | date, int]], now: datetime, half_life_hours: float
) -> float:
    """log2 of the decayed vote sum; ``-inf`` when nothing counts.

    ``events`` are (when, how many votes) pairs: one per reader vote, one for
    the block of imported upvotes.
    """
    _check_half_life(half_life_hours)
    clock = _Clock(now)
    return _log2_sum(
        [
            math.log2(count) - clock.age_hours(when) / half_life_hours
            for when, count in events
            if count > 0
        ]
    )


def _check_half_life(half_life_hours: float) -> None:
    if half_life_hours <= 0:
        raise ValueError(f"trending half-life must be positive, got {half_life_hours}")


def _log2_sum(terms: Sequence[float]) -> float:
    """log2(sum(2**t for t in terms)) without overflow or underflow."""
    if not terms:
        return -math.inf
    top = max(terms)
    if len(terms) == 1:
        return top
    return top + math.log2(math.fsum(2.0 ** (t - top) for t in terms))


def trending_score(
    vote_times: Iterable[datetime],
    *,
    now: datetime,
    half_life_hours: float,
    imported_upvotes: int = 0,
    imported_at: datetime | date | None = None,
) -> float:
    """The documented score itself (see the module docstring)."""
    return 2.0 ** log2_score(
        _events(vote_times, imported_upvotes, imported_at), now, half_life_hours
    )


def _events(
    vote_times: Iterable[datetime], imported_upvotes: int, imported_at: datetime | date | None
) -> list[tuple[datetime | date, int]]:
    events: list[tuple[datetime | date, int]] = [(t, 1) for t in vote_times]
    if imported_upvotes > 0 and imported_at is not None:
        events.append((imported_at, imported_upvotes))
    return events


def imported_at(
    featured_date: date | None,
    listing_date: date | None,
    published: datetime | None,
    created_at: datetime,
) -> datetime | date:
    """When imported upvotes count as cast: HF featured day, else listing day,
    else v1 date, else when Paperfeed stored the paper."""
    return featured_date or listing_date or published or created_at


def _ranked(
    candidates: Sequence[Candidate], now: datetime, half_life_hours: float
) -> list[tuple[float, Candidate]]:
    """(log2 score, candidate), best first: featured, then score, then total
    upvotes, then newest. One clock for the whole list: a week can hold
    thousands of votes."""
    _check_half_life(half_life_hours)
    clock = _Clock(now)
    keyed = []
    for c in candidates:
        terms = [-clock.age_hours(t) / half_life_hours for t in c.vote_times]
        if c.imported_upvotes > 0:
            when = imported_at(c.featured_date, c.listing_date, c.published, c.created_at)
            terms.append(math.log2(c.imported_upvotes) - clock.age_hours(when) / half_life_hours)
        log_score = _log2_sum(terms)
        key = (
            c.featured,
            log_score,
            len(c.vote_times) + c.imported_upvotes,
            *_newest_key(c.listing_date, c.published, c.id),
        )
        keyed.append((key, log_score, c))
    keyed.sort(key=lambda k: k[0], reverse=True)
    return [(log_score, c) for _, log_score, c in keyed]


_OLDEST = datetime.min.replace(tzinfo=UTC)


def _newest_key(
    listing_date: date | None, published: datetime | None, paper_id: str
) -> tuple[date, datetime, str]:
    # The same order as db.trending.newest_order(), for sorting in Python.
    return (listing_date or date.min, as_utc(published) if published else _OLDEST, paper_id)


# ---------------------------------------------------------------- periods


_DAY_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, slots=True)
class Period:
    """A day, an ISO week (Monday to Sunday) or a calendar month; ``end`` is inclusive."""

    kind: PeriodKind
    start: date
    end: date

    @property
    def slug(self) -> str:
        if self.kind == "day":
            return self.start.isoformat()
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"{year:04d}-W{week:02d}"
        return f"{self.start.year:04d}-{self.start.month:02d}"

    @property
    def path(self) -> str:
        segment = {"day": "date", "week": "week", "month": "month"}[self.kind]
        return f"/papers/{segment}/{self.slug}"

    @property
    def title(self) -> str:
        if self.kind == "day":
            return f"{self.start:%B} {self.start.day}, {self.start.year}"
        if self.kind == "week":
            _, week, _ = self.start.isocalendar()
            return (
                f"Week {week}, {self.start.isocalendar()[0]} "
                f"({self.start:%b} {self.start.day} – {self.end:%b} {self.end.day})"
            )
        return f"{self.start:%B} {self.start.year}"

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end


def _clamped(day: date, days: int) -> date:
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


def period_containing(kind: PeriodKind, day: date) -> Period:
    if kind == "day":
        return Period("day", day, day)
    if kind == "week":
        monday = _clamped(day, -day.weekday())
        return Period("week", monday, _clamped(monday, 6))
    last = calendar.monthrange(day.year, day.month)[1]
    return Period("month", day.replace(day=1), day.replace(day=last))


def parse_day(text: str) -> Period:
    m = _DAY_RE.match(text)
    try:
        if not m:
            raise ValueError
        return period_containing("day", date(int(m[1]), int(m[2]), int(m[3])))
    except ValueError:
        raise PeriodError(f"not a valid date (expected YYYY-MM-DD): {text[:40]!r}") from None


def parse_week(text: str) -> Period:
    m = _WEEK_RE.match(text)
    if not m:
        raise PeriodError(f"not a valid ISO week (expected YYYY-Www): {text[:40]!r}")
    year, week = int(m[1]), int(m[2])
    try:
        monday = date.fromisocalendar(year, week, 1)
    except ValueError:
        raise PeriodError(
            f"not a valid ISO week: {text[:40]!r} (year {year} has weeks 01 to "
            f"{_weeks_in(year) if 1 <= year <= 9999 else '?'})"
        ) from None
    return period_containing("week", monday)


def _weeks_in(year: int) -> int:
    return date(year, 12, 28).isocalendar()[1]


def parse_month(text: str) -> Period:
    m = _MONTH_RE.match(text)
    try:
        if not m:
            raise ValueError
        return period_containing("month", date(int(m[1]), int(m[2]), 1))
    except ValueError:
        raise PeriodError(f"not a valid month (expected YYYY-MM): {text[:40]!r}") from None


def parse_period(kind: PeriodKind, text: str) -> Period:
    return {"day": parse_day, "week": parse_week, "month": parse_month}[kind](text)


@dataclass(frozen=True, slots=True)
class Navigation:
    """Previous/next periods that list papers, and the same place as a day,
    week and month (the switcher)."""

    previous: Period | None
    next: Period | None
    switch: dict[str, Period] = field(default_factory=dict)


def navigation(conn: Connection, period: Period) -> Navigation:
    before, after = trending_store.listing_dates_around(conn, period.start, period.end)
    # Switching from a week or month to a day lands on its latest listed day.
    anchor = period.start
    if period.kind != "day":
        anchor = (
            trending_store.latest_listing_date_between(conn, period.start, period.end)
            or period.start
        )
    return Navigation(
        previous=period_containing(period.kind, before) if before else None,
        next=period_containing(period.kind, after) if after else None,
        switch={kind: period_containing(kind, anchor) for kind in PERIOD_KINDS},
    )


def home_day(conn: Connection, today: date) -> date | None:
    """Today's list, or the latest day that has papers."""
    return trending_store.latest_listing_date(
        conn, on_or_before=today
    ) or trending_store.latest_listing_date(conn)


# ---------------------------------------------------------------- lists


@dataclass(slots=True)
class ListPage:
    period: Period | None
    sort: str
    page: int  # 0-based
    limit: int
    total: int
    papers: list[dict[str, Any]]

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.limit))

    @property
    def has_next(self) -> bool:
        return (self.page + 1) * self.limit < self.total


def check_sort(sort: str) -> str:
    # HF's API calls "newest" publishedAt.
    normalized = "newest" if sort == "publishedAt" else sort
    if normalized not in SORTS:
        raise ValueError(
            f"unknown sort {sort[:40]!r}: use trending, newest (publishedAt), discussed or code"
        )
    return normalized


def list_papers(
    conn: Connection,
    period: Period | None,
    *,
    half_life_hours: float,
    sort: str = "trending",
    page: int = 0,
    limit: int = 50,
    now: datetime | None = None,
    reader_id: int | None = None,
    submitter: str | None = None,
    has_code: bool = False,
    code_vote_weight: float = 1.0,
    followed_by: int | None = None,
) -> ListPage:
    """One page of a list (``period`` None: every paper), with each paper's
    ``upvotes`` (imported + readers') and ``trending_score``. ``has_code``:
    only papers that link to code. Sorted by ``code``: the trending-by-code
    list (only papers with code; ``code_ranked``), each paper with its
    ``stars_gained`` and ``code_score``."""
    sort = check_sort(sort)
    if page < 0:
        raise ValueError(f"page must be 0 or more, got {page}")
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    now = now or datetime.now(UTC)
    where = ListFilter(
        start=period.start if period else None,
        end=period.end if period else None,
        reader_id=reader_id,
        submitter=submitter,
        has_code=has_code or sort == "code",
        followed_by=followed_by,
    )
    offset = page * limit
    total = trending_store.count_listed(conn, where)
    scores: dict[str, float] = {}
    coded: dict[str, CodeRank] = {}
    if sort == "code":
        ranked_code = code_ranked(conn, where, period, now=now, vote_weight=code_vote_weight)
        ids = [r.id for r in ranked_code[offset : offset + limit]]
        coded = {r.id: r for r in ranked_code[offset : offset + limit]}
    elif sort == "newest":
        ids = trending_store.newest_ids(conn, where, offset=offset, limit=limit)
    elif sort == "discussed":
        ids = comment_store.discussed_ids(conn, where, offset=offset, limit=limit)
    else:
        keyed = _ranked(trending_store.scoring_candidates(conn, where), now, half_life_hours)
        ids = [c.id for _, c in keyed[offset : offset + limit]]
        scores = {c.id: 2.0**log_score for log_score, c in keyed[offset : offset + limit]}
        if len(ids) < limit:
            ids += trending_store.unscored_ids(
                conn, where, offset=max(0, offset - len(keyed)), limit=limit - len(ids)
            )
    rows = papers_with_upvotes(conn, ids, scores)
    for row in rows:
        if (rank := coded.get(row["id"])) is not None:
            row["stars_gained"] = rank.stars_gained
            row["code_score"] = rank.score
    return ListPage(period=period, sort=sort, page=page, limit=limit, total=total, papers=rows)


# ---------------------------------------------------------------- trending by code


@dataclass(frozen=True, slots=True)
class CodeRank:
    id: str
    score: float
    stars_gained: int
    upvotes: int


def stars_gained(
    history: Sequence[tuple[datetime, int]], start: datetime | None, end: datetime
) -> int:
    """Stars gained in [start, end]: the last count observed by ``end`` minus
    the last one observed before ``start`` (0 when the repository was first
    seen in the window, or ``start`` is None: every star counts). Never negative."""
    before = 0
    latest = 0
    for at, stars in history:  # oldest first
        if start is not None and at < start:
            before = stars
        if at <= end:
            latest = stars
    return max(0, latest - before)


def code_score(gained: int, upvotes: int, vote_weight: float) -> float:
    """The trending-by-code score (docs/trending.md)::

    log2(1 + stars gained in the period) + w * log2(1 + upvotes)
    """
    return math.log2(1 + max(0, gained)) + vote_weight * math.log2(1 + max(0, upvotes))


def code_ranked(
    conn: Connection,
    where: ListFilter,
    period: Period | None,
    *,
    now: datetime,
    vote_weight: float,
) -> list[CodeRank]:
    """The papers of ``where`` that link to code, best first: by ``code_score``,
    then stars gained, then upvotes, then newest. A paper's stars gained are
    those of its GitHub repository that gained most (a paper naming two
    counts once). The window is the period, up to ``now``."""
    clauses = where.clauses()
    candidates = code_store.code_candidates(conn, clauses)
    ids = [c[0] for c in candidates]
    votes = trending_store.vote_counts(conn, ids)
    repos = code_store.github_repos_of(conn, ids)
    history = code_store.star_history(conn, {r for names in repos.values() for r in names})
    start = as_utc(period.start) if period else None
    end = min(as_utc(period.end + timedelta(days=1)), as_utc(now)) if period else as_utc(now)
    keyed = []
    for paper_id, imported, listing_date, published in candidates:
        gained = max(
            (stars_gained(history.get(r, ()), start, end) for r in repos.get(paper_id, ())),
            default=0,
        )
        upvotes = imported + votes.get(paper_id, 0)
        score = code_score(gained, upvotes, vote_weight)
        key = (score, gained, upvotes, *_newest_key(listing_date, published, paper_id))
        keyed.append((key, CodeRank(paper_id, score, gained, upvotes)))
    keyed.sort(key=lambda k: k[0], reverse=True)
    return [rank for _, rank in keyed]


def paper_rows(conn: Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Stored rows of these papers by id (unknown ids dropped), each with its
    current ``keyphrases`` and ``tldr`` (``[]`` and None without them) and its
    code fields (``with_code``): what a card or a digest shows of a paper."""
    rows = teaser_store.attach_teasers(conn, paper_store.get_papers(conn, list(ids)))
    code = code_store.code_for(conn, list(rows))
    for paper_id, row in rows.items():
        with_code(row, code.get(paper_id))
    return rows


def papers_with_upvotes(
    conn: Connection, ids: Sequence[str], scores: dict[str, float] | None = None
) -> list[dict[str, Any]]:
    """Full paper rows in the order of ``ids`` (unknown ids dropped), each with
    ``votes``, ``upvotes``, ``trending_score`` (0 unless given), ``num_comments``
    and what ``paper_rows`` adds."""
    scores = scores or {}
    # Between the two queries of a trending page a vote may move a paper from
    # "unscored" to "scored"; list it once.
    ids = list(dict.fromkeys(ids))
    rows = paper_rows(conn, ids)
    counts = trending_store.vote_counts(conn, ids)
    comments = comment_store.comment_counts(conn, ids)
    result = []
    for paper_id in ids:
        row = rows.get(paper_id)
        if row is None:
            continue
        row["votes"] = counts.get(paper_id, 0)
        row["upvotes"] = row["votes"] + int(row["imported_upvotes"] or 0)
        row["trending_score"] = scores.get(paper_id, 0.0)
        row["num_comments"] = comments.get(paper_id, 0)
        result.append(row)
    return result


NO_CODE: dict[str, Any] = {
    "code_url": None,
    "code_kind": None,
    "github_repo": None,
    "github_stars": None,
    "project_page": None,
    "links": [],
}


def with_code(row: dict[str, Any], code: dict[str, Any] | None) -> None:
    """Add a paper's code fields (db.code.code_for) to its row: ``code_url``,
    ``code_kind``, ``github_repo``, ``github_stars``, ``project_page``, ``links``."""
    row.update(code or NO_CODE)
    if code is None:
        row["links"] = []


def paper_with_upvotes(
    conn: Connection,
    paper_id: str,
    *,
    half_life_hours: float,
    now: datetime | None = None,
    include_hidden: bool = False,
) -> dict[str, Any] | None:
    """One paper (by id or alias) with its upvotes and trending score, or None
    when it does not exist or a curator hid it (unless ``include_hidden``)."""
    paper = paper_store.get_paper(conn, paper_id)
    if paper is None and is_arxiv_id(paper_id):
        # "2503.01234v2" (or an abs/pdf URL form) names the paper, whatever version.
        paper = paper_store.get_paper(conn, split_arxiv_id(paper_id)[0])
    if paper is None or (paper["hidden"] and not include_hidden):
        return None
    times = trending_store.vote_times_for(conn, paper["id"])
    paper["votes"] = len(times)
    paper["upvotes"] = len(times) + int(paper["imported_upvotes"] or 0)
    paper["num_comments"] = comment_store.comment_counts(conn, [paper["id"]]).get(paper["id"], 0)
    teaser_store.attach_teasers(conn, {paper["id"]: paper})
    with_code(paper, code_store.code_for(conn, [paper["id"]]).get(paper["id"]))
    paper["trending_score"] = trending_score(
        times,
        now=now or datetime.now(UTC),
        half_life_hours=half_life_hours,
        imported_upvotes=int(paper["imported_upvotes"] or 0),
        imported_at=imported_at(
            paper["featured_date"], paper["listing_date"], paper["published"], paper["created_at"]
        ),
    )
    return paper
