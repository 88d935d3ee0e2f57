"""How a route reaches the application object: ``Depends(paperfeed_of)``, or
the two shorthands below inside a handler. ``create_app`` puts one Paperfeed
in ``app.state``; nothing else here keeps state."""

from __future__ import annotations

from fastapi import Request

from paperfeed.app import Database, Paperfeed
from paperfeed.config import Settings


def paperfeed_of(request: Request) -> Paperfeed:
    """The process's application object (a FastAPI dependency)."""
    app: Paperfeed = request.app.state.paperfeed
    return app


def database(request: Request) -> Database:
    return paperfeed_of(request).db


def settings_of(request: Request) -> Settings:
    return paperfeed_of(request).settings
