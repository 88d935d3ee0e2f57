"""Jinja2 environment shared by every page. Autoescaping is on for all
templates: titles, abstracts and author names come from outside.

Templates query nothing: a handler passes what its page shows, and
``page_context`` adds what the frame of every page shows. The only globals are
the formatting filters below."""

from __future__ import annotations

import functools
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates

TEMPLATES_DIR = Path(__file__).parent / "templates"


def page_context(request: Request) -> dict[str, Any]:
    """What the frame of every page shows, added to each TemplateResponse: ``me``,
    the signed-in reader or None; ``csrf_field()``, its forms' hidden input (made
    when a form renders: a page without forms starts no session); ``here``, the
    page's address, where its forms send the reader back to."""
    # web.auth renders pages itself, so it imports this module, not the reverse.
    from paperfeed.web.auth import csrf_field, current_reader

    query = request.url.query
    return {
        "me": current_reader(request),
        "csrf_field": functools.partial(csrf_field, request),
        "here": request.url.path + (f"?{query}" if query else ""),
    }


templates = Jinja2Templates(directory=TEMPLATES_DIR, context_processors=[page_context])


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
