"""Digest periods: the site's days and ISO weeks (``trending.Period``). A
daily digest covers one weekday's listing (arXiv and Hugging Face publish no
lists at weekends); a weekly one covers an ISO week. A period is named by its
slug: "2026-11-20" or "2026-W47", half of the send log's unique key."""

from __future__ import annotations

import re
from datetime import date, timedelta

from paperfeed.trending import Period, period_containing

FREQUENCIES = ("daily", "weekly")
_FREQUENCY_OF = {"day": "daily", "week": "weekly"}
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def frequency(period: Period) -> str:
    """The subscriptions' name for the period's kind: daily or weekly."""
    return _FREQUENCY_OF[period.kind]


def label(period: Period) -> str:
    """How a digest names its period, in the subject and the heading."""
    if period.kind == "day":
        return period.start.strftime("%A, %b %-d, %Y")
    slug = period.slug
    return f"week {slug[-2:]} of {slug[:4]} ({period.start:%b %-d} - {period.end:%b %-d})"


def daily(day: date) -> Period:
    if day.weekday() >= 5:
        raise ValueError(f"{day.isoformat()} is a weekend day: daily digests cover weekdays")
    return period_containing("day", day)


def weekly(year: int, week: int) -> Period:
    try:
        start = date.fromisocalendar(year, week, 1)
    except ValueError as exc:
        raise ValueError(f"no ISO week {year}-W{week:02d}") from exc
    return period_containing("week", start)


def parse_period(text: str) -> Period:
    """A period from its key: YYYY-MM-DD (daily) or YYYY-Www (weekly)."""
    text = text.strip()
    match = _WEEK.match(text)
    if match:
        return weekly(int(match.group(1)), int(match.group(2)))
    try:
        day = date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not a digest period (YYYY-MM-DD or YYYY-Www): {text[:40]!r}") from exc
    return daily(day)


def current_period(frequency: str, today: date) -> Period:
    """The period that is due on ``today``: the latest weekday up to today for
    daily digests (a Saturday run still sends Friday's if it was missed), and
    the last complete ISO week for weekly ones (sent from its Monday on)."""
    if frequency == "daily":
        day = today
        while day.weekday() >= 5:
            day -= timedelta(days=1)
        return daily(day)
    if frequency == "weekly":
        year, week, _ = (today - timedelta(days=7)).isocalendar()
        return weekly(year, week)
    raise ValueError(f"unknown digest frequency {frequency!r} (daily or weekly)")


def due_periods(today: date) -> list[Period]:
    return [current_period(f, today) for f in FREQUENCIES]
