"""Hugging Face daily papers: ``/api/daily_papers?date=YYYY-MM-DD``.

Each item wraps a ``paper`` object (arXiv id, title, summary, authors,
publishedAt, upvotes) and says who put it on the daily list and when
(``submittedOnDailyBy``, ``submittedOnDailyAt``). Those community signals are
what this source adds; the arXiv sources stay the authority on metadata (see
db.papers' merge rules).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import httpx

from paperfeed.config import Settings
from paperfeed.ingest.arxiv_meta import estimated_listing_date
from paperfeed.ingest.http import BadBody, PoliteClient
from paperfeed.models import (
    Paper,
    Skipped,
    clean_text,
    control_character,
    is_arxiv_id,
    slug_for,
    split_arxiv_id,
)

SOURCE = "hf-daily"
PAGE_SIZE = 100


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def paper_from_item(item: Any, *, where: str, day: date | None = None) -> Paper | Skipped:
    """One daily-papers item (or a bare paper object) -> Paper, or Skipped."""
    if not isinstance(item, dict):
        return Skipped(where, f"expected a JSON object, got {type(item).__name__}")
    inner = item.get("paper")
    paper: dict[str, Any] = inner if isinstance(inner, dict) else item
    raw_id = str(paper.get("id") or "")
    where = f"{where} paper {raw_id or '?'}"
    title = clean_text(paper.get("title") or item.get("title"))
    summary = clean_text(paper.get("summary") or item.get("summary"))
    authors = [
        clean_text(a.get("name"))
        for a in paper.get("authors") or []
        if isinstance(a, dict) and a.get("name")
    ]
    missing = [n for n, v in (("id", raw_id), ("title", title), ("summary", summary)) if not v]
    if missing:
        return Skipped(where, "missing " + ", ".join(missing))
    paper_id = split_arxiv_id(raw_id)[0] if is_arxiv_id(raw_id) else slug_for(title)
    published = _time(paper.get("publishedAt") or item.get("publishedAt"))
    featured_at = _time(paper.get("submittedOnDailyAt"))
    submitter = paper.get("submittedOnDailyBy") or item.get("submittedBy") or {}
    if not isinstance(submitter, dict):
        submitter = {}
    upvotes = paper.get("upvotes")
    stars = paper.get("githubStars")
    return Paper(
        organization=_organization(paper.get("organization") or item.get("organization")),
        id=paper_id,
        title=title,
        abstract=summary,
        authors=authors,
        published=published,
        listing_date=estimated_listing_date(published),
        upvotes=upvotes if isinstance(upvotes, int) and upvotes >= 0 else None,
        submitted_by=submitter.get("user") or submitter.get("fullname") or None,
        featured_date=featured_at.date() if featured_at else day,
        source=SOURCE,
        github_repo=_url(paper.get("githubRepo")),
        project_page=_url(paper.get("projectPage")),
        github_stars=stars if isinstance(stars, int) and stars >= 0 else None,
    )


def _url(value: Any) -> str | None:
    """An http(s) URL HF gives, or None (a missing, odd or oversized value is
    dropped rather than costing the paper)."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value.startswith(("http://", "https://")) or len(value) > 500:
        return None
    if control_character(value) is not None or any(c.isspace() for c in value):
        return None
    return value


def _organization(value: Any) -> dict[str, str] | None:
    """HF's organization object, reduced to its text fields (name, fullname, avatar)."""
    if not isinstance(value, dict):
        return None
    kept = {
        k: clean_text(value[k])
        for k in ("name", "fullname", "avatar")
        if isinstance(value.get(k), str) and clean_text(value[k])
    }
    return kept if kept.get("name") or kept.get("fullname") else None


def _items(body: bytes) -> list[Any]:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise BadBody(f"not JSON: {exc}") from exc
    if not isinstance(data, list):
        raise BadBody(f"expected a JSON list of papers, got {type(data).__name__}")
    return data


def fetch_day(
    settings: Settings, day: date, *, client: PoliteClient | None = None
) -> Iterator[Paper | Skipped]:
    """Every paper on the daily list of ``day``, following ``p``/``limit`` pages."""
    url = f"{settings.hf_api_url.rstrip('/')}/api/daily_papers"
    http = client or PoliteClient(settings, delay_seconds=settings.hf_delay_seconds)
    seen: set[str] = set()
    try:
        page = 0
        while True:
            params = {"date": day.isoformat(), "p": page, "limit": PAGE_SIZE}
            where = str(httpx.URL(url, params=params))
            items = http.get(url, params, lambda r: _items(r.content))
            fresh = 0
            for index, item in enumerate(items):
                try:
                    record = paper_from_item(item, where=f"{where} item {index}", day=day)
                except ValueError as exc:  # over a limit of models.record_problem
                    record = Skipped(f"{where} item {index}", str(exc))
                key = record.id if isinstance(record, Paper) else record.where
                if key in seen:
                    continue  # a server that ignores paging repeats page 0
                seen.add(key)
                fresh += 1
                yield record
            if len(items) < PAGE_SIZE or fresh == 0:
                return
            page += 1
    finally:
        if client is None:
            http.close()


def fetch_days(settings: Settings, first: date, last: date) -> Iterator[Paper | Skipped]:
    """The daily lists from ``first`` to ``last`` inclusive, over one connection."""
    with PoliteClient(settings, delay_seconds=settings.hf_delay_seconds) as http:
        day = first
        while day <= last:
            yield from fetch_day(settings, day, client=http)
            day += timedelta(days=1)
