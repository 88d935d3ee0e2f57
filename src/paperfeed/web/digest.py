"""Digest pages and API: subscribe (double opt-in), confirm, manage,
one-click unsubscribe (RFC 8058) and "view in browser".

Every link in a digest email carries a signed token for one subscription, so
these pages need no sign-in. The token in the URL is also what makes their
forms safe from cross-site posting: another site cannot know it. POST
/unsubscribe/{token} in particular must work with no cookie and no CSRF token,
because mail clients POST "List-Unsubscribe=One-Click" there themselves.
"""

from __future__ import annotations

import smtplib
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ConfigDict, Field
from starlette.datastructures import FormData

from paperfeed import readers as core
from paperfeed.digest import subscriptions as subs
from paperfeed.digest import tokens
from paperfeed.digest.schedule import parse_period
from paperfeed.readers import Reader
from paperfeed.services import digests
from paperfeed.web.auth import client_ip, posted_form, require_reader, verify_csrf
from paperfeed.web.deps import database, paperfeed_of, settings_of
from paperfeed.web.schemas import (
    RequestBody,
    ValidationFailed,
    error_responses,
    page_responses,
)
from paperfeed.web.templating import templates

router = APIRouter()


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    return templates.TemplateResponse(request, f"digest/{name}", context, status_code=status)


# A token that is malformed, forged or expired: the "Link not valid" page.
BAD_LINK = page_responses(400)


def _bad_link(request: Request, error: Exception) -> Response:
    return _page(request, "message.html", {"title": "Link not valid", "text": str(error)}, 400)


# ---------------------------------------------------------------- subscribe


class PreferencesBody(RequestBody):
    """A subscription's preferences; absent fields are left as they are.
    Ranges and values are checked by subscriptions.clean_preferences."""

    model_config = ConfigDict(extra="forbid")

    frequency: str | None = None
    topics: dict[str, Any] | None = None
    trending_count: int | None = None
    personal_count: int | None = None
    search_count: int | None = None
    include_saved_searches: bool | None = None

    def preferences(self) -> dict[str, Any]:
        return self.model_dump(exclude={"email"}, exclude_none=True)


class SubscribeBody(PreferencesBody):
    email: str = Field(max_length=320)


ACCEPTED = (
    "If that address can receive mail, a confirmation link is on its way. "
    "Nothing is sent until it is used."
)


def _subscribe(request: Request, body: SubscribeBody) -> None:
    """Ask for a subscription. The same answer whether or not the address is
    already subscribed, so the form cannot be used to find out who reads what.
    Confirmation emails count against the same per-address and per-IP limits
    as sign-in links (their own buckets): the form cannot flood an inbox.
    Raises RateLimited (429) or MailUnavailable (503), both ReaderErrors that
    web.auth turns into a page or a JSON error."""
    settings, db = settings_of(request), database(request)
    address = subs.normalize_email(body.email)
    subs.clean_preferences(body.preferences())  # bad input is a 422, not counted
    core.check_sign_in_rate(settings, db, address, client_ip(request), purpose="subscribe")
    try:
        subs.subscribe(settings, db, address, preferences=body.preferences())
    except (OSError, smtplib.SMTPException) as exc:
        # The row waits unconfirmed; asking again mails a fresh link.
        raise core.MailUnavailable(
            "The confirmation email could not be sent right now. Please try again in a few minutes."
        ) from exc


@router.post(
    "/api/digest/subscribe",
    status_code=202,
    responses={
        **error_responses(400, 429, 503),
        **error_responses(422, model=ValidationFailed),
    },
)
def api_subscribe(request: Request, body: SubscribeBody) -> dict[str, str]:
    try:
        _subscribe(request, body)
    except subs.SubscriptionError as exc:
        raise HTTPException(422, str(exc)) from exc
    return {"status": "confirmation sent", "detail": ACCEPTED}


@router.get("/digest", response_class=HTMLResponse)
def subscribe_page(request: Request) -> Response:
    return _page(request, "subscribe.html", {})


@router.post(
    "/digest/subscribe",
    response_class=HTMLResponse,
    dependencies=[Depends(verify_csrf)],
    responses=page_responses(403, 422, 429, 503, json=True),
)
def subscribe_form(request: Request, form: FormData = Depends(posted_form)) -> Response:
    # The visitor is usually anonymous: the CSRF token is the one every form
    # here uses, kept in the signed session cookie that SessionMiddleware sets
    # for anonymous visitors too (see web/auth.py). The check runs before the
    # address is looked at, so a refusal says nothing about who is subscribed.
    body = SubscribeBody(
        email=str(form.get("email", ""))[:320], frequency=str(form.get("frequency", "daily"))
    )
    try:
        _subscribe(request, body)
    except subs.SubscriptionError as exc:
        return _page(request, "subscribe.html", {"error": str(exc), "email": body.email}, 422)
    return _page(request, "message.html", {"title": "Check your inbox", "text": ACCEPTED})


# ---------------------------------------------------------------- confirm


@router.get("/digest/confirm/{token}", response_class=HTMLResponse, responses=BAD_LINK)
def confirm_page(request: Request, token: str) -> Response:
    # GET only shows a button: link scanners fetch every URL in an email, and
    # must not be able to confirm on the reader's behalf.
    try:
        tokens.read(settings_of(request), tokens.CONFIRM, token, max_age=tokens.CONFIRM_MAX_AGE)
    except tokens.InvalidToken as exc:
        return _bad_link(request, exc)
    return _page(request, "confirm.html", {"token": token})


@router.post("/digest/confirm/{token}", response_class=HTMLResponse, responses=BAD_LINK)
def confirm(request: Request, token: str) -> Response:
    settings = settings_of(request)
    try:
        sub = subs.confirm(settings, database(request), token)
    except tokens.InvalidToken as exc:
        return _bad_link(request, exc)
    manage = tokens.make(settings, tokens.MANAGE, sub["id"])
    return _page(request, "confirmed.html", {"sub": sub, "manage_token": manage})


# ---------------------------------------------------------------- unsubscribe


@router.get("/unsubscribe/{token}", response_class=HTMLResponse, responses=BAD_LINK)
def unsubscribe_page(request: Request, token: str) -> Response:
    try:
        sub = subs.subscription_for_token(
            settings_of(request), database(request), tokens.UNSUBSCRIBE, token
        )
    except tokens.InvalidToken as exc:
        return _bad_link(request, exc)
    return _page(request, "unsubscribe.html", {"token": token, "sub": sub})


@router.post("/unsubscribe/{token}", response_class=HTMLResponse, responses=BAD_LINK)
def unsubscribe(request: Request, token: str) -> Response:
    """RFC 8058 one-click: body "List-Unsubscribe=One-Click", no cookie, no CSRF."""
    try:
        sub = subs.unsubscribe(settings_of(request), database(request), token)
    except tokens.InvalidToken as exc:
        return _bad_link(request, exc)
    return _page(request, "unsubscribed.html", {"sub": sub})


# ---------------------------------------------------------------- manage


def _manage_sub(request: Request, token: str) -> dict[str, Any]:
    return subs.subscription_for_token(
        settings_of(request), database(request), tokens.MANAGE, token
    )


@router.get("/digest/manage/{token}", response_class=HTMLResponse, responses=BAD_LINK)
def manage_page(request: Request, token: str) -> Response:
    try:
        sub = _manage_sub(request, token)
    except tokens.InvalidToken as exc:
        return _bad_link(request, exc)
    return _page(request, "manage.html", {"token": token, "sub": subs.public_view(sub)})


def _form_preferences(form: Any) -> dict[str, Any]:
    return {
        "frequency": str(form.get("frequency", "daily")),
        "trending_count": form.get("trending_count", "10"),
        "personal_count": form.get("personal_count", "5"),
        "search_count": form.get("search_count", "5"),
        "include_saved_searches": form.get("include_saved_searches") == "on",
        "topics": {
            "categories": str(form.get("categories", "")).split(","),
            "keywords": str(form.get("keywords", "")).split(","),
        },
    }


@router.post(
    "/digest/manage/{token}", response_class=HTMLResponse, responses=page_responses(400, 422)
)
def manage_save(request: Request, token: str, form: FormData = Depends(posted_form)) -> Response:
    try:
        sub = _manage_sub(request, token)
    except tokens.InvalidToken as exc:
        return _bad_link(request, exc)
    try:
        updated = subs.update_preferences(database(request), sub["id"], _form_preferences(form))
    except subs.SubscriptionError as exc:
        view = subs.public_view(sub)
        return _page(request, "manage.html", {"token": token, "sub": view, "error": str(exc)}, 422)
    view = subs.public_view(updated)
    return _page(request, "manage.html", {"token": token, "sub": view, "saved": True})


@router.get("/api/digest/subscription/{token}", responses=error_responses(404))
def api_subscription(request: Request, token: str) -> dict[str, Any]:
    try:
        return subs.public_view(_manage_sub(request, token))
    except tokens.InvalidToken as exc:
        raise HTTPException(404, str(exc)) from exc


@router.put(
    "/api/digest/subscription/{token}",
    responses={**error_responses(400, 404), **error_responses(422, model=ValidationFailed)},
)
def api_update_subscription(request: Request, token: str, body: PreferencesBody) -> dict[str, Any]:
    try:
        sub = _manage_sub(request, token)
        return subs.public_view(
            subs.update_preferences(database(request), sub["id"], body.preferences())
        )
    except tokens.InvalidToken as exc:
        raise HTTPException(404, str(exc)) from exc
    except subs.SubscriptionError as exc:
        raise HTTPException(422, str(exc)) from exc


# ---------------------------------------------------------------- view in browser


@router.get("/digest/view/{token}", response_class=HTMLResponse, responses=page_responses(400, 404))
def view_digest(request: Request, token: str) -> Response:
    settings = settings_of(request)
    try:
        payload = tokens.read(settings, tokens.VIEW, token)
        sub_id, period_key = int(payload[0]), str(payload[1])
        parse_period(period_key)  # a bad period is a bad link
    except (tokens.InvalidToken, TypeError, ValueError, IndexError) as exc:
        return _bad_link(request, tokens.InvalidToken(str(exc)))
    html = digests.sent_html(paperfeed_of(request), sub_id, period_key)
    if html is None:
        return _page(request, "message.html", {"title": "No such digest", "text": ""}, 404)
    return HTMLResponse(html)


# ---------------------------------------------------------------- signed-in readers

# Forms here act on the session's reader, so they carry the readers' CSRF token.
account = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)


@account.get("/digest/settings", response_class=HTMLResponse)
def reader_settings(request: Request, reader: Reader = Depends(require_reader)) -> Response:
    """The signed-in reader's digest: its settings page, or a one-click subscribe."""
    sub = subs.active_subscription_of(database(request), reader.id, reader.email)
    if sub is not None:
        token = tokens.make(settings_of(request), tokens.MANAGE, sub["id"])
        return RedirectResponse(f"/digest/manage/{token}", status_code=303)
    return _page(request, "reader_subscribe.html", {"email": reader.email})


@account.post("/digest/settings", response_class=HTMLResponse)
def reader_subscribe(
    request: Request,
    form: FormData = Depends(posted_form),
    reader: Reader = Depends(require_reader),
) -> Response:
    """Subscribe the reader's own address. Signing in by magic link already
    proved the reader reads it, so this confirms at once; the subscription is
    linked to the reader, which adds the personal and saved-search sections."""
    frequency = str(form.get("frequency", "daily"))
    try:
        subs.subscribe_reader(database(request), reader.id, reader.email, {"frequency": frequency})
    except subs.SubscriptionError as exc:
        return _page(
            request, "reader_subscribe.html", {"email": reader.email, "error": str(exc)}, 422
        )
    return RedirectResponse("/digest/settings", status_code=303)
