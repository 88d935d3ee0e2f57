"""Hugging Face Papers pages saved as text: a header, a date line, then each
paper's title and abstract, separated by blank lines.

The pages carry no arXiv ids, so each paper gets a stable slug from its title;
the pipeline merges it with the arXiv record when one with the same title
arrives (see pipeline.resolve_duplicates).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from paperfeed.ingest.files import numbered_lines
from paperfeed.models import Paper, Skipped, SourceFormatError, clean_text, slug_for

SOURCE = "hf-page"
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_DATE_LINE = re.compile(rf"^({'|'.join(_MONTHS)})[a-z]* (\d{{1,2}})(?:, (\d{{4}}))?$")
# Lines of the page chrome, not papers.
_CHROME = {"new", "subscribe", "get trending papers in your email inbox!"}


def _page_date(line: str, year: int) -> date | None:
    m = _DATE_LINE.match(line.strip())
    if not m:
        return None
    return date(int(m.group(3) or year), _MONTHS.index(m.group(1)) + 1, int(m.group(2)))


def read_hf_page(path: Path, *, year: int | None = None) -> Iterator[Paper | Skipped]:
    """Yield the papers on one saved page. The page shows "Apr 1" with no year;
    ``year`` supplies it (default: the file's modification year)."""
    blocks: list[tuple[int, str]] = []
    for lineno, line in numbered_lines(path):
        if isinstance(line, Skipped):
            raise SourceFormatError(str(line))
        text = line.strip()
        if text.lower() in _CHROME or text.lower().startswith("byak"):
            continue
        blocks.append((lineno, text))
    if not blocks:
        raise SourceFormatError(f"{path}: empty page, no papers found")
    year = year or date.fromtimestamp(path.stat().st_mtime).year
    listing: date | None = None
    if (d := _page_date(blocks[0][1], year)) is not None:
        listing = d
        blocks = blocks[1:]
    else:
        raise SourceFormatError(
            f"{path}:{blocks[0][0]}: not a Hugging Face papers page (expected a date line "
            f"such as 'Apr 1', found {blocks[0][1][:60]!r})"
        )
    # Titles and abstracts alternate. A title is short and has no final period;
    # an abstract is long. An odd block out is reported, not guessed at.
    i = 0
    while i < len(blocks):
        lineno, title = blocks[i]
        if i + 1 >= len(blocks):
            yield Skipped(f"{path}:{lineno}", "title with no abstract after it")
            break
        _, abstract = blocks[i + 1]
        if len(title) > 400 or len(abstract) < len(title):
            yield Skipped(f"{path}:{lineno}", "expected a title line followed by an abstract")
            i += 1
            continue
        try:
            paper = Paper(
                id=slug_for(title),
                title=clean_text(title),
                abstract=clean_text(abstract),
                authors=[],
                listing_date=listing,
                source=SOURCE,
            )
        except ValueError as exc:  # over a limit of models.record_problem
            yield Skipped(f"{path}:{lineno}", str(exc))
        else:
            yield paper
        i += 2
