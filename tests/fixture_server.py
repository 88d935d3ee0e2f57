"""A real HTTP server on 127.0.0.1 that replays recorded responses.

Network sources are tested by pointing their real client code (httpx, retries,
parsing) at this server instead of arXiv or Hugging Face. Tests register
routes, optionally matched on query parameters, each answering one reply or a
sequence of replies (the last one repeats), and inspect ``server.requests``
(recorded server-side, with arrival times) afterwards.

    def test_x(fixture_server, settings):
        fixture_server.add_arxiv_paper("2511.01234", title="...")
        papers = fetch_by_ids(settings, ["2511.01234"])

The ``fixture_server`` pytest fixture points ``settings`` (arxiv_api_url,
arxiv_oai_url, hf_api_url, zotero_api_url) at the server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from paperfeed.config import Settings
from tests import feeds

ATOM = "application/atom+xml; charset=utf-8"
XML = "text/xml; charset=utf-8"
JSON = "application/json; charset=utf-8"


@dataclass
class Reply:
    body: bytes | str = b""
    status: int = 200
    content_type: str = ATOM
    headers: dict[str, str] = field(default_factory=dict)
    # Sleep this long before answering (to provoke client timeouts).
    delay: float = 0.0
    # Announce the full Content-Length but close the connection after this many
    # body bytes: a connection cut mid-body.
    cut_after: int | None = None

    @property
    def data(self) -> bytes:
        return self.body.encode() if isinstance(self.body, str) else self.body


@dataclass(frozen=True)
class Request:
    at: float  # time.monotonic() when the request arrived
    path: str
    query: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case


Responder = Reply | Sequence[Reply] | Callable[[Request], Reply]


@dataclass
class _Route:
    path: str
    query: dict[str, str]
    responder: Responder
    served: int = 0

    def matches(self, request: Request) -> bool:
        return request.path == self.path and all(
            request.query.get(k) == v for k, v in self.query.items()
        )

    def reply(self, request: Request) -> Reply:
        responder = self.responder
        self.served += 1
        if isinstance(responder, Reply):
            return responder
        if callable(responder):
            return responder(request)
        return responder[min(self.served, len(responder)) - 1]


class FixtureServer:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._routes: list[_Route] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FixtureServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def __enter__(self) -> FixtureServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ routes

    def route(
        self, path: str, responder: Responder, *, query: Mapping[str, str] | None = None
    ) -> None:
        """Answer GETs of ``path`` whose query contains ``query``. The most
        specific (most query keys) and, among equals, the latest route wins."""
        with self._lock:
            self._routes.append(_Route(path, dict(query or {}), responder))

    def requests_to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def add_arxiv_paper(self, arxiv_id: str, **fields: Any) -> None:
        """Make ``/api/query?id_list=<arxiv_id>`` answer an Atom feed with one
        entry; ``fields`` go to ``feeds.atom_entry`` (title, authors, published...)."""
        entry = feeds.atom_entry(arxiv_id, **fields)
        self.route(
            "/api/query",
            Reply(feeds.atom_feed([entry], total=1)),
            query={"id_list": arxiv_id},
        )

    def _find(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            candidates = [r for r in self._routes if r.matches(request)]
            if not candidates:
                return Reply(f"no fixture route for {request.path}", 404, "text/plain")
            best = max(enumerate(candidates), key=lambda pair: (len(pair[1].query), pair[0]))[1]
            return best.reply(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like the real servers

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                parts = urlsplit(self.path)
                request = Request(
                    time.monotonic(),
                    parts.path,
                    dict(parse_qsl(parts.query)),
                    {k.lower(): v for k, v in self.headers.items()},
                )
                reply = server._find(request)
                if reply.delay:
                    time.sleep(reply.delay)
                data = reply.data
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    if reply.cut_after is not None:
                        self.wfile.write(data[: reply.cut_after])
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (timeout test)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        return Handler


@pytest.fixture
def fixture_server(settings: Settings) -> Iterator[FixtureServer]:
    """A running FixtureServer; ``settings`` point every network source at it."""
    with FixtureServer() as server:
        settings.arxiv_api_url = f"{server.url}/api/query"
        settings.arxiv_oai_url = f"{server.url}/oai"
        settings.hf_api_url = server.url
        settings.zotero_api_url = f"{server.url}/zotero"
        settings.github_api_url = f"{server.url}/github"
        settings.github_delay_seconds = 0.0
        settings.arxiv_delay_seconds = 0.0
        settings.hf_delay_seconds = 0.0
        settings.http_backoff_seconds = 0.01
        settings.http_timeout_seconds = 5.0
        yield server
