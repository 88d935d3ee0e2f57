"""Personal recommendations: ``POST /api/recommend`` and the "For you" page.

The API ranks for whatever ids it is given and reads no reader data, so it
needs no sign-in. The page is the signed-in reader's own feed: their saves and
upvotes, hides, or (before any) the interests chosen on the page.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import Field
from starlette.datastructures import FormData

from paperfeed import recommend as core
from paperfeed.readers import Reader
from paperfeed.services import papers as papers_service
from paperfeed.web.auth import posted_form, require_reader, verify_csrf
from paperfeed.web.deps import database, paperfeed_of
from paperfeed.web.library import card_context
from paperfeed.web.schemas import RequestBody, ValidationFailed, error_responses
from paperfeed.web.templating import templates

router = APIRouter()
pages = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)


class RecommendBody(RequestBody):
    positive_ids: list[str] = Field(default_factory=list, max_length=1000)
    negative_ids: list[str] = Field(default_factory=list, max_length=1000)
    since: date | None = Field(None, strict=False, description="First listing date, inclusive.")
    until: date | None = Field(None, strict=False, description="Last listing date, inclusive.")
    categories: list[str] | None = Field(None, max_length=50)
    keywords: list[str] = Field(default_factory=list, max_length=50)
    limit: int = Field(20, ge=1, le=500)


@router.post(
    "/api/recommend",
    responses={**error_responses(400), **error_responses(422, model=ValidationFailed)},
)
def api_recommend(request: Request, body: RecommendBody) -> dict[str, Any]:
    """Papers listed in [since, until] ranked for the given positive (and
    negative) papers, best first, each with its score and the positive it is
    closest to. With no positives: a cold start from categories and keywords."""
    if not body.positive_ids and not body.categories and not body.keywords:
        raise HTTPException(422, "give positive_ids, or categories/keywords for a cold start")
    try:
        picks = core.recommend(
            paperfeed_of(request).recommender,
            positive_ids=body.positive_ids,
            negative_ids=body.negative_ids,
            since=body.since,
            until=body.until,
            categories=body.categories,
            keywords=body.keywords,
            limit=body.limit,
        )
    except core.RecommendError as exc:
        raise HTTPException(422, str(exc)) from exc
    return {"papers": [p.as_json() for p in picks]}


@pages.get("/for-you", response_class=HTMLResponse)
def for_you(request: Request, reader: Reader = Depends(require_reader)) -> Response:
    db = database(request)
    try:
        picks = core.for_reader(paperfeed_of(request).recommender, reader.id, limit=30)
    except core.RecommendError as exc:
        picks, error = [], str(exc)
    else:
        error = ""
    rows = papers_service.get_papers(paperfeed_of(request), [p.paper_id for p in picks])
    reasons = {p.paper_id: p.reason for p in picks}
    papers = []
    for pick in picks:
        row = dict(rows[pick.paper_id])
        row["upvotes"] = int(row.get("imported_upvotes") or 0)
        papers.append(row)
    signals, interests = core.reader_signals(db, reader.id)
    return templates.TemplateResponse(
        request,
        "for_you.html",
        {
            "papers": papers,
            "reasons": reasons,
            "has_signals": bool(signals.positives),
            "interests": interests,
            "error": error,
            **card_context(request, papers),
        },
    )


@pages.post("/for-you/interests", response_class=HTMLResponse)
def save_interests(
    request: Request,
    form: FormData = Depends(posted_form),
    reader: Reader = Depends(require_reader),
) -> Response:
    """Cold start: the categories and keywords a new reader follows."""
    interests = {
        key: [v.strip() for v in str(form.get(key, "")).split(",") if v.strip()][:50]
        for key in ("categories", "keywords")
    }
    core.set_interests(database(request), reader.id, interests)
    return RedirectResponse("/for-you", status_code=303)
