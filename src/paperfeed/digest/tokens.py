"""Signed tokens for digest links: confirm, unsubscribe, manage, view in browser.

Each purpose has its own salt, so a token made for one cannot be used for
another. Confirmation tokens carry a nonce stored on the subscription and are
single-use; the others are capabilities for one subscription (an unsubscribe
link must keep working for as long as the email sits in an inbox)."""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from paperfeed.config import Settings

CONFIRM = "digest-confirm"
UNSUBSCRIBE = "digest-unsubscribe"
MANAGE = "digest-manage"
VIEW = "digest-view"

CONFIRM_MAX_AGE = 7 * 24 * 3600


class InvalidToken(ValueError):
    """A token that is forged, for another purpose, or expired."""


def _serializer(settings: Settings, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret(), salt=purpose)


def make(settings: Settings, purpose: str, payload: Any) -> str:
    return str(_serializer(settings, purpose).dumps(payload))


def read(settings: Settings, purpose: str, token: str, *, max_age: int | None = None) -> Any:
    try:
        return _serializer(settings, purpose).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise InvalidToken("this link has expired") from exc
    except BadSignature as exc:
        raise InvalidToken("this link is not valid") from exc
