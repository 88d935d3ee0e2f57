"""Rules about arXiv metadata shared by the arXiv sources (API, OAI-PMH, snapshot)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pylatexenc.latex2text import LatexNodes2Text

from paperfeed.models import Paper, Version

# arXiv marks a withdrawal in the comment ("This paper has been withdrawn by
# the author") and, for old withdrawals, in the abstract; new-style withdrawals
# also have a last version with size 0 (OAI-PMH arXivRaw).
_WITHDRAWN_COMMENT = re.compile(r"\bwithdrawn\b", re.IGNORECASE)
# Abstracts are prose ("the drug was withdrawn from the market"), so only a
# notice at the very start counts.
_WITHDRAWN_ABSTRACT = re.compile(
    r"^\W*(?:withdrawn\b|(?:this|the) (?:paper|article|submission|manuscript|version|work)"
    r" (?:has been|is|was|is being) withdrawn\b|paper withdrawn\b)",
    re.IGNORECASE,
)


def is_withdrawn(comment: str | None, abstract: str | None = None) -> bool:
    return bool(
        (comment and _WITHDRAWN_COMMENT.search(comment))
        or (abstract and _WITHDRAWN_ABSTRACT.search(abstract))
    )


def parse_version_date(text: str | None) -> datetime | None:
    """'Mon, 2 Apr 2007 19:18:42 GMT' (snapshot and arXivRaw) -> aware datetime."""
    if not text:
        return None
    try:
        value = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_version_number(text: str) -> int:
    """'v3' -> 3; raises ValueError naming the input otherwise."""
    m = re.fullmatch(r"v?(\d+)", text.strip())
    if not m:
        raise ValueError(f"bad version {text!r}")
    return int(m.group(1))


def versions_from_history(items: list[tuple[str, str | None]]) -> list[Version]:
    """[('v1', 'Mon, 2 Apr 2007 ...'), ...] -> sorted Versions."""
    versions = {parse_version_number(v): parse_version_date(d) for v, d in items}
    return [Version(n, versions[n]) for n in sorted(versions)]


try:
    _ARXIV_TZ: ZoneInfo | None = ZoneInfo("America/New_York")
except ZoneInfoNotFoundError:  # no tz database on this machine
    _ARXIV_TZ = None


def estimated_listing_date(submitted: datetime | None) -> date | None:
    """The daily listing a new submission first appears in, by arXiv's schedule.

    Submissions received before 14:00 US Eastern on a weekday are announced
    that evening in the listing dated the next weekday; later ones roll to the
    next cutoff. Holidays are ignored, so this can be a day or two early; a
    real listing date (JSONL exports) wins when both are known.
    """
    if submitted is None:
        return None
    if submitted.tzinfo is None:
        submitted = submitted.replace(tzinfo=UTC)
    local = (
        submitted.astimezone(_ARXIV_TZ) if _ARXIV_TZ else submitted - timedelta(hours=5)
    ).replace(tzinfo=None)
    day = local.date()
    if local.hour >= 14:
        day += timedelta(days=1)
    while day.weekday() >= 5:  # a weekend submission waits for Monday's cutoff
        day += timedelta(days=1)
    listed = day + timedelta(days=1)
    while listed.weekday() >= 5:  # Friday's announcement is Monday's listing
        listed += timedelta(days=1)
    return listed


_latex = LatexNodes2Text(math_mode="verbatim", strict_latex_spaces=True)


def latex_to_text(text: str) -> str:
    """'Bal\\'azs' -> 'Balázs'. arXiv's raw author lists are TeX; math stays as typed."""
    if "\\" not in text and "{" not in text:
        return text
    try:
        return str(_latex.latex_to_text(text))
    except Exception:  # noqa: BLE001 (malformed TeX: keep what the author typed)
        return text


def author_name(keyname: str, forenames: str = "", suffix: str = "") -> str:
    """('Balázs', 'C.', '') -> 'C. Balázs' (the parsed form of the snapshot and arXiv OAI)."""
    return " ".join(latex_to_text(p).strip() for p in (forenames, keyname, suffix) if p.strip())


_PARENS = re.compile(r"\([^()]*\)")
_ET_AL = re.compile(r"(?:^|\s+)et\s+al\.?\s*$", re.IGNORECASE)
_AUTHOR_SEPARATOR = re.compile(r"\s*(?:,|;|\band\b|&)\s*")


def split_authors(text: str) -> list[str]:
    """arXivRaw's one-line author list -> names in order, affiliations dropped.

    'A. One (MIT), B. Two and C. Three' -> ['A. One', 'B. Two', 'C. Three'].
    """
    text = " ".join(text.split())
    while True:  # nested parentheses: innermost first
        stripped = _PARENS.sub("", text)
        if stripped == text:
            break
        text = stripped
    names = (_ET_AL.sub("", latex_to_text(p)).strip() for p in _AUTHOR_SEPARATOR.split(text))
    return [" ".join(n.split()) for n in names if n]


def arxiv_paper(*, withdrawn: bool = False, **fields: Any) -> Paper:
    """A Paper from arXiv metadata (API, OAI-PMH or snapshot), with the fields
    every arXiv source derives the same way: the listing date estimated from
    the v1 date, and the withdrawn flag from the comment or abstract."""
    fields.setdefault("listing_date", estimated_listing_date(fields.get("published")))
    withdrawn = withdrawn or is_withdrawn(fields.get("comment"), fields.get("abstract"))
    return Paper(withdrawn=withdrawn, **fields)
