"""JSON lines: the arxiv-cs-2025 export format and the raw daily-listing format.

arxiv-cs-2025: id, title, abstract, authors[], categories[], comment,
listing_date, abs_url, pdf_url.
Daily listing (dw-dengwei/daily-arXiv-ai-enhanced): id, title, summary,
authors, categories, comment, pdf, abs; some values are Python-literal
strings ("['cs.GT']", "None"), and the listing date is only in the file name
(2026-07-01.jsonl).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from paperfeed.ingest.files import json_lines
from paperfeed.ingest.kaggle_snapshot import is_snapshot_record, paper_from_snapshot
from paperfeed.models import (
    Paper,
    Skipped,
    Version,
    clean_text,
    split_arxiv_id,
)

SOURCE = "jsonl"
_DATE_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")


def _literal(value: Any) -> Any:
    """Undo the daily-listing export's habit of storing repr() strings."""
    if isinstance(value, str):
        text = value.strip()
        if text == "None":
            return None
        if text[:1] in "[{" and text[-1:] in "]}":
            try:
                return ast.literal_eval(text)
            except (ValueError, SyntaxError):
                return value
    return value


def _as_list(value: Any) -> list[str]:
    value = _literal(value)
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        return [clean_text(str(v)) for v in value if str(v).strip()]
    raise ValueError(f"expected a list, got {type(value).__name__}")


def paper_from_record(record: dict[str, Any], *, default_listing_date: date | None) -> Paper:
    """Raises ValueError (or KeyError) with the reason when the record is unusable."""
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    raw_id = _literal(record.get("id"))
    if not raw_id:
        raise ValueError("missing 'id'")
    arxiv_id, version = split_arxiv_id(str(raw_id))
    title = clean_text(_literal(record.get("title")))
    if not title:
        raise ValueError("missing 'title'")
    abstract = clean_text(_literal(record.get("abstract", record.get("summary"))))
    authors = _as_list(record.get("authors"))
    if not authors:
        raise ValueError("missing 'authors'")
    listing = _literal(record.get("listing_date"))
    listing_date = date.fromisoformat(listing) if listing else default_listing_date
    return Paper(
        id=arxiv_id,
        title=title,
        abstract=abstract,
        authors=authors,
        categories=_as_list(record.get("categories")),
        comment=clean_text(_literal(record.get("comment"))) or None,
        listing_date=listing_date,
        abs_url=_literal(record.get("abs_url", record.get("abs"))) or None,
        pdf_url=_literal(record.get("pdf_url", record.get("pdf"))) or None,
        versions=[Version(version)] if version else [],
        source=SOURCE,
    )


def read_jsonl(path: Path) -> Iterator[Paper | Skipped]:
    """Stream a JSON-lines file (plain or gzip). A bad line is Skipped with its
    line number; a file whose first line is not JSON is a SourceFormatError.
    Lines in the arXiv metadata snapshot's shape are read as such."""
    match = _DATE_IN_NAME.search(path.name)
    default_listing = date.fromisoformat(match.group(1)) if match else None
    for where, record in json_lines(path):
        if isinstance(record, Skipped):
            yield record
            continue
        try:
            if is_snapshot_record(record):
                yield paper_from_snapshot(record)
            else:
                yield paper_from_record(record, default_listing_date=default_listing)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            rid = record.get("id") if isinstance(record, dict) else None
            yield Skipped(f"{where} (id {rid})" if rid else where, str(exc))
