"""The arXiv metadata rules shared by the API, OAI-PMH and snapshot sources."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from paperfeed.ingest.arxiv_meta import (
    estimated_listing_date,
    is_withdrawn,
    split_authors,
    versions_from_history,
)
from paperfeed.ingest.kaggle_snapshot import read_snapshot
from paperfeed.models import Paper
from tests.feeds import SNAPSHOT_HEAD


@pytest.mark.parametrize(
    ("submitted_utc", "listed"),
    [
        (datetime(2025, 11, 3, 18, 59, tzinfo=UTC), date(2025, 11, 4)),  # Mon 13:59 New York
        (datetime(2025, 11, 3, 19, 1, tzinfo=UTC), date(2025, 11, 5)),  # Mon 14:01: next cutoff
        (datetime(2025, 11, 7, 15, 0, tzinfo=UTC), date(2025, 11, 10)),  # Fri morning: Monday
        (datetime(2025, 11, 7, 20, 0, tzinfo=UTC), date(2025, 11, 11)),  # Fri 15:00: Tuesday
        (datetime(2025, 11, 8, 12, 0, tzinfo=UTC), date(2025, 11, 11)),  # Saturday: Tuesday
        (datetime(2025, 7, 1, 17, 30, tzinfo=UTC), date(2025, 7, 2)),  # summer time: 13:30 EDT
    ],
)
def test_estimated_listing_date(submitted_utc: datetime, listed: date) -> None:
    assert estimated_listing_date(submitted_utc) == listed


def test_split_authors() -> None:
    text = (
        "J. M\\\"uller (MIT, Cambridge (USA)), Zo\\'e Ng and\n  A. Wong; B. O'Neil, "
        "C. D. Smith et al."
    )
    assert split_authors(text) == ["J. Müller", "Zoé Ng", "A. Wong", "B. O'Neil", "C. D. Smith"]


@pytest.mark.parametrize(
    ("comment", "abstract", "expected"),
    [
        ("This paper has been withdrawn by the author", "", True),
        ("Withdrawn: error in the proof of Theorem 2", "", True),
        (None, "This paper has been withdrawn due to a crucial sign error.", True),
        (None, "withdrawn", True),
        ("12 pages", "We model how the drug was withdrawn from the market.", False),
        ("12 pages, 3 figures", "Online learning with withdrawn samples.", False),
    ],
)
def test_is_withdrawn(comment: str | None, abstract: str, expected: bool) -> None:
    assert is_withdrawn(comment, abstract) is expected


def test_version_history_is_sorted_and_dated() -> None:
    versions = versions_from_history(
        [("v2", "Tue, 24 Jul 2007 20:10:27 GMT"), ("v1", "Mon, 2 Apr 2007 19:18:42 GMT")]
    )
    assert [(v.number, v.created) for v in versions] == [
        (1, datetime(2007, 4, 2, 19, 18, 42, tzinfo=UTC)),
        (2, datetime(2007, 7, 24, 20, 10, 27, tzinfo=UTC)),
    ]
    with pytest.raises(ValueError, match="bad version 'latest'"):
        versions_from_history([("latest", None)])


def test_snapshot_is_streamed_not_loaded(tmp_path: Path) -> None:
    """The reader has handed out its first paper before the file's end is read:
    a line appended after that point is still seen."""
    path = tmp_path / "snapshot.json"
    lines = SNAPSHOT_HEAD.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:199]), encoding="utf-8")
    reader = read_snapshot(path)
    first = next(reader)
    assert isinstance(first, Paper) and first.id == "0704.0001"
    with path.open("a", encoding="utf-8") as handle:
        handle.write(lines[199])
    rest = [r.id for r in reader if isinstance(r, Paper)]
    assert len(rest) == 199 and rest[-1] == "0704.0200"
