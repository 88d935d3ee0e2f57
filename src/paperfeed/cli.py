"""The ``paperfeed`` command. Every command calls the same core functions the
web app and JSON API use; none of them talks SQL."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from paperfeed.config import Settings, get_settings
from paperfeed.db import Database
from paperfeed.db import papers as paper_store
from paperfeed.ingest.hf_pages import read_hf_page
from paperfeed.ingest.jsonl import read_jsonl
from paperfeed.ingest.pipeline import IngestReport, ingest
from paperfeed.models import Paper, Skipped, SourceFormatError

app = typer.Typer(help="Paperfeed: self-hosted research-paper discovery.", no_args_is_help=True)
ingest_app = typer.Typer(help="Ingest papers from a source.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")

console = Console(stderr=True)


def open_database(settings: Settings | None = None) -> Database:
    settings = settings or get_settings()
    return Database(settings.database_url_resolved)


def run_ingest(
    records: Iterable[Paper | Skipped], *, total: int | None = None, label: str = "ingest"
) -> IngestReport:
    """Run the pipeline with a progress bar and print the end-of-run summary.

    Skipped records are printed as they happen (file:line and reason) and
    counted; a source-format error exits non-zero with nothing written.
    """
    db = open_database()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(label, total=total, rate="")

        def on_progress(report: IngestReport) -> None:
            progress.update(task, completed=report.read, rate=f"{report.rate:,.0f}/s")

        def on_skip(skipped: Skipped) -> None:
            progress.console.print(f"[yellow]skipped[/] {skipped}")

        try:
            report = ingest(db, records, on_progress=on_progress, on_skip=on_skip)
        except SourceFormatError as exc:
            progress.stop()
            console.print(f"[red]error:[/] {exc}")
            console.print("nothing was written.")
            raise typer.Exit(2) from exc
    console.print(report.summary())
    return report


def _limited(records: Iterable[Paper | Skipped], limit: int | None) -> Iterator[Paper | Skipped]:
    return iter(records) if limit is None else islice(records, limit)


def _chain(readers: Iterable[Iterable[Paper | Skipped]]) -> Iterator[Paper | Skipped]:
    for reader in readers:
        yield from reader


FilesArg = Annotated[list[Path], typer.Argument(help="Files to read (plain or .gz).")]
LimitOpt = Annotated[int | None, typer.Option(help="Stop after this many records.")]


@ingest_app.command("jsonl")
def ingest_jsonl(files: FilesArg, limit: LimitOpt = None) -> None:
    """JSON lines: the arxiv-cs export format or raw daily-listing files."""
    run_ingest(_limited(_chain(read_jsonl(f) for f in files), limit), total=limit, label="jsonl")


@ingest_app.command("hf-page")
def ingest_hf_page(
    files: FilesArg,
    year: Annotated[int | None, typer.Option(help="Year of the page's 'Apr 1' date.")] = None,
) -> None:
    """Hugging Face Papers pages saved as text."""
    run_ingest(_chain(read_hf_page(f, year=year) for f in files), label="hf pages")


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
    open_database(settings).dispose()  # migrate before the first request
    console.print(f"Paperfeed on http://{host}:{port}/ (database {settings.database_url_resolved})")
    uvicorn.run("paperfeed.web.app:create_app", factory=True, host=host, port=port)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
