"""The arXiv bulk metadata snapshot (Kaggle "Cornell-University/arxiv",
arxiv-metadata-oai-snapshot.json): one JSON object per line, 2.6M lines.

Streamed line by line (plain or gzip), never loaded whole. Fields used: id,
title, abstract, comments, journal-ref, doi, categories (space separated),
versions ([{version, created}] with RFC 2822 dates), authors_parsed
([[keyname, forenames, suffix]], already decoded from TeX), update_date.
``paper_from_snapshot`` is the one parser of this shape; the generic JSONL
reader uses it too when a line looks like a snapshot record.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from paperfeed.ingest.arxiv_meta import (
    arxiv_paper,
    author_name,
    split_authors,
    versions_from_history,
)
from paperfeed.ingest.files import json_lines
from paperfeed.models import Paper, Skipped, SourceFormatError, clean_text, split_arxiv_id

SOURCE = "arxiv-snapshot"


def is_snapshot_record(record: Any) -> bool:
    """The snapshot's shape: version history and parsed authors (or update_date)."""
    return (
        isinstance(record, dict)
        and isinstance(record.get("versions"), list)
        and ("authors_parsed" in record or "update_date" in record)
    )


def _authors(record: dict[str, Any]) -> list[str]:
    parsed = record.get("authors_parsed")
    if isinstance(parsed, list) and parsed:
        names = []
        for item in parsed:
            if not isinstance(item, list) or not item:
                raise ValueError(f"bad authors_parsed item {item!r}")
            parts = [str(p or "") for p in item] + ["", ""]
            names.append(author_name(parts[0], parts[1], parts[2]))
        return [n for n in names if n]
    return split_authors(str(record.get("authors") or ""))


def paper_from_snapshot(record: dict[str, Any]) -> Paper:
    """Raises ValueError with the reason when the record is unusable."""
    raw_id = record.get("id")
    if not raw_id:
        raise ValueError("missing 'id'")
    arxiv_id, _ = split_arxiv_id(str(raw_id))
    title = clean_text(record.get("title"))
    abstract = clean_text(record.get("abstract"))
    authors = _authors(record)
    history = record.get("versions") or []
    versions = versions_from_history(
        [(str(v.get("version", "")), v.get("created")) for v in history if isinstance(v, dict)]
    )
    missing = [
        name
        for name, value in (
            ("title", title),
            ("abstract", abstract),
            ("authors", authors),
            ("versions", versions),
        )
        if not value
    ]
    if missing:
        raise ValueError("missing " + ", ".join(f"'{m}'" for m in missing))
    categories = str(record.get("categories") or "").split()
    comment = clean_text(record.get("comments")) or None
    published = versions[0].created
    updated = versions[-1].created
    if updated is None and record.get("update_date"):
        updated = datetime.fromisoformat(str(record["update_date"])).replace(tzinfo=UTC)
    return arxiv_paper(
        id=arxiv_id,
        title=title,
        abstract=abstract,
        authors=authors,
        categories=categories,
        versions=versions,
        published=published,
        updated=updated,
        comment=comment,
        journal_ref=clean_text(record.get("journal-ref")) or None,
        doi=clean_text(record.get("doi")) or None,
        source=SOURCE,
    )


def in_category(categories: str, prefix: str) -> bool:
    """'cs' matches cs.CL and cs.LG; 'cs.CL' matches only cs.CL; 'math' not math-ph."""
    return any(c == prefix or c.startswith(prefix + ".") for c in categories.split())


def read_snapshot(path: Path, *, category: str | None = None) -> Iterator[Paper | Skipped]:
    """Stream the snapshot, optionally only papers with a category under ``category``.

    A file whose first record is not snapshot-shaped is a SourceFormatError;
    a bad record later is Skipped with its line number and id.
    """
    first = True
    for where, record in json_lines(path):
        if isinstance(record, Skipped):
            yield record
            continue
        if not is_snapshot_record(record):
            if first:
                raise SourceFormatError(
                    f"{where}: not an arXiv metadata snapshot record (no 'versions' and "
                    "'authors_parsed'); use `paperfeed ingest jsonl` for other JSON lines"
                )
            yield Skipped(where, "not a snapshot record (no 'versions' and 'authors_parsed')")
            continue
        first = False
        if category and not in_category(str(record.get("categories") or ""), category):
            continue
        try:
            yield paper_from_snapshot(record)
        except (ValueError, TypeError, AttributeError) as exc:
            yield Skipped(f"{where} (id {record.get('id')})", str(exc))
