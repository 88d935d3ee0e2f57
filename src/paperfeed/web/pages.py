"""HTML pages. Hugging Face Papers URLs: /, /papers/date/YYYY-MM-DD, /papers/{id}."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paperfeed.db import Database
from paperfeed.db import papers as paper_store
from paperfeed.web.templating import templates

router = APIRouter()


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _day_page(request: Request, day: date | None) -> Response:
    db = _db(request)
    with db.connect() as conn:
        if day is None:
            day = paper_store.latest_listing_date(conn, on_or_before=date.today())
        papers = paper_store.papers_listed_on(conn, day, limit=100) if day else []
        previous, following = paper_store.adjacent_listing_dates(conn, day) if day else (None, None)
    return templates.TemplateResponse(
        request,
        "list.html",
        {"day": day, "papers": papers, "previous": previous, "following": following},
    )


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    """Today's list, or the latest day that has papers."""
    return _day_page(request, None)


@router.get("/papers/date/{day}", response_class=HTMLResponse)
def papers_on_day(request: Request, day: str) -> Response:
    try:
        parsed = date.fromisoformat(day)
    except ValueError as exc:
        raise HTTPException(400, f"not a date (YYYY-MM-DD): {day[:40]!r}") from exc
    return _day_page(request, parsed)


@router.get("/papers/{paper_id:path}", response_class=HTMLResponse)
def paper_page(request: Request, paper_id: str) -> Response:
    db = _db(request)
    with db.connect() as conn:
        paper = paper_store.get_paper(conn, paper_id)
    if paper is None:
        raise HTTPException(404, f"no paper {paper_id[:200]!r}")
    if paper["id"] != paper_id:  # an alias (old slug): send readers to the real page
        return RedirectResponse(f"/papers/{paper['id']}", status_code=301)
    return templates.TemplateResponse(request, "paper.html", {"paper": paper})
