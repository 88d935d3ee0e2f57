"""The lists of papers by day, ISO week and month, as the home page, the list
pages, the feeds, ``/api/daily_papers`` and ``paperfeed trending`` show them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from paperfeed import trending
from paperfeed.app import Paperfeed
from paperfeed.trending import ListPage, Navigation, Period, PeriodKind


@dataclass
class Listing:
    period: Period | None  # None: no period asked for, or none has papers yet (home)
    page: ListPage | None  # None: nothing to list
    nav: Navigation | None = None  # only when asked for


def paper(app: Paperfeed, paper_id: str, *, include_hidden: bool = False) -> dict[str, Any] | None:
    """One paper as the lists show it (with ``upvotes`` and ``trending_score``),
    found by its id or an alias; curator-hidden papers only when asked."""
    with app.db.connect() as conn:
        return trending.paper_with_upvotes(
            conn,
            paper_id,
            half_life_hours=app.settings.trending_half_life_hours,
            include_hidden=include_hidden,
        )


def latest_period(app: Paperfeed, kind: PeriodKind = "day") -> Period | None:
    """The day (or the week or month holding it) of today's list, or of the
    latest day that has papers; None while nothing is listed."""
    with app.db.connect() as conn:
        day = trending.home_day(conn, datetime.now(UTC).date())
    return trending.period_containing(kind, day) if day else None


def list_papers(
    app: Paperfeed,
    period: Period | None,
    *,
    latest: bool = False,
    sort: str = "trending",
    page: int = 0,
    limit: int = 50,
    submitter: str | None = None,
    navigation: bool = False,
    has_code: bool = False,
    followed_by: int | None = None,
) -> Listing:
    """One page of ``period``'s papers, by trending score or newest first
    (``period`` None: every paper). ``latest``: the home list instead, today's
    or the latest day's that has papers (an empty Listing while there is none).
    ``navigation``: with the previous and next periods that list papers.
    ``has_code``: only papers that link to code; sort ``code``: the
    trending-by-code list (docs/trending.md). ``followed_by``: only papers by
    authors that reader follows."""
    with app.db.connect() as conn:
        if latest:
            day = trending.home_day(conn, datetime.now(UTC).date())
            if day is None:
                return Listing(None, None)
            period = trending.period_containing("day", day)
        listed = trending.list_papers(
            conn,
            period,
            half_life_hours=app.settings.trending_half_life_hours,
            sort=sort,
            page=page,
            limit=limit,
            submitter=submitter,
            has_code=has_code,
            code_vote_weight=app.settings.trending_code_vote_weight,
            followed_by=followed_by,
        )
        nav = trending.navigation(conn, period) if navigation and period is not None else None
    return Listing(period, listed, nav)
