"""Reading-group pages and JSON API over services.groups: the reader's
groups, one group (members, schedule, invite link, calendar URL), a session
with its members-only discussion, joining by invite link, and the iCalendar
feed. Non-members get a 404 for anything of a group."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from pydantic import AwareDatetime, BaseModel, Field

from paperfeed.digest import tokens
from paperfeed.readers import Reader, ReaderError
from paperfeed.services import comments
from paperfeed.services import groups as service
from paperfeed.web.auth import api_reader, require_reader, verify_csrf
from paperfeed.web.comments import CommentIn, CommentOut, discussion_context
from paperfeed.web.deps import paperfeed_of, settings_of
from paperfeed.web.params import RowId
from paperfeed.web.schemas import RequestBody, UTCDateTime, error_responses, text_responses
from paperfeed.web.templating import templates

pages = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)
calendars = APIRouter(tags=["groups"])


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    return templates.TemplateResponse(request, name, context, status_code=status)


def _to(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


@pages.get("/groups")
def groups_page(request: Request, reader: Reader = Depends(require_reader)) -> Response:
    return _page(
        request, "groups.html", {"groups": service.my_groups(paperfeed_of(request), reader)}
    )


@pages.post("/groups")
def create_group(
    request: Request,
    name: str = Form(""),
    description: str = Form(""),
    reader: Reader = Depends(require_reader),
) -> Response:
    group_id = service.create_group(paperfeed_of(request), reader, name, description)
    return _to(f"/groups/{group_id}")


@pages.get("/groups/join/{token}")
def join_page(request: Request, token: str, reader: Reader = Depends(require_reader)) -> Response:
    try:
        group = service.invitation(paperfeed_of(request), token)
    except tokens.InvalidToken as exc:
        context = {"title": "Invitation not valid", "message": str(exc)}
        return _page(request, "message.html", context, 400)
    return _page(request, "group_join.html", {"group": group, "token": token})


@pages.post("/groups/join/{token}")
def join(request: Request, token: str, reader: Reader = Depends(require_reader)) -> Response:
    try:
        group_id = service.join(paperfeed_of(request), reader, token)
    except tokens.InvalidToken as exc:
        context = {"title": "Invitation not valid", "message": str(exc)}
        return _page(request, "message.html", context, 400)
    return _to(f"/groups/{group_id}")


@pages.get("/groups/{group_id}")
def group_page(
    request: Request, group_id: RowId, reader: Reader = Depends(require_reader)
) -> Response:
    app = paperfeed_of(request)
    group = service.group_page(app, reader, group_id)
    manage = group["my_role"] in ("owner", "moderator")
    context = {
        "group": group,
        "manage": manage,
        "invite": service.invite_link(app, reader, group_id) if manage else None,
        "calendar": service.calendar_url(settings_of(request), group_id, reader.id),
    }
    return _page(request, "group.html", context)


@pages.post("/groups/{group_id}/invite")
def renew_invite(
    request: Request, group_id: RowId, reader: Reader = Depends(require_reader)
) -> Response:
    service.invite_link(paperfeed_of(request), reader, group_id, renew=True)
    return _to(f"/groups/{group_id}")


@pages.post("/groups/{group_id}/leave")
def leave(request: Request, group_id: RowId, reader: Reader = Depends(require_reader)) -> Response:
    service.leave(paperfeed_of(request), reader, group_id)
    return _to("/groups")


@pages.post("/groups/{group_id}/members/{member_id}")
def set_role(
    request: Request,
    group_id: RowId,
    member_id: RowId,
    role: str = Form(""),
    reader: Reader = Depends(require_reader),
) -> Response:
    service.set_role(paperfeed_of(request), reader, group_id, member_id, role)
    return _to(f"/groups/{group_id}")


@pages.post("/groups/{group_id}/sessions")
def schedule(
    request: Request,
    group_id: RowId,
    starts_at: str = Form(""),
    papers: str = Form(""),
    presenter_id: Annotated[RowId | None, Form()] = None,
    title: str = Form(""),
    reader: Reader = Depends(require_reader),
) -> Response:
    """``starts_at``: a datetime-local value, taken as UTC; ``papers``: ids
    separated by spaces or commas."""
    try:
        when = datetime.fromisoformat(starts_at)
    except ValueError:
        raise ReaderError(f"not a date and time: {starts_at[:40]!r} (YYYY-MM-DDTHH:MM)") from None
    session_id = service.schedule(
        paperfeed_of(request),
        reader,
        group_id,
        starts_at=when,
        paper_ids=papers.replace(",", " ").split(),
        presenter_id=presenter_id,
        title=title,
    )
    return _to(f"/groups/{group_id}/sessions/{session_id}")


@pages.post("/groups/{group_id}/sessions/{session_id}/delete")
def cancel(
    request: Request, group_id: RowId, session_id: RowId, reader: Reader = Depends(require_reader)
) -> Response:
    service.cancel(paperfeed_of(request), reader, group_id, session_id)
    return _to(f"/groups/{group_id}")


@pages.get("/groups/{group_id}/sessions/{session_id}")
def session_page(
    request: Request, group_id: RowId, session_id: RowId, reader: Reader = Depends(require_reader)
) -> Response:
    found = service.session(paperfeed_of(request), reader, session_id)
    if found["group_id"] != group_id:
        return _to(f"/groups/{found['group_id']}/sessions/{session_id}")
    context = {"session": found, **discussion_context(request, comments.session_thread(session_id))}
    return _page(request, "group_session.html", context)


@calendars.get(
    "/groups/{group_id}/calendar/{token}.ics",
    summary="A reading group's schedule as iCalendar (a member's secret URL)",
    response_class=Response,
    responses={**text_responses("text/calendar", 200), **text_responses("text/plain", 404)},
)
def calendar(request: Request, group_id: RowId, token: str) -> Response:
    """Calendar apps fetch this without a session: the signed token names
    the group and the member, and stops working when they leave."""
    try:
        body = service.calendar(paperfeed_of(request), group_id, token)
    except tokens.InvalidToken as exc:
        return PlainTextResponse(str(exc), status_code=404)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="group-{group_id}.ics"'},
    )


# ---------------------------------------------------------------- JSON API

api = APIRouter(prefix="/api", tags=["groups"], responses=error_responses(400, 401, 403, 404, 429))


class GroupIn(RequestBody):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)


class JoinIn(RequestBody):
    token: str = Field(min_length=1, max_length=500, description="From the group's invite link")


class SessionIn(RequestBody):
    starts_at: AwareDatetime = Field(strict=False, description="With its UTC offset")
    paper_ids: list[Annotated[str, Field(max_length=200)]] = Field(min_length=1, max_length=10)
    presenter_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    title: str = Field(default="", max_length=200)


class MemberOut(BaseModel):
    reader_id: int
    name: str | None
    role: str


class SessionOut(BaseModel):
    id: int
    starts_at: UTCDateTime
    title: str
    paper_ids: list[str]
    presenter_id: int | None
    presenter_name: str | None = None


class GroupOut(BaseModel):
    id: int
    name: str
    description: str
    my_role: str


class GroupDetail(GroupOut):
    members: list[MemberOut]
    sessions: list[SessionOut]
    calendar_url: str = Field(description="Your own secret iCalendar URL for this group")


def _detail(request: Request, reader: Reader, group_id: int) -> GroupDetail:
    found = service.group_page(paperfeed_of(request), reader, group_id)
    url = service.calendar_url(settings_of(request), group_id, reader.id)
    return GroupDetail.model_validate({**found, "calendar_url": url})


@api.get("/groups", response_model=list[GroupOut])
def api_groups(request: Request, reader: Reader = Depends(api_reader)) -> list[Any]:
    """Your reading groups."""
    return service.my_groups(paperfeed_of(request), reader)


@api.post("/groups", response_model=GroupDetail, status_code=201)
def api_create_group(
    request: Request, body: GroupIn, reader: Reader = Depends(api_reader)
) -> GroupDetail:
    group_id = service.create_group(paperfeed_of(request), reader, body.name, body.description)
    return _detail(request, reader, group_id)


@api.get("/groups/{group_id}", response_model=GroupDetail)
def api_group(request: Request, group_id: RowId, reader: Reader = Depends(api_reader)) -> Any:
    """A group of yours: members and schedule (others' groups are 404)."""
    return _detail(request, reader, group_id)


@api.post("/groups/join", response_model=GroupDetail, responses=error_responses(400))
def api_join(request: Request, body: JoinIn, reader: Reader = Depends(api_reader)) -> Any:
    try:
        group_id = service.join(paperfeed_of(request), reader, body.token)
    except tokens.InvalidToken as exc:
        raise ReaderError(str(exc)) from None
    return _detail(request, reader, group_id)


@api.delete("/groups/{group_id}/membership", status_code=204)
def api_leave(request: Request, group_id: RowId, reader: Reader = Depends(api_reader)) -> Response:
    """Leave the group (the only owner of a group with members cannot)."""
    service.leave(paperfeed_of(request), reader, group_id)
    return Response(status_code=204)


@api.post("/groups/{group_id}/sessions", response_model=SessionOut, status_code=201)
def api_schedule(
    request: Request, group_id: RowId, body: SessionIn, reader: Reader = Depends(api_reader)
) -> Any:
    """Owners and moderators: schedule a session."""
    app = paperfeed_of(request)
    session_id = service.schedule(
        app,
        reader,
        group_id,
        starts_at=body.starts_at,
        paper_ids=body.paper_ids,
        presenter_id=body.presenter_id,
        title=body.title,
    )
    return service.session(app, reader, session_id)


@api.delete("/groups/{group_id}/sessions/{session_id}", status_code=204)
def api_cancel(
    request: Request, group_id: RowId, session_id: RowId, reader: Reader = Depends(api_reader)
) -> Response:
    service.cancel(paperfeed_of(request), reader, group_id, session_id)
    return Response(status_code=204)


@api.get("/groups/sessions/{session_id}/comments", response_model=list[CommentOut])
def api_session_comments(
    request: Request, session_id: RowId, reader: Reader = Depends(api_reader)
) -> list[CommentOut]:
    """A session's discussion (members only)."""
    rows = comments.thread(paperfeed_of(request), reader, comments.session_thread(session_id))
    return [CommentOut.model_validate(c) for c in rows]


@api.post("/groups/sessions/{session_id}/comments", response_model=CommentOut, status_code=201)
def api_session_comment(
    request: Request, session_id: RowId, body: CommentIn, reader: Reader = Depends(api_reader)
) -> CommentOut:
    thread = comments.session_thread(session_id)
    posted = comments.post(
        paperfeed_of(request), reader, thread, body.body, parent_id=body.parent_id
    )
    return CommentOut.model_validate(posted)
