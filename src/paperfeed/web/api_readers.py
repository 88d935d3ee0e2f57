"""The readers' JSON API: votes, saves, hides, collections, saved searches,
API tokens, submissions and curation, over the same core as the pages.

Authenticate with ``Authorization: Bearer <API token>`` (no CSRF needed) or
with the browser session, which must then send the session's CSRF token in an
``X-CSRF-Token`` header on state-changing calls.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field

from paperfeed import readers as core
from paperfeed.app import Database
from paperfeed.readers import Reader
from paperfeed.services import ingest as ingest_service
from paperfeed.web.auth import api_reader, bearer_scheme, current_reader
from paperfeed.web.deps import database, paperfeed_of
from paperfeed.web.params import RowId
from paperfeed.web.schemas import RequestBody, UTCDateTime, error_responses

# 400 bad input the model cannot see; 401 no credentials; 403 a role needed, or
# a session cookie without its CSRF header; 404 not found (or another's).
router = APIRouter(prefix="/api", tags=["readers"], responses=error_responses(400, 401, 403, 404))


def optional_api_reader(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),
) -> Reader | None:
    """For reads that anonymous visitors may make too (public collections)."""
    if request.headers.get("authorization"):
        return api_reader(request, credentials)
    return current_reader(request)


# ---------------------------------------------------------------- models


class ReaderOut(BaseModel):
    id: int
    email: str
    name: str
    role: str


class PaperState(BaseModel):
    paper_id: str
    upvotes: int = Field(description="Imported (e.g. Hugging Face) plus Paperfeed upvotes")
    upvoted: bool
    saved: bool
    hidden: bool


class PaperBrief(BaseModel):
    id: str
    title: str
    authors: list[str]
    listing_date: date | None = None
    added_at: UTCDateTime | None = None


class CollectionIn(RequestBody):
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    is_public: bool = False


class CollectionPatch(RequestBody):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
    is_public: bool | None = None


class CollectionOut(BaseModel):
    id: int
    name: str
    description: str
    is_public: bool
    created_at: UTCDateTime
    paper_count: int | None = None


class CollectionWithPapers(CollectionOut):
    owner_name: str | None = None
    papers: list[PaperBrief]


TokenScope = Literal["read", "write", "tokens"]  # readers.TOKEN_SCOPES


class TokenIn(RequestBody):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[TokenScope] = Field(
        default=["read", "write"],
        min_length=1,
        description="read: your data; write: change it; tokens: manage API tokens. "
        "A token can only make tokens with scopes it has itself.",
    )


class TokenOut(BaseModel):
    id: int
    name: str
    scopes: list[TokenScope]
    created_at: UTCDateTime
    last_used_at: UTCDateTime | None = None
    revoked_at: UTCDateTime | None = None


class NewToken(BaseModel):
    id: int
    name: str
    scopes: list[TokenScope]
    token: str = Field(description="Shown only in this response; Paperfeed keeps only a hash")


class SavedSearchIn(RequestBody):
    query: str = Field(min_length=1, max_length=1000)
    name: str = ""


class SavedSearchOut(BaseModel):
    id: int
    name: str
    query: str
    created_at: UTCDateTime


class SubmissionIn(RequestBody):
    arxiv_id: str = Field(description="An arXiv id or abs/pdf URL", max_length=200)


class SubmissionOut(BaseModel):
    paper_id: str
    title: str
    listing_date: date | None
    new_to_paperfeed: bool
    first_submitter: bool


class CurationIn(RequestBody):
    featured: bool | None = None
    hidden: bool | None = None


def _brief(paper: dict[str, Any]) -> PaperBrief:
    return PaperBrief(**core.paper_brief(paper))


# ---------------------------------------------------------------- me


@router.get("/me", response_model=ReaderOut)
def me(reader: Reader = Depends(api_reader)) -> ReaderOut:
    return ReaderOut(id=reader.id, email=reader.email, name=reader.name, role=reader.role)


@router.get("/me/saved", response_model=list[PaperBrief])
def my_saved(request: Request, reader: Reader = Depends(api_reader)) -> list[PaperBrief]:
    return [_brief(p) for p in core.library(database(request), reader, "save")]


@router.get("/me/hidden", response_model=list[PaperBrief])
def my_hidden(request: Request, reader: Reader = Depends(api_reader)) -> list[PaperBrief]:
    return [_brief(p) for p in core.library(database(request), reader, "hide")]


@router.get("/me/upvoted", response_model=list[PaperBrief])
def my_upvoted(request: Request, reader: Reader = Depends(api_reader)) -> list[PaperBrief]:
    return [_brief(p) for p in core.library(database(request), reader, "vote")]


# ---------------------------------------------------------------- paper actions


def _flag_routes(kind: str, path: str, label: str) -> None:
    def put_flag(
        request: Request, paper_id: str, reader: Reader = Depends(api_reader)
    ) -> PaperState:
        return PaperState(**core.set_flag(database(request), reader, kind, paper_id, True))

    def delete_flag(
        request: Request, paper_id: str, reader: Reader = Depends(api_reader)
    ) -> PaperState:
        return PaperState(**core.set_flag(database(request), reader, kind, paper_id, False))

    router.add_api_route(
        f"/papers/{{paper_id:path}}/{path}",
        put_flag,
        methods=["POST"],
        response_model=PaperState,
        summary=f"{label} a paper",
        name=f"{path}_paper",
    )
    router.add_api_route(
        f"/papers/{{paper_id:path}}/{path}",
        delete_flag,
        methods=["DELETE"],
        response_model=PaperState,
        summary=f"Undo {label.lower()}",
        name=f"un{path}_paper",
    )


_flag_routes("vote", "upvote", "Upvote")
_flag_routes("save", "save", "Save")
_flag_routes("hide", "hide", "Hide (not interested)")


@router.post("/papers/{paper_id:path}/upvote/toggle", response_model=PaperState)
def toggle_upvote(
    request: Request, paper_id: str, reader: Reader = Depends(api_reader)
) -> PaperState:
    """Upvote, or take the upvote back if the reader had upvoted."""
    return PaperState(**core.toggle_vote(database(request), reader, paper_id))


@router.get("/me/papers/{paper_id:path}", response_model=PaperState)
def paper_state(
    request: Request, paper_id: str, reader: Reader | None = Depends(optional_api_reader)
) -> PaperState:
    return PaperState(**core.paper_state(database(request), reader, paper_id))


@router.post("/papers/{paper_id:path}/curation", status_code=204)
def curate(
    request: Request, paper_id: str, body: CurationIn, reader: Reader = Depends(api_reader)
) -> Response:
    """Curators and admins: feature or hide a paper for everyone."""
    core.curate(database(request), reader, paper_id, featured=body.featured, hidden=body.hidden)
    return Response(status_code=204)


# ---------------------------------------------------------------- collections


@router.get("/collections", response_model=list[CollectionOut])
def list_collections(request: Request, reader: Reader = Depends(api_reader)) -> list[Any]:
    return core.list_collections(database(request), reader)


@router.post("/collections", response_model=CollectionWithPapers, status_code=201)
def create_collection(
    request: Request, body: CollectionIn, reader: Reader = Depends(api_reader)
) -> CollectionWithPapers:
    db = database(request)
    collection_id = core.create_collection(
        db, reader, body.name, description=body.description, is_public=body.is_public
    )
    return _collection(db, reader, collection_id)


def _collection(db: Database, viewer: Reader | None, collection_id: RowId) -> CollectionWithPapers:
    found, papers = core.get_collection(db, viewer, collection_id)
    return CollectionWithPapers(
        **{**found, "paper_count": len(papers)}, papers=[_brief(p) for p in papers]
    )


@router.get("/collections/{collection_id}", response_model=CollectionWithPapers)
def get_collection(
    request: Request, collection_id: RowId, reader: Reader | None = Depends(optional_api_reader)
) -> CollectionWithPapers:
    """A public collection, or one of your own; others' private ones are 404."""
    return _collection(database(request), reader, collection_id)


@router.patch("/collections/{collection_id}", response_model=CollectionWithPapers)
def update_collection(
    request: Request,
    collection_id: RowId,
    body: CollectionPatch,
    reader: Reader = Depends(api_reader),
) -> CollectionWithPapers:
    db = database(request)
    core.update_collection(
        db,
        reader,
        collection_id,
        name=body.name,
        description=body.description,
        is_public=body.is_public,
    )
    return _collection(db, reader, collection_id)


@router.delete("/collections/{collection_id}", status_code=204)
def delete_collection(
    request: Request, collection_id: RowId, reader: Reader = Depends(api_reader)
) -> Response:
    core.delete_collection(database(request), reader, collection_id)
    return Response(status_code=204)


@router.put("/collections/{collection_id}/papers/{paper_id:path}", status_code=204)
def add_paper(
    request: Request, collection_id: RowId, paper_id: str, reader: Reader = Depends(api_reader)
) -> Response:
    core.add_to_collection(database(request), reader, collection_id, paper_id)
    return Response(status_code=204)


@router.delete("/collections/{collection_id}/papers/{paper_id:path}", status_code=204)
def remove_paper(
    request: Request, collection_id: RowId, paper_id: str, reader: Reader = Depends(api_reader)
) -> Response:
    core.remove_from_collection(database(request), reader, collection_id, paper_id)
    return Response(status_code=204)


# ---------------------------------------------------------------- API tokens


@router.get("/me/tokens", response_model=list[TokenOut])
def list_tokens(request: Request, reader: Reader = Depends(api_reader)) -> list[Any]:
    return core.list_api_tokens(database(request), reader)


@router.post("/me/tokens", response_model=NewToken, status_code=201)
def create_token(request: Request, body: TokenIn, reader: Reader = Depends(api_reader)) -> NewToken:
    token_id, token = core.create_api_token(database(request), reader, body.name, body.scopes)
    scopes = [s for s in core.TOKEN_SCOPES if s in body.scopes]
    return NewToken(id=token_id, name=body.name.strip(), scopes=scopes, token=token)


@router.delete("/me/tokens/{token_id}", status_code=204)
def revoke_token(
    request: Request, token_id: RowId, reader: Reader = Depends(api_reader)
) -> Response:
    core.revoke_api_token(database(request), reader, token_id)
    return Response(status_code=204)


# ---------------------------------------------------------------- saved searches


@router.get("/me/saved_searches", response_model=list[SavedSearchOut])
def list_saved_searches(request: Request, reader: Reader = Depends(api_reader)) -> list[Any]:
    return core.list_saved_searches(database(request), reader)


@router.post("/me/saved_searches", response_model=SavedSearchOut, status_code=201)
def create_saved_search(
    request: Request, body: SavedSearchIn, reader: Reader = Depends(api_reader)
) -> Any:
    db = database(request)
    search_id = core.create_saved_search(db, reader, body.name, body.query)
    return core.get_saved_search(db, reader, search_id)


@router.put("/me/saved_searches/{search_id}", response_model=SavedSearchOut)
def update_saved_search(
    request: Request, search_id: RowId, body: SavedSearchIn, reader: Reader = Depends(api_reader)
) -> Any:
    db = database(request)
    core.update_saved_search(db, reader, search_id, name=body.name, query=body.query)
    return core.get_saved_search(db, reader, search_id)


@router.delete("/me/saved_searches/{search_id}", status_code=204)
def delete_saved_search(
    request: Request, search_id: RowId, reader: Reader = Depends(api_reader)
) -> Response:
    core.delete_saved_search(database(request), reader, search_id)
    return Response(status_code=204)


# ---------------------------------------------------------------- submissions


@router.post(
    "/submissions",
    response_model=SubmissionOut,
    status_code=201,
    responses=error_responses(502),
)
def submit(request: Request, body: SubmissionIn, reader: Reader = Depends(api_reader)) -> Any:
    """Submit an arXiv paper published within the configured number of days."""
    result = ingest_service.submit(paperfeed_of(request), reader, body.arxiv_id)
    return SubmissionOut(**result.__dict__)


@router.get("/me/submissions", response_model=list[PaperBrief])
def my_submissions(request: Request, reader: Reader = Depends(api_reader)) -> list[PaperBrief]:
    return [
        _brief({**p, "added_at": p["submitted_at"]})
        for p in core.list_submissions(database(request), reader)
    ]
