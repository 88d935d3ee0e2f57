"""Atom feeds (built by feedgen) of the trending lists.

- ``/feeds/trending/daily.xml``, ``weekly.xml``, ``monthly.xml``: the latest
  day, week or month that has papers, as it moves;
- ``/papers/date/YYYY-MM-DD/feed.xml``, ``/papers/week/YYYY-Www/feed.xml``,
  ``/papers/month/YYYY-MM/feed.xml``: one fixed list, as on its page;
- ``/feeds/search.xml?q=...``: a saved search, newest matches first;
- ``/collections/{id}/feed.xml``: a public collection, latest additions first
  (its papers come from the readers feature, ``readers.get_collection``);
- ``/comments.xml`` and ``/papers/{id}/comments.xml``: the newest comments on
  every paper, or on one (their HTML was sanitized when written).

feedgen (lxml underneath) escapes every text; what it cannot do is carry the
control characters XML 1.0 forbids, which arXiv text occasionally contains,
so those are dropped first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse, Response
from feedgen.feed import FeedGenerator

from paperfeed import readers, trending
from paperfeed.config import Settings
from paperfeed.services import comments, listings
from paperfeed.trending import Period, PeriodError, PeriodKind
from paperfeed.web.api import search_papers_with_upvotes
from paperfeed.web.deps import database, paperfeed_of, settings_of
from paperfeed.web.pages import paper_url
from paperfeed.web.params import RowId
from paperfeed.web.schemas import text_responses

FEED_SIZE = 50
ATOM = "application/atom+xml; charset=utf-8"


class AtomResponse(Response):
    media_type = "application/atom+xml"


router = APIRouter(
    tags=["feeds"],
    default_response_class=AtomResponse,
    responses=text_responses("text/plain", 400, 404),
)

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str | None) -> str:
    """Text XML 1.0 can carry (feedgen escapes <, > and & itself)."""
    return _NOT_XML.sub("", text or "")


def _summary(paper: dict[str, Any]) -> str:
    """The abstract, then the code link (with its GitHub stars) and project
    page on lines of their own: an entry has one link (see below), so these go
    in its text, which feed readers show and make clickable."""
    lines = [paper.get("abstract") or ""]
    if paper.get("code_url"):
        stars = paper.get("github_stars")
        lines.append(
            f"Code: {paper['code_url']}" + (f" (★ {stars:,})" if stars is not None else "")
        )
    if paper.get("project_page"):
        lines.append(f"Project page: {paper['project_page']}")
    return "\n\n".join(lines)


def atom_feed(
    settings: Settings,
    *,
    path: str,
    title: str,
    subtitle: str,
    papers: Sequence[dict[str, Any]],
    alternate_path: str | None = None,
) -> bytes:
    """An Atom document listing ``papers`` in order; ``path`` is the feed's own URL path."""
    base = settings.base_url.rstrip("/")
    fg = FeedGenerator()
    fg.id(base + path)
    fg.title(xml_text(title))
    fg.subtitle(xml_text(subtitle))
    fg.author(name=xml_text(settings.site_name))
    fg.link(href=base + path, rel="self", type="application/atom+xml")
    fg.link(href=base + (alternate_path or "/"), rel="alternate", type="text/html")
    fg.generator(xml_text(settings.site_name))
    stamps = []
    for paper in papers:
        entry = fg.add_entry(order="append")
        url = paper_url(settings, paper["id"])
        entry.id(url)
        entry.title(xml_text(paper["title"]))
        # One link only: feedgen 1.0 drops rel/type on entry links, so a second
        # (PDF) link would read as another "alternate".
        entry.link(href=url, rel="alternate", type="text/html")
        for name in paper.get("authors") or []:
            entry.author(name=xml_text(name) or "?")
        for category in paper.get("categories") or []:
            entry.category(term=xml_text(category))
        # Keyphrases as categories of their own scheme (the search they link to).
        for keyphrase in paper.get("keyphrases") or []:
            entry.category(
                term=xml_text(keyphrase), scheme=f"{base}/search", label=xml_text(keyphrase)
            )
        if paper.get("tldr"):
            # The TL;DR is the entry's summary; the abstract (and code links) its content.
            entry.summary(xml_text(f"TL;DR: {paper['tldr']}"), type="text")
            entry.content(xml_text(_summary(paper)), type="text")
        else:
            entry.summary(xml_text(_summary(paper)), type="text")
        published = paper.get("published") or paper.get("listing_date") or paper.get("created_at")
        # In a collection, an entry is new to subscribers when it was added.
        updated = paper.get("added_at") or paper.get("updated") or published
        if published:
            entry.published(trending.as_utc(published))
        stamp = trending.as_utc(updated or datetime.now(UTC))
        entry.updated(stamp)
        stamps.append(stamp)
    fg.updated(max(stamps) if stamps else datetime.now(UTC))
    result: bytes = fg.atom_str(pretty=True)
    return result


def _list_feed(request: Request, period: Period | None, *, path: str) -> Response:
    settings = settings_of(request)
    sort = request.query_params.get("sort", "trending")
    try:
        sort = trending.check_sort(sort)
    except ValueError as exc:
        return PlainTextResponse(str(exc), status_code=400)
    listing = (
        listings.list_papers(paperfeed_of(request), period, sort=sort, limit=FEED_SIZE).page
        if period
        else None
    )
    label = period.title if period else "no papers yet"
    body = atom_feed(
        settings,
        path=path,
        title=f"{settings.site_name}: {sort} papers, {label}",
        subtitle="Research papers ranked by upvotes decayed by age",
        papers=listing.papers if listing else [],
        alternate_path=period.path if period else "/",
    )
    return Response(body, media_type=ATOM)


def _fixed_feed(request: Request, kind: PeriodKind, text: str) -> Response:
    try:
        period = trending.parse_period(kind, text)
    except PeriodError as exc:
        return PlainTextResponse(str(exc), status_code=400)
    return _list_feed(request, period, path=f"{period.path}/feed.xml")


@router.get("/papers/date/{day}/feed.xml", summary="Atom feed of one day's list")
def day_feed(request: Request, day: str) -> Response:
    return _fixed_feed(request, "day", day)


@router.get("/papers/week/{week}/feed.xml", summary="Atom feed of one ISO week's list")
def week_feed(request: Request, week: str) -> Response:
    return _fixed_feed(request, "week", week)


@router.get("/papers/month/{month}/feed.xml", summary="Atom feed of one month's list")
def month_feed(request: Request, month: str) -> Response:
    return _fixed_feed(request, "month", month)


_KINDS: dict[str, PeriodKind] = {"daily": "day", "weekly": "week", "monthly": "month"}


@router.get("/feeds/trending/{span}.xml", summary="Atom feed of the latest trending list")
def trending_feed(request: Request, span: str) -> Response:
    """The latest day, ISO week or month that has papers, ranked by trending:
    ``span`` is daily, weekly or monthly."""
    if span not in _KINDS:
        return PlainTextResponse("no such feed: use daily, weekly or monthly", status_code=404)
    period = listings.latest_period(paperfeed_of(request), _KINDS[span])
    return _list_feed(request, period, path=f"/feeds/trending/{span}.xml")


@router.get("/feeds/search.xml", summary="Atom feed of a saved search")
def search_feed(
    request: Request, q: str = Query(min_length=1, max_length=1000, pattern=r"\S")
) -> Response:
    """The newest papers matching ``q`` (the search page's query language);
    ``q`` is required and not blank, as the schema says."""
    settings = settings_of(request)
    try:
        papers = search_papers_with_upvotes(request, q, limit=FEED_SIZE, sort="date")
    except HTTPException as exc:
        return PlainTextResponse(str(exc.detail), status_code=exc.status_code)
    body = atom_feed(
        settings,
        path=f"/feeds/search.xml?{urlencode({'q': q})}",
        title=f"{settings.site_name}: search for {q}",
        subtitle=f"Newest papers matching: {q}",
        papers=papers,
        alternate_path=f"/search?{urlencode({'q': q})}",
    )
    return Response(body, media_type=ATOM)


@router.get("/collections/{collection_id}/feed.xml", summary="Atom feed of a public collection")
def collection_feed(request: Request, collection_id: RowId) -> Response:
    """A public collection's papers, latest additions first. Feed readers carry
    no session, so a private collection is "not found" here, as for strangers."""
    settings = settings_of(request)
    try:
        collection, papers = readers.get_collection(database(request), None, collection_id)
    except readers.NotFound:
        return PlainTextResponse(f"no collection {collection_id}", status_code=404)
    shown = [p for p in papers if not p.get("hidden")][:FEED_SIZE]
    owner = collection.get("owner_name") or "a reader"
    body = atom_feed(
        settings,
        path=f"/collections/{collection_id}/feed.xml",
        title=f"{settings.site_name}: {collection['name']}",
        subtitle=collection.get("description") or f"A collection by {owner}",
        papers=shown,
        alternate_path=f"/collections/{collection_id}",
    )
    return Response(body, media_type=ATOM)


# ---------------------------------------------------------------- comments


def _comment_feed(request: Request, path: str, title: str, rows: list[dict[str, Any]]) -> bytes:
    settings = settings_of(request)
    base = settings.base_url.rstrip("/")
    fg = FeedGenerator()
    fg.id(base + path)
    fg.title(xml_text(title))
    fg.link(href=base + path, rel="self", type="application/atom+xml")
    fg.author(name=xml_text(settings.site_name))
    for row in rows:
        url = f"{base}/papers/{row['paper_id']}#comment-{row['id']}"
        entry = fg.add_entry(order="append")
        entry.id(url)
        entry.title(xml_text(f"{row['author']} on {row['paper_title']}"))
        entry.link(href=url, rel="alternate", type="text/html")
        entry.author(name=xml_text(row["author"]) or "?")
        entry.content(xml_text(row["body_html"]), type="html")  # sanitized when written
        entry.published(trending.as_utc(row["created_at"]))
        entry.updated(trending.as_utc(row["edited_at"] or row["created_at"]))
    fg.updated(trending.as_utc(rows[0]["created_at"]) if rows else datetime.now(UTC))
    result: bytes = fg.atom_str(pretty=True)
    return result


@router.get(
    "/comments.xml",
    summary="Atom feed of the newest comments on every paper",
    responses=text_responses("text/plain", 404),
)
def instance_feed(request: Request) -> Response:
    site = settings_of(request).site_name
    rows = comments.recent(paperfeed_of(request))
    return Response(
        _comment_feed(request, "/comments.xml", f"{site}: comments", rows), media_type=ATOM
    )


@router.get(
    "/papers/{paper_id:paper_id}/comments.xml",
    summary="Atom feed of one paper's discussion",
    responses=text_responses("text/plain", 404),
)
def thread_feed(request: Request, paper_id: str) -> Response:
    rows = comments.recent(paperfeed_of(request), paper_id)
    title = f"Comments on {rows[0]['paper_title']}" if rows else f"Comments on {paper_id}"
    path = f"/papers/{paper_id}/comments.xml"
    return Response(_comment_feed(request, path, title, rows), media_type=ATOM)
