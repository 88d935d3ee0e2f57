"""Discussion: threaded Markdown comments on papers and on reading-group
sessions, curators' hides, followers, and batched email notices.

A thread is "paper:<id>" (public, as its paper) or "session:<id>" (its
group's members only: anyone else gets NotFound, so a thread's existence does
not leak). Comments are rendered to sanitized HTML once, when written
(services.markup). Posting counts against a per-reader limit kept in
``rate_limit_events`` (bucket "comment"), shared by every web worker.

Notices: a periodic job (``send_notices``) mails each follower of a thread
(participants follow by commenting) one message listing the shown comments
by others since their last one, at most once per thread per hour; each
carries a signed one-click unsubscribe link (RFC 8058) that mutes the thread.
"""

from __future__ import annotations

import logging
import smtplib
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from paperfeed import mail
from paperfeed.app import Paperfeed
from paperfeed.config import Settings
from paperfeed.db import comments as store
from paperfeed.db import groups as group_store
from paperfeed.db import papers as paper_store
from paperfeed.db import readers as reader_store
from paperfeed.digest import tokens
from paperfeed.readers import Forbidden, NotFound, RateLimited, Reader, ReaderError, utcnow
from paperfeed.services import markup

log = logging.getLogger(__name__)
UNSUBSCRIBE = "comment-unsubscribe"  # the token purpose (digest.tokens)
NOTICE_GAP = timedelta(hours=1)  # at most one notice per thread per hour per reader


def paper_thread(paper_id: str) -> str:
    return f"paper:{paper_id}"


def session_thread(session_id: int) -> str:
    return f"session:{session_id}"


def _open(conn: Any, viewer: Reader | None, thread: str) -> dict[str, Any]:
    """What the thread belongs to ({"paper_id"} or {"session_id"}), if
    ``viewer`` may read it; NotFound otherwise."""
    kind, _, key = thread.partition(":")
    if kind == "paper":
        paper = paper_store.get_paper(conn, key)
        if paper is None or (paper["hidden"] and not (viewer and viewer.is_curator)):
            raise NotFound(f"no paper {key[:200]!r}")
        return {"paper_id": paper["id"], "thread": paper_thread(paper["id"])}
    session_id = int(key) if kind == "session" and key.isdigit() else None
    if viewer and session_id and group_store.get_session(conn, session_id, viewer.id):
        return {"session_id": session_id, "thread": thread}
    raise NotFound("no such discussion")


def _shown(comment: dict[str, Any], viewer: Reader | None) -> dict[str, Any]:
    """A comment as ``viewer`` sees it: deleted ones blank, hidden ones blank
    except to curators (who may show them again)."""
    status = "deleted" if comment["deleted_at"] else "hidden" if comment["hidden_at"] else "shown"
    visible = status == "shown" or (status == "hidden" and viewer is not None and viewer.is_curator)
    return {
        **comment,
        "status": status,
        "body": comment["body"] if visible else "",
        "html": comment["body_html"] if visible else "",
        "mine": viewer is not None and viewer.id == comment["reader_id"] and status != "deleted",
    }


def _threaded(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Replies under their parents (depth-first, oldest first), each with ``depth``."""
    children: dict[int | None, list[dict[str, Any]]] = defaultdict(list)
    ids = {r["id"] for r in rows}
    for row in rows:
        children[row["parent_id"] if row["parent_id"] in ids else None].append(row)
    out: list[dict[str, Any]] = []

    def walk(parent: int | None, depth: int) -> None:
        for row in children.get(parent, []):
            out.append({**row, "depth": min(depth, 6)})
            walk(row["id"], depth + 1)

    walk(None, 0)
    return out


def thread(app: Paperfeed, viewer: Reader | None, thread_key: str) -> list[dict[str, Any]]:
    """The thread's comments as ``viewer`` sees them, threaded."""
    with app.db.connect() as conn:
        opened = _open(conn, viewer, thread_key)
        rows = store.thread_comments(conn, opened["thread"])
    return _threaded([_shown(r, viewer) for r in rows])


def following(app: Paperfeed, reader: Reader | None, thread_key: str) -> bool:
    if reader is None:
        return False
    with app.db.connect() as conn:
        found = store.get_follow(conn, reader.id, thread_key)
    return bool(found and not found["muted"])


def _clean_body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise ReaderError("A comment needs some text.")
    if len(body) > markup.MAX_BODY:
        raise ReaderError(f"A comment is at most {markup.MAX_BODY} characters.")
    return body


def _check_rate(app: Paperfeed, conn: Any, reader: Reader, now: datetime) -> None:
    settings = app.settings
    window = timedelta(minutes=settings.comment_limit_window_minutes)
    key = str(reader.id)
    if reader_store.count_events(conn, "comment", key, now - window) >= settings.comment_limit:
        raise RateLimited(
            f"Too many comments: at most {settings.comment_limit} every "
            f"{settings.comment_limit_window_minutes} minutes. Please wait and try again.",
            retry_after_seconds=int(window.total_seconds()),
        )
    reader_store.record_event(conn, "comment", key, now, now - window)


def post(
    app: Paperfeed,
    reader: Reader,
    thread_key: str,
    body: str,
    *,
    parent_id: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Add a comment (a reply when ``parent_id``); the author then follows the thread."""
    now = now or utcnow()
    body = _clean_body(body)
    with app.db.begin() as conn:
        opened = _open(conn, reader, thread_key)
        if parent_id is not None:
            parent = store.get_comment(conn, parent_id)
            if parent is None or parent["thread"] != opened["thread"]:
                raise ReaderError(f"comment {parent_id} is not in this discussion")
        _check_rate(app, conn, reader, now)
        comment_id = store.insert_comment(
            conn,
            **opened,
            parent_id=parent_id,
            reader_id=reader.id,
            body=body,
            body_html=markup.render(body),
            created_at=now,
        )
        store.follow(conn, reader.id, opened["thread"], comment_id, now, unmute=False)
        found = store.get_comment(conn, comment_id)
    assert found is not None
    return _shown(found, reader)


def get(app: Paperfeed, viewer: Reader | None, comment_id: int) -> dict[str, Any]:
    with app.db.connect() as conn:
        found = store.get_comment(conn, comment_id)
        if found is None:
            raise NotFound(f"no comment {comment_id}")
        _open(conn, viewer, found["thread"])
    return _shown(found, viewer)


def edit(app: Paperfeed, reader: Reader, comment_id: int, body: str) -> dict[str, Any]:
    body = _clean_body(body)
    with app.db.begin() as conn:
        if not store.edit_comment(conn, reader.id, comment_id, body, markup.render(body), utcnow()):
            raise NotFound(f"no comment {comment_id} of yours")
    return get(app, reader, comment_id)


def delete(app: Paperfeed, reader: Reader, comment_id: int) -> None:
    with app.db.begin() as conn:
        if not store.delete_comment(conn, reader.id, comment_id, utcnow()):
            raise NotFound(f"no comment {comment_id} of yours")


def set_hidden(app: Paperfeed, curator: Reader, comment_id: int, hidden: bool) -> dict[str, Any]:
    """Curators hide a comment (it then shows as hidden) or show it again."""
    if not curator.is_curator:
        raise Forbidden("Only curators can hide comments.")
    get(app, curator, comment_id)  # NotFound unless the curator can see its thread
    with app.db.begin() as conn:
        store.set_hidden(conn, comment_id, curator.id if hidden else None, utcnow())
    return get(app, curator, comment_id)


def set_following(app: Paperfeed, reader: Reader, thread_key: str, on: bool) -> None:
    now = utcnow()
    with app.db.begin() as conn:
        opened = _open(conn, reader, thread_key)
        if on:
            seen = store.max_comment_id(conn, opened["thread"])
            store.follow(conn, reader.id, opened["thread"], seen, now, unmute=True)
        else:
            store.mute(conn, reader.id, opened["thread"], now)


def counts(app: Paperfeed, paper_ids: list[str]) -> dict[str, int]:
    with app.db.connect() as conn:
        return store.comment_counts(conn, paper_ids)


def recent(app: Paperfeed, paper_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The newest shown comments on visible papers (one paper's, or all), for feeds."""
    with app.db.connect() as conn:
        if paper_id is not None:
            _open(conn, None, paper_thread(paper_id))
        return store.recent_paper_comments(conn, paper_id=paper_id, limit=limit)


# ---------------------------------------------------------------- notices


def unsubscribe_token(settings: Settings, reader_id: int, thread_key: str) -> str:
    return tokens.make(settings, UNSUBSCRIBE, [reader_id, thread_key])


def unsubscribe(app: Paperfeed, token: str) -> str:
    """Mute the thread the signed link names (idempotent); returns the thread."""
    reader_id, thread_key = tokens.read(app.settings, UNSUBSCRIBE, token)
    with app.db.begin() as conn:
        store.mute(conn, int(reader_id), str(thread_key), utcnow())
    return str(thread_key)


def _subject_and_url(conn: Any, settings: Settings, row: dict[str, Any]) -> tuple[str, str]:
    base = settings.base_url.rstrip("/")
    if row["paper_id"]:
        paper = paper_store.get_papers(conn, [row["paper_id"]]).get(row["paper_id"])
        title = " ".join((paper["title"] if paper else row["paper_id"]).split())  # one header line
        return f"New comments on \u201c{title[:150]}\u201d", f"{base}/papers/{row['paper_id']}"
    found = group_store.get_session(conn, row["session_id"], row["recipient_id"])
    name = found["group_name"] if found else "your reading group"
    url = f"{base}/groups/{found['group_id']}/sessions/{row['session_id']}" if found else base
    return f"New comments in {name[:150]}", url


def _notice(
    settings: Settings, conn: Any, rows: list[dict[str, Any]], names: dict[int, str | None]
) -> Any:
    subject, url = _subject_and_url(conn, settings, rows[0])
    unsubscribe_url = (
        f"{settings.base_url.rstrip('/')}/comments/unsubscribe/"
        f"{unsubscribe_token(settings, rows[0]['recipient_id'], rows[0]['thread'])}"
    )
    parts = [f"{names.get(r['reader_id']) or 'someone'} wrote:\n\n{r['body']}\n" for r in rows]
    text = (
        f"{subject}\n\n"
        + "\n---\n\n".join(parts)
        + f"\nRead and reply: {url}\n\nStop notices for this discussion: {unsubscribe_url}\n"
    )
    message = mail.new_message(settings, to=rows[0]["recipient_email"], subject=subject, text=text)
    message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"
    return message


def send_notices(app: Paperfeed, now: datetime | None = None) -> dict[str, int]:
    """Mail every follower with news in a thread (see the module docstring);
    returns how many notices went out and how many were refused."""
    now = now or utcnow()
    settings = app.settings
    with app.db.connect() as conn:
        rows = store.pending_notices(conn, now - NOTICE_GAP)
    batches: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        batches[(row["recipient_id"], row["thread"])].append(row)
    report = {"sent": 0, "refused": 0}
    if not batches:
        return report
    with app.db.connect() as conn:
        authors = {r["reader_id"] for r in rows}
        names = {
            a: (reader_store.get_reader(conn, a) or {}).get("name") or "someone" for a in authors
        }
    with mail.smtp_connection(settings) as client:
        for (recipient, thread_key), batch in batches.items():
            with app.db.begin() as conn:
                session_id = batch[0]["session_id"]
                group_id = group_store.session_group(conn, session_id) if session_id else None
                if group_id is not None and not group_store.is_member(conn, group_id, recipient):
                    store.mark_notified(conn, recipient, thread_key, batch[-1]["id"], now)
                    continue  # left the group: no more of its discussions
                message = _notice(settings, conn, batch, names)
                try:
                    client.send_message(message)
                    report["sent"] += 1
                except smtplib.SMTPRecipientsRefused:
                    log.warning("comment notice refused", extra={"to": message["To"]})
                    report["refused"] += 1
                # Marked after the hand-over: a crash in between repeats one notice.
                store.mark_notified(conn, recipient, thread_key, batch[-1]["id"], now)
    return report
