"""The ``paperfeed`` command. Every command calls the same core functions the
web app and JSON API use; none of them talks SQL.

Commands live in the modules of this package, one per area (ingest, search,
readers, digest, operations); each registers itself on ``app`` when imported.
"""

from __future__ import annotations

import typer
from rich.console import Console

from paperfeed.config import Settings, get_settings
from paperfeed.db import Database

app = typer.Typer(help="Paperfeed: self-hosted research-paper discovery.", no_args_is_help=True)
console = Console(stderr=True)


def open_database(settings: Settings | None = None) -> Database:
    settings = settings or get_settings()
    return Database(settings.database_url_resolved)
