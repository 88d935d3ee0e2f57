"""``paperfeed summarize``: machine summaries through an OpenAI-compatible endpoint."""

from __future__ import annotations

from typing import Annotated

import typer

from paperfeed.cli.app import app, console, open_app
from paperfeed.services import summaries


@app.command()
def summarize(
    limit: Annotated[int | None, typer.Option(help="Stop after this many summaries.")] = None,
) -> None:
    """Summarize new paper versions with the configured model, under the daily
    cap (PAPERFEED_SUMMARIES_URL, _MODEL, _API_KEY, _DAILY_CAP; docs/summaries.md)."""
    if limit is not None and limit < 1:
        console.print("[red]error:[/] --limit must be at least 1")
        raise typer.Exit(2)
    paperfeed = open_app()
    if not summaries.enabled(paperfeed):
        console.print(
            "[red]error:[/] summaries are off: set PAPERFEED_SUMMARIES_URL and "
            "PAPERFEED_SUMMARIES_MODEL"
        )
        raise typer.Exit(2)
    run = summaries.summarize_pending(paperfeed, limit=limit)
    cap = paperfeed.settings.summaries_daily_cap
    console.print(
        f"{run.made} summar{'y' if run.made == 1 else 'ies'} made; "
        f"{run.requests_today} of {cap} requests used today"
    )
    if run.capped:
        console.print("stopped: the daily cap is used up")
    if run.error:
        console.print("[red]error:[/] the endpoint failed:")
        console.print(run.error, markup=False, highlight=False)
        raise typer.Exit(1)
