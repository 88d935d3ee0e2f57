"""Reader pages for notes, import, export and deleting the account
(services.library, services.imports). Forms carry the session's CSRF token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paperfeed.readers import Reader, ReaderError
from paperfeed.services import imports
from paperfeed.services import library as service
from paperfeed.web.auth import require_reader, safe_next, verify_csrf
from paperfeed.web.deps import paperfeed_of
from paperfeed.web.params import RowId
from paperfeed.web.templating import templates

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)


@router.get("/notes", response_class=HTMLResponse)
def notes_page(request: Request, q: str = "", reader: Reader = Depends(require_reader)) -> Response:
    q = q.strip()[:200]
    found = service.list_notes(paperfeed_of(request), reader, q)
    return templates.TemplateResponse(request, "notes.html", {"q": q, "matching_notes": found})


@router.post("/notes")
def save_note(
    request: Request,
    paper_id: str = Form(..., max_length=200),
    body: str = Form(""),
    collection_id: Annotated[RowId | None, Form()] = None,
    next: str = Form(""),
    reader: Reader = Depends(require_reader),
) -> Response:
    service.set_note(paperfeed_of(request), reader, paper_id, body, collection_id)
    return RedirectResponse(safe_next(next, "/notes"), status_code=303)


# ---------------------------------------------------------------- import


def _import_page(
    request: Request,
    report: imports.ImportReport | None = None,
    error: str = "",
    status: int = 200,
) -> Response:
    return templates.TemplateResponse(
        request, "library_import.html", {"report": report, "error": error}, status_code=status
    )


@router.get("/library/import", response_class=HTMLResponse)
def import_page(request: Request, reader: Reader = Depends(require_reader)) -> Response:
    return _import_page(request)


def _run(
    request: Request, reader: Reader, read: Callable[[], list[imports.Item]], name: str, save: str
) -> Response:
    """Read the items (a file or Zotero), import them, and show the report or the problem."""
    app = paperfeed_of(request)
    try:
        items = read()
        report = imports.run_import(app, reader, items, collection_name=name, save=bool(save))
    except ReaderError as exc:
        return _import_page(request, error=str(exc), status=400)
    return _import_page(request, report)


@router.post("/library/import", response_class=HTMLResponse)
def import_file(
    request: Request,
    format: str = Form("bibtex"),
    file: UploadFile = File(...),
    collection_name: str = Form(""),
    save: str = Form(""),
    reader: Reader = Depends(require_reader),
) -> Response:
    # The upload is already spooled by the form parser: reading it does not wait on the client.
    data = file.file.read(imports.MAX_BYTES + 1)
    return _run(request, reader, lambda: imports.read_file(format, data), collection_name, save)


@router.post("/library/import/zotero", response_class=HTMLResponse)
def import_zotero(
    request: Request,
    user_id: str = Form(""),
    api_key: str = Form(""),
    collection_name: str = Form(""),
    save: str = Form(""),
    reader: Reader = Depends(require_reader),
) -> Response:
    settings = paperfeed_of(request).settings
    return _run(
        request,
        reader,
        lambda: imports.read_zotero(settings, user_id, api_key),
        collection_name,
        save,
    )


# ---------------------------------------------------------------- export and deletion


@router.get("/library/export")
def export(
    request: Request,
    what: str = "library",
    format: str = "bibtex",
    collection_id: RowId | None = None,
    reader: Reader = Depends(require_reader),
) -> Response:
    found = service.export_papers(paperfeed_of(request), reader, what, format, collection_id)
    return Response(
        found.body,
        media_type=found.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{found.filename}"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get("/account/delete", response_class=HTMLResponse)
def delete_page(request: Request, reader: Reader = Depends(require_reader)) -> Response:
    return templates.TemplateResponse(request, "account_delete.html", {"error": ""})


@router.post("/account/delete", response_class=HTMLResponse)
def delete_account(
    request: Request, confirm_email: str = Form(""), reader: Reader = Depends(require_reader)
) -> Response:
    try:
        service.delete_account(paperfeed_of(request), reader, confirm_email)
    except ReaderError as exc:
        return templates.TemplateResponse(
            request, "account_delete.html", {"error": str(exc)}, status_code=400
        )
    request.session.clear()
    request.state.reader = None
    return templates.TemplateResponse(
        request,
        "message.html",
        {"title": "Account deleted", "message": "Your account and everything of yours is gone."},
    )
