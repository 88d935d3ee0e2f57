"""``paperfeed ingest SOURCE ...``: one subcommand per source, with progress bars."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from paperfeed.cli.app import app, console, open_app
from paperfeed.config import Settings
from paperfeed.ingest.arxiv_api import fetch_category
from paperfeed.ingest.hf_daily import fetch_days
from paperfeed.ingest.hf_pages import read_hf_page
from paperfeed.ingest.http import FetchError
from paperfeed.ingest.jsonl import read_jsonl
from paperfeed.ingest.kaggle_snapshot import read_snapshot
from paperfeed.ingest.oai_pmh import OAIHarvest
from paperfeed.ingest.pipeline import IngestReport
from paperfeed.models import Paper, Skipped, SourceFormatError
from paperfeed.services import ingest as services

ingest_app = typer.Typer(help="Ingest papers from a source.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")


class _ProgressHooks:
    """The pipeline's callbacks, drawing one progress bar."""

    def __init__(self, progress: Progress, task: TaskID) -> None:
        self.progress, self.task = progress, task
        self.report = IngestReport()

    def on_progress(self, report: IngestReport) -> None:
        self.report = report
        self.progress.update(self.task, completed=report.read, rate=f"{report.rate:,.0f}/s")

    def on_skip(self, skipped: Skipped) -> None:
        # soft_wrap: a skipped record's file:line stays on one line, whole
        self.progress.console.print(f"[yellow]skipped[/] {escape(str(skipped))}", soft_wrap=True)


@contextmanager
def ingest_progress(label: str, total: int | None = None) -> Iterator[_ProgressHooks]:
    """A progress bar for one ingest, and its end-of-run summary.

    Skipped records are printed as they happen (file:line and reason) and
    counted; a source-format error exits non-zero with nothing written.
    """
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        hooks = _ProgressHooks(progress, progress.add_task(label, total=total, rate=""))
        try:
            yield hooks
        except SourceFormatError as exc:
            progress.stop()
            console.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
            console.print("nothing was written.")
            raise typer.Exit(2) from exc
        except FetchError as exc:
            # Batches stored before the failure stay (each is complete); a
            # re-run skips them as unchanged and fetches the rest.
            progress.stop()
            console.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
            console.print("papers fetched before the error were kept; re-run to continue.")
            raise typer.Exit(1) from exc
    console.print(hooks.report.summary())


def run_ingest(
    records: Iterable[Paper | Skipped] | Callable[[Settings], Iterable[Paper | Skipped]],
    *,
    total: int | None = None,
    label: str = "ingest",
) -> None:
    """Store ``records`` (or what a network source given the settings yields)
    with services.ingest.store, under a progress bar."""
    with open_app() as paperfeed, ingest_progress(label, total) as hooks:
        if callable(records):
            records = records(paperfeed.settings)
        services.store(paperfeed, records, on_progress=hooks.on_progress, on_skip=hooks.on_skip)


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


def _day(value: datetime | None) -> date | None:
    return value.date() if value else None


@ingest_app.command("arxiv")
def ingest_arxiv(
    category: Annotated[str, typer.Option(help="arXiv category, e.g. cs.CL.")],
    date_from: Annotated[
        datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First submission day.")
    ],
    date_until: Annotated[
        datetime | None,
        typer.Option("--until", formats=["%Y-%m-%d"], help="Last day (default: --from)."),
    ] = None,
    max_results: Annotated[int | None, typer.Option("--max", help="Stop after N papers.")] = None,
) -> None:
    """The arXiv API: papers submitted to a category between two days."""
    start = date_from.date()
    end = _day(date_until) or start
    if end < start:
        raise typer.BadParameter("--until is before --from")
    run_ingest(
        lambda settings: fetch_category(settings, category, start, end, max_results=max_results),
        total=max_results,
        label=f"arxiv {category}",
    )


@ingest_app.command("oai")
def ingest_oai(
    set_spec: Annotated[
        str | None, typer.Option("--set", help="OAI set, e.g. cs (default: everything).")
    ] = None,
    date_from: Annotated[
        datetime | None,
        typer.Option(
            "--from",
            formats=["%Y-%m-%d"],
            help="Records changed on or after this day (default: where the last harvest stopped).",
        ),
    ] = None,
    date_until: Annotated[
        datetime | None,
        typer.Option("--until", formats=["%Y-%m-%d"], help="Records changed up to this day."),
    ] = None,
    metadata_prefix: Annotated[
        str, typer.Option("--format", help="arXivRaw (versions, withdrawals) or arXiv.")
    ] = "arXivRaw",
) -> None:
    """arXiv OAI-PMH: incremental harvest of new and changed papers."""

    def on_start(resumed_from: str | None) -> None:
        if resumed_from:
            console.print(f"continuing the last harvest: from {resumed_from}")
        else:
            console.print("no earlier harvest recorded: harvesting the whole set")

    with open_app() as paperfeed:
        try:
            OAIHarvest(paperfeed.settings, set_spec, None, None, metadata_prefix)  # the args
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        with ingest_progress(f"oai {set_spec or 'all'}") as hooks:
            report = services.harvest(
                paperfeed,
                set_spec,
                date_from=_day(date_from),
                date_until=_day(date_until),
                metadata_prefix=metadata_prefix,
                on_start=on_start,
                on_progress=hooks.on_progress,
                on_skip=hooks.on_skip,
            )
        if report.next_from:
            console.print(f"next harvest starts from {report.next_from}")


@ingest_app.command("snapshot")
def ingest_snapshot(
    file: Annotated[Path, typer.Argument(help="arxiv-metadata-oai-snapshot.json (plain or .gz).")],
    category: Annotated[
        str | None, typer.Option(help="Only papers with a category under this, e.g. cs or cs.CL.")
    ] = None,
    limit: LimitOpt = None,
) -> None:
    """The arXiv bulk metadata snapshot (Kaggle/Cornell JSON lines), streamed."""
    run_ingest(
        _limited(read_snapshot(file, category=category), limit), total=limit, label="snapshot"
    )


@ingest_app.command("hf-daily")
def ingest_hf_daily(
    day: Annotated[
        datetime, typer.Option("--date", formats=["%Y-%m-%d"], help="The daily list's day.")
    ],
    last: Annotated[
        datetime | None,
        typer.Option("--to", formats=["%Y-%m-%d"], help="Last day of a range (inclusive)."),
    ] = None,
) -> None:
    """Hugging Face daily papers: upvotes, submitter and the featured date."""
    first = day.date()
    end = _day(last) or first
    if end < first:
        raise typer.BadParameter("--to is before --date")
    run_ingest(lambda settings: fetch_days(settings, first, end), label="hf daily")
