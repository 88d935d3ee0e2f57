"""General commands: stats, show, serve."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from paperfeed.cli.app import app, console, open_database
from paperfeed.config import get_settings
from paperfeed.db import papers as paper_store


@app.command()
def stats() -> None:
    """Counts of what is stored."""
    db = open_database()
    with db.connect() as conn:
        data = paper_store.stats(conn)
    typer.echo(json.dumps(data, indent=2, default=str))


@app.command()
def show(paper_id: str) -> None:
    """One paper, as JSON."""
    db = open_database()
    with db.connect() as conn:
        paper = paper_store.get_paper(conn, paper_id)
    if paper is None:
        console.print(f"[red]error:[/] no paper {paper_id!r}")
        raise typer.Exit(1)
    typer.echo(json.dumps(paper, indent=2, default=str, ensure_ascii=False))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the web UI and JSON API."""
    import uvicorn

    settings = get_settings()
    db = open_database(settings)  # migrate before the first request
    if db.backend == "sqlite":
        # Embedded mode: vectors are computed in this process, in the background,
        # so ingest never waits for the model (PostgreSQL runs it as a job).
        from paperfeed.index.embedding import EmbedWorker

        EmbedWorker(db, settings).start()
    console.print(f"Paperfeed on http://{host}:{port}/ (database {settings.database_url_resolved})")
    uvicorn.run("paperfeed.web.app:create_app", factory=True, host=host, port=port)
