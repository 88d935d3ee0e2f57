"""General commands: stats, show, serve."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from paperfeed.cli.app import app, console, open_app
from paperfeed.services import papers

# How long `serve` lets a web worker go without answering the supervisor's
# health ping before replacing it (uvicorn's timeout_worker_healthcheck).
WORKER_HEALTHCHECK_SECONDS = 60


@app.command()
def stats() -> None:
    """Counts of what is stored."""
    data = papers.stats(open_app())
    typer.echo(json.dumps(data, indent=2, default=str))


@app.command()
def show(paper_id: str) -> None:
    """One paper, as JSON."""
    paper = papers.get_paper(open_app(), paper_id)
    if paper is None:
        console.print(f"[red]error:[/] no paper {paper_id!r}")
        raise typer.Exit(1)
    typer.echo(json.dumps(paper, indent=2, default=str, ensure_ascii=False))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(help="Worker processes (stateless: sessions are signed cookies).")
    ] = 1,
) -> None:
    """Serve the web UI and JSON API."""
    import os
    import tempfile

    import uvicorn

    from paperfeed import jobs
    from paperfeed.app import Paperfeed
    from paperfeed.config import get_settings, served_base_url
    from paperfeed.metrics import MULTIPROC_ENV
    from paperfeed.web.app import create_served_app

    settings = get_settings()
    if "base_url" not in settings.model_fields_set:
        # Links in mail and feeds point at this server; workers read their
        # settings from the environment, so it goes there too.
        settings.base_url = os.environ["PAPERFEED_BASE_URL"] = served_base_url(host, port)
    proxies = [p.strip() for p in settings.trusted_proxies.split(",") if p.strip()]
    try:
        mode = settings.deployment_mode()  # before anything opens: a bad combination is named
        paperfeed = Paperfeed(settings)  # migrate once, before the workers start
        background = jobs.background_jobs(paperfeed)
    except ValueError as exc:  # ConfigError included
        console.print(f"[red]error:[/] settings: {exc}")
        raise typer.Exit(2) from exc
    # One scheduler in this process, however many web workers there are: with
    # --workers 1 the server runs here too, on this same application object, so
    # the embed job syncs the very vector index that searches use; other
    # workers' indexes catch up from the table on their own, on a background
    # thread (FaissIndex.sync_if_due).
    scheduler = jobs.Scheduler(paperfeed, background)
    scheduler.start()
    settings.secret()  # create the key file once, so every worker signs with the same key
    if workers > 1 and not os.environ.get(MULTIPROC_ENV):
        # Each worker keeps its metrics in files here; /metrics merges them.
        os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="paperfeed-metrics-")
    console.print(
        f"Paperfeed on http://{host}:{port}/ with {workers} worker(s), {mode} mode "
        f"(database {make_url(settings.database_url_resolved).render_as_string()}; "
        f"links in mail use {settings.base_url})"
    )
    if settings.outbox_dir is not None:
        console.print(
            f"No SMTP server configured (PAPERFEED_SMTP_HOST): mail is written to "
            f"{settings.outbox_dir} as .eml files, and each link is logged."
        )
    try:
        uvicorn.run(
            create_served_app(paperfeed) if workers == 1 else "paperfeed.web.app:create_served_app",
            factory=workers > 1,
            host=host,
            port=port,
            workers=workers,
            log_config=None,  # our JSON logs (paperfeed.logs), not uvicorn's format
            access_log=False,  # paperfeed.access logs each request with its id
            # uvicorn kills a worker that does not answer its health ping in time
            # (5 s by default) and starts another; on a busy machine a worker still
            # importing the app takes longer than that, so the default restarted
            # workers forever and the server never served (seen at load ~20 on 2 cores).
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
            # uvicorn believes X-Forwarded-For from 127.0.0.1 unless told
            # otherwise, which let any local client choose the address its
            # sign-in limit counts against: only configured proxies are believed.
            proxy_headers=bool(proxies),
            forwarded_allow_ips=proxies or None,
        )
    finally:
        scheduler.stop()  # after the server: running jobs end at a safe point
