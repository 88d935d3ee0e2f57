"""Sign-in, sessions, CSRF and the reader dependencies every router can use.

Sessions are a signed cookie (Starlette's SessionMiddleware, itsdangerous):
HttpOnly, SameSite=Lax, Secure when the site is served over https. The cookie
holds a session id, checked against the database on each request so that
signing out ends it (readers.start_session/end_session), and the CSRF token of
the session. Nothing is kept in process memory, so any number of web workers
share sessions.

Dependencies for other routers:
- ``current_reader``: the signed-in Reader or None.
- ``require_reader``: the Reader, or a redirect to the sign-in page.
- ``api_reader``: for JSON endpoints, a Reader from ``Authorization: Bearer``
  (CSRF-exempt) or from the session cookie (then an X-CSRF-Token header is
  required on state-changing methods).
- ``verify_csrf``: add to a router's dependencies; checks the hidden
  ``csrf_token`` field (or X-CSRF-Token header) on every POST/PUT/PATCH/DELETE.
Every page gets the reader as ``me`` and its forms' ``csrf_field`` from
``templating.page_context``.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from markupsafe import Markup, escape
from starlette.datastructures import FormData, MutableHeaders
from starlette.middleware.sessions import SessionMiddleware

from paperfeed import readers as core
from paperfeed.config import Settings
from paperfeed.readers import Reader
from paperfeed.web.deps import database, settings_of
from paperfeed.web.params import NoSuchRow, RowId
from paperfeed.web.templating import templates

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
SESSION_COOKIE = "paperfeed_session"


class SignInRequired(Exception):
    """Raised by require_reader; pages redirect to /signin, the API answers 401."""


class CSRFError(Exception):
    pass


class APIAuthError(Exception):
    pass


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


# ---------------------------------------------------------------- CSRF


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_field(request: Request) -> Markup:
    """The hidden input for a form; built once per request (a list page has
    several forms on every card)."""
    field: Markup | None = getattr(request.state, "csrf_field", None)
    if field is None:
        field = Markup('<input type="hidden" name="csrf_token" value="{}">').format(
            escape(csrf_token(request))
        )
        request.state.csrf_field = field
    return field


def _csrf_ok(request: Request, sent: Any) -> bool:
    expected = request.session.get("csrf")
    return (
        isinstance(expected, str)
        and bool(expected)
        and isinstance(sent, str)
        and secrets.compare_digest(expected.encode(), sent.encode())
    )


async def verify_csrf(request: Request) -> None:
    """Reject a state-changing request whose CSRF token is missing or wrong."""
    if request.method in SAFE_METHODS:
        return
    sent: Any = request.headers.get("x-csrf-token")
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            sent = (await request.form()).get("csrf_token")
    if not _csrf_ok(request, sent):
        raise CSRFError()


async def posted_form(request: Request) -> FormData:
    """The request's form, read on the event loop, for a plain ``def`` route:
    such routes run in the threadpool, so their database and mail calls never
    stall the other requests of this worker (an ``async def`` route would)."""
    return await request.form()


# ---------------------------------------------------------------- readers


def current_reader(request: Request) -> Reader | None:
    """The signed-in reader, or None. Loaded once per request (roles can change)."""
    if hasattr(request.state, "reader"):  # None too: nobody signed in
        cached: Reader | None = request.state.reader
        return cached
    reader = None
    session_id = request.session.get("sid") if "session" in request.scope else None
    if isinstance(session_id, str):
        reader = core.reader_for_session(database(request), session_id)
        if reader is None:
            # Signed out (here or everywhere), expired, or a deleted account.
            request.session.clear()
    request.state.reader = reader
    return reader


def require_reader(request: Request) -> Reader:
    reader = current_reader(request)
    if reader is None:
        raise SignInRequired()
    return reader


bearer_scheme = HTTPBearer(
    auto_error=False,
    description="A personal API token from your account page: `Authorization: Bearer pf_...`",
)


def required_scope(request: Request) -> str:
    """The token scope a JSON call needs: managing tokens needs "tokens",
    other reads "read", other changes "write"."""
    if request.url.path.rstrip("/").startswith("/api/me/tokens"):
        return "tokens"
    return "read" if request.method in SAFE_METHODS else "write"


def api_reader(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),
) -> Reader:
    """The reader behind a JSON call: a bearer token holding the call's scope,
    or the session cookie plus an X-CSRF-Token header for state-changing methods."""
    if request.headers.get("authorization"):
        if credentials is None or not credentials.credentials:
            raise APIAuthError("Authorization header must be 'Bearer <API token>'.")
        reader = core.reader_for_api_token(database(request), credentials.credentials)
        if reader is None:
            raise APIAuthError("Invalid or revoked API token.")
        core.require_scope(reader, required_scope(request))
        request.state.reader = reader
        return reader
    reader = current_reader(request)
    if reader is None:
        raise APIAuthError("Sign in, or send 'Authorization: Bearer <API token>'.")
    if request.method not in SAFE_METHODS and not _csrf_ok(
        request, request.headers.get("x-csrf-token")
    ):
        raise CSRFError()
    return reader


def sign_in_session(request: Request, reader: Reader) -> None:
    # A fresh session (and CSRF token) on sign-in: nothing from before carries over.
    request.session.clear()
    request.session["sid"] = core.start_session(database(request), reader)
    request.session["csrf"] = secrets.token_urlsafe(32)
    request.state.reader = reader


def safe_next(value: str | None, default: str = "/") -> str:
    """Only same-site paths, so ?next= cannot redirect readers to another site."""
    if (
        not value
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(c) < 32 for c in value)
    ):
        return default
    return value


def client_ip(request: Request) -> str:
    # Behind a proxy listed in PAPERFEED_TRUSTED_PROXIES, `serve` (uvicorn's
    # proxy headers) puts the forwarded address here; from anyone else, never.
    return request.client.host if request.client else "unknown"


# ---------------------------------------------------------------- errors


def message_page(request: Request, status: int, title: str, message: str) -> Response:
    return templates.TemplateResponse(
        request,
        "message.html",
        {"title": title, "message": message},
        status_code=status,
    )


def error_response(request: Request, status: int, message: str, title: str = "") -> Response:
    if is_api(request) or "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"detail": message}, status_code=status)
    if request.url.path.endswith((".xml", ".ics")):  # feeds answer errors in plain text
        return PlainTextResponse(message, status_code=status)
    return message_page(request, status, title or "Something went wrong", message)


# Defense in depth against XSS: no inline or foreign scripts (every page's
# JavaScript is a file under /static), no plugins, no framing, forms post only
# here. Inline styles stay allowed: KaTeX positions glyphs with style attributes.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'; form-action 'self'"
)
# Swagger UI (FastAPI's page) boots from an inline script.
CSP_EXEMPT_PATHS = ("/docs",)


class SecurityHeaders:
    """Pure ASGI middleware adding security headers to every HTTP response.
    Referrer-Policy keeps a magic-link token in the URL from leaking anywhere."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exempt = scope.get("path", "") in CSP_EXEMPT_PATHS

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                # Set, not appended: a route sending one of these too must not
                # make the response carry it twice.
                headers = MutableHeaders(raw=list(message.get("headers", [])))
                headers["x-content-type-options"] = "nosniff"
                headers["referrer-policy"] = "same-origin"
                if not exempt:
                    headers["content-security-policy"] = CONTENT_SECURITY_POLICY
                message = {**message, "headers": headers.raw}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI, settings: Settings) -> None:
    """Sessions, error handlers and the readers' routers; called by create_app."""
    app.add_middleware(SecurityHeaders)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret(),
        session_cookie=SESSION_COOKIE,
        max_age=core.SESSION_DAYS * 24 * 3600,
        same_site="lax",
        https_only=settings.base_url.startswith("https://"),
    )

    async def on_sign_in_required(request: Request, exc: Exception) -> Response:
        if is_api(request):
            return JSONResponse(
                {"detail": "Sign in, or send 'Authorization: Bearer <API token>'."},
                status_code=401,
            )
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method not in SAFE_METHODS:  # a form posted after the session ended
            target = safe_next(urlsplit(request.headers.get("referer", "")).path or "/")
        return RedirectResponse(f"/signin?next={quote(target)}", status_code=303)

    # The handlers that render a page are plain functions: Starlette runs them
    # in the threadpool, and the page's navigation may load the reader.
    def on_csrf(request: Request, exc: Exception) -> Response:
        return error_response(
            request,
            403,
            "This form's security token (CSRF) is missing or does not match your session. "
            "Nothing was changed. Reload the page and try again.",
            "Request refused",
        )

    async def on_api_auth(request: Request, exc: Exception) -> Response:
        return JSONResponse(
            {"detail": str(exc)}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )

    def on_reader_error(request: Request, exc: Exception) -> Response:
        status = 400
        headers: dict[str, str] = {}
        if isinstance(exc, core.NotFound):
            status = 404
        elif isinstance(exc, core.Forbidden):
            status = 403
        elif isinstance(exc, core.SourceUnavailable):
            status = 502
        elif isinstance(exc, core.MailUnavailable):
            status = 503
        elif isinstance(exc, core.RateLimited):
            status = 429
            headers["Retry-After"] = str(exc.retry_after_seconds)
        response = error_response(request, status, str(exc))
        response.headers.update(headers)
        return response

    async def on_no_such_row(request: Request, exc: Exception) -> Response:
        return error_response(request, 404, str(exc))  # an id past 64 bits (web.params)

    app.add_exception_handler(SignInRequired, on_sign_in_required)
    app.add_exception_handler(CSRFError, on_csrf)
    app.add_exception_handler(APIAuthError, on_api_auth)
    app.add_exception_handler(core.ReaderError, on_reader_error)
    app.add_exception_handler(NoSuchRow, on_no_such_row)
    app.include_router(router)


# ---------------------------------------------------------------- pages

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)


@router.get("/signin", response_class=HTMLResponse)
def signin_page(request: Request, next: str = "/") -> Response:
    return templates.TemplateResponse(
        request, "signin.html", {"next": safe_next(next), "error": None, "email": ""}
    )


@router.post("/signin", response_class=HTMLResponse)
def signin_submit(request: Request, email: str = Form(""), next: str = Form("/")) -> Response:
    settings, db = settings_of(request), database(request)
    try:
        address = core.normalize_email(email)
    except core.ReaderError as exc:
        return templates.TemplateResponse(
            request,
            "signin.html",
            {"next": safe_next(next), "error": str(exc), "email": email[:320]},
            status_code=400,
        )
    core.request_sign_in(settings, db, address, client_ip(request))
    request.session["next"] = safe_next(next)
    # The same page for every address, known or not: no account enumeration.
    return RedirectResponse("/signin/check-email", status_code=303)


@router.get("/signin/check-email", response_class=HTMLResponse)
def check_email_page(request: Request) -> Response:
    return templates.TemplateResponse(
        request,
        "check_email.html",
        {
            "minutes": settings_of(request).magic_link_minutes,
            "outbox": settings_of(request).outbox_dir,
        },
    )


@router.get("/signin/verify", response_class=HTMLResponse)
def verify_page(request: Request, token: str = "") -> Response:
    """Confirm with a button rather than signing in on GET: mail scanners that
    prefetch links would otherwise use up the single-use token."""
    return templates.TemplateResponse(request, "signin_verify.html", {"token": token[:500]})


@router.post("/signin/verify")
def verify_submit(request: Request, token: str = Form("")) -> Response:
    reader = core.complete_sign_in(settings_of(request), database(request), token)
    target = safe_next(request.session.get("next"), "/")
    sign_in_session(request, reader)
    return RedirectResponse(target, status_code=303)


@router.post("/signout")
def signout(request: Request) -> Response:
    session_id = request.session.get("sid")
    if isinstance(session_id, str):
        core.end_session(database(request), session_id)
    request.session.clear()
    return RedirectResponse("/", status_code=303)


@router.post("/account/signout-everywhere")
def signout_everywhere(request: Request, reader: Reader = Depends(require_reader)) -> Response:
    core.end_all_sessions(database(request), reader)
    request.session.clear()
    return RedirectResponse("/", status_code=303)


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, reader: Reader = Depends(require_reader)) -> Response:
    return _account(request, reader)


def _account(request: Request, reader: Reader, new_token: str | None = None) -> Response:
    db = database(request)
    return templates.TemplateResponse(
        request,
        "account.html",
        {
            "tokens": core.list_api_tokens(db, reader),
            "new_token": new_token,
            "submissions": core.list_submissions(db, reader),
        },
    )


@router.post("/account/tokens", response_class=HTMLResponse)
def create_token(
    request: Request,
    name: str = Form(""),
    scopes: list[str] = Form([]),
    reader: Reader = Depends(require_reader),
) -> Response:
    _token_id, token = core.create_api_token(database(request), reader, name, scopes)
    # Shown once, on this response only; the database keeps just its hash.
    response = _account(request, reader, new_token=token)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token(
    request: Request, token_id: RowId, reader: Reader = Depends(require_reader)
) -> Response:
    core.revoke_api_token(database(request), reader, token_id)
    return RedirectResponse("/account", status_code=303)
