"""Digest storage: subscriptions, the send log, papers already sent, and the
sender lock.

Exactly-once sending rests on three rows (see paperfeed.digest.runner):
- ``send_log`` (subscription_id, period) is unique: claiming a digest is an
  INSERT that only one process can win, and the digest's content is frozen in
  the same row, with its papers recorded in ``sent_papers`` in the same
  transaction;
- a row moves pending -> sent only after the SMTP server accepted it, and each
  attempt is counted before the message goes out, so a re-run knows which
  pending rows are "in doubt";
- one sender at a time holds the ``digest_sender`` lock in ``meta``.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, select, update

from paperfeed.db.papers import _insert
from paperfeed.db.tables import (
    hides,
    meta,
    papers,
    readers,
    saved_searches,
    saves,
    send_log,
    sent_papers,
    subscriptions,
    votes,
)

PREFERENCE_FIELDS = (
    "frequency",
    "topics",
    "trending_count",
    "personal_count",
    "include_saved_searches",
    "search_count",
)


def now() -> datetime:
    return datetime.now(UTC)


def _row(row: Any) -> dict[str, Any] | None:
    return None if row is None else dict(row._mapping)


# ---------------------------------------------------------------- subscriptions


def get_subscription(conn: Connection, subscription_id: int) -> dict[str, Any] | None:
    return _row(
        conn.execute(select(subscriptions).where(subscriptions.c.id == subscription_id)).first()
    )


def get_subscription_by_email(conn: Connection, email: str) -> dict[str, Any] | None:
    return _row(
        conn.execute(
            select(subscriptions).where(subscriptions.c.email == email.strip().lower())
        ).first()
    )


def get_subscription_by_reader(conn: Connection, reader_id: int) -> dict[str, Any] | None:
    return _row(
        conn.execute(
            select(subscriptions)
            .where(subscriptions.c.reader_id == reader_id)
            .order_by(subscriptions.c.id)
        ).first()
    )


def is_active(sub: dict[str, Any]) -> bool:
    return (
        sub["confirmed_at"] is not None
        and sub["unsubscribed_at"] is None
        and sub["suppressed_at"] is None
    )


def request_subscription(
    conn: Connection,
    email: str,
    *,
    nonce: str,
    reader_id: int | None = None,
    preferences: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], bool]:
    """Create (or re-open) a subscription awaiting confirmation.

    Returns the row and whether a confirmation email is needed. An active
    subscription is left alone (no mail: it is already confirmed). A new nonce
    invalidates every earlier confirmation link for this address.
    """
    email = email.strip().lower()
    prefs = {k: v for k, v in (preferences or {}).items() if k in PREFERENCE_FIELDS}
    existing = get_subscription_by_email(conn, email)
    if existing is not None and is_active(existing):
        if reader_id is not None and existing["reader_id"] is None:
            conn.execute(
                update(subscriptions)
                .where(subscriptions.c.id == existing["id"])
                .values(reader_id=reader_id)
            )
        return get_subscription(conn, existing["id"]) or existing, False
    if existing is None:
        result = conn.execute(
            subscriptions.insert().values(
                email=email,
                reader_id=reader_id,
                confirm_nonce=nonce,
                created_at=now(),
                **prefs,
            )
        )
        sub_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    else:
        sub_id = existing["id"]
        values: dict[str, Any] = {"confirm_nonce": nonce, **prefs}
        if reader_id is not None:
            values["reader_id"] = reader_id
        if existing["unsubscribed_at"] is not None:
            # Re-subscribing after leaving starts over: confirm again.
            values.update(confirmed_at=None, unsubscribed_at=None)
        conn.execute(update(subscriptions).where(subscriptions.c.id == sub_id).values(**values))
    sub = get_subscription(conn, sub_id)
    assert sub is not None
    return sub, True


def confirm_subscription(conn: Connection, subscription_id: int, nonce: str) -> bool:
    """Confirm with the nonce from the signed link; a link works once."""
    result = conn.execute(
        update(subscriptions)
        .where(
            and_(
                subscriptions.c.id == subscription_id,
                subscriptions.c.confirm_nonce == nonce,
            )
        )
        # Confirming is the reader's explicit wish, so it lifts an old bounce.
        .values(
            confirmed_at=now(),
            confirm_nonce=None,
            unsubscribed_at=None,
            suppressed_at=None,
            suppressed_reason=None,
        )
    )
    return result.rowcount == 1


def unsubscribe(conn: Connection, subscription_id: int) -> bool:
    """Stop sending. Idempotent: one-click clients may POST more than once."""
    result = conn.execute(
        update(subscriptions)
        .where(
            and_(
                subscriptions.c.id == subscription_id,
                subscriptions.c.unsubscribed_at.is_(None),
            )
        )
        .values(unsubscribed_at=now(), confirm_nonce=None)
    )
    return result.rowcount == 1


def update_preferences(conn: Connection, subscription_id: int, **prefs: Any) -> None:
    values = {k: v for k, v in prefs.items() if k in PREFERENCE_FIELDS}
    if values:
        conn.execute(
            update(subscriptions).where(subscriptions.c.id == subscription_id).values(**values)
        )


def suppress(conn: Connection, subscription_id: int, reason: str) -> None:
    conn.execute(
        update(subscriptions)
        .where(subscriptions.c.id == subscription_id)
        .values(suppressed_at=now(), suppressed_reason=reason[:2000])
    )


def due_subscriptions(conn: Connection, frequency: str, period: str) -> list[dict[str, Any]]:
    """Active subscriptions of this frequency with no send-log row for the period."""
    logged = select(send_log.c.subscription_id).where(send_log.c.period == period)
    rows = conn.execute(
        select(subscriptions)
        .where(
            and_(
                subscriptions.c.frequency == frequency,
                subscriptions.c.confirmed_at.is_not(None),
                subscriptions.c.unsubscribed_at.is_(None),
                subscriptions.c.suppressed_at.is_(None),
                subscriptions.c.id.not_in(logged),
            )
        )
        .order_by(subscriptions.c.id)
    )
    return [dict(r._mapping) for r in rows]


# ---------------------------------------------------------------- send log


def sent_paper_ids(conn: Connection, subscription_ids: Sequence[int]) -> dict[int, set[str]]:
    """Papers each subscription has already been sent (or has claimed)."""
    found: dict[int, set[str]] = {i: set() for i in subscription_ids}
    for start in range(0, len(subscription_ids), 500):
        chunk = list(subscription_ids[start : start + 500])
        rows = conn.execute(
            select(sent_papers.c.subscription_id, sent_papers.c.paper_id).where(
                sent_papers.c.subscription_id.in_(chunk)
            )
        )
        for sub_id, paper_id in rows:
            found[sub_id].add(paper_id)
    return found


def claim(
    conn: Connection,
    subscription_id: int,
    period: str,
    *,
    message_id: str,
    content: dict[str, Any],
    paper_ids: Iterable[str],
) -> bool:
    """Claim one digest: a pending row with its frozen content, and its papers
    marked as sent, all in the caller's transaction. False if the period was
    already claimed (by this run, an earlier one, or another process)."""
    result = conn.execute(
        _insert(conn, send_log)
        .values(
            subscription_id=subscription_id,
            period=period,
            status="pending",
            attempts=0,
            message_id=message_id,
            content=content,
            created_at=now(),
        )
        .on_conflict_do_nothing(index_elements=["subscription_id", "period"])
        .returning(send_log.c.id)  # rowcount is -1 here on PostgreSQL
    )
    if result.first() is None:
        return False
    rows = [
        {"subscription_id": subscription_id, "paper_id": pid, "period": period}
        for pid in dict.fromkeys(paper_ids)
    ]
    if rows:
        conn.execute(
            _insert(conn, sent_papers).on_conflict_do_nothing(
                index_elements=["subscription_id", "paper_id"]
            ),
            rows,
        )
    return True


def skip(conn: Connection, subscription_id: int, period: str, reason: str) -> bool:
    """Record that a period was deliberately not sent (e.g. nothing new)."""
    result = conn.execute(
        _insert(conn, send_log)
        .values(
            subscription_id=subscription_id,
            period=period,
            status="skipped",
            attempts=0,
            last_error=reason,
            created_at=now(),
        )
        .on_conflict_do_nothing(index_elements=["subscription_id", "period"])
        .returning(send_log.c.id)  # rowcount is -1 here on PostgreSQL
    )
    return result.first() is not None


def pending(conn: Connection, period: str | None = None) -> list[dict[str, Any]]:
    """Pending digests with their subscription's address and state, oldest first."""
    query = (
        select(
            send_log,
            subscriptions.c.email,
            subscriptions.c.reader_id,
            subscriptions.c.confirmed_at,
            subscriptions.c.unsubscribed_at,
            subscriptions.c.suppressed_at,
        )
        .join(subscriptions, subscriptions.c.id == send_log.c.subscription_id)
        .where(send_log.c.status == "pending")
        .order_by(send_log.c.id)
    )
    if period is not None:
        query = query.where(send_log.c.period == period)
    return [dict(r._mapping) for r in conn.execute(query)]


def get_log(conn: Connection, subscription_id: int, period: str) -> dict[str, Any] | None:
    return _row(
        conn.execute(
            select(send_log).where(
                and_(send_log.c.subscription_id == subscription_id, send_log.c.period == period)
            )
        ).first()
    )


def logs(conn: Connection, *, period: str | None = None) -> list[dict[str, Any]]:
    query = select(send_log).order_by(send_log.c.id)
    if period is not None:
        query = query.where(send_log.c.period == period)
    return [dict(r._mapping) for r in conn.execute(query)]


def begin_attempt(conn: Connection, log_id: int) -> None:
    """Count an attempt before the message goes out. A pending row with
    attempts > 0 and no error is "in doubt": a process died while sending it."""
    conn.execute(
        update(send_log)
        .where(send_log.c.id == log_id)
        .values(attempts=send_log.c.attempts + 1, last_error=None)
    )


def record_error(conn: Connection, log_id: int, error: str) -> None:
    conn.execute(update(send_log).where(send_log.c.id == log_id).values(last_error=error[:2000]))


def mark_sent(conn: Connection, log_id: int) -> None:
    conn.execute(
        update(send_log)
        .where(send_log.c.id == log_id)
        .values(status="sent", sent_at=now(), last_error=None)
    )


def mark_final(conn: Connection, log_id: int, status: str, reason: str) -> None:
    """End a pending row without sending: "failed" (permanent error) or "skipped"."""
    conn.execute(
        update(send_log)
        .where(send_log.c.id == log_id)
        .values(status=status, last_error=reason[:2000])
    )


# ---------------------------------------------------------------- papers for a period


def period_papers(
    conn: Connection, start: date, end: date, *, limit: int | None = None
) -> list[dict[str, Any]]:
    """Visible papers listed in [start, end], most upvoted first (imported upvotes
    plus readers' votes), ties by id for a stable order."""
    vote_counts = (
        select(votes.c.paper_id, func.count().label("n")).group_by(votes.c.paper_id).subquery()
    )
    score = papers.c.imported_upvotes + func.coalesce(vote_counts.c.n, 0)
    query = (
        select(
            papers.c.id,
            papers.c.title,
            papers.c.abstract,
            papers.c.comment,
            papers.c.authors,
            papers.c.categories,
            papers.c.primary_category,
            papers.c.listing_date,
            score.label("upvotes"),
        )
        .outerjoin(vote_counts, vote_counts.c.paper_id == papers.c.id)
        .where(
            and_(
                papers.c.listing_date >= start,
                papers.c.listing_date <= end,
                papers.c.hidden.is_(False),
                papers.c.withdrawn.is_(False),
            )
        )
        .order_by(score.desc(), papers.c.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    return [dict(r._mapping) for r in conn.execute(query)]


# ---------------------------------------------------------------- sender lock

LOCK_KEY = "digest_sender"


def lock_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"


def _owner_is_dead(owner: str) -> bool:
    """Only a holder on this host can be checked; elsewhere the lease decides."""
    host, _, rest = owner.partition(":")
    pid_text = rest.split(":", 1)[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def acquire_lock(conn: Connection, owner: str, lease: timedelta) -> bool:
    """Take the sender lock if free, expired, or held by a dead local process.
    Compare-and-set on the row's value, so two racing processes cannot both win."""
    value = json.dumps({"owner": owner, "expires": (now() + lease).isoformat()})
    inserted = conn.execute(
        _insert(conn, meta)
        .values(key=LOCK_KEY, value=value)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(meta.c.key)  # rowcount is -1 here on PostgreSQL
    )
    if inserted.first() is not None:
        return True
    current = conn.execute(select(meta.c.value).where(meta.c.key == LOCK_KEY)).scalar()
    if current is None:
        return False
    held = json.loads(current)
    expired = datetime.fromisoformat(held["expires"]) < now()
    if not (expired or held["owner"] == owner or _owner_is_dead(held["owner"])):
        return False
    result = conn.execute(
        update(meta)
        .where(and_(meta.c.key == LOCK_KEY, meta.c.value == current))
        .values(value=value)
    )
    return result.rowcount == 1


def release_lock(conn: Connection, owner: str) -> None:
    current = conn.execute(select(meta.c.value).where(meta.c.key == LOCK_KEY)).scalar()
    if current is not None and json.loads(current)["owner"] == owner:
        conn.execute(meta.delete().where(and_(meta.c.key == LOCK_KEY, meta.c.value == current)))


def lock_holder(conn: Connection) -> str | None:
    current = conn.execute(select(meta.c.value).where(meta.c.key == LOCK_KEY)).scalar()
    return None if current is None else str(json.loads(current)["owner"])


def saved_searches_for(
    conn: Connection, reader_ids: Sequence[int]
) -> dict[int, list[dict[str, Any]]]:
    """Each reader's saved searches (name, query), oldest first."""
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in reader_ids}
    for start in range(0, len(reader_ids), 500):
        chunk = list(reader_ids[start : start + 500])
        rows = conn.execute(
            select(saved_searches.c.reader_id, saved_searches.c.name, saved_searches.c.query)
            .where(saved_searches.c.reader_id.in_(chunk))
            .order_by(saved_searches.c.id)
        )
        for r in rows:
            found[r.reader_id].append({"name": r.name, "query": r.query})
    return found


def reader_flags(conn: Connection, reader_id: int) -> dict[str, Any]:
    """A reader's votes, saves and hides (paper ids, oldest first) and their
    cold-start interests: the personal model's signals."""
    found: dict[str, Any] = {}
    for name, table in (("votes", votes), ("saves", saves), ("hides", hides)):
        found[name] = [
            r[0]
            for r in conn.execute(
                select(table.c.paper_id)
                .where(table.c.reader_id == reader_id)
                .order_by(table.c.created_at, table.c.paper_id)
            )
        ]
    found["interests"] = conn.execute(
        select(readers.c.interests).where(readers.c.id == reader_id)
    ).scalar()
    return found


def set_reader_interests(conn: Connection, reader_id: int, interests: dict[str, Any]) -> None:
    conn.execute(update(readers).where(readers.c.id == reader_id).values(interests=interests))
