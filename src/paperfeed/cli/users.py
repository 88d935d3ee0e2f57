"""Reader administration: ``paperfeed users grant EMAIL ROLE`` and ``users list``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from paperfeed import readers as core
from paperfeed.cli.app import app, console, open_app

users_app = typer.Typer(help="Readers and their roles.", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("grant")
def grant(
    email: Annotated[str, typer.Argument(help="The reader's email address.")],
    role: Annotated[str, typer.Argument(help="reader, curator or admin.")],
) -> None:
    """Give a reader a role; an address that never signed in gets an account now."""
    db = open_app().db
    try:
        reader = core.grant_role(db, email, role.strip().lower())
    except core.ReaderError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    finally:
        db.dispose()
    typer.echo(f"{reader.email} is now {reader.role}")


@users_app.command("list")
def list_users() -> None:
    """Every reader with their role."""
    db = open_app().db
    try:
        readers = core.list_readers(db)
    finally:
        db.dispose()
    table = Table("id", "email", "name", "role")
    for reader in readers:
        table.add_row(str(reader.id), reader.email, reader.name, reader.role)
    Console().print(table)  # stdout: the listing is the output
    typer.echo(f"{len(readers)} readers")
