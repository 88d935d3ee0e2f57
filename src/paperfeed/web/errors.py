"""Error answers: an HTML page for browsers, JSON for everyone else.

A browser (``Accept`` naming text/html) that asks for an unknown page, or a
page that fails, gets a page in the site's frame with a search box; the JSON
API (``/api/``), feeds and clients that do not ask for HTML keep FastAPI's
``{"detail": ...}``. The favicon and the natural guesses at list URLs
(``/trending``, ``/papers``) are here too, since they are what turned into
404s most often.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from paperfeed.web.templating import TEMPLATES_DIR, templates

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
FAVICON = TEMPLATES_DIR.parent / "static" / "favicon.ico"

TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed here",
    500: "Something went wrong",
}


def wants_html(request: Request) -> bool:
    """A browser asking for a page: not the API or a feed, and HTML accepted."""
    path = request.url.path
    if path.startswith("/api/") or path.endswith((".xml", ".json", ".bib", ".md")):
        return False
    return "text/html" in request.headers.get("accept", "")


def error_page(request: Request, status: int, message: str, *, frame: bool = True) -> Response:
    """The error page. ``frame=False`` renders it without the per-request
    frame (the reader's session), for a 500 whose cause may be the database."""
    context: dict[str, Any] = {"status": status, "title": TITLES.get(status, "Error")}
    context["message"] = message
    if frame:
        return templates.TemplateResponse(request, "error.html", context, status_code=status)
    html = templates.env.get_template("error.html").render(
        request=request, me=None, csrf_field=lambda: "", here=request.url.path, **context
    )
    return Response(html, status_code=status, media_type="text/html; charset=utf-8")


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if not wants_html(request) or exc.status_code < 400:
        return await http_exception_handler(request, exc)
    message = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "")
    if exc.status_code == 404 and message == "Not Found":
        message = f"There is no page at {request.url.path[:200]}."
    response = error_page(request, exc.status_code, message)
    response.headers.update(exc.headers or {})
    return response


def on_server_error(request: Request, exc: Exception) -> Response:
    # Starlette logs the traceback itself and then calls this for the answer.
    if wants_html(request):
        return error_page(
            request,
            500,
            "This page failed on our side; the error was logged. Try again, or search below.",
            frame=False,
        )
    return JSONResponse({"detail": "Internal Server Error"}, status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_server_error)
    app.include_router(router)


@router.get("/favicon.ico")
def favicon() -> Response:
    return FileResponse(
        FAVICON, media_type="image/x-icon", headers={"Cache-Control": "public, max-age=86400"}
    )


# Where Hugging Face keeps its lists, and what people type.
@router.get("/trending")
@router.get("/papers")
def list_guess() -> Response:
    return RedirectResponse("/", status_code=302)
