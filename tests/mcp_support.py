"""What the MCP tests share: a small library of papers and readers, and real
MCP clients (the ``mcp`` SDK's) over stdio, streamable HTTP and in-process."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import anyio
import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from paperfeed import readers as core
from paperfeed.app import Paperfeed
from paperfeed.config import Settings
from paperfeed.mcp.server import build_server, caller_for
from paperfeed.services import comments, groups, library
from paperfeed.services.ingest import store
from tests.helpers import make_paper

TODAY = datetime.now(UTC).date()
TITLES = {
    "2501.00001": "Graph rewiring for message passing networks",
    "2501.00002": "Sparse attention kernels for long documents",
    "2501.00003": "Message passing on hypergraphs",
    "2501.00004": "Protein folding with diffusion models",
}


@dataclass
class Library:
    alice: core.Reader
    bob: core.Reader
    alice_token: str  # read and write
    alice_read_token: str  # read only
    bob_token: str
    bob_collection: int  # private
    bob_search: int
    bob_group: int  # Bob's reading group, with one session (members only)
    bob_session: int


def seed(app: Paperfeed) -> Library:
    papers = [
        make_paper(pid, title=title, listing_date=TODAY - timedelta(days=i))
        for i, (pid, title) in enumerate(TITLES.items())
    ]
    store(app, papers)
    alice = core.grant_role(app.db, "alice@example.org", "reader")
    bob = core.grant_role(app.db, "bob@example.org", "reader")
    _, alice_token = core.create_api_token(app.db, alice, "agent", ["read", "write"])
    _, alice_read = core.create_api_token(app.db, alice, "reader agent", ["read"])
    _, bob_token = core.create_api_token(app.db, bob, "bob's agent", ["read", "write"])
    secret = core.create_collection(app.db, bob, "Bob's secret reading")
    core.add_to_collection(app.db, bob, secret, "2501.00004")
    search = core.create_saved_search(app.db, bob, "bob private", "protein folding")
    library.set_note(app, bob, "2501.00004", "Bob's private thoughts on folding")
    comments.post(app, bob, comments.paper_thread("2501.00001"), "Public: *nice* rewiring")
    group = groups.create_group(app, bob, "Bob's folding club")
    session = groups.schedule(
        app, bob, group, starts_at=datetime.now(UTC) + timedelta(days=2),
        paper_ids=["2501.00004"], presenter_id=None, title="Folding night",
    )  # fmt: skip
    comments.post(app, bob, comments.session_thread(session), "Members only: bring snacks")
    return Library(alice, bob, alice_token, alice_read, bob_token, secret, search, group, session)


def child_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a ``paperfeed`` child process on the test's database."""
    return {
        **os.environ,
        "PAPERFEED_DATABASE_URL": settings.database_url_resolved,
        "PAPERFEED_DATA_DIR": str(settings.data_dir),
        "PAPERFEED_SECRET_KEY": settings.secret_key,
        "PAPERFEED_LOG_LEVEL": "WARNING",
        "PAPERFEED_DIGEST_SCHEDULER": "false",
        "PAPERFEED_CONFIG": str(settings.data_dir / "absent.toml"),
        "PAPERFEED_BASE_URL": settings.base_url,
        **extra,
    }


@asynccontextmanager
async def stdio_client(settings: Settings, token: str | None) -> AsyncIterator[Client]:
    """``python -m paperfeed mcp`` as a subprocess, with ``token`` as its reader."""
    env = child_env(settings, **({"PAPERFEED_MCP_TOKEN": token} if token else {}))
    params = StdioServerParameters(command=sys.executable, args=["-m", "paperfeed", "mcp"], env=env)
    async with Client(params, read_timeout_seconds=120) as client:
        yield client


@asynccontextmanager
async def http_client(base_url: str, token: str | None) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=120) as http:
        transport = streamable_http_client(f"{base_url}/mcp", http_client=http)
        async with Client(transport) as client:
            yield client


@asynccontextmanager
async def local_client(app: Paperfeed, token: str | None) -> AsyncIterator[Client]:
    """In process (the SDK's memory transport), for the checks that need no wire."""
    server = build_server(app, lambda: caller_for(app, token, "test"))
    async with Client(server) as client:
        yield client


T = TypeVar("T")


def run_async(function: Callable[..., Awaitable[T]], *args: Any) -> T:
    """``anyio.run`` in a thread of its own: once a browser test ran, the
    session's Playwright (tests/browser.py) holds this thread's event loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(anyio.run, function, *args).result()


async def call(client: Client, tool: str, **arguments: Any) -> Any:
    """A tool's answer, decoded; fails the test on a tool error."""
    result = await client.call_tool(tool, arguments)
    text = result.content[0].text  # type: ignore[union-attr]
    assert not result.is_error, f"{tool}: {text}"
    return json.loads(text)


async def refused(client: Client, tool: str, **arguments: Any) -> str:
    """The message of a tool error (fails the test if the call succeeded)."""
    result = await client.call_tool(tool, arguments)
    text = result.content[0].text  # type: ignore[union-attr]
    assert result.is_error, f"{tool} should have failed: {text[:300]}"
    return str(text)
