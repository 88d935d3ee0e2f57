"""Sending digests exactly once, on top of the send log.

A run has two phases, each safe to interrupt anywhere:

1. Claim. For each due subscription: compose the digest and, in ONE
   transaction, insert its send-log row (status "pending", a deterministic
   Message-ID, the frozen content) and its ``sent_papers``. The unique
   (subscription_id, period) key means a period is claimed once, whoever runs.
   A crash before the commit leaves nothing; after it, the digest is promised.
2. Send. For every pending row (this run's and any left by a crashed run):
   count the attempt (commit), hand the message to the SMTP server, and mark
   the row sent (commit) as soon as the server has accepted it. A 5xx marks it
   failed and suppresses the address in one transaction; a 4xx the mailer could
   not get past leaves it pending for the next run.

The guarantee, and its limit: every claimed digest is sent until the server
accepts it, and never re-sent after it is marked sent, so a crash anywhere
outside one window yields exactly one email. That window is between the
server's "250 accepted" reaching us and our "sent" commit: microseconds of
local work and one SQLite/PostgreSQL commit, but a SIGKILL or power cut there
means the re-run sends that one message again. SMTP has no way to ask a
server "did you get message X?", so no client can close that window; what we
do is make the duplicate recognisable: it carries the same Message-ID as the
first copy (which Gmail and many mail stores collapse), and the re-run reports
such "in doubt" rows (attempts > 0, no recorded error) in its summary.

A circuit breaker ends the send phase once
``settings.digest_max_consecutive_deferrals`` digests in a row were deferred
(4xx or dropped after the mailer's retries): a server refusing everything would
otherwise hold the lease for half a minute per recipient. The rows stay
pending, exactly as after any deferral, and the next run sends them.

One sender at a time holds a lease in ``meta`` (renewed as it goes); a second
``paperfeed digest send`` or an embedded scheduler finds it held and stops, so
two processes never work the same pending rows. A holder that died on this
host is detected by its pid and replaced at once; elsewhere, when the lease
expires.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from paperfeed import trending
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import authors as author_store
from paperfeed.db import digests as digest_store
from paperfeed.db import groups as group_store
from paperfeed.digest import compose as composer
from paperfeed.digest import render
from paperfeed.digest.mailer import (
    PERMANENT,
    SENT,
    TRANSIENT,
    BatchMailer,
    MailerError,
    SendResult,
)
from paperfeed.digest.schedule import due_periods, frequency_of, label, parse_period
from paperfeed.index.backends import Indexes, open_indexes
from paperfeed.trending import Period

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
CLAIM_BATCH = 200
SEND_CHUNK = 100


class SenderBusy(RuntimeError):
    """Another process holds the digest sender lock."""


@dataclass
class RunReport:
    periods: list[str] = field(default_factory=list)
    due: int = 0
    claimed: int = 0
    skipped: int = 0
    sent: int = 0
    failed: int = 0  # permanent: address suppressed
    deferred: int = 0  # transient: still pending, next run retries
    in_doubt: int = 0  # pending rows a crashed run had started sending
    stopped: str = ""  # why the send phase ended early (circuit breaker), if it did
    dry_run: bool = False
    previews: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        head = "dry run: " if self.dry_run else ""
        return (
            f"{head}periods {', '.join(self.periods) or '-'}: {self.due} due, "
            f"{self.claimed} claimed, {self.skipped} skipped (nothing new), "
            f"{self.sent} sent, {self.failed} failed (suppressed), "
            f"{self.deferred} deferred, {self.in_doubt} resent after a crash"
            + (f"; {self.stopped}" if self.stopped else "")
        )


def default_personal_picker(
    settings: Settings, db: Database, recommender: Any = None
) -> composer.PersonalPicker | None:
    """Personal picks from the reader's model, if the recommender can run here.
    ``recommender``: the application object's (its features and models are
    reused); a run without one keeps its own for as long as the run."""
    try:
        import sklearn  # noqa: F401  (an optional extra)

        from paperfeed import recommend
    except ImportError:
        return None
    if recommender is None:
        recommender = recommend.Recommender(settings, db)
    picker: composer.PersonalPicker = recommend.digest_picker(recommender)
    return picker


def _periods_for(periods: Sequence[Period | str] | None, today: date) -> list[Period]:
    if not periods:
        return due_periods(today)
    return [p if isinstance(p, Period) else parse_period(p) for p in periods]


def compose_batch(
    db: Database,
    batch: list[dict[str, Any]],
    period_papers: composer.PeriodPapers,
    *,
    search_matches: composer.SearchMatcher,
    personal: composer.PersonalPicker | None,
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Each subscription of ``batch`` with the digest composed for it: what it
    was not sent before, its saved searches' matches, its personal picks."""
    with db.connect() as conn:
        already = digest_store.sent_paper_ids(conn, [s["id"] for s in batch])
        reader_ids = sorted({s["reader_id"] for s in batch if s["reader_id"] is not None})
        searches = digest_store.saved_searches_for(conn, reader_ids)
        start, end = composer.week_ahead(period_papers.period)
        sessions: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in group_store.sessions_between(conn, start, end, reader_ids):
            sessions[row["member_id"]].append(row)
        period = period_papers.period
        followed = author_store.followed_in_period(conn, reader_ids, period.start, period.end)
    return [
        (
            sub,
            composer.compose(
                sub,
                period_papers,
                already_sent=already[sub["id"]],
                saved_searches=searches.get(sub["reader_id"]) if sub["reader_id"] else None,
                search_matches=search_matches,
                personal=personal,
                group_sessions=sessions.get(sub["reader_id"]) if sub["reader_id"] else None,
                followed=followed.get(sub["reader_id"]) if sub["reader_id"] else None,
            ),
        )
        for sub in batch
    ]


def claim_period(
    settings: Settings,
    db: Database,
    period: Period,
    report: RunReport,
    *,
    indexes: Indexes,
    personal: composer.PersonalPicker | None,
    dry_run: bool = False,
    owner: str | None = None,
) -> None:
    with db.connect() as conn:
        due = digest_store.due_subscriptions(conn, frequency_of(period), period.slug)
        if not due:
            return
        period_papers = composer.PeriodPapers.load(
            conn, period, half_life_hours=settings.trending_half_life_hours
        )
    report.due += len(due)
    if not period_papers.papers:
        # Nothing listed (yet) for this period: claim nothing, so a run after the
        # next ingest still sends it.
        return
    search_matches = composer.period_search(indexes, period_papers)
    for start in range(0, len(due), CLAIM_BATCH):
        batch = due[start : start + CLAIM_BATCH]
        # Compose outside the write transaction: personal picks may embed a
        # paper on the spot, which writes on its own connection. Reading what
        # was already sent first is safe: the sender lock means nobody else claims.
        composed = compose_batch(
            db, batch, period_papers, search_matches=search_matches, personal=personal
        )
        if dry_run:
            for sub, content in composed:
                n = len(composer.paper_ids(content))
                report.previews.append({"email": sub["email"], "papers": n})
            continue
        with db.begin() as conn:
            if owner is not None and not digest_store.acquire_lock(conn, owner, LEASE):
                raise SenderBusy("lost the digest sender lock; stopping")  # lease renewed
            for sub, content in composed:
                ids = composer.paper_ids(content)
                if not ids:
                    if digest_store.skip(conn, sub["id"], period.slug, "nothing new to send"):
                        report.skipped += 1
                    continue
                content["label"] = label(period)
                content["frequency"] = frequency_of(period)
                if digest_store.claim(
                    conn,
                    sub["id"],
                    period.slug,
                    message_id=render.message_id_for(settings, sub["id"], period.slug),
                    content=content,
                    paper_ids=ids,
                ):
                    report.claimed += 1


def build_message(
    settings: Settings, row: dict[str, Any], papers: dict[str, dict[str, Any]]
) -> Any:
    content = row["content"] or {}
    period = parse_period(row["period"])
    links = render.links_for(settings, row["subscription_id"], row["period"])
    text, html = render.render_digest(
        settings,
        period_label=content.get("label", label(period)),
        content=content,
        papers=papers,
        links=links,
    )
    return render.digest_message(
        settings,
        to=row["email"],
        subject=render.subject_for(settings, period, content),
        text=text,
        html=html,
        message_id=row["message_id"],
        links=links,
        date=row["created_at"]
        if row["created_at"].tzinfo
        else row["created_at"].replace(tzinfo=UTC),
    )


def send_pending(
    settings: Settings,
    db: Database,
    report: RunReport,
    *,
    owner: str,
    mailer_factory: Callable[[Settings], BatchMailer] = BatchMailer,
) -> None:
    with db.connect() as conn:
        rows = digest_store.pending(conn)
    report.in_doubt += sum(1 for r in rows if r["attempts"] > 0 and r["last_error"] is None)
    if not rows:
        return
    limit = settings.digest_max_consecutive_deferrals
    deferred_in_a_row = 0
    with mailer_factory(settings) as mailer:
        for start in range(0, len(rows), SEND_CHUNK):
            chunk = rows[start : start + SEND_CHUNK]
            with db.begin() as conn:
                if not digest_store.acquire_lock(conn, owner, LEASE):
                    raise SenderBusy("lost the digest sender lock; stopping")
                wanted = {pid for r in chunk for pid in composer.paper_ids(r["content"] or {})}
                papers = trending.paper_rows(conn, sorted(wanted))
            for row in chunk:
                result = _send_one(settings, db, mailer, row, papers, report)
                if result is None:
                    continue  # skipped without asking the server
                deferred_in_a_row = deferred_in_a_row + 1 if result.status == TRANSIENT else 0
                if limit > 0 and deferred_in_a_row >= limit:
                    report.stopped = (
                        f"stopped after {deferred_in_a_row} digests in a row were deferred "
                        f"(last: {result.reason}); the next run sends the pending ones"
                    )
                    log.warning("digest run stopped early: %s", report.stopped)
                    return


def _send_one(
    settings: Settings,
    db: Database,
    mailer: BatchMailer,
    row: dict[str, Any],
    papers: dict[str, dict[str, Any]],
    report: RunReport,
) -> SendResult | None:
    """Send one pending digest and record the outcome; None if it was skipped."""
    if row["unsubscribed_at"] is not None or row["suppressed_at"] is not None:
        with db.begin() as conn:
            digest_store.mark_final(conn, row["id"], "skipped", "unsubscribed before sending")
        return None
    message = build_message(settings, row, papers)
    with db.begin() as conn:
        digest_store.begin_attempt(conn, row["id"])
    result = mailer.send(message)
    with db.begin() as conn:
        if result.status == SENT:
            digest_store.mark_sent(conn, row["id"])
            report.sent += 1
        elif result.status == PERMANENT:
            digest_store.mark_final(conn, row["id"], "failed", result.reason)
            digest_store.suppress(conn, row["subscription_id"], result.reason)
            report.failed += 1
        else:
            digest_store.record_error(conn, row["id"], result.reason or "transient failure")
            report.deferred += 1
    return result


def run(
    settings: Settings,
    db: Database,
    *,
    periods: Sequence[Period | str] | None = None,
    today: date | None = None,
    dry_run: bool = False,
    personal: composer.PersonalPicker | None | str = "default",
    mailer_factory: Callable[[Settings], BatchMailer] = BatchMailer,
    indexes: Indexes | None = None,
) -> RunReport:
    """Claim the due digests of ``periods`` (default: the periods due today)
    and send every pending digest. Raises SenderBusy if another sender runs.
    ``indexes``: the application object's, which saved searches run on (a run
    without one opens the database's own)."""
    if indexes is None:
        indexes = open_indexes(settings, db)
    today = today or datetime.now(UTC).date()
    chosen = _periods_for(periods, today)
    picker = default_personal_picker(settings, db) if personal == "default" else personal
    assert picker is None or callable(picker)
    report = RunReport(periods=[p.slug for p in chosen], dry_run=dry_run)
    if dry_run:
        for period in chosen:
            claim_period(
                settings, db, period, report, indexes=indexes, personal=picker, dry_run=True
            )
        return report
    owner = digest_store.lock_owner()
    with db.begin() as conn:
        if not digest_store.acquire_lock(conn, owner, LEASE):
            holder = digest_store.lock_holder(conn)
            raise SenderBusy(f"another digest sender is running ({holder})")
    try:
        for period in chosen:
            claim_period(
                settings, db, period, report, indexes=indexes, personal=picker, owner=owner
            )
        send_pending(settings, db, report, owner=owner, mailer_factory=mailer_factory)
    finally:
        with db.begin() as conn:
            digest_store.release_lock(conn, owner)
    return report


__all__ = ["MailerError", "RunReport", "SenderBusy", "run"]
