"""Subscribing with double opt-in, confirming, unsubscribing, preferences.

The web pages, the JSON API and the CLI all call these; none of them touches
the tables directly."""

from __future__ import annotations

import re
import secrets
from typing import Any

from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import digests as digest_store
from paperfeed.digest import render, tokens
from paperfeed.digest.schedule import FREQUENCIES
from paperfeed.mail import send_quietly

# Deliberately plain: one @, no spaces, a dot in the domain, ASCII only (an
# internationalized address needs SMTPUTF8 end to end, which we do not assume).
# The confirmation email is the real test of an address.
_EMAIL = re.compile(
    r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$"
)
MAX_COUNT = 50


class SubscriptionError(ValueError):
    """Bad input to a subscription call; the message says which field and why."""


def normalize_email(email: str) -> str:
    email = (email or "").strip().lower()
    if len(email) > 320 or not email.isascii() or not _EMAIL.match(email):
        raise SubscriptionError(f"email: not a valid address: {email[:80]!r}")
    return email


def clean_preferences(raw: dict[str, Any]) -> dict[str, Any]:
    """Validate preference fields; unknown keys are an error, absent ones are kept."""
    unknown = set(raw) - set(digest_store.PREFERENCE_FIELDS)
    if unknown:
        raise SubscriptionError(f"unknown preference(s): {', '.join(sorted(unknown))}")
    prefs: dict[str, Any] = {}
    if "frequency" in raw:
        if raw["frequency"] not in FREQUENCIES:
            raise SubscriptionError(f"frequency: must be daily or weekly, not {raw['frequency']!r}")
        prefs["frequency"] = raw["frequency"]
    for name in ("trending_count", "personal_count", "search_count"):
        if name in raw:
            try:
                value = int(raw[name])
            except (TypeError, ValueError) as exc:
                raise SubscriptionError(f"{name}: not a number: {raw[name]!r}") from exc
            if not 0 <= value <= MAX_COUNT:
                raise SubscriptionError(f"{name}: must be between 0 and {MAX_COUNT}")
            prefs[name] = value
    if "include_saved_searches" in raw:
        prefs["include_saved_searches"] = bool(raw["include_saved_searches"])
    if "topics" in raw:
        topics = raw["topics"] or {}
        if not isinstance(topics, dict):
            raise SubscriptionError("topics: must be an object with categories and keywords")
        cleaned: dict[str, list[str]] = {}
        for key in ("categories", "keywords"):
            values = topics.get(key) or []
            if isinstance(values, str):
                values = values.split(",")
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise SubscriptionError(f"topics.{key}: must be a list of strings")
            items = [v.strip() for v in values if v.strip()]
            if len(items) > 50 or any(len(v) > 100 for v in items):
                raise SubscriptionError(f"topics.{key}: at most 50 entries of 100 characters")
            cleaned[key] = list(dict.fromkeys(items))
        prefs["topics"] = cleaned
    return prefs


def confirm_url(settings: Settings, subscription_id: int, nonce: str) -> str:
    token = tokens.make(settings, tokens.CONFIRM, [subscription_id, nonce])
    return f"{settings.base_url.rstrip('/')}/digest/confirm/{token}"


def subscribe(
    settings: Settings,
    db: Database,
    email: str,
    *,
    reader_id: int | None = None,
    preferences: dict[str, Any] | None = None,
    send: bool = True,
) -> dict[str, Any]:
    """Ask for a subscription: a confirmation email goes out, or, if the
    address is already subscribed, a note saying so with its settings link
    (the same work either way, so nothing tells the two apart). Returns the
    subscription row."""
    address = normalize_email(email)
    prefs = clean_preferences(preferences or {})
    nonce = secrets.token_urlsafe(24)
    with db.begin() as conn:
        sub, needs_confirmation = digest_store.request_subscription(
            conn, address, nonce=nonce, reader_id=reader_id, preferences=prefs
        )
    if send:
        if needs_confirmation:
            message = render.confirmation_message(
                settings, to=address, confirm_url=confirm_url(settings, sub["id"], nonce)
            )
        else:  # already subscribed: say so to the address, and only to it
            manage = tokens.make(settings, tokens.MANAGE, sub["id"])
            message = render.already_subscribed_message(
                settings,
                to=address,
                manage_url=f"{settings.base_url.rstrip('/')}/digest/manage/{manage}",
            )
        send_quietly(settings, message)  # a refused address is logged, not shown
    return sub


def subscribe_reader(
    db: Database, reader_id: int, email: str, preferences: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Subscribe a signed-in reader's own, already verified, address: linked
    to the reader and confirmed at once (the magic link was the opt-in)."""
    address = normalize_email(email)
    prefs = clean_preferences(preferences or {})
    nonce = secrets.token_urlsafe(24)
    with db.begin() as conn:
        sub, needs_confirmation = digest_store.request_subscription(
            conn, address, nonce=nonce, reader_id=reader_id, preferences=prefs
        )
        if needs_confirmation:
            digest_store.confirm_subscription(conn, sub["id"], nonce)
        confirmed = digest_store.get_subscription(conn, sub["id"])
    assert confirmed is not None
    return confirmed


def subscription_for_token(
    settings: Settings, db: Database, purpose: str, token: str
) -> dict[str, Any]:
    payload = tokens.read(settings, purpose, token)
    sub_id = payload[0] if isinstance(payload, list) else payload
    if not isinstance(sub_id, int):
        raise tokens.InvalidToken("this link is not valid")
    with db.connect() as conn:
        sub = digest_store.get_subscription(conn, sub_id)
    if sub is None:
        raise tokens.InvalidToken("this subscription no longer exists")
    return sub


def confirm(settings: Settings, db: Database, token: str) -> dict[str, Any]:
    payload = tokens.read(settings, tokens.CONFIRM, token, max_age=tokens.CONFIRM_MAX_AGE)
    if not (isinstance(payload, list) and len(payload) == 2):
        raise tokens.InvalidToken("this link is not valid")
    sub_id, nonce = payload
    with db.begin() as conn:
        if not digest_store.confirm_subscription(conn, int(sub_id), str(nonce)):
            raise tokens.InvalidToken("this confirmation link was already used or replaced")
        sub = digest_store.get_subscription(conn, int(sub_id))
    assert sub is not None
    return sub


def unsubscribe(settings: Settings, db: Database, token: str) -> dict[str, Any]:
    sub = subscription_for_token(settings, db, tokens.UNSUBSCRIBE, token)
    with db.begin() as conn:
        digest_store.unsubscribe(conn, sub["id"])
        updated = digest_store.get_subscription(conn, sub["id"])
    assert updated is not None
    return updated


def update_preferences(
    db: Database, subscription_id: int, preferences: dict[str, Any]
) -> dict[str, Any]:
    prefs = clean_preferences(preferences)
    with db.begin() as conn:
        digest_store.update_preferences(conn, subscription_id, **prefs)
        sub = digest_store.get_subscription(conn, subscription_id)
    assert sub is not None
    return sub


def public_view(sub: dict[str, Any]) -> dict[str, Any]:
    """What the API shows of a subscription (never the nonce)."""
    state = (
        "active"
        if digest_store.is_active(sub)
        else (
            "unsubscribed"
            if sub["unsubscribed_at"]
            else "suppressed"
            if sub["suppressed_at"]
            else "awaiting confirmation"
        )
    )
    return {
        "email": sub["email"],
        "state": state,
        "frequency": sub["frequency"],
        "topics": sub["topics"] or {"categories": [], "keywords": []},
        "trending_count": sub["trending_count"],
        "personal_count": sub["personal_count"],
        "include_saved_searches": sub["include_saved_searches"],
        "search_count": sub["search_count"],
        "signed_in_reader": sub["reader_id"] is not None,
        "suppressed_reason": sub["suppressed_reason"],
    }
