"""Comment storage: threads, edits, deletes, curators' hides, counts, the
"discussed" order, followers and the notice watermark.

A thread is a string, "paper:<id>" or "session:<id>"; who may read it is
decided by services.comments. Writes on a reader's own comment put the
reader's id in the WHERE clause, as in db/readers.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, update

from paperfeed.db.papers import _insert
from paperfeed.db.tables import comments, papers, readers, thread_follows
from paperfeed.db.trending import ListFilter, newest_order


def _visible() -> Any:
    return and_(comments.c.deleted_at.is_(None), comments.c.hidden_at.is_(None))


_WITH_AUTHOR = select(comments, readers.c.name.label("author_name"), readers.c.email).join(
    readers, readers.c.id == comments.c.reader_id
)


def _row(row: Any) -> dict[str, Any]:
    found = dict(row._mapping)
    found["author"] = found.pop("author_name") or found.pop("email").split("@")[0]
    found.pop("email", None)
    return found


def insert_comment(conn: Connection, **values: Any) -> int:
    key = conn.execute(insert(comments).values(**values)).inserted_primary_key
    assert key is not None
    return int(key[0])


def get_comment(conn: Connection, comment_id: int) -> dict[str, Any] | None:
    row = conn.execute(_WITH_AUTHOR.where(comments.c.id == comment_id)).first()
    return _row(row) if row else None


def thread_comments(conn: Connection, thread: str) -> list[dict[str, Any]]:
    """Every comment of a thread, oldest first (hidden and deleted ones too:
    the caller shows them as such)."""
    rows = conn.execute(_WITH_AUTHOR.where(comments.c.thread == thread).order_by(comments.c.id))
    return [_row(r) for r in rows]


def max_comment_id(conn: Connection, thread: str) -> int:
    query = select(func.max(comments.c.id)).where(comments.c.thread == thread)
    return int(conn.execute(query).scalar() or 0)


def edit_comment(
    conn: Connection, reader_id: int, comment_id: int, body: str, html: str, now: datetime
) -> bool:
    result = conn.execute(
        update(comments)
        .where(
            comments.c.id == comment_id,
            comments.c.reader_id == reader_id,
            comments.c.deleted_at.is_(None),
        )
        .values(body=body, body_html=html, edited_at=now)
    )
    return result.rowcount == 1


def delete_comment(conn: Connection, reader_id: int, comment_id: int, now: datetime) -> bool:
    """Blank the reader's own comment; the row stays so replies keep their place."""
    result = conn.execute(
        update(comments)
        .where(
            comments.c.id == comment_id,
            comments.c.reader_id == reader_id,
            comments.c.deleted_at.is_(None),
        )
        .values(body="", body_html="", deleted_at=now)
    )
    return result.rowcount == 1


def set_hidden(conn: Connection, comment_id: int, by: int | None, now: datetime) -> bool:
    """A curator hides (``by`` set) or shows again (``by`` None) a comment."""
    result = conn.execute(
        update(comments)
        .where(comments.c.id == comment_id)
        .values(hidden_at=now if by else None, hidden_by=by)
    )
    return result.rowcount == 1


def comment_counts(conn: Connection, paper_ids: Sequence[str]) -> dict[str, int]:
    """Shown (not deleted, not hidden) comments per paper; papers with none are absent."""
    if not paper_ids:
        return {}
    rows = conn.execute(
        select(comments.c.paper_id, func.count())
        .where(comments.c.paper_id.in_(list(paper_ids)), _visible())
        .group_by(comments.c.paper_id)
    )
    return {paper_id: int(n) for paper_id, n in rows}


def discussed_ids(conn: Connection, where: ListFilter, *, offset: int, limit: int) -> list[str]:
    """A page of the list, most shown comments first, then newest."""
    counts = (
        select(comments.c.paper_id, func.count().label("n"))
        .where(comments.c.paper_id.is_not(None), _visible())
        .group_by(comments.c.paper_id)
        .subquery()
    )
    query = (
        select(papers.c.id)
        .outerjoin(counts, counts.c.paper_id == papers.c.id)
        .where(*where.clauses())
        .order_by(func.coalesce(counts.c.n, 0).desc(), *newest_order())
        .offset(offset)
        .limit(limit)
    )
    return list(conn.execute(query).scalars())


def recent_paper_comments(
    conn: Connection, *, paper_id: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """The newest shown comments on papers readers can see, with the paper's title."""
    query = (
        _WITH_AUTHOR.add_columns(papers.c.title.label("paper_title"))
        .join(papers, papers.c.id == comments.c.paper_id)
        .where(_visible(), papers.c.hidden.is_(False))
        .order_by(comments.c.id.desc())
        .limit(limit)
    )
    if paper_id is not None:
        query = query.where(comments.c.paper_id == paper_id)
    return [_row(r) for r in conn.execute(query)]


# ---------------------------------------------------------------- followers


def get_follow(conn: Connection, reader_id: int, thread: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(thread_follows).where(
            thread_follows.c.reader_id == reader_id, thread_follows.c.thread == thread
        )
    ).first()
    return dict(row._mapping) if row else None


def follow(
    conn: Connection, reader_id: int, thread: str, seen: int, now: datetime, *, unmute: bool
) -> None:
    """Add the reader to the thread's audience, having seen up to comment
    ``seen``. A muted follower stays muted unless ``unmute`` (an explicit
    follow, not a comment)."""
    conn.execute(
        _insert(conn, thread_follows)
        .values(
            reader_id=reader_id, thread=thread, muted=False, seen_comment_id=seen, created_at=now
        )
        .on_conflict_do_nothing(
            index_elements=[thread_follows.c.reader_id, thread_follows.c.thread]
        )
    )
    values: dict[str, Any] = {
        "seen_comment_id": func.max(thread_follows.c.seen_comment_id, seen)
        if conn.dialect.name == "sqlite"
        else func.greatest(thread_follows.c.seen_comment_id, seen)
    }
    if unmute:
        values["muted"] = False
    conn.execute(
        update(thread_follows)
        .where(thread_follows.c.reader_id == reader_id, thread_follows.c.thread == thread)
        .values(**values)
    )


def mute(conn: Connection, reader_id: int, thread: str, now: datetime) -> None:
    conn.execute(
        _insert(conn, thread_follows)
        .values(reader_id=reader_id, thread=thread, muted=True, seen_comment_id=0, created_at=now)
        .on_conflict_do_update(
            index_elements=[thread_follows.c.reader_id, thread_follows.c.thread],
            set_={"muted": True},
        )
    )


def pending_notices(conn: Connection, before: datetime) -> list[dict[str, Any]]:
    """(follower, thread) pairs with shown comments by others after the
    follower's watermark, whose last notice is older than ``before`` (or none).
    One row per comment; the caller groups them."""
    query = (
        select(
            thread_follows.c.reader_id.label("recipient_id"),
            readers.c.email.label("recipient_email"),
            thread_follows.c.thread,
            comments.c.id,
            comments.c.paper_id,
            comments.c.session_id,
            comments.c.body,
            comments.c.reader_id,
        )
        .join(comments, comments.c.thread == thread_follows.c.thread)
        .join(readers, readers.c.id == thread_follows.c.reader_id)
        .where(
            thread_follows.c.muted.is_(False),
            comments.c.id > thread_follows.c.seen_comment_id,
            comments.c.reader_id != thread_follows.c.reader_id,
            _visible(),
            or_(thread_follows.c.notified_at.is_(None), thread_follows.c.notified_at <= before),
        )
        .order_by(thread_follows.c.reader_id, thread_follows.c.thread, comments.c.id)
    )
    return [dict(r._mapping) for r in conn.execute(query)]


def mark_notified(conn: Connection, reader_id: int, thread: str, seen: int, now: datetime) -> None:
    conn.execute(
        update(thread_follows)
        .where(thread_follows.c.reader_id == reader_id, thread_follows.c.thread == thread)
        .values(seen_comment_id=seen, notified_at=now)
    )
