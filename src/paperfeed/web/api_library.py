"""The reader's library in the JSON API: private notes, searching the
library, import, export and deleting the account (services.library and
services.imports). Token scopes as everywhere: reads need "read", changes "write".
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from paperfeed.readers import Reader
from paperfeed.recommend import Pick
from paperfeed.services import imports
from paperfeed.services import library as service
from paperfeed.web.api_readers import PaperBrief, _brief
from paperfeed.web.auth import api_reader
from paperfeed.web.deps import paperfeed_of
from paperfeed.web.params import RowId
from paperfeed.web.schemas import RequestBody, UTCDateTime, error_responses

router = APIRouter(prefix="/api", tags=["library"], responses=error_responses(400, 401, 403, 404))


class NoteIn(RequestBody):
    body: str = Field(max_length=service.NOTE_MAX, description="Empty deletes the note")


class NoteOut(BaseModel):
    paper_id: str
    collection_id: int | None = None
    body: str
    created_at: UTCDateTime
    updated_at: UTCDateTime
    title: str | None = None
    collection_name: str | None = None


class ImportOptions(RequestBody):
    collection_name: str = Field("", max_length=200, description="Gather them in a new collection")
    save: bool = Field(True, description="Save them to the library (seeds the For you feed)")


class FileImportIn(ImportOptions):
    format: Literal["bibtex", "ris", "csl-json"]
    content: str = Field(max_length=imports.MAX_BYTES, description="The file's text")


class ZoteroImportIn(ImportOptions):
    user_id: str = Field(pattern=r"^\d{1,20}$", description="Your Zotero user id")
    api_key: str = Field(
        pattern=r"^[A-Za-z0-9]{1,64}$", description="A Zotero key that may read it; not kept"
    )


class Matched(BaseModel):
    ref: str
    title: str
    paper_id: str
    how: Literal["arXiv id", "DOI", "title"]


class Unmatched(BaseModel):
    ref: str
    title: str
    reason: str


class PickOut(BaseModel):
    paper_id: str
    title: str
    reason: str


class ImportOut(BaseModel):
    total: int
    matched: list[Matched]
    unmatched: list[Unmatched]
    newly_saved: int
    collection_id: int | None
    feed_before: list[PickOut] = Field(description="Your top For you picks before the import")
    feed_after: list[PickOut] = Field(description="... and after it")


class DeleteIn(RequestBody):
    confirm_email: str = Field(max_length=320, description="Your account's email address")


def _picks(picks: list[Pick]) -> list[PickOut]:
    return [PickOut(paper_id=p.paper_id, title=p.title, reason=p.reason) for p in picks]


def _report(report: imports.ImportReport) -> ImportOut:
    return ImportOut(
        total=report.total,
        matched=[Matched(**m) for m in report.matched],  # type: ignore[arg-type]
        unmatched=[Unmatched(**u) for u in report.unmatched],
        newly_saved=report.newly_saved,
        collection_id=report.collection_id,
        feed_before=_picks(report.before),
        feed_after=_picks(report.after),
    )


# ---------------------------------------------------------------- notes


@router.get("/me/notes", response_model=list[NoteOut])
def my_notes(
    request: Request, q: str = Query("", max_length=200), reader: Reader = Depends(api_reader)
) -> Any:
    """Your notes, newest first; ``q`` keeps those whose text or paper title has it."""
    return service.list_notes(paperfeed_of(request), reader, q)


@router.get("/me/saved/search", response_model=list[PaperBrief])
def search_saved(
    request: Request,
    q: str = Query(min_length=1, max_length=200),
    reader: Reader = Depends(api_reader),
) -> list[PaperBrief]:
    """Your saved papers whose title, abstract or note contain ``q``."""
    return [_brief(p) for p in service.search_library(paperfeed_of(request), reader, q)]


@router.get("/papers/{paper_id:path}/note", response_model=NoteOut)
def get_note(request: Request, paper_id: str, reader: Reader = Depends(api_reader)) -> Any:
    return service.get_note(paperfeed_of(request), reader, paper_id)


@router.put("/papers/{paper_id:path}/note", response_model=NoteOut | None)
def put_note(
    request: Request, paper_id: str, body: NoteIn, reader: Reader = Depends(api_reader)
) -> Any:
    """Write your private note on a paper (only you ever see it)."""
    return service.set_note(paperfeed_of(request), reader, paper_id, body.body)


@router.delete("/papers/{paper_id:path}/note", status_code=204)
def delete_note(request: Request, paper_id: str, reader: Reader = Depends(api_reader)) -> Response:
    service.set_note(paperfeed_of(request), reader, paper_id, "")
    return Response(status_code=204)


@router.get("/collections/{collection_id}/notes/{paper_id:path}", response_model=NoteOut)
def get_item_note(
    request: Request, collection_id: RowId, paper_id: str, reader: Reader = Depends(api_reader)
) -> Any:
    return service.get_note(paperfeed_of(request), reader, paper_id, collection_id)


@router.put("/collections/{collection_id}/notes/{paper_id:path}", response_model=NoteOut | None)
def put_item_note(
    request: Request,
    collection_id: RowId,
    paper_id: str,
    body: NoteIn,
    reader: Reader = Depends(api_reader),
) -> Any:
    """Your note on one paper of one of your collections."""
    return service.set_note(paperfeed_of(request), reader, paper_id, body.body, collection_id)


# ---------------------------------------------------------------- import and export


@router.post("/me/import", response_model=ImportOut, responses=error_responses(502))
def import_file(request: Request, body: FileImportIn, reader: Reader = Depends(api_reader)) -> Any:
    """Import a BibTeX, RIS or CSL-JSON file's papers; a file that does not
    parse is a 400 naming the entry, and nothing is imported."""
    app = paperfeed_of(request)
    items = imports.read_file(body.format, body.content.encode())
    return _report(
        imports.run_import(app, reader, items, collection_name=body.collection_name, save=body.save)
    )


@router.post("/me/import/zotero", response_model=ImportOut, responses=error_responses(502))
def import_zotero(
    request: Request, body: ZoteroImportIn, reader: Reader = Depends(api_reader)
) -> Any:
    """Import a Zotero library through Zotero's web API, with your own key."""
    app = paperfeed_of(request)
    items = imports.read_zotero(app.settings, body.user_id, body.api_key)
    return _report(
        imports.run_import(app, reader, items, collection_name=body.collection_name, save=body.save)
    )


_EXPORT_CONTENT = {
    "application/x-bibtex": {"schema": {"type": "string"}},
    "application/x-research-info-systems": {"schema": {"type": "string"}},
    "application/vnd.citationstyles.csl+json": {
        "schema": {"type": "array", "items": {"type": "object"}}
    },
    "application/json": {"schema": {"type": "object", "description": "The account archive"}},
}


@router.get(
    "/me/export",
    response_class=Response,
    responses={200: {"description": "The file", "content": _EXPORT_CONTENT}},
)
def export(
    request: Request,
    what: Literal["collection", "library", "account"] = "account",
    format: Literal["bibtex", "ris", "csl-json", "json"] = "json",
    collection_id: RowId | None = None,
    reader: Reader = Depends(api_reader),
) -> Response:
    """A collection of yours, your library (saved papers) or your whole account
    (as ``json``: everything, in one archive) as a download."""
    found = service.export_papers(paperfeed_of(request), reader, what, format, collection_id)
    return Response(
        found.body,
        media_type=found.media_type,
        headers={"Content-Disposition": f'attachment; filename="{found.filename}"'},
    )


@router.post("/me/delete", status_code=204)
def delete_account(
    request: Request, body: DeleteIn, reader: Reader = Depends(api_reader)
) -> Response:
    """Delete your account and everything of yours; your sessions and API
    tokens stop working. ``confirm_email`` must be your address."""
    service.delete_account(paperfeed_of(request), reader, body.confirm_email)
    return Response(status_code=204)
