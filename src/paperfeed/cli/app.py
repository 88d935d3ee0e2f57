"""The ``paperfeed`` command. Every command makes one application object
(``open_app``) and calls the same services the web app and JSON API use; none
of them talks SQL.

Commands live in the modules of this package, one per area (ingest, search,
readers, digest, operations); each registers itself on ``app`` when imported.
"""

from __future__ import annotations

import typer
from rich.console import Console

from paperfeed.app import Paperfeed
from paperfeed.config import get_settings

app = typer.Typer(help="Paperfeed: self-hosted research-paper discovery.", no_args_is_help=True)
console = Console(stderr=True)


def open_app() -> Paperfeed:
    """The command's application object, from the environment's settings."""
    return Paperfeed(get_settings())
