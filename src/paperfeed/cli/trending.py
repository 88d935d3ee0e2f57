"""``paperfeed trending``: the same lists as the web pages and /api/daily_papers."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from paperfeed import trending
from paperfeed.cli.app import app, console, open_app
from paperfeed.services import listings
from paperfeed.trending import Period, PeriodError


@app.command("trending")
def trending_command(
    date: Annotated[str | None, typer.Option(help="A day, YYYY-MM-DD.")] = None,
    week: Annotated[str | None, typer.Option(help="An ISO week, YYYY-Www.")] = None,
    month: Annotated[str | None, typer.Option(help="A month, YYYY-MM.")] = None,
    sort: Annotated[
        str, typer.Option(help="trending, newest, discussed or code (trending by code).")
    ] = "trending",
    limit: Annotated[int, typer.Option(help="How many papers (1-100).")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
) -> None:
    """A day's, week's or month's papers by trending score (default: the latest
    day that has papers)."""
    paperfeed = open_app()
    given = [(k, v) for k, v in (("day", date), ("week", week), ("month", month)) if v]
    if len(given) > 1:
        console.print("[red]error:[/] give at most one of --date, --week and --month")
        raise typer.Exit(2)
    try:
        period: Period | None = None
        if given:
            period = trending.parse_period(given[0][0], given[0][1])  # type: ignore[arg-type]
        found = listings.list_papers(paperfeed, period, latest=not given, sort=sort, limit=limit)
    except (PeriodError, ValueError) as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    period, listing = found.period, found.page
    if period is None or listing is None:
        console.print("No papers yet: ingest some with `paperfeed ingest`.")
        return
    if as_json:
        for rank, paper in enumerate(listing.papers, 1):
            fields = ("id", "title", "upvotes", "trending_score", "listing_date", "featured")
            row = {"rank": rank, **{k: paper[k] for k in fields}}
            typer.echo(json.dumps(row, default=str, ensure_ascii=False))
        return
    table = Table(title=f"{period.title} · {listing.sort} · {listing.total} papers")
    for column in ("#", "id", "upvotes", "score", "title"):
        table.add_column(column, overflow="fold")
    for rank, paper in enumerate(listing.papers, 1):
        mark = " ★" if paper["featured"] else ""
        table.add_row(
            str(rank),
            paper["id"],
            str(paper["upvotes"]),
            f"{paper['trending_score']:.3g}",
            paper["title"] + mark,
        )
    console.print(table)
