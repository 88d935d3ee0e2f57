"""Store what sources yield: batched, transactional, idempotent.

Each batch is one transaction, so a crash (even kill -9) leaves every batch
either fully stored or not at all; re-running the same input skips what is
already there (content hashes) and completes the rest with no duplicates.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import Connection

from paperfeed.db import Database
from paperfeed.db import papers as paper_store
from paperfeed.db.locks import paper_write_lock
from paperfeed.db.postings import defer_postings, estimated_papers, rebuild_postings
from paperfeed.ingest.http import FetchError
from paperfeed.models import Paper, Skipped, SourceFormatError, is_arxiv_id, normalize_title
from paperfeed.tuning import IngestTuning


@dataclass
class IngestReport:
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    # Papers named twice in one input (one batch): the later record is kept.
    duplicates: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.read / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        """Every record read, accounted for: new + updated + unchanged +
        duplicates + skipped = read."""
        return (
            f"{self.read + len(self.skipped)} read: {self.inserted} new, "
            f"{self.updated} updated, {self.unchanged} unchanged, "
            f"{self.duplicates} duplicates within the input, {len(self.skipped)} skipped "
            f"in {self.seconds:.1f}s ({self.rate:,.0f} papers/s)"
        )


def resolve_duplicates(conn: Connection, batch: list[Paper]) -> list[tuple[str, str]]:
    """Find papers stored under another id with the same title.

    A paper with no arXiv id takes the id of its stored twin. A paper with an
    arXiv id whose twin is a slug paper (from an HF page) replaces it: the
    (slug, arxiv id) pairs are returned, to merge once the batch is stored.
    """
    keys = {normalize_title(p.title): p for p in batch}
    known = paper_store.find_by_title_key(conn, list(keys))
    slugs_to_merge: list[tuple[str, str]] = []
    for key, paper in keys.items():
        stored_id = known.get(key)
        if stored_id is None or stored_id == paper.id:
            continue
        if not paper.has_arxiv_id:
            paper.id = stored_id  # same paper, seen before under another id
        elif not is_arxiv_id(stored_id):
            slugs_to_merge.append((stored_id, paper.id))
    return slugs_to_merge


ProgressCallback = Callable[[IngestReport], None]
# Runs in each batch's transaction once its papers are stored (ids resolved):
# what a service derives from papers (code links) commits with them.
BatchHook = Callable[[Connection, list[Paper]], object]


def ingest(
    db: Database,
    records: Iterable[Paper | Skipped],
    *,
    tuning: IngestTuning = IngestTuning(),
    on_progress: ProgressCallback | None = None,
    on_skip: Callable[[Skipped], None] | None = None,
    on_batch: BatchHook | None = None,
) -> IngestReport:
    """Store ``records``. Raises SourceFormatError, with nothing written, when
    the input is not in its claimed format: the source says so on its first
    record, or the whole first batch is unusable."""
    report = IngestReport()
    started = time.perf_counter()
    batch: list[Paper] = []
    first_batch = True
    deferred = False  # a batch deferred the posting table: rebuild it at the end
    defer_after: int | None = None  # papers stored before deferring, once looked up

    def flush() -> None:
        nonlocal first_batch, deferred, defer_after
        if first_batch and not batch and report.skipped:
            raise SourceFormatError(
                f"no usable record in the first {len(report.skipped)}; "
                f"first problem: {report.skipped[0]}"
            )
        first_batch = False
        if batch:
            with db.begin() as conn:
                paper_write_lock(conn)
                if report.read > tuning.defer_postings_after:
                    if defer_after is None:
                        defer_after = max(tuning.defer_postings_after, estimated_papers(conn) // 3)
                    if report.read > defer_after:
                        defer_postings(conn)
                        deferred = True
                slugs_to_merge = resolve_duplicates(conn, batch)
                counts = paper_store.upsert_papers(conn, batch)
                for slug, arxiv_id in slugs_to_merge:
                    paper_store.merge_slug_into(conn, slug, arxiv_id)
                if on_batch is not None:
                    # Unchanged papers have the text they had: only a source's
                    # own link fields (HF's stars move) are worth another look.
                    same = counts.unchanged_ids
                    on_batch(
                        conn,
                        [p for p in batch if p.id not in same or p.github_repo or p.project_page],
                    )
            report.inserted += counts.inserted
            report.updated += counts.updated
            report.unchanged += counts.unchanged
            report.duplicates += counts.duplicates
            batch.clear()
        report.seconds = time.perf_counter() - started
        if on_progress:
            on_progress(report)

    try:
        for record in records:
            if isinstance(record, Skipped):
                report.skipped.append(record)
                if on_skip:
                    on_skip(record)
                continue
            report.read += 1
            batch.append(record)
            if len(batch) >= tuning.batch_size:
                flush()
        flush()
    except FetchError:
        # A network source gave up midway: what it fetched is complete and
        # worth keeping (unlike a file in the wrong format, which writes nothing).
        if batch:
            flush()
        raise
    finally:
        # Also after an error: what was stored is searchable at its best again.
        if deferred:
            rebuild_postings(db)
    if not deferred:
        # A run killed outright left the table marked stale (searches skip it,
        # ranking by rare terms): the next run, of any size, rebuilds it, as
        # `paperfeed reindex` does. Not stale: one look at the mark.
        rebuild_postings(db)
    report.seconds = time.perf_counter() - started
    return report
