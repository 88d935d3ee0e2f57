"""``paperfeed digest``: send due digests (for cron), preview one, subscribe."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from paperfeed.cli.app import app, console, open_app
from paperfeed.digest import runner
from paperfeed.digest import subscriptions as subs
from paperfeed.digest.mailer import MailerError
from paperfeed.digest.schedule import parse_period
from paperfeed.services import digests

digest_app = typer.Typer(help="Email digests.", no_args_is_help=True)
app.add_typer(digest_app, name="digest")


def _parse_periods(periods: list[str] | None) -> list[str] | None:
    for p in periods or []:
        try:
            parse_period(p)
        except ValueError as exc:
            console.print(f"[red]error:[/] --period: {exc}")
            raise typer.Exit(2) from exc
    return periods or None


@digest_app.command("send")
def send(
    period: Annotated[
        list[str] | None,
        typer.Option("--period", help="Period key: YYYY-MM-DD (daily) or YYYY-Www (weekly)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="Compose and count; claim and send nothing.")
    ] = False,
    today: Annotated[
        str | None, typer.Option(help="Act as if today were this date (YYYY-MM-DD).")
    ] = None,
) -> None:
    """Send every due digest, and any left pending by an earlier run. Safe to
    run as often as you like: each digest is claimed once."""
    paperfeed = open_app()
    settings, db = paperfeed.settings, paperfeed.db
    try:
        day = date.fromisoformat(today) if today else None
    except ValueError as exc:
        console.print(f"[red]error:[/] --today: not a date: {today!r}")
        raise typer.Exit(2) from exc
    try:
        report = runner.run(
            settings,
            db,
            periods=_parse_periods(period),
            today=day,
            dry_run=dry_run,
            indexes=paperfeed.indexes,
        )
    except runner.SenderBusy as exc:
        console.print(f"[yellow]{exc}[/]")
        raise typer.Exit(3) from exc
    except MailerError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    finally:
        db.dispose()
    typer.echo(report.summary())
    if dry_run:
        for preview in report.previews:
            typer.echo(f"  {preview['email']}: {preview['papers']} papers")


@digest_app.command("preview")
def preview(
    email: str,
    out: Annotated[Path, typer.Option("--out", help="Write the HTML here.")] = Path(
        "digest-preview.html"
    ),
    period: Annotated[str | None, typer.Option(help="Period key (default: today's).")] = None,
    text: Annotated[bool, typer.Option(help="Write the plain-text part instead.")] = False,
) -> None:
    """Render the digest EMAIL would get, without claiming or sending it."""
    try:
        chosen = parse_period(period) if period else None
    except ValueError as exc:
        console.print(f"[red]error:[/] --period: {exc}")
        raise typer.Exit(2) from exc
    try:
        found = digests.preview(open_app(), email, chosen)
    except LookupError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    out.write_text(found.text if text else found.html, encoding="utf-8")
    console.print(f"{found.papers} papers for {found.email} ({found.period.slug}) written to {out}")


@digest_app.command("subscribe")
def subscribe(
    email: str,
    frequency: Annotated[str, typer.Option(help="daily or weekly.")] = "daily",
) -> None:
    """Subscribe an address; it gets a confirmation email (double opt-in)."""
    paperfeed = open_app()
    settings, db = paperfeed.settings, paperfeed.db
    try:
        sub = subs.subscribe(settings, db, email, preferences={"frequency": frequency})
    except subs.SubscriptionError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    typer.echo(f"{sub['email']}: {subs.public_view(sub)['state']}")
