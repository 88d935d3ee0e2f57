"""HTML pages, at Hugging Face Papers' URLs: ``/`` (today, or the latest day
with papers), ``/papers/date/YYYY-MM-DD``, ``/papers/week/YYYY-Www``,
``/papers/month/YYYY-MM``, ``/papers/{id}`` and its ``.bib`` and ``.md``.

Every page works without JavaScript; the only script is KaTeX on the paper
page, which turns the abstract's TeX into math and otherwise leaves it as text.
"""

from __future__ import annotations

import logging
import re
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from paperfeed import export, trending
from paperfeed.config import Settings
from paperfeed.services import authors, comments, listings, summaries
from paperfeed.services import search as search_service
from paperfeed.trending import Period, PeriodError, PeriodKind
from paperfeed.web import convertors as _convertors  # noqa: F401  (registers {x:paper_id})
from paperfeed.web.auth import current_reader
from paperfeed.web.comments import discussion_context
from paperfeed.web.deps import paperfeed_of, settings_of
from paperfeed.web.errors import error_page
from paperfeed.web.library import card_context
from paperfeed.web.params import flag, whole_number
from paperfeed.web.schemas import page_responses, text_responses
from paperfeed.web.templating import templates

log = logging.getLogger(__name__)
router = APIRouter()
PAGE_SIZE = 50


def paper_url(settings: Settings, paper_id: str) -> str:
    return f"{settings.base_url.rstrip('/')}/papers/{paper_id}"


# ---------------------------------------------------------------- lists


def _list_args(request: Request) -> tuple[str, int, bool]:
    """``sort``, the 1-based ``page`` and ``code`` (only papers with code) from
    the query string; ValueError names the bad one."""
    sort = trending.check_sort(request.query_params.get("sort", "trending"))
    page = whole_number(request.query_params.get("page"), "page", 1, 1, 999_999) - 1
    return sort, page, flag(request.query_params.get("code"), "code")


def _list_page(
    request: Request,
    period: Period | None,
    *,
    home: bool = False,
    sort: str | None = None,
    list_path: str = "",
) -> Response:
    """``sort``: a fixed order (the page's own); ``list_path``: where its
    sort and filter links go (the period's own page, from such a page)."""
    try:
        asked_sort, page, has_code = _list_args(request)
    except ValueError as exc:
        return error_page(request, 400, str(exc))
    sort = sort or asked_sort
    # "From authors I follow": a signed-in reader's filter (?following=1).
    reader = current_reader(request)
    following = reader is not None and request.query_params.get("following") == "1"
    # Papers the reader marked "not interested" stay in the HTML list,
    # collapsed with an undo button (the readers' actions do that).
    found = listings.list_papers(
        paperfeed_of(request),
        period,
        latest=period is None,
        sort=sort,
        page=page,
        limit=PAGE_SIZE,
        navigation=True,
        has_code=has_code,
        followed_by=reader.id if following and reader is not None else None,
    )
    period, listing, nav = found.period, found.page, found.nav
    papers = listing.papers if listing else []
    context: dict[str, Any] = {
        "period": period,
        "listing": listing,
        "papers": papers,
        "nav": nav,
        "sort": sort,
        "has_code": has_code,
        "list_path": list_path,
        "home": home,
        # Trending puts scored papers first, so when the first page's first
        # paper has no upvotes (and is not featured) none has: the list is
        # newest first, and the page says so rather than show "trending".
        "no_votes_yet": bool(
            sort == "trending"
            and listing is not None
            and listing.page == 0
            and papers
            and not papers[0]["upvotes"]
            and not papers[0].get("featured")
        ),
        "following": following,
        "feed_url": f"{period.path}/feed.xml" if period else None,
        **card_context(request, papers),
    }
    return templates.TemplateResponse(request, "list.html", context)


@router.get("/", response_class=HTMLResponse, responses=page_responses(400))
def home(request: Request) -> Response:
    """Today's list, or the latest day that has papers."""
    return _list_page(request, None, home=True)


@router.get("/trending/code", response_class=HTMLResponse, responses=page_responses(400))
def trending_code(request: Request) -> Response:
    """Trending by code: the week of the latest listed day, papers with code
    ranked by GitHub stars gained that week blended with votes (docs/trending.md)."""
    period = listings.latest_period(paperfeed_of(request), "week")
    return _list_page(request, period, sort="code", list_path=period.path if period else "/")


def _period_page(request: Request, kind: PeriodKind, text: str) -> Response:
    try:
        period = trending.parse_period(kind, text)
    except PeriodError as exc:
        return error_page(request, 400, str(exc))
    return _list_page(request, period)


@router.get("/papers/date/{day}", response_class=HTMLResponse, responses=page_responses(400))
def papers_on_day(request: Request, day: str) -> Response:
    return _period_page(request, "day", day)


@router.get("/papers/week/{week}", response_class=HTMLResponse, responses=page_responses(400))
def papers_in_week(request: Request, week: str) -> Response:
    return _period_page(request, "week", week)


@router.get("/papers/month/{month}", response_class=HTMLResponse, responses=page_responses(400))
def papers_in_month(request: Request, month: str) -> Response:
    return _period_page(request, "month", month)


# ---------------------------------------------------------------- one paper


def load_paper(
    request: Request, paper_id: str, *, include_hidden: bool = False
) -> dict[str, Any] | None:
    return listings.paper(paperfeed_of(request), paper_id, include_hidden=include_hidden)


def _is_curator(request: Request) -> bool:
    reader = current_reader(request)
    return bool(reader is not None and reader.is_curator)


def _moved(paper: dict[str, Any], asked: str, suffix: str = "") -> Response | None:
    # An alias (an old slug): send readers and clients to the real URL.
    if paper["id"] != asked:
        return RedirectResponse(f"/papers/{paper['id']}{suffix}", status_code=301)
    return None


@router.get(
    "/papers/{paper_id:paper_id}.bib",
    response_class=Response,
    responses={**text_responses("application/x-bibtex", 200), **text_responses("text/plain", 404)},
)
def paper_bibtex(request: Request, paper_id: str) -> Response:
    paper = load_paper(request, paper_id)
    if paper is None:
        return PlainTextResponse(f"no paper {paper_id[:200]!r}\n", status_code=404)
    if moved := _moved(paper, paper_id, ".bib"):
        return moved
    return Response(
        export.bibtex(paper),
        media_type="application/x-bibtex; charset=utf-8",
        headers={"Content-Disposition": f'inline; filename="{_filename(paper["id"])}.bib"'},
    )


@router.get(
    "/papers/{paper_id:paper_id}.md",
    response_class=Response,
    responses={**text_responses("text/markdown", 200), **text_responses("text/plain", 404)},
)
def paper_markdown(request: Request, paper_id: str) -> Response:
    """The paper as Markdown; huggingface_hub's ``read_paper`` reads this."""
    paper = load_paper(request, paper_id)
    if paper is None:
        return PlainTextResponse(f"no paper {paper_id[:200]!r}\n", status_code=404)
    if moved := _moved(paper, paper_id, ".md"):
        return moved
    text = export.markdown(paper, paper_url(settings_of(request), paper["id"]))
    return Response(text, media_type="text/markdown; charset=utf-8")


def _filename(paper_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", paper_id)


@router.get(
    "/papers/{paper_id:paper_id}", response_class=HTMLResponse, responses=page_responses(404)
)
def paper_page(request: Request, paper_id: str) -> Response:
    # A curator-hidden paper is gone for readers; curators still reach its page
    # (marked hidden) to undo the decision.
    paper = load_paper(request, paper_id, include_hidden=_is_curator(request))
    if paper is None:
        return error_page(request, 404, f"No paper {paper_id[:200]!r} here.")
    if moved := _moved(paper, paper_id):
        return moved
    listed = paper.get("listing_date")
    # One more than shown: whether "More similar papers" leads anywhere.
    similar = _similar_papers(request, paper["id"], SIMILAR_SHOWN + 1)
    url = paper_url(settings_of(request), paper["id"])
    app = paperfeed_of(request)
    context = {
        "paper": paper,
        "meta_tags": export.meta_tags(paper, url),
        "scholarly_article": export.scholarly_article(paper, url),
        "bibtex": export.bibtex(paper),
        "day": trending.period_containing("day", listed) if isinstance(listed, date) else None,
        "similar": similar[:SIMILAR_SHOWN],
        "more_similar": len(similar) > SIMILAR_SHOWN,
        "discussion_feed": f"/papers/{paper['id']}/comments.xml",
        # Written by a language model (services/summaries.py): shown marked as such.
        "machine_summary": summaries.for_paper(paperfeed_of(request), paper["id"]),
        "linked_authors": authors.paper_authors(app, paper["id"]),
        "organizations": authors.paper_organizations(app, [paper["id"]]).get(paper["id"], []),
        **card_context(request, [paper]),
        **discussion_context(request, comments.paper_thread(paper["id"])),
    }
    return templates.TemplateResponse(request, "paper.html", context)


SIMILAR_SHOWN = 6  # on the paper page
SIMILAR_MORE = 50  # on its "More similar papers" page


@router.get(
    "/papers/{paper_id:paper_id}/similar",
    response_class=HTMLResponse,
    responses=page_responses(404),
)
def similar_page(request: Request, paper_id: str) -> Response:
    paper = load_paper(request, paper_id, include_hidden=_is_curator(request))
    if paper is None:
        return error_page(request, 404, f"No paper {paper_id[:200]!r} here.")
    if moved := _moved(paper, paper_id, "/similar"):
        return moved
    context = {"paper": paper, "similar": _similar_papers(request, paper["id"], SIMILAR_MORE)}
    return templates.TemplateResponse(request, "similar.html", context)


def _similar_papers(request: Request, paper_id: str, k: int) -> list[dict[str, Any]]:
    """The paper page's "Similar papers"; empty when there are no vectors
    (semantic search not installed or not run yet)."""
    try:
        return search_service.similar(paperfeed_of(request), paper_id, k)
    except Exception:  # the paper page must render even if the vector side fails
        log.exception("similar papers failed for %s", paper_id)
        return []
