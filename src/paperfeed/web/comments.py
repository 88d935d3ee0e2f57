"""Discussion routes over services.comments: the forms of the paper and
group-session pages, the JSON API (list, post, edit, delete, hide; token
scopes read/write through web.auth.api_reader) and the notices' one-click
unsubscribe. The comment feeds are in web.feeds.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.convertors import Convertor, register_url_convertor

from paperfeed.digest import tokens
from paperfeed.readers import Reader
from paperfeed.services import comments as service
from paperfeed.web import convertors as _convertors  # noqa: F401  (registers {x:paper_id})
from paperfeed.web.api_readers import optional_api_reader
from paperfeed.web.auth import api_reader, current_reader, require_reader, safe_next, verify_csrf
from paperfeed.web.deps import paperfeed_of
from paperfeed.web.params import RowId
from paperfeed.web.schemas import RequestBody, UTCDateTime, error_responses
from paperfeed.web.templating import templates


class CommentActionConvertor(Convertor[str]):
    """``{x:comment_action}``: only these, so other POSTs are a 404/405, not a CSRF refusal."""

    regex = "edit|delete|hide|unhide"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("comment_action", CommentActionConvertor())

pages = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)
links = APIRouter(include_in_schema=False)  # signed-token links from emails: no session, no CSRF
api = APIRouter(
    prefix="/api", tags=["comments"], responses=error_responses(400, 401, 403, 404, 429)
)


def discussion_context(request: Request, thread: str) -> dict[str, Any]:
    """What the paper and session pages' _discussion.html shows."""
    app, reader = paperfeed_of(request), current_reader(request)
    return {
        "discussion": service.thread(app, reader, thread),
        "discussion_thread": thread,
        "following": service.following(app, reader, thread),
    }


# ---------------------------------------------------------------- pages


def _back(next_url: str, comment_id: int | None = None) -> RedirectResponse:
    target = safe_next(next_url, "/")
    return RedirectResponse(
        target + (f"#comment-{comment_id}" if comment_id else "#discussion"), 303
    )


@pages.post("/discussions/comment")
def post_comment(
    request: Request,
    thread: str = Form(max_length=220),
    body: str = Form(""),
    parent_id: Annotated[RowId | None, Form()] = None,
    next: str = Form(""),
    reader: Reader = Depends(require_reader),
) -> Response:
    posted = service.post(paperfeed_of(request), reader, thread, body, parent_id=parent_id)
    return _back(next, posted["id"])


@pages.post("/discussions/follow")
def follow(
    request: Request,
    thread: str = Form(max_length=220),
    on: bool = Form(True),
    next: str = Form(""),
    reader: Reader = Depends(require_reader),
) -> Response:
    service.set_following(paperfeed_of(request), reader, thread, on)
    return _back(next)


@pages.post("/comments/{comment_id}/{action:comment_action}")
def comment_action(
    request: Request,
    comment_id: RowId,
    action: str,
    body: str = Form(""),
    next: str = Form(""),
    reader: Reader = Depends(require_reader),
) -> Response:
    app = paperfeed_of(request)
    if action == "edit":
        service.edit(app, reader, comment_id, body)
    elif action == "delete":
        service.delete(app, reader, comment_id)
    else:
        service.set_hidden(app, reader, comment_id, action == "hide")
    return _back(next, comment_id)


@links.get("/comments/unsubscribe/{token}")
def unsubscribe_page(request: Request, token: str) -> Response:
    return templates.TemplateResponse(request, "comment_unsubscribe.html", {"token": token})


@links.post("/comments/unsubscribe/{token}")
def unsubscribe(request: Request, token: str) -> Response:
    """RFC 8058 one-click: mail clients POST here with no cookie and no CSRF token."""
    try:
        service.unsubscribe(paperfeed_of(request), token)
    except tokens.InvalidToken as exc:
        context = {"title": "Link not valid", "message": str(exc)}
        return templates.TemplateResponse(request, "message.html", context, status_code=400)
    context = {"title": "Unsubscribed", "message": "You will get no more notices for it."}
    return templates.TemplateResponse(request, "message.html", context)


# ---------------------------------------------------------------- JSON API


class CommentIn(RequestBody):
    body: str = Field(min_length=1, max_length=10_000, description="Markdown; $TeX$ for math")
    parent_id: int | None = Field(default=None, ge=1, le=2**63 - 1, description="Reply to")


class CommentPatch(RequestBody):
    body: str = Field(min_length=1, max_length=10_000)


class CommentOut(BaseModel):
    id: int
    paper_id: str | None
    parent_id: int | None
    depth: int = 0
    author: str
    status: Literal["shown", "hidden", "deleted"]
    body: str = Field(
        description="The Markdown; empty when deleted, or hidden (except to curators)"
    )
    html: str = Field(description="The sanitized HTML rendering of body")
    created_at: UTCDateTime
    edited_at: UTCDateTime | None = None


def _out(comment: dict[str, Any]) -> CommentOut:
    return CommentOut.model_validate(comment)


@api.get("/papers/{paper_id:path}/comments", response_model=list[CommentOut])
def list_comments(
    request: Request, paper_id: str, reader: Reader | None = Depends(optional_api_reader)
) -> list[CommentOut]:
    """A paper's discussion, threaded (replies follow their parent, with ``depth``)."""
    rows = service.thread(paperfeed_of(request), reader, service.paper_thread(paper_id))
    return [_out(c) for c in rows]


@api.post("/papers/{paper_id:path}/comments", response_model=CommentOut, status_code=201)
def add_comment(
    request: Request, paper_id: str, body: CommentIn, reader: Reader = Depends(api_reader)
) -> CommentOut:
    thread = service.paper_thread(paper_id)
    app = paperfeed_of(request)
    return _out(service.post(app, reader, thread, body.body, parent_id=body.parent_id))


@api.patch("/comments/{comment_id}", response_model=CommentOut)
def edit_comment(
    request: Request, comment_id: RowId, body: CommentPatch, reader: Reader = Depends(api_reader)
) -> CommentOut:
    """Edit one of your comments."""
    return _out(service.edit(paperfeed_of(request), reader, comment_id, body.body))


@api.delete("/comments/{comment_id}", status_code=204)
def delete_comment(
    request: Request, comment_id: RowId, reader: Reader = Depends(api_reader)
) -> Response:
    """Delete one of your comments (it shows as deleted; replies stay)."""
    service.delete(paperfeed_of(request), reader, comment_id)
    return Response(status_code=204)


@api.put("/comments/{comment_id}/hidden", response_model=CommentOut)
def hide_comment(
    request: Request, comment_id: RowId, reader: Reader = Depends(api_reader)
) -> CommentOut:
    """Curators: hide a comment (it shows as hidden)."""
    return _out(service.set_hidden(paperfeed_of(request), reader, comment_id, True))


@api.delete("/comments/{comment_id}/hidden", response_model=CommentOut)
def unhide_comment(
    request: Request, comment_id: RowId, reader: Reader = Depends(api_reader)
) -> CommentOut:
    """Curators: show a hidden comment again."""
    return _out(service.set_hidden(paperfeed_of(request), reader, comment_id, False))
