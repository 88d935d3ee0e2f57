"""The FastAPI application factory."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles

from paperfeed.app import Paperfeed
from paperfeed.config import get_settings
from paperfeed.logs import configure_logging
from paperfeed.mcp.transports import StreamableHTTP
from paperfeed.web import (
    admin,
    api,
    api_library,
    api_readers,
    auth,
    authors,
    comments,
    digest,
    errors,
    feeds,
    groups,
    library,
    library_io,
    opensearch,
    ops,
    pages,
    schemas,
)
from paperfeed.web import recommend as recommend_routes
from paperfeed.web import search as search_routes
from paperfeed.web.params import reject_control_characters
from paperfeed.web.schemas import on_validation_error

STATIC_DIR = Path(__file__).parent / "static"


_frozen = False


def _freeze_startup_objects() -> None:
    """Take what a worker built at start-up out of the cyclic garbage collector.

    Imports, routes and templates leave ~200k long-lived objects; a full
    collection walked them all (~120 ms here) about every 60 requests, and
    those pauses were the whole p99 of the list pages. Frozen objects are
    never scanned again. Once per process: they live as long as it does.
    """
    global _frozen
    if not _frozen:
        gc.collect()
        gc.freeze()
        # With the start-up objects out of the count, CPython's "a quarter of
        # the long-lived objects are new" rule let full collections (still
        # ~40 ms here) run every ~25 requests; a tenth as often keeps them
        # out of the p99. Young generations are collected as usual.
        young, middle, _ = gc.get_threshold()
        gc.set_threshold(young, middle, 100)
        _frozen = True


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Background work (digests, embedding, the schedule) is not per worker:
    # `paperfeed serve` runs it once (jobs.background_jobs).
    _freeze_startup_objects()
    async with app.state.mcp_http.running():  # MCP over HTTP at /mcp (docs/mcp.md)
        yield


def create_app(paperfeed: Paperfeed | None = None) -> FastAPI:
    """The web app over ``paperfeed`` (default: one from the environment's settings)."""
    paperfeed = paperfeed or Paperfeed(get_settings())
    settings = paperfeed.settings
    # /docs is api.docs_router: Swagger UI served from /static, not a CDN.
    app = FastAPI(
        title=settings.site_name,
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan,
        dependencies=[Depends(reject_control_characters)],  # what text is accepted: web.params
    )
    app.state.paperfeed = paperfeed  # routes: web.deps.paperfeed_of
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # Routes are matched in order, each a regex and some bookkeeping (~3 us):
    # the JSON API, the busiest by request count, goes first rather than
    # behind ~26 page routes. None of its paths overlap another router's.
    app.include_router(api.router)
    app.include_router(digest.router)
    app.include_router(digest.account)
    app.include_router(recommend_routes.router)
    app.include_router(recommend_routes.pages)
    app.include_router(search_routes.router)
    app.include_router(pages.router)
    app.include_router(authors.pages)
    app.include_router(authors.forms)
    app.include_router(authors.api)
    app.include_router(api.docs_router)
    app.include_router(feeds.router)
    app.include_router(opensearch.router)
    app.include_router(admin.router)
    auth.install(app, settings)  # sessions, CSRF, sign-in pages
    app.include_router(library.router)
    app.include_router(library_io.router)
    app.include_router(api_readers.router)
    app.include_router(api_library.router)
    for router in (
        comments.api,
        groups.api,
        comments.pages,
        comments.links,
        groups.pages,
        groups.calendars,
    ):
        app.include_router(router)
    app.include_router(ops.router)
    errors.install(app)  # HTML error pages for browsers, the favicon
    app.state.mcp_http = StreamableHTTP(paperfeed)
    app.router.routes.append(app.state.mcp_http.route)
    app.add_middleware(ops.RequestContext)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = api.without_unsent_422(FastAPI.openapi(app), api.router.routes)
            schemas.document_app_wide_refusals(schema)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def create_served_app(paperfeed: Paperfeed | None = None) -> FastAPI:
    """The app as ``paperfeed serve`` runs it: JSON logs on, over the serve
    process's own application object (one worker) or one made from the
    environment's settings (each process of several workers)."""
    paperfeed = paperfeed or Paperfeed(get_settings())
    configure_logging(paperfeed.settings.log_level)
    return create_app(paperfeed)
