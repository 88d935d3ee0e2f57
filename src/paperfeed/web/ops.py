"""Operations endpoints and per-request instrumentation.

- ``/healthz``: the process is alive and serving (no dependencies checked, so
  a database outage does not get every worker restarted).
- ``/readyz``: ready for traffic: the database answers, its schema is at the
  code's migration head, and Redis answers when jobs go through it.
- ``/metrics``: Prometheus exposition (paperfeed.metrics), merged across
  ``serve --workers`` processes; only with the metrics token, or from loopback
  (``metrics.may_read``).
- ``RequestContext``: a request id per request (the client's X-Request-ID when
  it is a sane token, else a new one), echoed in the response and put on every
  log line; latency recorded by route template, and one JSON access-log line.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paperfeed import metrics
from paperfeed.logs import request_id
from paperfeed.services import ops
from paperfeed.web.deps import paperfeed_of, settings_of

router = APIRouter(include_in_schema=False)
access_log = logging.getLogger("paperfeed.access")
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    checks = ops.readiness(paperfeed_of(request))
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/metrics")
def prometheus_metrics(request: Request) -> Response:
    token = settings_of(request).metrics_token
    client = request.client.host if request.client else None
    if not metrics.may_read(token, client, request.headers.get("authorization")):
        if token:
            return Response(
                "/metrics needs 'Authorization: Bearer <PAPERFEED_METRICS_TOKEN>'.\n",
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return Response(
            "/metrics is served to loopback clients only; set PAPERFEED_METRICS_TOKEN "
            "to scrape it from elsewhere.\n",
            status_code=403,
        )
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)


class RequestContext:
    """Pure ASGI middleware (cheaper than BaseHTTPMiddleware on every request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _SANE_ID.match(incoming) else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            # The template ("/papers/{paper_id}"), never the raw path: label
            # values must stay few, whatever URLs clients make up.
            template = getattr(route, "path", None) or "unmatched"
            metrics.REQUEST_SECONDS.labels(scope["method"], template, str(status)).observe(elapsed)
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": template,
                    "status": status,
                    "ms": round(elapsed * 1000, 2),
                },
            )
            request_id.reset(token)
