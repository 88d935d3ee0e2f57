"""``paperfeed code``: papers' code links and their repositories' GitHub stars."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from paperfeed.cli.app import app, console, open_app
from paperfeed.services import code_links, github_stars

code_app = typer.Typer(help="Code links and GitHub stars.", no_args_is_help=True)
app.add_typer(code_app, name="code")


@code_app.command("refresh")
def refresh(
    limit: Annotated[
        int | None,
        typer.Option(
            help="Ask about at most this many repositories (default: github_refresh_batch)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
) -> None:
    """Refresh the GitHub stars of repositories that are due (never checked,
    then the oldest check). Stops at GitHub's rate limit and resumes after its
    reset; safe to run as often as you like (cron or the serve job)."""
    paperfeed = open_app()
    report = github_stars.refresh(paperfeed, limit=limit)
    if as_json:
        typer.echo(json.dumps(report.as_dict()))
    else:
        console.print(report.summary())
    if report.stopped and report.resume_at is None and report.checked == 0 and report.due:
        raise typer.Exit(1)  # GitHub failed (not a rate limit): say so to cron


@code_app.command("extract")
def extract() -> None:
    """Find the code and project links of every stored paper (ingest does this
    for new papers; run it once after upgrading). Keeps links already found."""
    paperfeed = open_app()
    report = code_links.backfill(paperfeed)
    console.print(f"{report.papers} papers read, {report.links} new links")


@code_app.command("stats")
def stats() -> None:
    """How many papers link to code, and the repositories' states."""
    paperfeed = open_app()
    figures = code_links.stats(paperfeed)
    resume = github_stars.resume_at(paperfeed)
    for key, value in figures.items():
        typer.echo(f"{key}: {value}")
    if resume is not None:
        typer.echo(f"rate limited until: {resume.isoformat()}")
