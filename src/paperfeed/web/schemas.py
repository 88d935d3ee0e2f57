"""Shapes shared by every JSON endpoint: the strict base of request bodies, the
UTC timestamp type of responses, and the error bodies with their OpenAPI
declarations, plus the handler that writes a request-validation error.

One rule for request bodies: a field is its JSON type or the request is a 422.
Lax coercion stored ``"false"`` as true and turned ``1.5`` into 1; strict
fields refuse both, and non-finite numbers (``NaN``, ``Infinity``) too.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict

from paperfeed.trending import as_utc


class RequestBody(BaseModel):
    """The base of every JSON request body (FastAPI validates the parsed JSON
    as Python objects, so a date field must say ``Field(strict=False)`` to
    take its ISO string)."""

    model_config = ConfigDict(strict=True)


# SQLite returns naive datetimes (stored as UTC); OpenAPI says date-time, which
# needs an offset. Every timestamp in a response model is this type.
UTCDateTime = Annotated[datetime, AfterValidator(as_utc)]


# ---------------------------------------------------------------- errors


class ErrorMessage(BaseModel):
    """A refused request: what was wrong, in words."""

    detail: str


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationFailed(BaseModel):
    """A 422: the list of fields that failed validation, or (when the fields
    were well-formed but their combination was not) one message."""

    detail: list[ValidationIssue] | str


def error_responses(*statuses: int, model: type[BaseModel] = ErrorMessage) -> dict[int | str, Any]:
    """OpenAPI ``responses`` entries for the error statuses a route answers."""
    return {status: {"model": model, "description": _DESCRIPTIONS[status]} for status in statuses}


_DESCRIPTIONS = {
    200: "The document",
    400: "Bad request (such as a body that is not JSON)",
    401: "No or invalid credentials",
    403: "Not allowed (role, or a missing CSRF token with a session cookie)",
    404: "Not found",
    422: "Validation error",
    429: "Too many requests; see Retry-After",
    502: "The upstream source did not answer",
    503: "Mail could not be sent right now",
}


class _SafeJSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        # ASCII escapes keep a lone surrogate from a key in ``loc`` encodable.
        return json.dumps(content, ensure_ascii=True, allow_nan=False).encode()


async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 without the ``input`` echo: an input of NaN, Infinity or a
    lone surrogate cannot be written as JSON, and the 422 became a 500.
    The client has what it sent; ``loc`` and ``msg`` say what was wrong."""
    assert isinstance(exc, RequestValidationError)
    issues = [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type")}
        for error in exc.errors()
    ]
    return _SafeJSON({"detail": jsonable_encoder(issues)}, status_code=422)


class HFError(BaseModel):
    """Hugging Face's error shape (the compatible API's; also in X-Error-Message)."""

    error: str


class QueryProblem(BaseModel):
    """A search request that could not be run, and why."""

    error: str
    detail: str


def text_responses(media_type: str, *statuses: int) -> dict[int | str, Any]:
    """OpenAPI ``responses`` entries for errors answered as a page or plain text."""
    content = {media_type: {"schema": {"type": "string"}}}
    return {s: {"description": _DESCRIPTIONS[s], "content": content} for s in statuses}


def page_responses(*statuses: int, json: bool = False) -> dict[int | str, Any]:
    """Errors of an HTML page; with ``json``, a client that accepts JSON gets
    ErrorMessage instead (auth.error_response)."""
    content: dict[str, Any] = {"text/html": {"schema": {"type": "string"}}}
    if json:
        content["application/json"] = {"schema": ErrorMessage.model_json_schema()}
    return {s: {"description": _DESCRIPTIONS[s], "content": content} for s in statuses}


def document_app_wide_refusals(schema: dict[str, Any]) -> dict[str, Any]:
    """web.params.reject_control_characters answers any operation's malformed
    text with a JSON 422, so every documented 422 lists that body too."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    if "ValidationFailed" not in components:  # no route names it as its own 422 model
        definition = ValidationFailed.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(definition.pop("$defs", {}))
        components["ValidationFailed"] = definition
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            refusal = operation.get("responses", {}).get("422")
            if refusal is not None and "application/json" not in refusal.get("content", {}):
                refusal.setdefault("content", {})["application/json"] = {
                    "schema": {"$ref": "#/components/schemas/ValidationFailed"}
                }
    return schema


# ---------------------------------------------------------------- authors (issue 24)


class AuthorRef(BaseModel):
    key: str
    name: str


class AuthorOut(AuthorRef):
    url: str
    orcid: str | None = None
    openalex_id: str | None = None
    semantic_scholar_id: str | None = None


class CoauthorOut(AuthorRef):
    papers: int


class CategoryCount(BaseModel):
    category: str
    papers: int


class PaperRef(BaseModel):
    id: str
    title: str
    authors: list[str]
    primary_category: str | None = None
    published: UTCDateTime | None = None
    listing_date: date | None = None


class AuthorPageOut(BaseModel):
    author: AuthorOut
    papers: list[PaperRef]
    total: int
    page: int
    per_page: int
    coauthors: list[CoauthorOut]
    categories: list[CategoryCount]
    following: bool = False
    candidates: list[AuthorRef] = []


class OrganizationOut(BaseModel):
    key: str
    name: str
    url: str
    hf_name: str | None = None


class OrganizationPageOut(BaseModel):
    organization: OrganizationOut
    papers: list[PaperRef]
    total: int
    page: int
    per_page: int


class FollowOut(AuthorRef):
    following: bool


class FollowedAuthorOut(AuthorRef):
    followed_at: UTCDateTime
