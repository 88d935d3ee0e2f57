"""Entry point of the ``paperfeed`` command; see cli.app for the layout."""

from __future__ import annotations

# Importing a module registers its commands on the shared Typer app.
from paperfeed.cli import code as _code  # noqa: F401
from paperfeed.cli import core as _core  # noqa: F401
from paperfeed.cli import digest as _digest  # noqa: F401
from paperfeed.cli import embed as _embed  # noqa: F401
from paperfeed.cli import ingest as _ingest  # noqa: F401
from paperfeed.cli import mcp as _mcp  # noqa: F401
from paperfeed.cli import ops as _ops  # noqa: F401
from paperfeed.cli import recommend as _recommend  # noqa: F401
from paperfeed.cli import search as _search  # noqa: F401
from paperfeed.cli import summaries as _summaries  # noqa: F401
from paperfeed.cli import trending as _trending  # noqa: F401
from paperfeed.cli import users as _users  # noqa: F401
from paperfeed.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
