"""Search: the results page (/search) and the JSON API (GET /api/search).

Every parameter arrives as text and is checked here, so any bad input is a
400 with a message naming the parameter, never a 422 or a 500.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from paperfeed.names import parse_author
from paperfeed.query import QueryError
from paperfeed.search import MAX_PER_PAGE, MAX_RESULTS, SearchRequest, SearchResults
from paperfeed.services import search as search_service
from paperfeed.web.deps import paperfeed_of
from paperfeed.web.library import card_context
from paperfeed.web.params import flag, whole_number
from paperfeed.web.schemas import QueryProblem, error_responses, page_responses
from paperfeed.web.templating import author_url, templates

router = APIRouter()


def _day(params: Any, name: str) -> date | None:
    value = (params.get(name) or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise QueryError(f"{name} must be a date YYYY-MM-DD, not {value[:40]!r}") from exc


def _int(params: Any, name: str, default: int, high: int) -> int:
    try:
        return whole_number(params.get(name), name, default, 1, high)
    except ValueError as exc:
        raise QueryError(str(exc)) from exc


def request_from(params: Any, *, per_page: int = 20) -> SearchRequest:
    """A SearchRequest from query-string parameters (the page and the API share it).
    ``category`` and ``author`` may repeat; empty values are ignored."""
    try:
        has_code = flag(params.get("has_code"), "has_code")
    except ValueError as exc:
        raise QueryError(str(exc)) from exc
    return SearchRequest(
        query=params.get("q") or "",
        categories=tuple(c.strip() for c in params.getlist("category") if c.strip()),
        authors=tuple(a.strip() for a in params.getlist("author") if a.strip()),
        since=_day(params, "since"),
        until=_day(params, "until"),
        sort=(params.get("sort") or "relevance").strip(),
        mode=(params.get("mode") or "hybrid").strip(),
        page=_int(params, "page", 1, 10_000),
        per_page=_int(params, "per_page", per_page, MAX_PER_PAGE),
        has_code=has_code,
    )


# The parameters are read as text by request_from (a 400 naming the bad one,
# never a 422); the one added with issue 24 is declared for the API's readers.
_HAS_CODE_PARAMETER = {
    "name": "has_code",
    "in": "query",
    "required": False,
    "description": "1 (or true): only papers that link to code (a repository, or a Hugging "
    "Face model, dataset or Space); `has:code` in q does the same",
    "schema": {"type": "string", "enum": ["0", "1", "true", "false"]},
}


@router.get(
    "/api/search",
    responses={
        **error_responses(400, model=QueryProblem),
        # What a declared parameter brings on every route: the app-wide check of
        # text (web.params, control characters) answers 422.
        422: {
            "description": "Validation error",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
            },
        },
    },
    openapi_extra={"parameters": [_HAS_CODE_PARAMETER]},
)
def api_search(request: Request) -> Response:
    """Search papers. Parameters: q, category (repeatable), author (repeatable),
    since, until (YYYY-MM-DD, on the listing date), sort (relevance|date|upvotes),
    mode (hybrid|lexical|dense), page, per_page, has_code (1: only papers that
    link to code; ``has:code`` in q does the same)."""
    try:
        results = search_service.search(paperfeed_of(request), request_from(request.query_params))
    except QueryError as exc:
        return JSONResponse({"error": "bad_query", "detail": str(exc)}, status_code=400)
    return JSONResponse(results.as_json())


def _page_link(request: Request, page: int) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
    params.append(("page", str(page)))
    return "/search?" + urlencode(params)


_AUTHOR_TERM = re.compile(
    r'(?<![\w-])(?:author|authors|au):(?:"([^"]{1,300})"|([^\s()"]{1,300}))', re.I
)


def author_pages(query: str, authors: list[str]) -> list[dict[str, str]]:
    """The author pages an ``author:`` search names (in the query or the
    Author field): [{"name", "url"}], each once."""
    names = [m.group(1) or m.group(2) for m in _AUTHOR_TERM.finditer(query[:4000])]
    found: dict[str, dict[str, str]] = {}
    for name in [*names, *authors[:10]]:
        parsed = parse_author(name.strip())
        if parsed is not None and len(found) < 10:
            found.setdefault(parsed.key, {"name": name.strip(), "url": author_url(parsed.key)})
    return list(found.values())


@router.get("/search", response_class=HTMLResponse, responses=page_responses(400))
def search_page(request: Request) -> Response:
    params = request.query_params
    error: str | None = None
    results: SearchResults | None = None
    status = 200
    try:
        search_request = request_from(params)
        results = search_service.search(paperfeed_of(request), search_request)
    except QueryError as exc:
        error, status = str(exc), 400
    links: dict[str, str] = {}
    extra: dict[str, Any] = {}
    if results is not None:
        extra = _results_context(request, results)
        page = results.request.page
        if page > 1:
            links["prev"] = _page_link(request, page - 1)
        if page < results.pages:
            links["next"] = _page_link(request, page + 1)
    return templates.TemplateResponse(
        request,
        "search.html",
        {
            "q": params.get("q") or "",
            "form": {
                "category": params.get("category") or "",
                "author": params.get("author") or "",
                "since": params.get("since") or "",
                "until": params.get("until") or "",
                "sort": params.get("sort") or "relevance",
                "has_code": (params.get("has_code") or "") not in ("", "0", "false", "no", "off"),
                "mode": params.get("mode") or "hybrid",
            },
            "results": results,
            "error": error,
            "links": links,
            "mode_names": MODE_NAMES,
            **extra,
            "author_pages": author_pages(params.get("q") or "", params.getlist("author")),
        },
        status_code=status,
    )


MODE_NAMES = {"hybrid": "words and meaning", "lexical": "words", "dense": "meaning"}


def count_line(results: SearchResults) -> str:
    """ "1,725 results · page 1 of 50" reads as a contradiction when paging stops
    at MAX_RESULTS: say where it stops."""
    total, pages = results.total, results.pages
    line = f"{total:,} result{'' if total == 1 else 's'}"
    if total > MAX_RESULTS:
        line += f"; the first {MAX_RESULTS:,} can be paged through"
    if pages > 1:
        line += f" · page {results.request.page} of {pages}"
    return line


def saved_query(request: SearchRequest) -> str:
    """The page's query with its category and author fields folded in, in the
    query language, as a saved search and its feed take one query string."""
    parts = [request.query.strip()] if request.query.strip() else []
    parts += [f"cat:{c}" for c in request.categories if " " not in c]
    parts += ['author:"{}"'.format(a.replace('"', "")) for a in request.authors]
    return " ".join(parts)


def _results_context(request: Request, results: SearchResults) -> dict[str, Any]:
    query = saved_query(results.request)
    return {
        "count_line": count_line(results),
        "saved_query": query,
        "feed_url": "/feeds/search.xml?" + urlencode({"q": query}) if query else None,
        "show_matched": results.mode == "hybrid",
        **card_context(request, [hit.paper for hit in results.hits]),
    }
