"""The one HTTP client every network source uses: polite and retrying.

arXiv asks for a single connection and a pause between calls, OAI-PMH servers
answer 503 with Retry-After when busy, and long harvests meet timeouts and cut
connections. All of that lives here, once, so the arXiv API, OAI-PMH and
Hugging Face clients only build URLs and parse bodies.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, TypeVar

import httpx

from paperfeed import __version__
from paperfeed.config import Settings

USER_AGENT = f"paperfeed/{__version__} (+https://github.com/paperfeed; metadata harvester)"
# A server asking us to wait longer than this is treated as down, not busy.
MAX_RETRY_AFTER_SECONDS = 900.0

T = TypeVar("T")


class FetchError(Exception):
    """A request that failed for good: names the URL and the last reason.
    ``reason`` is the reason alone, short enough to show a reader."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


def unreachable_reason(exc: httpx.ConnectError, url: str) -> str | None:
    """Why a connection could not be made, in words, when retrying would not
    help: the host name does not resolve, or nothing listens at the address.
    None for other failures (a reset, a TLS error), which may pass. A
    "temporary" DNS failure counts too: it is what a machine without network
    gets, and minutes of backoff would only hide that; a harvest simply
    resumes on its next run."""
    host = httpx.URL(url).host
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, socket.gaierror):
            return f"cannot resolve {host}: no network, or no such host"
        if isinstance(cause, ConnectionRefusedError):
            return f"{host} refused the connection: nothing is listening there"
        cause = cause.__cause__ or cause.__context__
    return None


class BadBody(Exception):  # noqa: N818 (a signal to retry, not an error users see)
    """Raised by a body parser for a truncated or unparseable body: worth retrying."""


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After is either delay-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class PoliteClient:
    """One ``httpx.Client`` (one keep-alive connection per host) with a minimum
    delay between requests and retries with exponential backoff.

    Retried: timeouts and transport errors (a connection cut mid-body), 5xx and
    429 answers, and bodies the caller's ``parse`` rejects with ``BadBody``.
    Retry-After is honoured when given. Any other 4xx fails at once, and so
    does a host that does not resolve or refuses the connection.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        delay_seconds: float = 0.0,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.delay_seconds = delay_seconds
        self.max_retries = settings.http_max_retries
        self.backoff_seconds = settings.http_backoff_seconds
        self._sleep = sleep
        self._last_request: float | None = None
        self._owns_client = client is None
        self.client = client or httpx.Client(
            timeout=settings.http_timeout_seconds,
            headers={"User-Agent": USER_AGENT},
            follow_redirects=True,
            # arXiv: "make no more than one request every three seconds, and
            # limit requests to a single connection at a time".
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def _wait_turn(self, at_least: float = 0.0) -> None:
        wait = at_least
        if self._last_request is not None:
            wait = max(wait, self._last_request + self.delay_seconds - time.monotonic())
        if wait > 0:
            self._sleep(wait)

    def get(
        self,
        url: str,
        params: Mapping[str, Any] | None,
        parse: Callable[[httpx.Response], T],
        *,
        headers: Mapping[str, str] | None = None,
        passthrough: frozenset[int] = frozenset(),
    ) -> T:
        """GET ``url`` and return ``parse(response)``, retrying as described above.

        ``headers``: sent with the request (a conditional request's
        If-None-Match, a token). ``passthrough``: statuses the caller handles
        itself (304, a 404 that means "gone", a rate limit to stop at): handed
        to ``parse`` as they are, neither retried nor raised."""
        shown = str(httpx.URL(url, params=params)) if params else url
        wait = 0.0
        reason = ""
        for attempt in range(self.max_retries + 1):
            self._wait_turn(wait)
            self._last_request = time.monotonic()
            backoff = self.backoff_seconds * (2**attempt)
            try:
                response = self.client.get(url, params=params, headers=headers)
            except httpx.TimeoutException as exc:
                reason, wait = f"timed out ({type(exc).__name__})", backoff
                continue
            except httpx.ConnectError as exc:
                # No such host, or nothing listening: no retry would change
                # that, so say so now rather than after minutes of backoff.
                if unreachable := unreachable_reason(exc, url):
                    raise FetchError(f"GET {shown}: {unreachable}", unreachable) from exc
                reason, wait = f"connection failed ({exc})", backoff
                continue
            except httpx.TransportError as exc:
                reason, wait = f"connection failed ({exc})", backoff
                continue
            finally:
                self._last_request = time.monotonic()
            status = response.status_code
            if status in passthrough:
                try:
                    return parse(response)
                except BadBody as exc:
                    reason, wait = f"bad response body ({exc})", backoff
                    continue
            hinted = retry_after_seconds(response.headers.get("Retry-After"))
            if hinted is not None and hinted > MAX_RETRY_AFTER_SECONDS:
                raise FetchError(
                    f"GET {shown}: HTTP {status}, server asks to retry after {hinted:.0f}s; "
                    "giving up (try again later)",
                    f"the server is busy (HTTP {status})",
                )
            if status >= 500 or status == 429:
                reason = f"HTTP {status}" + (f", Retry-After {hinted:g}s" if hinted else "")
                wait = hinted if hinted is not None else backoff
                continue
            if status >= 400:
                raise FetchError(
                    f"GET {shown}: HTTP {status}: {_snippet(response)}",
                    f"the server answered HTTP {status}",
                )
            try:
                return parse(response)
            except BadBody as exc:
                reason, wait = f"bad response body ({exc})", backoff
                continue
        raise FetchError(
            f"GET {shown}: gave up after {self.max_retries + 1} attempts: {reason}",
            f"no answer after {self.max_retries + 1} attempts: {reason}",
        )


def _snippet(response: httpx.Response) -> str:
    text = " ".join(response.text.split())
    return text[:300] or response.reason_phrase
