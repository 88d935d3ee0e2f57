"""Jinja2 environment shared by every page. Autoescaping is on for all
templates: titles, abstracts and author names come from outside.

Templates query nothing: a handler passes what its page shows, and
``page_context`` adds what the frame of every page shows. The only globals are
the formatting filters below."""

from __future__ import annotations

import functools
import re
import threading
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.templating import Jinja2Templates
from linkify_it import LinkifyIt
from markupsafe import Markup, escape

from paperfeed import export
from paperfeed.models import safe_url
from paperfeed.names import parse_author

TEMPLATES_DIR = Path(__file__).parent / "templates"


def page_context(request: Request) -> dict[str, Any]:
    """What the frame of every page shows, added to each TemplateResponse: ``me``,
    the signed-in reader or None; ``csrf_field()``, its forms' hidden input (made
    when a form renders: a page without forms starts no session); ``here``, the
    page's address, where its forms send the reader back to; ``density``, the
    lists' density the reader chose (static/lists.js remembers it in a cookie)."""
    # web.auth renders pages itself, so it imports this module, not the reverse.
    from paperfeed.web.auth import csrf_field, current_reader

    query = request.url.query
    return {
        "density": density_of(request),
        "me": current_reader(request),
        "csrf_field": functools.partial(csrf_field, request),
        "here": request.url.path + (f"?{query}" if query else ""),
    }


DENSITIES = ("compact", "comfortable")


def density_of(request: Request) -> str:
    """The lists' density from the reader's ``density`` cookie; compact unless
    they chose otherwise (and without JavaScript, where there is no toggle)."""
    value = request.cookies.get("density", "")
    return value if value in DENSITIES else DENSITIES[0]


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


# A sentence ends at . ! or ? before a space and a capital letter or digit.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")
TEASER_MAX = 300


def teaser(paper: dict[str, Any]) -> str:
    """A card's one-line teaser: the paper's TL;DR when it has one, else the
    first sentence of its abstract (never cut inside a $…$ formula: a cut
    leaves an odd number of dollars). CSS clips it to one line."""
    text = " ".join(str(paper.get("tldr") or paper.get("abstract") or "").split())
    for match in _SENTENCE_END.finditer(text):
        if match.start() > TEASER_MAX:
            break
        head = text[: match.start()]
        if head.count("$") % 2 == 0:
            return head
    return text[: TEASER_MAX * 2] if text.count("$", 0, TEASER_MAX * 2) % 2 == 0 else text


def author_url(key: str) -> str:
    """The page of the author with this key."""
    return "/authors/" + quote(key, safe="")


def organization_url(key: str) -> str:
    return "/organizations/" + quote(key, safe="")


def author_links(authors: list[str], limit: int | None = 8) -> Markup:
    """The authors line with each name a link to its author page (its key is
    the name's, ``names.parse_author``; an initials form merged into a full
    name is sent on from its own key)."""
    shown = authors if limit is None or len(authors) <= limit else authors[:limit]
    links = []
    for name in shown:
        parsed = parse_author(name)
        if parsed is None:
            links.append(escape(name))
        else:
            links.append(Markup('<a href="{}">{}</a>').format(author_url(parsed.key), name))
    line = Markup(", ").join(links)
    if len(shown) < len(authors):
        line += f", and {len(authors) - len(shown)} more"
    return line


class _Linkifiers(threading.local):
    # LinkifyIt keeps the state of its last match on the instance, so each
    # thread of the pool has its own; building one costs ~3 ms.
    def __init__(self) -> None:
        self.linkify = LinkifyIt(options={"fuzzy_email": False})


_linkifiers = _Linkifiers()
_URL_END = re.compile(r'["<>]')


def linkify(value: str | None) -> Markup:
    """``value`` escaped, with its http(s) URLs (``https://...``, ``www.x.org``,
    ``github.com/a/b``) as links that pass no referrer credit and no opener.
    Any other scheme (javascript:, data:, mailto:, ftp:) stays plain text."""
    text = value or ""
    parts: list[str] = []
    done = 0
    for match in _linkifiers.linkify.match(text) or []:
        url, end = match.url, match.last_index
        # linkify-it keeps quotes and angle brackets in a URL; in an abstract
        # they end it (`"https://x.org/a"` or `<https://x.org>`).
        if cut := _URL_END.search(text, match.index, end):
            url, end = url[: len(url) - (end - cut.start())], cut.start()
        if not (url := safe_url(url)):
            continue
        parts.append(escape(text[done : match.index]))
        parts.append(
            Markup('<a href="{}" rel="nofollow noopener">{}</a>').format(
                url, text[match.index : end]
            )
        )
        done = end
    parts.append(escape(text[done:]))
    return Markup("").join(parts)


templates.env.filters["human_date"] = human_date
templates.env.filters["linkify"] = linkify
templates.env.filters["coins"] = export.coins
templates.env.filters["safe_url"] = safe_url
templates.env.filters["authors_line"] = authors_line
templates.env.filters["teaser"] = teaser
templates.env.filters["author_links"] = author_links
templates.env.filters["author_url"] = author_url
templates.env.filters["organization_url"] = organization_url
