"""Authors and organizations: ``/authors/{key}`` (papers, co-authors,
categories, follow), its Atom feed ``/authors/{key}/feed.xml``,
``/organizations/{key}``, and the JSON API under ``/api/authors``,
``/api/organizations`` and ``/api/me/following`` (services.authors)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paperfeed.readers import Reader
from paperfeed.services import authors as service
from paperfeed.web.auth import api_reader, current_reader, require_reader, safe_next, verify_csrf
from paperfeed.web.deps import paperfeed_of, settings_of
from paperfeed.web.errors import error_page
from paperfeed.web.feeds import AtomResponse, atom_feed
from paperfeed.web.library import card_context
from paperfeed.web.params import whole_number
from paperfeed.web.schemas import (
    AuthorPageOut,
    FollowedAuthorOut,
    FollowOut,
    OrganizationPageOut,
    PaperRef,
    error_responses,
    page_responses,
    text_responses,
)
from paperfeed.web.templating import templates

pages = APIRouter(include_in_schema=False)
forms = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)
api = APIRouter(prefix="/api", tags=["authors"], responses=error_responses(400, 401, 403, 404))

FEED_SIZE = 50


author_path = service.author_path


def _page(request: Request) -> int:
    return whole_number(request.query_params.get("page"), "page", 1, 1, 999_999)


# ---------------------------------------------------------------- pages


@pages.get("/authors/{key}", response_class=HTMLResponse, responses=page_responses(400, 404))
def author_page(request: Request, key: str) -> Response:
    try:
        page = _page(request)
    except ValueError as exc:
        return error_page(request, 400, str(exc))
    found = service.author_page(
        paperfeed_of(request), key, reader=current_reader(request), page=page
    )
    if not found.candidates and found.author["key"] != key:
        # An initials form merged into its full name ("m-walmsley").
        suffix = f"?page={page}" if page > 1 else ""
        return RedirectResponse(author_path(found.author["key"]) + suffix, status_code=301)
    context: dict[str, Any] = {
        "found": found,
        "author_path": author_path(found.author["key"]),
        "pages": max(1, -(-found.total // found.per_page)),
        "papers": found.papers,
        **card_context(request, found.papers),
    }
    return templates.TemplateResponse(request, "author.html", context)


@pages.get(
    "/authors/{key}/feed.xml",
    response_class=AtomResponse,
    responses=text_responses("application/atom+xml", 200),
)
def author_feed(request: Request, key: str) -> Response:
    found = service.author_page(paperfeed_of(request), key, per_page=FEED_SIZE)
    path = author_path(found.author["key"])
    body = atom_feed(
        settings_of(request),
        path=f"{path}/feed.xml",
        title=f"Papers by {found.author['name']}",
        subtitle=f"The newest papers by {found.author['name']}",
        papers=found.papers,
        alternate_path=path,
    )
    return AtomResponse(body)


@pages.get("/organizations/{key}", response_class=HTMLResponse, responses=page_responses(400, 404))
def organization_page(request: Request, key: str) -> Response:
    try:
        page = _page(request)
    except ValueError as exc:
        return error_page(request, 400, str(exc))
    found = service.organization_page(paperfeed_of(request), key, page=page)
    context = {
        "found": found,
        "pages": max(1, -(-found.total // found.per_page)),
        "papers": found.papers,
        **card_context(request, found.papers),
    }
    return templates.TemplateResponse(request, "organization.html", context)


# ---------------------------------------------------------------- follow forms


def _follow(request: Request, reader: Reader, key: str, next: str, on: bool) -> Response:
    done = (service.follow if on else service.unfollow)(paperfeed_of(request), reader, key)
    return RedirectResponse(safe_next(next, author_path(done["key"])), status_code=303)


@forms.post("/authors/{key}/follow")
def follow_form(
    request: Request, key: str, next: str = Form(""), reader: Reader = Depends(require_reader)
) -> Response:
    return _follow(request, reader, key, next, on=True)


@forms.post("/authors/{key}/unfollow")
def unfollow_form(
    request: Request, key: str, next: str = Form(""), reader: Reader = Depends(require_reader)
) -> Response:
    return _follow(request, reader, key, next, on=False)


@pages.get("/following", response_class=HTMLResponse)
def following_page(request: Request, reader: Reader = Depends(require_reader)) -> Response:
    """The authors the reader follows (only theirs) and their newest papers."""
    app = paperfeed_of(request)
    ids = service.followed_paper_ids(app, reader, limit=50)
    rows = service.papers_by_id(app, ids)
    papers = [rows[i] for i in ids if i in rows]
    context = {
        "authors": service.followed(app, reader),
        "papers": papers,
        **card_context(request, papers),
    }
    return templates.TemplateResponse(request, "following.html", context)


# ---------------------------------------------------------------- JSON API


def _paper_ref(paper: dict[str, Any]) -> PaperRef:
    return PaperRef.model_validate(service.paper_ref(paper))


def author_page_out(found: service.AuthorPage) -> AuthorPageOut:
    return AuthorPageOut.model_validate(service.author_page_dict(found))


@api.get("/authors/{key}", response_model=AuthorPageOut)
def get_author(
    request: Request,
    key: str,
    page: int = Query(1, ge=1, le=999_999),
    per_page: int = Query(service.PAGE_SIZE, ge=1, le=service.MAX_PAGE_SIZE),
) -> AuthorPageOut:
    """An author: their papers (newest first, paged), co-authors and
    categories. An initials form ("m-walmsley") answers for the one full name
    it was merged into; when several fit, ``candidates`` lists them."""
    reader = current_reader(request)
    found = service.author_page(
        paperfeed_of(request), key, reader=reader, page=page, per_page=per_page
    )
    return author_page_out(found)


@api.get("/organizations/{key}", response_model=OrganizationPageOut)
def get_organization(
    request: Request,
    key: str,
    page: int = Query(1, ge=1, le=999_999),
    per_page: int = Query(service.PAGE_SIZE, ge=1, le=service.MAX_PAGE_SIZE),
) -> OrganizationPageOut:
    """An organization (from affiliations, or HF's organization) and its papers."""
    found = service.organization_page(paperfeed_of(request), key, page=page, per_page=per_page)
    return OrganizationPageOut.model_validate(service.organization_page_dict(found))


@api.get("/me/following", response_model=list[FollowedAuthorOut])
def my_follows(request: Request, reader: Reader = Depends(api_reader)) -> Any:
    """The authors you follow (only you see them)."""
    return service.followed(paperfeed_of(request), reader)


@api.get("/me/following/papers", response_model=list[PaperRef])
def my_follows_papers(
    request: Request,
    limit: int = Query(50, ge=1, le=service.MAX_PAGE_SIZE),
    reader: Reader = Depends(api_reader),
) -> list[PaperRef]:
    """The newest papers by authors you follow."""
    app = paperfeed_of(request)
    ids = service.followed_paper_ids(app, reader, limit=limit)
    rows = service.papers_by_id(app, ids)
    return [_paper_ref(rows[i]) for i in ids if i in rows]


@api.put("/me/following/{key}", response_model=FollowOut)
def follow_author(request: Request, key: str, reader: Reader = Depends(api_reader)) -> Any:
    """Follow an author: their new papers come in your digest's "From authors
    you follow" section and in the lists' "From authors I follow" filter."""
    return service.follow(paperfeed_of(request), reader, key)


@api.delete("/me/following/{key}", response_model=FollowOut)
def unfollow_author(request: Request, key: str, reader: Reader = Depends(api_reader)) -> Any:
    return service.unfollow(paperfeed_of(request), reader, key)
