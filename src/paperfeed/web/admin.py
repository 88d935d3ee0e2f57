"""The admins' roles page: grant and revoke the curator and admin roles.

Admins only (anyone else signed in gets a 403, anonymous visitors the sign-in
page). Every form carries the session's CSRF token (``verify_csrf``); each
change commits with its row in the ``role_changes`` audit trail, shown below
the forms. The same core functions back ``paperfeed users grant``.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paperfeed import readers as core
from paperfeed.readers import Reader
from paperfeed.web.auth import require_reader, verify_csrf
from paperfeed.web.deps import database
from paperfeed.web.params import RowId
from paperfeed.web.templating import templates

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)


def _page(
    request: Request,
    admin: Reader,
    *,
    error: str | None = None,
    email: str = "",
    status: int = 200,
) -> Response:
    privileged, changes = core.role_overview(database(request), admin)
    return templates.TemplateResponse(
        request,
        "admin_roles.html",
        {
            "privileged": privileged,
            "changes": changes,
            "error": error,
            "email": email,
            "done": request.query_params.get("done", "")[:400],
        },
        status_code=status,
    )


@router.get("/admin/roles", response_class=HTMLResponse)
def roles_page(request: Request, reader: Reader = Depends(require_reader)) -> Response:
    return _page(request, reader)


@router.post("/admin/roles", response_class=HTMLResponse)
def grant(
    request: Request,
    email: str = Form(""),
    role: str = Form(""),
    reader: Reader = Depends(require_reader),
) -> Response:
    """Grant a role by address; an address that never signed in gets an account."""
    if not reader.is_admin:
        raise core.Forbidden("Only admins can grant or revoke roles.")
    try:
        changed = core.grant_role(database(request), email, role, by=reader)
    except (core.Forbidden, core.NotFound):
        raise
    except core.ReaderError as exc:
        return _page(request, reader, error=str(exc), email=email[:320], status=400)
    return _done(changed)


@router.post("/admin/roles/{reader_id}", response_class=HTMLResponse)
def set_role(
    request: Request,
    reader_id: RowId,
    role: str = Form(""),
    reader: Reader = Depends(require_reader),
) -> Response:
    """Change one reader's role; "reader" revokes curator or admin."""
    try:
        changed = core.set_reader_role(database(request), reader, reader_id, role)
    except (core.Forbidden, core.NotFound):
        raise
    except core.ReaderError as exc:
        return _page(request, reader, error=str(exc), status=400)
    return _done(changed)


def _done(changed: Reader) -> Response:
    note = urlencode({"done": f"{changed.email} is now {changed.role}."})
    return RedirectResponse(f"/admin/roles?{note}", status_code=303)
