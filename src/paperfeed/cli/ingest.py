"""``paperfeed ingest SOURCE ...``: one subcommand per source, with progress bars."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from paperfeed.cli.app import app, console, open_database
from paperfeed.config import get_settings
from paperfeed.index.lexical import index_after_ingest
from paperfeed.ingest.hf_pages import read_hf_page
from paperfeed.ingest.jsonl import read_jsonl
from paperfeed.ingest.pipeline import IngestReport, ingest
from paperfeed.models import Paper, Skipped, SourceFormatError

ingest_app = typer.Typer(help="Ingest papers from a source.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")


def run_ingest(
    records: Iterable[Paper | Skipped], *, total: int | None = None, label: str = "ingest"
) -> IngestReport:
    """Run the pipeline with a progress bar and print the end-of-run summary.

    Skipped records are printed as they happen (file:line and reason) and
    counted; a source-format error exits non-zero with nothing written.
    """
    settings = get_settings()
    db = open_database(settings)
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
            # Each committed batch becomes keyword-searchable at once.
            index_after_ingest(db, settings)

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
