"""``paperfeed recommend`` and ``paperfeed eval-feed``."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from paperfeed.cli.app import app, console, open_app
from paperfeed.config import get_settings


def _date(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        console.print(f"[red]error:[/] {name}: not a date (YYYY-MM-DD): {value!r}")
        raise typer.Exit(2) from exc


@app.command()
def recommend(
    positive: Annotated[
        list[str] | None, typer.Option("--positive", "-p", help="A paper you like (repeat).")
    ] = None,
    negative: Annotated[
        list[str] | None, typer.Option("--negative", "-n", help="A paper you don't (repeat).")
    ] = None,
    since: Annotated[str | None, typer.Option(help="First listing date, inclusive.")] = None,
    until: Annotated[str | None, typer.Option(help="Last listing date, inclusive.")] = None,
    category: Annotated[
        list[str] | None, typer.Option("--category", "-c", help="Only these categories.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Rank papers listed between SINCE and UNTIL for the given positive papers."""
    from paperfeed import recommend as core

    paperfeed = open_app()
    try:
        picks = core.recommend(
            paperfeed.recommender,
            positive_ids=positive or [],
            negative_ids=negative or [],
            since=_date(since, "--since"),
            until=_date(until, "--until"),
            categories=category or None,
            limit=limit,
        )
    except core.RecommendError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    finally:
        paperfeed.close()
    if as_json:
        typer.echo(json.dumps({"papers": [p.as_json() for p in picks]}, ensure_ascii=False))
        return
    for i, pick in enumerate(picks, start=1):
        typer.echo(f"{i:3d}. {pick.score:8.3f}  {pick.paper_id}  {pick.title}")
        typer.echo(f"     {pick.reason}")


@app.command("eval-feed")
def eval_feed(
    corpus: Annotated[Path, typer.Argument(help="arxiv-cs-2025.jsonl.gz (JSON lines, gzip ok).")],
    setting: Annotated[
        str,
        typer.Option(
            help="'corpus': the whole corpus, in process; 'small': a small instance built "
            "from --since..--until, ranked through its HTTP API; 'month': a month's instance "
            "(--since..--until, default June 2026) with --users readers whose libraries "
            "come from the whole corpus, through its HTTP API (docs/feed-eval.md)."
        ),
    ] = "corpus",
    days: Annotated[int, typer.Option(help="Evaluation days sampled.")] = 30,
    users: Annotated[int, typer.Option(help="User-days sampled.")] = 300,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 13,
    vectors: Annotated[
        Path | None, typer.Option(help="Precomputed corpus vectors (.npy, one row per id).")
    ] = None,
    vector_ids: Annotated[
        Path | None, typer.Option(help="The ids of --vectors, one a line.")
    ] = None,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Where vectors embedded here are kept (default: data dir).")
    ] = None,
    max_tokens: Annotated[
        int, typer.Option(help="corpus: embedder truncation, in tokens (the product's: 256).")
    ] = 256,
    since: Annotated[
        str | None,
        typer.Option(help="small/month: first listing date (2025-09-01 / 2026-06-01)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="small/month: last listing date (2025-10-31 / 2026-06-30)."),
    ] = None,
    instance: Annotated[
        Path | None,
        typer.Option(help="small: the instance's directory (built there once; default: cache)."),
    ] = None,
    library: Annotated[int, typer.Option(help="small: library size (latest papers).")] = 5,
    small_fields: Annotated[
        float, typer.Option(help="small: share of readers outside cs.CV/CL/AI/LG.")
    ] = 0.5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Author-blind researcher-feed benchmark: Recall@10, MRR and nDCG@10 of the
    personal model (and its variants) and of arxiv-sanity-lite's tf-idf SVM, in
    the same run, in all and by library size."""
    from paperfeed import feedeval

    if not corpus.is_file():
        console.print(f"[red]error:[/] no corpus file at {corpus}")
        raise typer.Exit(2)
    windows = {"small": ("2025-09-01", "2025-10-31"), "month": ("2026-06-01", "2026-06-30")}
    if setting not in ("corpus", *windows):
        console.print(f"[red]error:[/] --setting: 'corpus', 'small' or 'month', not {setting!r}")
        raise typer.Exit(2)
    settings = get_settings()
    cache = cache_dir or settings.data_dir / "feed-eval"
    if setting in windows:
        first = _date(since or windows[setting][0], "--since")
        last = _date(until or windows[setting][1], "--until")
        assert first is not None and last is not None  # noqa: S101 (defaults)
        result = feedeval.run_small_instance(
            corpus,
            since=first,
            until=last,
            instance=instance or cache / f"instance-{setting}-{first}-{last}",
            days=days,
            users=users,
            seed=seed,
            library=library,
            small_fields=small_fields,
            month=setting == "month",
            log=lambda text: console.print(text),
        )
    else:
        if (vectors is None) != (vector_ids is None):
            console.print("[red]error:[/] give --vectors and --vector-ids together")
            raise typer.Exit(2)
        result = feedeval.run(
            corpus,
            settings=settings.model_copy(update={"embed_max_tokens": max_tokens}),
            days=days,
            users=users,
            seed=seed,
            vectors=(vectors, vector_ids) if vectors and vector_ids else None,
            cache_dir=cache,
            log=lambda text: console.print(text),
        )
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    typer.echo(
        f"{result['papers']} papers; {result['user_days']} user-days over {result['days']} "
        f"listing days, {result['feed_size']:.0f} papers per feed on average, "
        f"{result['small_field_readers']} readers from small fields (author-blind)"
    )
    splits = sorted({s for scores in result["rankers"].values() for s in scores})
    for split in splits:
        typer.echo(f"\n{split}")
        typer.echo(f"{'ranker':<40}{'n':>5}{'Recall@10':>10}{'MRR':>8}{'nDCG@10':>9}")
        for name, by_split in result["rankers"].items():
            scores = by_split.get(split)
            if scores:
                typer.echo(
                    f"{name:<40}{scores['user_days']:>5.0f}{scores['recall@10']:>10.4f}"
                    f"{scores['mrr']:>8.4f}{scores['ndcg@10']:>9.4f}"
                )
