"""Jinja2 environment shared by every page. Autoescaping is on for all
templates: titles, abstracts and author names come from outside."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

from fastapi.templating import Jinja2Templates

TEMPLATES_DIR = Path(__file__).parent / "templates"

templates = Jinja2Templates(directory=TEMPLATES_DIR)


def human_date(value: date | datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return value.strftime("%b %-d, %Y")


def authors_line(authors: list[str], limit: int = 8) -> str:
    if len(authors) <= limit:
        return ", ".join(authors)
    return ", ".join(authors[:limit]) + f", and {len(authors) - limit} more"


_SAFE_URL = re.compile(r"https?://[^\x00-\x20\x7f]+", re.IGNORECASE)


def safe_url(value: str | None) -> str:
    """An http(s) URL from a source, or "" for anything else: autoescaping does
    not stop a ``javascript:`` URL in an href."""
    text = (value or "").strip()
    return text if _SAFE_URL.fullmatch(text) else ""


templates.env.filters["human_date"] = human_date
templates.env.filters["safe_url"] = safe_url
templates.env.filters["authors_line"] = authors_line
