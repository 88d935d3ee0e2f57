"""Storing papers, whatever asked: the CLI, a job, a reader's submission.

- ``store``: the ingest pipeline, then the keyword index synced after every
  committed batch, so each batch is searchable at once on every path.
- ``harvest``: an incremental OAI-PMH harvest with the one watermark rule.
- ``submit``: a reader's arXiv submission, fetched, stored and listed today.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from paperfeed import metrics, readers
from paperfeed.app import Paperfeed
from paperfeed.db import papers as paper_store
from paperfeed.db.meta import get_meta, set_meta
from paperfeed.ingest import arxiv_api
from paperfeed.ingest.http import FetchError
from paperfeed.ingest.oai_pmh import OAIHarvest
from paperfeed.ingest.pipeline import IngestReport, ingest
from paperfeed.models import Paper, Skipped
from paperfeed.services import authors, code_links


def store(
    app: Paperfeed,
    records: Iterable[Paper | Skipped],
    *,
    batch_size: int | None = None,
    on_progress: Callable[[IngestReport], None] | None = None,
    on_skip: Callable[[Skipped], None] | None = None,
) -> IngestReport:
    """Store ``records`` (see ingest.pipeline.ingest for the guarantees) in
    batches of ``batch_size`` (default: the tuning's); each committed batch
    becomes keyword-searchable before the next is read."""

    def after_batch(report: IngestReport) -> None:
        # The tantivy sidecar follows the outbox; on PostgreSQL this drains it.
        app.indexes.lexical.sync(app.db)
        if on_progress is not None:
            on_progress(report)

    report = ingest(
        app.db,
        records,
        tuning=replace(app.tuning.ingest, batch_size=batch_size or app.tuning.ingest.batch_size),
        on_progress=after_batch,
        on_skip=on_skip,
        on_batch=code_links.record,
    )
    # Authors and organizations of what was stored, at once when it is a
    # few (a submission, a day's fetch); a bulk ingest leaves them to the
    # embed job (serve's background job, `paperfeed embed`), so ingest keeps
    # its rate (docs/benchmarks.md, issue 24).
    stored = report.inserted + report.updated
    if 0 < stored <= app.tuning.ingest.link_inline_max:
        authors.link_pending(app, limit=stored)
    for outcome in ("inserted", "updated", "unchanged", "duplicates"):
        metrics.PAPERS_INGESTED.labels(outcome).inc(getattr(report, outcome))
    metrics.PAPERS_INGESTED.labels("skipped").inc(len(report.skipped))
    return report


@dataclass
class HarvestReport:
    ingest: IngestReport
    resumed_from: str | None  # the stored watermark the harvest started at, if any
    next_from: str | None  # where the next harvest starts (None: unchanged)


def harvest(
    app: Paperfeed,
    set_spec: str | None,
    *,
    date_from: date | None = None,
    date_until: date | None = None,
    metadata_prefix: str = "arXivRaw",
    on_start: Callable[[str | None], None] | None = None,
    on_progress: Callable[[IngestReport], None] | None = None,
    on_skip: Callable[[Skipped], None] | None = None,
) -> HarvestReport:
    """Harvest arXiv OAI-PMH from ``date_from`` or, without it, from where the
    last harvest of this set stopped (``on_start`` hears which watermark).

    The watermark moves only after the papers are stored, so a harvest killed
    part-way is redone from the same day (upserts make the overlap free), and
    only forward: a backfill of an older range must not send the next run back
    in time. Raises ValueError for a bad set or format, FetchError when arXiv fails.
    """
    run = OAIHarvest(app.settings, set_spec, date_from, date_until, metadata_prefix)
    resumed_from = None
    if run.date_from is None:
        with app.db.connect() as conn:
            resumed_from = get_meta(conn, run.watermark_key)
        if resumed_from:
            run.date_from = date.fromisoformat(resumed_from)
        if on_start is not None:
            on_start(resumed_from)
    report = store(app, run.records(), on_progress=on_progress, on_skip=on_skip)
    moved_to = None
    if run.next_from is not None:
        mark = run.next_from.isoformat()
        with app.db.begin() as conn:
            stored = get_meta(conn, run.watermark_key)
            if stored is None or stored < mark:
                set_meta(conn, run.watermark_key, mark)
                moved_to = mark
    return HarvestReport(report, resumed_from, moved_to)


def submit(
    app: Paperfeed, reader: readers.Reader, text: str, now: datetime | None = None
) -> readers.SubmissionResult:
    """Fetch an arXiv paper through the arXiv ingester and list it on the day it
    is submitted. Only papers published within settings.submission_max_age_days."""
    settings = app.settings
    now = now or readers.utcnow()
    arxiv_id = readers.parse_arxiv_id(text)
    try:
        fetched = [p for p in arxiv_api.fetch_by_ids(settings, [arxiv_id]) if p.id == arxiv_id]
    except FetchError as exc:
        raise readers.SourceUnavailable(
            f"Could not fetch arXiv {arxiv_id} right now ({exc.reason}); try again later."
        ) from exc
    if not fetched:
        raise readers.NotFound(f"arXiv has no paper {arxiv_id}")
    paper = fetched[0]
    max_age = settings.submission_max_age_days
    published = paper.published
    if published is not None and published.tzinfo is None:
        published = published.replace(tzinfo=UTC)
    if published is None or now - published > timedelta(days=max_age):
        when = published.date().isoformat() if published else "an unknown date"
        raise readers.ReaderError(
            f"arXiv {arxiv_id} was published on {when}; only papers published in the "
            f"last {max_age} days can be submitted."
        )
    with app.db.connect() as conn:
        existed = bool(paper_store.get_papers(conn, [arxiv_id]))
    store(app, [paper])
    return readers.record_submission(app.db, reader, arxiv_id, now, new=not existed)
