"""Operations: background workers, jobs, moving an instance between databases."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from paperfeed.cli.app import app, console, open_app
from paperfeed.config import ConfigError, DeploymentMode

jobs_app = typer.Typer(help="Background jobs.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")


@app.command()
def worker(
    burst: Annotated[bool, typer.Option(help="Exit when the queue is empty.")] = False,
    name: Annotated[str | None, typer.Option(help="Worker name (default: host-pid).")] = None,
) -> None:
    """Run background jobs from the Redis queue (scale mode; needs PAPERFEED_REDIS_URL)."""
    from paperfeed import jobs
    from paperfeed.logs import configure_logging

    paperfeed = open_app()
    settings = paperfeed.settings
    configure_logging(settings.log_level)
    try:
        if settings.deployment_mode() is not DeploymentMode.SCALE:
            raise ConfigError("paperfeed worker needs PAPERFEED_REDIS_URL (scale mode)")
        jobs.periodic_jobs(settings)  # the schedule: schedule[i] names a bad entry
    except ValueError as exc:
        console.print(f"[red]error:[/] settings: {exc}")
        raise typer.Exit(2) from exc
    jobs.run_worker(paperfeed, burst=burst, name=name)


def _parse_args(pairs: list[str]) -> dict[str, object]:
    args: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r}: expected key=value")
        try:
            args[key] = json.loads(value)  # numbers, booleans, lists
        except json.JSONDecodeError:
            args[key] = value
    return args


@jobs_app.command("run")
def jobs_run(
    kind: Annotated[str, typer.Argument(help="Job kind, e.g. ingest.")],
    args: Annotated[list[str] | None, typer.Argument(help="key=value arguments.")] = None,
    wait: Annotated[
        bool, typer.Option(help="Run here and now instead of queueing it (scale mode).")
    ] = False,
) -> None:
    """Queue a job (scale mode) or run it here (embedded mode, or --wait)."""
    from paperfeed import jobs

    paperfeed = open_app()
    settings = paperfeed.settings
    spec = jobs.JobSpec(kind, _parse_args(args or []))
    try:
        jobs.handler_for(kind)
    except jobs.UnknownJob as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    if settings.redis_url and not wait:
        job_id = jobs.RedisRunner(settings).submit(spec)
        console.print(f"queued {spec.kind} as {job_id}")
        return
    result = jobs.execute(paperfeed, spec)
    typer.echo(json.dumps(result, indent=2, default=str))


@jobs_app.command("kinds")
def jobs_kinds() -> None:
    """The job kinds this installation knows."""
    from paperfeed import jobs

    for kind in jobs.known_kinds():
        typer.echo(kind)


@app.command("migrate-data")
def migrate_data(
    source: Annotated[str, typer.Option("--from", help="Source database URL (sqlite:///...).")],
    target: Annotated[
        str, typer.Option("--to", help="Target database URL (postgresql+psycopg://...).")
    ],
    batch_size: Annotated[int, typer.Option(help="Rows per insert batch.")] = 5000,
    wipe_target: Annotated[
        bool, typer.Option(help="Delete the target's rows first (to redo an interrupted copy).")
    ] = False,
) -> None:
    """Copy a whole instance to another database; row counts are checked per table."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Table

    from paperfeed.services import ops

    tasks: dict[str, object] = {}
    with Progress(
        TextColumn("[bold]{task.description:<20}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
    ) as progress:

        def on_progress(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = progress.add_task(table, total=total or 1)
            progress.update(tasks[table], completed=done if total else 1)  # type: ignore[arg-type]

        try:
            counts, filled = ops.copy(
                source,
                target,
                batch_size=batch_size,
                on_progress=on_progress,
                wipe_target=wipe_target,
            )
        except ops.TargetNotEmpty as exc:
            progress.stop()
            console.print(f"[red]error:[/] {exc} (use --wipe-target to replace them)")
            raise typer.Exit(2) from exc
    report = Table("table", "source", "target", "")
    for count in counts:
        report.add_row(
            count.table,
            str(count.source),
            str(count.target),
            "ok" if count.ok else "[red]MISMATCH[/]",
        )
    console.print(report)
    bad = [c.table for c in counts if not c.ok]
    if bad:
        console.print(f"[red]error:[/] row counts differ in: {', '.join(bad)}")
        raise typer.Exit(1)
    console.print(f"copied {sum(c.source for c in counts)} rows in {len(counts)} tables.")
    if filled is not None:
        console.print(f"vector index: {filled} vectors filled and indexed.")
