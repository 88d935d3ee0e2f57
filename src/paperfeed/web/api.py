"""The JSON API, with a Hugging Face–compatible subset in HF's response shapes,
so ``huggingface_hub.HfApi(endpoint=...)`` works against a Paperfeed server.

- ``GET /api/daily_papers?date=|week=|month=&sort=&p=&limit=&submitter=``: a
  list of daily-paper items, ``{"paper": {...}, "publishedAt", "title", ...}``.
- ``GET /api/papers/search?q=&limit=``: search results, as daily-paper items
  (the search itself is ``paperfeed.search.search``, the same as the search page's).
- ``GET /api/papers/{id}``: one paper object.

Shapes follow the real responses recorded in ``shared/fixtures/hf_daily_papers``.
Errors are HF's too: ``{"error": "..."}`` with an ``X-Error-Message`` header;
400 for a bad parameter (never FastAPI's 422), 404 for an unknown paper.
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal

import anyio
import anyio.to_thread
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_json

from paperfeed import trending
from paperfeed.query import QueryError
from paperfeed.search import SearchRequest
from paperfeed.services import listings
from paperfeed.services import search as search_service
from paperfeed.services.hf_shapes import hf_daily_dict, hf_paper_dict
from paperfeed.trending import Period, PeriodError
from paperfeed.web import convertors as _convertors  # noqa: F401  (registers {x:paper_id})
from paperfeed.web.deps import paperfeed_of, settings_of
from paperfeed.web.params import WholeNumber
from paperfeed.web.schemas import HFError, error_responses

# ---------------------------------------------------------------- errors


def hf_error(status: int, message: str) -> JSONResponse:
    # The header is what huggingface_hub reads first; a header value must be
    # printable ASCII (the message can quote a parameter's control characters).
    header = "".join(c if " " <= c <= "~" else "?" for c in message)[:300]
    return JSONResponse({"error": message}, status_code=status, headers={"X-Error-Message": header})


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("query", "path"))
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "invalid parameter: " + "; ".join(parts)


class HFErrorRoute(APIRoute):
    """Turns this router's errors into HF's error shape, without touching the
    error handling of the rest of the app."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_hf_errors(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return hf_error(400, _validation_message(exc))
            except HTTPException as exc:
                return hf_error(exc.status_code, str(exc.detail))

        return with_hf_errors


def without_unsent_422(schema: dict[str, Any], routes: list[Any]) -> dict[str, Any]:
    """FastAPI documents a 422 for every route with parameters; HFErrorRoute
    answers 400 instead (documented on the router), so its 422 is dropped."""
    for route in routes:
        if isinstance(route, HFErrorRoute):
            for method in route.methods or ():
                schema["paths"][route.path_format][method.lower()]["responses"].pop("422", None)
    return schema


router = APIRouter(
    prefix="/api",
    tags=["papers"],
    route_class=HFErrorRoute,
    responses=error_responses(400, model=HFError),
)
docs_router = APIRouter()


@docs_router.get("/docs", include_in_schema=False)
def api_docs(request: Request) -> HTMLResponse:
    """Swagger UI over /openapi.json, from the vendored copy in /static: the
    docs work offline and load nothing from a CDN (FastAPI's default does)."""
    static = "/static/vendor/swagger-ui"
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url or "/openapi.json",
        title=f"{settings_of(request).site_name} API",
        swagger_js_url=f"{static}/swagger-ui-bundle.js",
        swagger_css_url=f"{static}/swagger-ui.css",
        swagger_favicon_url=f"{static}/favicon-32x32.png",
        # No badge fetched from the public spec validator.
        swagger_ui_parameters={"validatorUrl": None},
    )


# ---------------------------------------------------------------- shapes


class HFModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")


class HFAuthor(HFModel):
    id: str = Field(alias="_id")
    name: str
    hidden: bool = False


class HFPaperSubmitter(HFModel):
    """``paper.submittedOnDailyBy``."""

    id: str = Field(alias="_id")
    avatarUrl: str = ""
    isPro: bool = False
    fullname: str
    user: str
    type: str = "user"


class HFItemSubmitter(HFModel):
    """A daily item's ``submittedBy``."""

    id: str = Field(alias="_id")
    avatarUrl: str = ""
    fullname: str
    name: str
    type: str = "user"
    isPro: bool = False
    isHf: bool = False
    isHfAdmin: bool = False
    isMod: bool = False
    followerCount: int = 0
    isUserFollowing: bool = False


class HFOrganization(HFModel):
    """The Hugging Face organization a paper is listed under (as HF's daily
    papers give it; huggingface_hub's PaperInfo.organization)."""

    id: str = Field(alias="_id")
    name: str = Field(description="The organization's handle on the Hub")
    fullname: str
    avatar: str | None = None


class HFPaper(HFModel):
    id: str = Field(description="arXiv id without version, or a Paperfeed slug")
    authors: list[HFAuthor]
    publishedAt: str = Field(description="arXiv v1 time (or listing day), ISO 8601 UTC")
    submittedOnDailyAt: str | None = Field(None, description="The day it was listed or featured")
    title: str
    submittedOnDailyBy: HFPaperSubmitter | None = None
    summary: str = Field(description="The abstract")
    upvotes: int = Field(description="Imported Hugging Face upvotes plus readers' upvotes")
    ai_summary: str | None = Field(
        None, description="TL;DR: the abstract's key contribution sentence, extracted offline"
    )
    ai_keywords: list[str] | None = Field(
        None, description="Up to five keyphrases of the title and abstract, extracted offline"
    )
    projectPage: str | None = Field(None, description="The paper's project page")
    githubRepo: str | None = Field(None, description="The paper's GitHub repository")
    githubStars: int | None = Field(
        None, description="The repository's GitHub stars, as last refreshed (or as HF had them)"
    )
    organization: HFOrganization | None = None


class HFDailyPaper(HFModel):
    paper: HFPaper
    publishedAt: str
    title: str
    summary: str
    mediaUrls: list[str] = []
    numComments: int = 0
    # Also on the item (HF has them only in ``paper``): huggingface_hub's
    # PaperInfo reads them from the item's top level.
    projectPage: str | None = None
    githubRepo: str | None = None
    githubStars: int | None = None
    submittedBy: HFItemSubmitter | None = None
    organization: HFOrganization | None = None
    isAuthorParticipating: bool = False
    ai_summary: str | None = Field(None, description="As paper.ai_summary")
    ai_keywords: list[str] | None = Field(None, description="As paper.ai_keywords")


def hf_paper(paper: dict[str, Any]) -> HFPaper:
    return HFPaper.model_validate(hf_paper_dict(paper))


# Anonymous answers may sit in shared caches briefly (votes move a list within
# minutes); answers to a request that carries credentials never do.
PUBLIC_CACHE_CONTROL = "public, max-age=60"
PRIVATE_CACHE_CONTROL = "private, no-cache"


def daily_json(papers: list[dict[str, Any]], request: Request | None = None) -> Response:
    """The papers as a JSON list of daily-paper items, as
    ``response_model=list[HFDailyPaper]`` with ``exclude_none`` would write
    them, without FastAPI's response-model pass (which validated freshly built
    models a second time and walked them in Python). With the request: an
    ETag and Cache-Control, and 304 for a matching If-None-Match."""
    body = to_json([hf_daily_dict(paper) for paper in papers])
    if request is None:
        return Response(body, media_type="application/json")
    return conditional_json(request, body)


def conditional_json(request: Request, body: bytes) -> Response:
    """A JSON body with a strong ETag (a hash of the bytes, so it changes when
    anything in it does). The work is done either way: a 304 only saves the
    client the transfer. Signed-in or token requests get a private,
    always-revalidate policy: nothing of theirs goes into a shared cache."""
    # SHA-256 (hardware-accelerated where the CPU has SHA extensions) cut to
    # 128 bits: half blake2b's cost on a search response's ~45 kB.
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    anonymous = "authorization" not in request.headers and "cookie" not in request.headers
    headers = {
        "ETag": etag,
        "Cache-Control": PUBLIC_CACHE_CONTROL if anonymous else PRIVATE_CACHE_CONTROL,
        "Vary": "Authorization, Cookie",
    }
    wanted = request.headers.get("if-none-match", "")
    if wanted == "*" or etag in (tag.strip().removeprefix("W/") for tag in wanted.split(",")):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


# ---------------------------------------------------------------- routes


def _period(date_: str | None, week: str | None, month: str | None) -> Period | None:
    given = [(k, v) for k, v in (("day", date_), ("week", week), ("month", month)) if v]
    if len(given) > 1:
        raise HTTPException(400, "give at most one of date, week and month")
    if not given:
        return None
    kind, text = given[0]
    try:
        return trending.parse_period(kind, text)  # type: ignore[arg-type]
    except PeriodError as exc:
        raise HTTPException(400, str(exc)) from exc


@router.get(
    "/daily_papers",
    response_model=list[HFDailyPaper],
    response_model_exclude_none=True,
    summary="Daily, weekly or monthly papers (Hugging Face–compatible)",
)
def daily_papers(
    request: Request,
    date: Annotated[str | None, Query(description="A day, YYYY-MM-DD")] = None,
    week: Annotated[str | None, Query(description="An ISO week, YYYY-Www")] = None,
    month: Annotated[str | None, Query(description="A month, YYYY-MM")] = None,
    sort: Annotated[
        Literal["publishedAt", "trending", "discussed", "code"],
        Query(
            description="Newest first, by trending score, most comments first, or trending "
            "by code (GitHub stars gained in the period blended with upvotes; only papers "
            "with code)"
        ),
    ] = "publishedAt",
    p: Annotated[WholeNumber, Query(ge=0, le=100_000, description="Page, from 0")] = 0,
    limit: Annotated[
        WholeNumber, Query(ge=1, le=trending.MAX_LIMIT, description="Papers per page")
    ] = 50,
    submitter: Annotated[str | None, Query(max_length=200)] = None,
    has_code: Annotated[
        bool,
        Query(
            description="Only papers that link to code (a repository, or a Hugging Face "
            "model, dataset or Space)"
        ),
    ] = False,
) -> Response:
    """Papers listed on a day, in an ISO week or in a month (all papers when no
    period is given), sorted by trending score or newest first; curator-hidden
    papers never appear."""
    period = _period(date, week, month)
    listing = listings.list_papers(
        paperfeed_of(request),
        period,
        sort=sort,
        page=p,
        limit=limit,
        submitter=submitter,
        has_code=has_code,
    ).page
    assert listing is not None  # a period or all papers: always a page
    return daily_json(listing.papers, request)


def search_papers_with_upvotes(
    request: Request, query: str, *, limit: int, sort: str = "relevance"
) -> list[dict[str, Any]]:
    """Run the one search function and load the hits as full paper rows."""
    try:
        wanted = SearchRequest(query=query, sort=sort, per_page=limit, snippets=False)
        results = search_service.search(paperfeed_of(request), wanted)
    except QueryError as exc:
        raise HTTPException(400, str(exc)) from exc
    # The hits carry their full rows with upvotes: no second read.
    return [hit.paper for hit in results.hits]


# Before /papers/{id}: "search" is a valid-looking paper id.
@router.get(
    "/papers/search",
    response_model=list[HFDailyPaper],
    response_model_exclude_none=True,
    summary="Search papers (Hugging Face–compatible)",
)
async def search_papers(
    request: Request,
    q: Annotated[str, Query(max_length=1000, description="A search query")] = "",
    limit: Annotated[WholeNumber, Query(ge=1, le=trending.MAX_LIMIT, description="How many")] = 50,
) -> Response:
    """Hybrid keyword + semantic search, best match first; the query language
    is the search page's (phrases, fields, exclusions)."""

    def run() -> Response:
        return daily_json(search_papers_with_upvotes(request, q, limit=limit), request)

    return await anyio.to_thread.run_sync(run, limiter=_search_limiter())


# Searches are CPU-bound (their native parts release the GIL, but a worker has
# two cores at most): more of them at once in one process only take turns at
# the GIL, each turn a thread wake-up. So two run at a time per worker and the
# rest wait their turn here, holding no thread; other routes keep anyio's
# default pool. bench/http_load.py, interleaved runs at load 3-6: 2 at a time
# 312-359 requests/s against 268-296 with the default 40 threads
# (docs/benchmarks.md, HTTP, session 5).
SEARCHES_AT_ONCE = 2
_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


def _search_limiter() -> anyio.CapacityLimiter:
    """This event loop's limiter (one per loop: its waits belong to the loop)."""
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = anyio.CapacityLimiter(SEARCHES_AT_ONCE)
    return limiter


@router.get(
    "/papers/{paper_id:paper_id}",
    response_model=HFPaper,
    response_model_exclude_none=True,
    summary="One paper (Hugging Face–compatible)",
    responses=error_responses(404, model=HFError),
)
def paper_info(request: Request, paper_id: str) -> HFPaper:
    paper = listings.paper(paperfeed_of(request), paper_id)
    if paper is None:
        raise HTTPException(404, "Paper not found")
    return hf_paper(paper)
