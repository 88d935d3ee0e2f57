"""``paperfeed mcp``: the MCP server on stdin/stdout, for desktop assistants."""

from __future__ import annotations

import os
import sys

import typer

from paperfeed.cli.app import app, open_app


@app.command()
def mcp() -> None:
    """Serve MCP over stdio (docs/mcp.md). The reader is the API token in
    PAPERFEED_MCP_TOKEN; without one, read-only public tools, only if
    PAPERFEED_MCP_ANONYMOUS_READ is on."""
    from paperfeed.logs import configure_logging
    from paperfeed.mcp.server import caller_for
    from paperfeed.mcp.transports import run_stdio

    paperfeed = open_app()
    configure_logging(paperfeed.settings.log_level)  # JSON lines on stderr, as serve's
    token = os.environ.get("PAPERFEED_MCP_TOKEN", "").strip() or None
    found = caller_for(paperfeed, token, "stdio")
    if isinstance(found, str):  # nothing is written to stdout: it is the protocol's
        print(f"paperfeed mcp: {found} Set PAPERFEED_MCP_TOKEN.", file=sys.stderr)
        raise typer.Exit(2)
    run_stdio(paperfeed, token)
