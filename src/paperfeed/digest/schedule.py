"""Digest periods: the site's days and ISO weeks (``trending.Period``). A
daily digest covers one weekday's listing (arXiv and Hugging Face publish no
lists at weekends); a weekly one covers an ISO week. A period is named by its
slug: "2026-11-20" or "2026-W47", half of the send log's unique key."""

from __future__ import annotations

import re
from datetime import date, timedelta

from paperfeed.trending import Period, parse_day, parse_week, period_containing

FREQUENCIES = ("daily", "weekly")
_FREQUENCY_OF = {"day": "daily", "week": "weekly"}
_WEEK = re.compile(r"^\d{4}-W")


def frequency_of(period: Period) -> str:
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


def parse_period(text: str) -> Period:
    """A period from its slug: YYYY-MM-DD (daily) or YYYY-Www (weekly); a
    ValueError (trending.PeriodError) names a bad one."""
    text = text.strip()
    if _WEEK.match(text):
        return parse_week(text)
    return daily(parse_day(text).start)


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
        return period_containing("week", today - timedelta(days=7))
    raise ValueError(f"unknown digest frequency {frequency!r} (daily or weekly)")


def due_periods(today: date) -> list[Period]:
    return [current_period(f, today) for f in FREQUENCIES]
