"""The MCP server's two transports: stdio (``paperfeed mcp``) and streamable
HTTP at ``/mcp`` inside the web app (``paperfeed serve``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from paperfeed.app import Paperfeed
from paperfeed.mcp.server import Caller, build_server, caller_for


def run_stdio(app: Paperfeed, token: str | None) -> None:
    """Serve MCP on stdin/stdout for the reader of ``token`` (checked on
    every call, so revoking it ends the session's access)."""
    build_server(app, lambda: caller_for(app, token, "stdio")).run("stdio")


class Guard:
    """Resolves the bearer token once per HTTP request: a bad or missing one
    (when anonymous reading is off) is a 401 before any MCP message is read;
    otherwise the tools find the caller in the request's state."""

    def __init__(self, app: Paperfeed, inner: Any) -> None:
        self.app, self.inner = app, inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        auth = Headers(scope=scope).get("authorization", "")
        scheme, _, token = auth.partition(" ")
        address = (scope.get("client") or ("unknown",))[0]
        if auth and (scheme.lower() != "bearer" or not token.strip()):
            found: Caller | str = "Authorization header must be 'Bearer <API token>'."
        else:
            found = await anyio.to_thread.run_sync(caller_for, self.app, token.strip(), address)
        if isinstance(found, str):
            answer = JSONResponse(
                {"error": found}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
            await answer(scope, receive, send)
            return
        scope.setdefault("state", {})["mcp_caller"] = found
        await self.inner(scope, receive, send)


class StreamableHTTP:
    """The MCP endpoint for the web app: ``route`` to add to its routes and
    ``running()`` to hold open in its lifespan. Stateless, with JSON answers:
    any worker can answer any request."""

    def __init__(self, app: Paperfeed) -> None:
        self.server = build_server(app)
        base = urlsplit(app.settings.base_url)
        local = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
        self.security = TransportSecuritySettings(
            allowed_hosts=[base.netloc, *local],
            allowed_origins=[f"{base.scheme}://{base.netloc}", *(f"http://{h}" for h in local)],
        )
        self.manager: StreamableHTTPSessionManager | None = None
        self.route = Route("/mcp", Guard(app, self._handle), methods=["GET", "POST", "DELETE"])

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.manager is None:
            raise RuntimeError("the MCP endpoint runs inside the app's lifespan")
        await self.manager.handle_request(scope, receive, send)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        # A manager runs once; an app's lifespan may run again (tests), so
        # each run gets a new one.
        self.server.streamable_http_app(
            streamable_http_path="/mcp",
            stateless_http=True,
            json_response=True,
            transport_security=self.security,
        )
        self.manager = self.server.session_manager
        async with self.manager.run():
            yield
