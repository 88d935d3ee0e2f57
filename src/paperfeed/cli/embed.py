"""``paperfeed embed``, ``paperfeed reindex`` and ``paperfeed similar``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from paperfeed.cli.app import app, console, open_app
from paperfeed.config import Settings
from paperfeed.index.embedder import EmbedderUnavailable, get_embedder
from paperfeed.index.embedding import embed_pending, reindex
from paperfeed.services.authors import link_pending


def _with_progress(label: str, work: Callable[[Callable[[int, int], None]], int]) -> int:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task(label, total=None, rate="")
        started = time.perf_counter()

        def on_progress(done: int, total: int) -> None:
            rate = done / max(time.perf_counter() - started, 1e-9)
            bar.update(task, completed=done, total=total, rate=f"{rate:,.1f} papers/s")

        return work(on_progress)


def _load_embedder(settings: Settings) -> None:
    try:
        get_embedder(settings)
    except EmbedderUnavailable as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc


@app.command()
def embed(
    limit: Annotated[int | None, typer.Option(help="Stop after this many papers.")] = None,
    watch: Annotated[
        bool, typer.Option(help="Keep running, embedding papers as they are ingested.")
    ] = False,
    interval: Annotated[float, typer.Option(help="Seconds between looks with --watch.")] = 10.0,
) -> None:
    """Embed papers that have no vector (or a stale one) for the configured model."""
    paperfeed = open_app()
    settings, db, indexes = paperfeed.settings, paperfeed.db, paperfeed.indexes
    _load_embedder(settings)
    while True:
        count = _with_progress(
            "embed", lambda cb: embed_pending(db, settings, limit=limit, progress=cb)
        )
        linked = link_pending(paperfeed)
        if linked.papers:
            console.print(f"linked {linked.papers} papers to their authors and organizations")
        if count or not watch:
            index = indexes.refresh_vectors()
            console.print(
                f"embedded {count} papers with {get_embedder(settings).model_id}; "
                f"vector index holds {len(index)}"
            )
        if not watch:
            return
        try:
            time.sleep(interval)
        except KeyboardInterrupt:
            return


@app.command("reindex")
def reindex_command(
    lexical: Annotated[bool, typer.Option(help="Rebuild the keyword (BM25) index.")] = True,
    vectors: Annotated[bool, typer.Option(help="Re-embed and rebuild the vector index.")] = True,
) -> None:
    """Re-embed every paper with the configured model and rebuild the vector index."""
    paperfeed = open_app()
    settings, db, indexes = paperfeed.settings, paperfeed.db, paperfeed.indexes
    if lexical:
        console.print(f"keyword index rebuilt: {indexes.rebuild_lexical():,} papers")
    if not vectors:
        return
    _load_embedder(settings)
    count = _with_progress("reindex", lambda cb: reindex(db, settings, progress=cb))
    index = indexes.refresh_vectors()
    console.print(f"re-embedded {count} papers; vector index holds {len(index)}")


@app.command()
def similar(
    paper_id: str,
    k: Annotated[int, typer.Option("-k", help="How many papers.")] = 10,
) -> None:
    """Papers similar to one paper, as JSON lines (id, score, title)."""
    from paperfeed.services import search as search_service

    paperfeed = open_app()
    if not search_service.paper_exists(paperfeed, paper_id):
        console.print(f"[red]error:[/] no paper {paper_id!r}")
        raise typer.Exit(1)
    _load_embedder(paperfeed.settings)
    for row in search_service.similar(paperfeed, paper_id, k):
        score = round(row["similarity"], 4)
        typer.echo(json.dumps({"id": row["id"], "score": score, "title": row["title"]}))
