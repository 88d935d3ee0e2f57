"""``paperfeed search QUERY`` and ``paperfeed eval DATASET_DIR``."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from paperfeed.cli.app import app, console, open_app
from paperfeed.config import get_settings
from paperfeed.query import QueryError
from paperfeed.search import MODES, SORTS, SearchRequest
from paperfeed.services import search as search_service


def _parse_day(value: str | None, option: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{option} must be a date YYYY-MM-DD, not {value!r}") from exc


_TAGS = re.compile(r"</?b>")


@app.command("search")
def search_command(
    query: Annotated[str, typer.Argument(help="Query, e.g. 'title:diffusion \"video\" -audio'.")],
    category: Annotated[
        list[str] | None, typer.Option("--category", "-c", help="Category (repeatable: any).")
    ] = None,
    author: Annotated[
        list[str] | None, typer.Option("--author", "-a", help="Author name (repeatable: all).")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Listed on or after YYYY-MM-DD.")] = None,
    until: Annotated[str | None, typer.Option(help="Listed on or before YYYY-MM-DD.")] = None,
    sort: Annotated[str, typer.Option(help=f"One of {', '.join(SORTS)}.")] = "relevance",
    mode: Annotated[str, typer.Option(help=f"One of {', '.join(MODES)}.")] = "hybrid",
    page: Annotated[int, typer.Option(help="Page number, from 1.")] = 1,
    per_page: Annotated[int, typer.Option(help="Results per page.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (the API's shape).")] = False,
) -> None:
    """Search papers: the same search as the web page and GET /api/search."""
    paperfeed = open_app()
    request = SearchRequest(
        query=query,
        categories=tuple(category or ()),
        authors=tuple(author or ()),
        since=_parse_day(since, "--since"),
        until=_parse_day(until, "--until"),
        sort=sort,
        mode=mode,
        page=page,
        per_page=per_page,
    )
    try:
        results = search_service.search(paperfeed, request)
    except QueryError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(results.as_json(), indent=2, ensure_ascii=False))
        return
    for note in results.notes:
        console.print(f"[yellow]note:[/] {note}")
    console.print(
        f"{results.total:,} results ({results.mode}), page {request.page} of {results.pages}"
    )
    for n, hit in enumerate(results.hits, start=(request.page - 1) * request.per_page + 1):
        listed = hit.listing_date.isoformat() if hit.listing_date else "—"
        typer.echo(f"{n:>4}. [{hit.id}] {hit.title}")
        typer.echo(f"      {', '.join(hit.authors[:4])} · {listed} · score {hit.score:.3f}")
        snippet = _TAGS.sub("", hit.snippet)
        for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&#x27;", "'")):
            snippet = snippet.replace(entity, char)
        typer.echo(f"      {snippet.replace('&amp;', '&')}")


@app.command("eval")
def eval_command(
    dataset: Annotated[
        Path, typer.Argument(help="BEIR dataset directory (corpus.jsonl, queries.jsonl, qrels/).")
    ],
    split: Annotated[
        str | None, typer.Option(help="qrels/SPLIT.tsv; default: test, else the only one.")
    ] = None,
    dense: Annotated[bool, typer.Option(help="Also evaluate dense and hybrid.")] = True,
    tune: Annotated[
        bool, typer.Option(help="Also grid-search fusion weights, cross-validated on halves.")
    ] = False,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Keep corpus embeddings here between runs.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """nDCG@10, Recall@100 and MRR@10 of lexical, dense and hybrid search on a
    BEIR dataset, in a temporary index (the reader's database is not touched)."""
    from paperfeed.evaluate import EvalError, load_beir, print_report, run_eval

    settings = get_settings()
    try:
        data = load_beir(dataset, split)
    except EvalError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    report = run_eval(data, settings, dense=dense, tune=tune, console=console, cache_dir=cache_dir)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        print_report(report)
