"""Reader pages: paper actions (upvote, save, hide, curate), the library,
collections, saved searches and submissions.

Every action is a plain form POST that redirects back (works without
JavaScript); static/readers.js sends the same forms with fetch and swaps in
the re-rendered actions, so the page does not reload.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.convertors import Convertor, register_url_convertor

from paperfeed import readers as core
from paperfeed.readers import Reader
from paperfeed.services import ingest as ingest_service
from paperfeed.services import library as library_service
from paperfeed.services import papers
from paperfeed.web.auth import (
    current_reader,
    require_reader,
    safe_next,
    verify_csrf,
)
from paperfeed.web.deps import database, paperfeed_of, settings_of
from paperfeed.web.params import RowId
from paperfeed.web.templating import page_context, templates

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)

# form action -> (core operation, value)
PAPER_ACTIONS: dict[str, tuple[str, bool]] = {
    "upvote": ("vote", True),
    "unvote": ("vote", False),
    "save": ("save", True),
    "unsave": ("save", False),
    "hide": ("hide", True),
    "unhide": ("hide", False),
    "feature": ("featured", True),
    "unfeature": ("featured", False),
    "curator-hide": ("hidden", True),
    "curator-unhide": ("hidden", False),
}


class PaperActionConvertor(Convertor[str]):
    """``{x:paper_action}``: only the actions above, so a POST to a GET-only
    page such as /papers/date/2025-01-06 matches no route here and is a 405
    with Allow, not this router's CSRF refusal."""

    regex = "|".join(re.escape(action) for action in PAPER_ACTIONS)

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("paper_action", PaperActionConvertor())


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


# ---------------------------------------------------------------- paper cards


def card_context(request: Request, *lists: list[dict[str, Any]]) -> dict[str, Any]:
    """What the readers' actions on paper cards (_paper_actions.html) show, for
    a page's lists of papers: ``paper_states``, each paper's upvotes and the
    reader's flags, read in one batch (a page of 50 cards costs one round of
    queries, not 50), and ``my_collections`` for "Add to collection"."""
    reader = current_reader(request)
    papers = [p for papers in lists for p in papers]
    states: dict[str, dict[str, Any]] = {}
    if reader is None:  # the lists already counted the upvotes
        states = {p["id"]: _anonymous_state(p) for p in papers if "upvotes" in p}
    missing = [i for i in dict.fromkeys(p["id"] for p in papers) if i not in states]
    if missing:
        states.update(core.paper_states(database(request), reader, missing))
    collections = core.list_collections(database(request), reader) if reader and papers else []
    return {"paper_states": states, "my_collections": collections}


def _anonymous_state(paper: dict[str, Any]) -> dict[str, Any]:
    return {
        "paper_id": paper["id"],
        "upvotes": int(paper["upvotes"]),
        "upvoted": False,
        "saved": False,
        "hidden": False,
    }


def _back(request: Request, next_url: str, paper_id: str) -> str:
    return safe_next(next_url, f"/papers/{paper_id}")


def _actions_json(request: Request, paper_id: str, back: str) -> Response:
    """The paper's new state and its re-rendered actions, for readers.js."""
    paper = papers.get_paper(paperfeed_of(request), paper_id)
    if paper is None:
        raise core.NotFound(f"no paper {paper_id[:200]!r}")
    context = {**page_context(request), **card_context(request, [paper]), "here": back}
    html = templates.get_template("_paper_actions.html").render(paper=paper, **context)
    return JSONResponse({**context["paper_states"][paper["id"]], "html": html})


# ---------------------------------------------------------------- paper actions


@router.post("/papers/{paper_id:path}/{action:paper_action}")
def paper_action(
    request: Request,
    paper_id: str,
    action: str,
    next: str = Form(""),
    reader: Reader = Depends(require_reader),
) -> Response:
    if action not in PAPER_ACTIONS:
        raise core.NotFound(f"no action {action[:40]!r}")
    operation, value = PAPER_ACTIONS[action]
    db = database(request)
    if operation in ("featured", "hidden"):
        core.curate(db, reader, paper_id, **{operation: value})
    else:
        core.set_flag(db, reader, operation, paper_id, value)
    back = _back(request, next, paper_id)
    if wants_json(request):
        return _actions_json(request, paper_id, back)
    return RedirectResponse(back, status_code=303)


@router.post("/library/collect")
def collect(
    request: Request,
    paper_id: str = Form(...),
    collection_id: Annotated[RowId | None, Form()] = None,
    new_collection: str = Form(""),
    next: str = Form(""),
    reader: Reader = Depends(require_reader),
) -> Response:
    """Add a paper to one of the reader's collections, or to a new one."""
    db = database(request)
    if new_collection.strip():
        target = core.create_collection(db, reader, new_collection)
    elif collection_id is not None:
        target = collection_id
    else:
        raise core.ReaderError("Choose a collection or name a new one.")
    core.add_to_collection(db, reader, target, paper_id)
    back = _back(request, next, paper_id)
    if wants_json(request):
        return _actions_json(request, paper_id, back)
    return RedirectResponse(back, status_code=303)


# ---------------------------------------------------------------- library


@router.get("/library", response_class=HTMLResponse)
def library_page(
    request: Request, q: str = "", reader: Reader = Depends(require_reader)
) -> Response:
    """The saved papers (those matching ``q`` in title, abstract or note, when
    given), each with the reader's private note, and the notes matching ``q``."""
    db, app, q = database(request), paperfeed_of(request), q.strip()[:200]
    saved = library_service.search_library(app, reader, q) if q else core.library(db, reader)
    return templates.TemplateResponse(
        request,
        "library.html",
        {
            "q": q,
            "papers": saved,
            "notes": library_service.notes_on(app, reader, [p["id"] for p in saved]),
            "matching_notes": library_service.list_notes(app, reader, q) if q else [],
            "hidden_papers": core.library(db, reader, "hide"),
            "collections": core.list_collections(db, reader),
            "saved_searches": core.list_saved_searches(db, reader),
            **card_context(request, saved),
        },
    )


@router.post("/saved-searches")
def create_saved_search(
    request: Request,
    query: str = Form(""),
    name: str = Form(""),
    next: str = Form(""),
    reader: Reader = Depends(require_reader),
) -> Response:
    core.create_saved_search(database(request), reader, name, query)
    return RedirectResponse(safe_next(next, "/library"), status_code=303)


@router.post("/saved-searches/{search_id}/delete")
def delete_saved_search(
    request: Request, search_id: RowId, reader: Reader = Depends(require_reader)
) -> Response:
    core.delete_saved_search(database(request), reader, search_id)
    return RedirectResponse("/library", status_code=303)


# ---------------------------------------------------------------- collections


@router.get("/collections", response_class=HTMLResponse)
def collections_page(request: Request, reader: Reader = Depends(require_reader)) -> Response:
    return templates.TemplateResponse(
        request,
        "collections.html",
        {"collections": core.list_collections(database(request), reader)},
    )


@router.post("/collections")
def create_collection(
    request: Request,
    name: str = Form(""),
    description: str = Form(""),
    is_public: str = Form(""),
    reader: Reader = Depends(require_reader),
) -> Response:
    collection_id = core.create_collection(
        database(request), reader, name, description=description, is_public=bool(is_public)
    )
    return RedirectResponse(f"/collections/{collection_id}", status_code=303)


@router.get("/collections/{collection_id}", response_class=HTMLResponse)
def collection_page(request: Request, collection_id: RowId) -> Response:
    """Anyone may see a public collection; a private one only its owner (404 for
    everyone else, so its existence does not leak)."""
    viewer = current_reader(request)
    collection, papers = core.get_collection(database(request), viewer, collection_id)
    return templates.TemplateResponse(
        request,
        "collection.html",
        {
            "collection": collection,
            "papers": papers,
            "is_owner": viewer is not None and viewer.id == collection["reader_id"],
            "notes": library_service.notes_on(
                paperfeed_of(request),
                viewer if viewer is not None and viewer.id == collection["reader_id"] else None,
                [p["id"] for p in papers],
                collection_id,
            ),
            **card_context(request, papers),
        },
    )


@router.post("/collections/{collection_id}/edit")
def edit_collection(
    request: Request,
    collection_id: RowId,
    name: str = Form(""),
    description: str = Form(""),
    is_public: str = Form(""),
    reader: Reader = Depends(require_reader),
) -> Response:
    core.update_collection(
        database(request),
        reader,
        collection_id,
        name=name,
        description=description,
        is_public=bool(is_public),
    )
    return RedirectResponse(f"/collections/{collection_id}", status_code=303)


@router.post("/collections/{collection_id}/delete")
def delete_collection(
    request: Request, collection_id: RowId, reader: Reader = Depends(require_reader)
) -> Response:
    core.delete_collection(database(request), reader, collection_id)
    return RedirectResponse("/collections", status_code=303)


@router.post("/collections/{collection_id}/remove")
def remove_from_collection(
    request: Request,
    collection_id: RowId,
    paper_id: str = Form(...),
    reader: Reader = Depends(require_reader),
) -> Response:
    core.remove_from_collection(database(request), reader, collection_id, paper_id)
    return RedirectResponse(f"/collections/{collection_id}", status_code=303)


# ---------------------------------------------------------------- submissions


@router.get("/submit", response_class=HTMLResponse)
def submit_page(request: Request, reader: Reader = Depends(require_reader)) -> Response:
    return _submit(request, None, None, "")


def _submit(
    request: Request,
    result: core.SubmissionResult | None,
    error: str | None,
    value: str,
    status: int = 200,
) -> Response:
    return templates.TemplateResponse(
        request,
        "submit.html",
        {
            "result": result,
            "error": error,
            "value": value,
            "max_age_days": settings_of(request).submission_max_age_days,
        },
        status_code=status,
    )


@router.post("/submit", response_class=HTMLResponse)
def submit_paper(
    request: Request, arxiv_id: str = Form(""), reader: Reader = Depends(require_reader)
) -> Response:
    try:
        result = ingest_service.submit(paperfeed_of(request), reader, arxiv_id)
    except core.ReaderError as exc:
        status = 404 if isinstance(exc, core.NotFound) else 400
        if isinstance(exc, core.SourceUnavailable):
            status = 502
        return _submit(request, None, str(exc), arxiv_id[:100], status)
    return _submit(request, result, None, "")


# ---------------------------------------------------------------- curation


@router.get("/curation", response_class=HTMLResponse)
def curation_page(request: Request, reader: Reader = Depends(require_reader)) -> Response:
    papers = core.curated_papers(database(request), reader)
    hidden = [p for p in papers if p["hidden"]]
    featured = [p for p in papers if p["featured"] and not p["hidden"]]
    return templates.TemplateResponse(
        request,
        "curation.html",
        {
            "hidden_papers": hidden,
            "featured_papers": featured,
            **card_context(request, hidden, featured),
        },
    )
