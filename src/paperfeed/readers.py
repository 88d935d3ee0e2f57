"""Readers: passwordless sign-in, API tokens, votes, saves, hides, collections,
saved searches, submissions, curation and roles.

The web pages, the JSON API and the CLI all call these functions; none of them
writes SQL. Functions acting on a reader's data take the acting ``Reader`` and
pass its id into the query (see db/readers.py), so a reader can never reach
another reader's private rows. Clocks are parameters (``now``) so tests can
sign in with expired links without sleeping.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import smtplib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from paperfeed import mail
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import papers as paper_store
from paperfeed.db import readers as store
from paperfeed.db import teasers as teaser_store
from paperfeed.db import trending as trending_store

log = logging.getLogger(__name__)

ROLES = ("reader", "curator", "admin")
# What an API token may do, chosen when it is made: read the reader's data,
# change it, and manage API tokens. A signed-in browser session may do all.
TOKEN_SCOPES = ("read", "write", "tokens")
ALL_SCOPES = frozenset(TOKEN_SCOPES)
DEFAULT_TOKEN_SCOPES = ("read", "write")
SESSION_DAYS = 30
API_TOKEN_PREFIX = "pf_"  # noqa: S105 (a prefix, not a secret)
# Deliberately loose: the real check is that the magic link arrives.
# No control characters (models.CONTROL_CHARACTER): NUL and the like must never reach SMTP.
EMAIL_RE = re.compile(
    r"^[^@\s<>\"',;\x00-\x1f\x7f]+@[^@\s<>\"',;\x00-\x1f\x7f]+\.[^@\s<>\"',;\x00-\x1f\x7f]+$"
)
ARXIV_ID_RE = re.compile(r"^(\d{4}\.\d{4,5}|[a-z\-]+(\.[A-Z]{2})?/\d{7})(v\d+)?$")


class ReaderError(ValueError):
    """Bad input from a reader; the message says what and is safe to show."""


class NotFound(ReaderError):
    pass


class Forbidden(ReaderError):
    pass


class InvalidLink(ReaderError):
    pass


class MailUnavailable(ReaderError):
    """The SMTP server did not take the sign-in email."""


class SourceUnavailable(ReaderError):
    """arXiv could not be reached; nothing was stored."""


class RateLimited(ReaderError):
    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True)
class Reader:
    id: int
    email: str
    name: str
    role: str
    # What this caller may do: every scope for a browser session, the token's
    # scopes when the reader came from an API token.
    scopes: frozenset[str] = ALL_SCOPES

    @property
    def is_curator(self) -> bool:
        return self.role in ("curator", "admin")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Reader:
        return cls(
            id=int(row["id"]),
            email=row["email"],
            name=row["name"] or row["email"].split("@")[0],
            role=row["role"],
            scopes=frozenset(row["scopes"].split()) if row.get("scopes") else ALL_SCOPES,
        )


def require_scope(reader: Reader, scope: str) -> None:
    """Refuse a call the caller's token was not given the scope for. The one
    check of scopes: the JSON API calls it for every bearer request, and so
    must any other interface that acts for a token."""
    if scope not in TOKEN_SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    if scope not in reader.scopes:
        raise Forbidden(
            f"This API token lacks the {scope!r} scope (it has: "
            f"{', '.join(sorted(reader.scopes)) or 'none'}). Make a token with it "
            "on your account page."
        )


def parse_scopes(scopes: Any) -> frozenset[str]:
    """Scopes for a new token, from a list or a space/comma-separated string."""
    if isinstance(scopes, str):
        scopes = scopes.replace(",", " ").split()
    chosen = frozenset(str(s).strip() for s in scopes or ())
    unknown = sorted(chosen - ALL_SCOPES)
    if unknown:
        raise ReaderError(
            f"unknown token scope {unknown[0][:40]!r}; choose from {', '.join(TOKEN_SCOPES)}"
        )
    if not chosen:
        raise ReaderError(f"A token needs at least one scope: {', '.join(TOKEN_SCOPES)}.")
    return chosen


def _scopes_text(scopes: frozenset[str]) -> str:
    return " ".join(s for s in TOKEN_SCOPES if s in scopes)


def utcnow() -> datetime:
    return datetime.now(UTC)


def normalize_email(email: str) -> str:
    value = (email or "").strip().lower()
    if len(value) > 320 or not EMAIL_RE.match(value):
        raise ReaderError(f"not an email address: {email[:80]!r}")
    return value


def get_reader(db: Database, reader_id: int) -> Reader | None:
    with db.connect() as conn:
        row = store.get_reader(conn, reader_id)
    return Reader.from_row(row) if row else None


# ---------------------------------------------------------------- sign-in


def _link_serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.secret(), salt="paperfeed.magic-link")


# Emails sent on an anonymous request, each counted in its own buckets:
# purpose -> (bucket per address, bucket per IP, what the reader asked for).
RATE_BUCKETS = {
    "sign-in": ("email", "ip", "sign-in"),
    "subscribe": ("sub-email", "sub-ip", "subscription"),
}


def check_sign_in_rate(
    settings: Settings,
    db: Database,
    email: str,
    ip: str,
    now: datetime | None = None,
    *,
    purpose: str = "sign-in",
) -> None:
    """Count this request for an email (a sign-in link, or a digest
    confirmation: ``purpose``) against the address and the IP, or raise
    RateLimited. Stored in the database so all web workers share the counts."""
    now = now or utcnow()
    window = timedelta(minutes=settings.signin_limit_window_minutes)
    since = now - window
    email_bucket, ip_bucket, label = RATE_BUCKETS[purpose]
    limits = (
        (email_bucket, email, settings.signin_limit_per_address, "this address"),
        (ip_bucket, ip, settings.signin_limit_per_ip, "your network address"),
    )
    with db.begin() as conn:
        for bucket, key, limit, what in limits:
            if store.count_events(conn, bucket, key, since) >= limit:
                minutes = settings.signin_limit_window_minutes
                raise RateLimited(
                    f"Too many {label} requests for {what}: at most {limit} every "
                    f"{minutes} minutes. Please wait and try again.",
                    retry_after_seconds=int(window.total_seconds()),
                )
        for bucket, key, _limit, _what in limits:
            store.record_event(conn, bucket, key, now, since)


def check_call_rate(
    settings: Settings, db: Database, key: str, now: datetime | None = None
) -> None:
    """Count one MCP tool call for ``key`` (a token's hash, or an address), or
    raise RateLimited; in the database, like the sign-in limits, so every
    worker shares the count."""
    now = now or utcnow()
    window = timedelta(minutes=1)
    limit = settings.mcp_calls_per_minute
    with db.begin() as conn:
        if store.count_events(conn, "mcp", key, now - window) >= limit:
            raise RateLimited(
                f"Too many calls: at most {limit} a minute for this token. Wait a minute.",
                retry_after_seconds=60,
            )
        store.record_event(conn, "mcp", key, now, now - window)


def create_magic_link(
    settings: Settings, db: Database, email: str, now: datetime | None = None
) -> str:
    """Store a single-use login token and return the signed link that carries it."""
    now = now or utcnow()
    email = normalize_email(email)
    token_id = secrets.token_urlsafe(24)
    with db.begin() as conn:
        store.insert_login_token(
            conn, token_id, email, now, now + timedelta(minutes=settings.magic_link_minutes)
        )
    signed = _link_serializer(settings).dumps(token_id)
    return f"{settings.base_url.rstrip('/')}/signin/verify?token={signed}"


def request_sign_in(
    settings: Settings, db: Database, email: str, ip: str, now: datetime | None = None
) -> None:
    """Email a magic link. Known and unknown addresses are treated identically:
    the reader is created only when the link is used."""
    email = normalize_email(email)
    check_sign_in_rate(settings, db, email, ip, now)
    link = create_magic_link(settings, db, email, now)
    minutes = settings.magic_link_minutes
    message = mail.new_message(
        settings,
        to=email,
        subject=f"Sign in to {settings.site_name}",
        text=(
            f"Use this link to sign in to {settings.site_name}:\n\n{link}\n\n"
            f"It works once and expires in {minutes} minutes. If you did not ask "
            "to sign in, ignore this email.\n"
        ),
    )
    try:
        # A refusal of this address is logged, not shown (no enumeration).
        mail.send_quietly(settings, message)
    except (OSError, smtplib.SMTPException) as exc:
        # The server is unreachable, for every address alike; the link row expires.
        log.error(
            "sign-in email not sent: SMTP server %s:%s: %r",
            settings.smtp_host,
            settings.smtp_port,
            exc,
        )
        raise MailUnavailable(
            "The sign-in email could not be sent right now. Please try again in a few minutes."
        ) from exc


def complete_sign_in(
    settings: Settings, db: Database, signed_token: str, now: datetime | None = None
) -> Reader:
    """Use a magic link: check its signature, mark it used (once), and return the
    reader, created on first sign-in."""
    now = now or utcnow()
    try:
        token_id = _link_serializer(settings).loads(signed_token)
    except BadSignature as exc:
        raise InvalidLink("This sign-in link is not valid. Request a new one.") from exc
    if not isinstance(token_id, str):
        raise InvalidLink("This sign-in link is not valid. Request a new one.")
    with db.begin() as conn:
        email = store.consume_login_token(conn, token_id, now)
        if email is None:
            row = store.get_login_token(conn, token_id)
            if row is None:
                raise InvalidLink("This sign-in link is not valid. Request a new one.")
            if row["used_at"] is not None:
                raise InvalidLink("This sign-in link has already been used. Request a new one.")
            raise InvalidLink("This sign-in link has expired. Request a new one.")
        return Reader.from_row(store.get_or_create_reader(conn, email, now))


def _session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start_session(db: Database, reader: Reader, now: datetime | None = None) -> str:
    """Record a new browser session and return its id, for the signed cookie.
    Only its sha256 is stored."""
    now = now or utcnow()
    session_id = secrets.token_urlsafe(32)
    with db.begin() as conn:
        store.forget_ended_sessions(conn, reader.id, now)  # the table stays small
        store.insert_session(
            conn, _session_hash(session_id), reader.id, now, now + timedelta(days=SESSION_DAYS)
        )
    return session_id


def reader_for_session(db: Database, session_id: str, now: datetime | None = None) -> Reader | None:
    """The reader of a live session, or None once it is signed out or expired."""
    with db.connect() as conn:
        row = store.reader_for_session(conn, _session_hash(session_id), now or utcnow())
    return Reader.from_row(row) if row else None


def end_session(db: Database, session_id: str, now: datetime | None = None) -> None:
    """Sign out: this session's cookie stops working, wherever it was copied."""
    with db.begin() as conn:
        store.revoke_session(conn, _session_hash(session_id), now or utcnow())


def end_all_sessions(db: Database, reader: Reader, now: datetime | None = None) -> None:
    """Sign the reader out everywhere: every session and every API token of
    theirs stops working (what someone does after losing a device or a key)."""
    now = now or utcnow()
    with db.begin() as conn:
        store.forget_ended_sessions(conn, reader.id, now)
        store.revoke_all_sessions(conn, reader.id, now)
        store.revoke_all_api_tokens(conn, reader.id, now)


# ---------------------------------------------------------------- API tokens


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(
    db: Database,
    reader: Reader,
    name: str,
    scopes: Any = DEFAULT_TOKEN_SCOPES,
    now: datetime | None = None,
) -> tuple[int, str]:
    """Create a token with the given scopes and return (id, token). The token is
    shown once; only its sha256 is stored. A token can only make tokens with
    scopes it has itself (and needs the "tokens" scope to make any)."""
    require_scope(reader, "tokens")
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ReaderError("A token needs a name of 1 to 200 characters.")
    chosen = parse_scopes(scopes)
    if not chosen <= reader.scopes:
        raise Forbidden(
            "A token cannot make a token with more scopes than its own "
            f"({', '.join(sorted(reader.scopes))})."
        )
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.begin() as conn:
        token_id = store.insert_api_token(
            conn, reader.id, name, hash_token(token), _scopes_text(chosen), now or utcnow()
        )
    return token_id, token


def list_api_tokens(db: Database, reader: Reader) -> list[dict[str, Any]]:
    """The reader's tokens, newest first, each with its scopes as a list."""
    with db.connect() as conn:
        rows = store.list_api_tokens(conn, reader.id)
    return [{**row, "scopes": row["scopes"].split()} for row in rows]


def revoke_api_token(db: Database, reader: Reader, token_id: int) -> None:
    with db.begin() as conn:
        if not store.revoke_api_token(conn, reader.id, token_id, utcnow()):
            raise NotFound(f"no active API token {token_id} of yours")


def reader_for_api_token(db: Database, token: str) -> Reader | None:
    with db.begin() as conn:
        row = store.reader_for_token_hash(conn, hash_token(token), utcnow())
    return Reader.from_row(row) if row else None


# ---------------------------------------------------------------- votes, saves, hides


def _existing_paper_id(conn: Any, paper_id: str) -> str:
    resolved = paper_store.resolve_ids(conn, [paper_id])[paper_id]
    if not paper_store.get_papers(conn, [resolved]):
        raise NotFound(f"no paper {paper_id[:200]!r}")
    return resolved


def set_flag(db: Database, reader: Reader, kind: str, paper_id: str, on: bool) -> dict[str, Any]:
    """Upvote/unvote ("vote"), save/unsave ("save"), hide/unhide ("hide").
    Idempotent; returns the paper's new state for this reader."""
    if kind not in store.FLAG_TABLES:
        raise ReaderError(f"unknown action {kind!r}")
    with db.begin() as conn:
        paper_id = _existing_paper_id(conn, paper_id)
        store.set_flag(conn, kind, reader.id, paper_id, on, utcnow())
    return paper_states(db, reader, [paper_id])[paper_id]


def paper_state(db: Database, reader: Reader | None, paper_id: str) -> dict[str, Any]:
    """One paper's upvotes and ``reader``'s flags on it; NotFound names a missing paper."""
    with db.connect() as conn:
        paper_id = _existing_paper_id(conn, paper_id)
    return paper_states(db, reader, [paper_id])[paper_id]


def toggle_vote(db: Database, reader: Reader, paper_id: str) -> dict[str, Any]:
    """One vote per reader per paper: a second toggle takes it back."""
    with db.connect() as conn:
        paper_id = _existing_paper_id(conn, paper_id)
        voted = "vote" in store.flags_for(conn, reader.id, [paper_id])[paper_id]
    return set_flag(db, reader, "vote", paper_id, not voted)


def paper_states(
    db: Database, reader: Reader | None, paper_ids: list[str]
) -> dict[str, dict[str, Any]]:
    """For each paper: upvotes (imported + Paperfeed votes) and the reader's flags."""
    with db.connect() as conn:
        upvotes = trending_store.upvote_counts(conn, paper_ids)
        flags = store.flags_for(conn, reader.id, paper_ids) if reader else {}
    return {
        p: {
            "paper_id": p,
            "upvotes": upvotes.get(p, 0),
            "upvoted": "vote" in flags.get(p, set()),
            "saved": "save" in flags.get(p, set()),
            "hidden": "hide" in flags.get(p, set()),
        }
        for p in paper_ids
    }


def library(db: Database, reader: Reader, kind: str = "save") -> list[dict[str, Any]]:
    with db.connect() as conn:
        return store.flagged_papers(conn, kind, reader.id)


def paper_brief(paper: dict[str, Any]) -> dict[str, Any]:
    """A paper in a reader's list (library, collection, submissions), as the
    JSON API and the MCP tools give it."""
    return {
        "id": paper["id"],
        "title": paper["title"],
        "authors": list(paper["authors"] or []),
        "listing_date": paper.get("listing_date"),
        "added_at": paper.get("added_at") or paper.get("flagged_at"),
    }


def hidden_paper_ids(db: Database, reader: Reader) -> set[str]:
    """Papers the reader marked "not interested", for lists to leave out."""
    with db.connect() as conn:
        return store.flagged_ids(conn, "hide", reader.id)


# ---------------------------------------------------------------- collections


def _clean_collection_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name or len(name) > 200:
        raise ReaderError("A collection needs a name of 1 to 200 characters.")
    return name


def create_collection(
    db: Database, reader: Reader, name: str, *, description: str = "", is_public: bool = False
) -> int:
    name = _clean_collection_name(name)
    with db.begin() as conn:
        if store.collection_name_taken(conn, reader.id, name):
            raise ReaderError(f"You already have a collection named {name!r}.")
        return store.create_collection(
            conn, reader.id, name, (description or "")[:5000], is_public, utcnow()
        )


def update_collection(
    db: Database,
    reader: Reader,
    collection_id: int,
    *,
    name: str | None = None,
    description: str | None = None,
    is_public: bool | None = None,
) -> None:
    values: dict[str, Any] = {}
    with db.begin() as conn:
        if name is not None:
            values["name"] = _clean_collection_name(name)
            if store.collection_name_taken(
                conn, reader.id, values["name"], except_id=collection_id
            ):
                raise ReaderError(f"You already have a collection named {values['name']!r}.")
        if description is not None:
            values["description"] = description[:5000]
        if is_public is not None:
            values["is_public"] = is_public
        if not store.update_collection(conn, reader.id, collection_id, values):
            raise NotFound(f"no collection {collection_id} of yours")


def delete_collection(db: Database, reader: Reader, collection_id: int) -> None:
    with db.begin() as conn:
        if not store.delete_collection(conn, reader.id, collection_id):
            raise NotFound(f"no collection {collection_id} of yours")


def get_collection(
    db: Database, viewer: Reader | None, collection_id: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A collection and its papers, if public or the viewer's own. Someone else's
    private collection is reported as not found, so its existence does not leak."""
    viewer_id = viewer.id if viewer else None
    with db.connect() as conn:
        found = store.get_collection(conn, collection_id, viewer_id)
        if found is None:
            raise NotFound(f"no collection {collection_id}")
        papers = store.collection_papers_visible(conn, collection_id, viewer_id)
        # Cards and the collection's Atom feed show the TL;DR, as the lists do.
        teaser_store.attach_teasers(conn, {paper["id"]: paper for paper in papers})
        return found, papers


def list_collections(db: Database, reader: Reader) -> list[dict[str, Any]]:
    with db.connect() as conn:
        return store.list_collections(conn, reader.id)


def add_to_collection(db: Database, reader: Reader, collection_id: int, paper_id: str) -> None:
    with db.begin() as conn:
        paper_id = _existing_paper_id(conn, paper_id)
        if not store.add_to_collection(conn, reader.id, collection_id, paper_id, utcnow()):
            raise NotFound(f"no collection {collection_id} of yours")


def remove_from_collection(db: Database, reader: Reader, collection_id: int, paper_id: str) -> None:
    with db.begin() as conn:
        paper_id = paper_store.resolve_ids(conn, [paper_id])[paper_id]
        if not store.remove_from_collection(conn, reader.id, collection_id, paper_id):
            raise NotFound(f"no collection {collection_id} of yours")


def collections_containing(db: Database, reader: Reader, paper_id: str) -> set[int]:
    with db.connect() as conn:
        return store.collections_containing(conn, reader.id, paper_id)


# ---------------------------------------------------------------- saved searches


def _clean_search(name: str, query: str) -> tuple[str, str]:
    name = " ".join((name or "").split()) or " ".join((query or "").split())[:200]
    query = (query or "").strip()
    if not query or len(query) > 1000:
        raise ReaderError("A saved search needs a query of 1 to 1000 characters.")
    return name[:200], query


def create_saved_search(db: Database, reader: Reader, name: str, query: str) -> int:
    name, query = _clean_search(name, query)
    with db.begin() as conn:
        return store.create_saved_search(conn, reader.id, name, query, utcnow())


def list_saved_searches(db: Database, reader: Reader) -> list[dict[str, Any]]:
    with db.connect() as conn:
        return store.list_saved_searches(conn, reader.id)


def get_saved_search(db: Database, reader: Reader, search_id: int) -> dict[str, Any]:
    with db.connect() as conn:
        found = store.get_saved_search(conn, reader.id, search_id)
    if found is None:
        raise NotFound(f"no saved search {search_id} of yours")
    return found


def update_saved_search(
    db: Database, reader: Reader, search_id: int, *, name: str, query: str
) -> None:
    name, query = _clean_search(name, query)
    with db.begin() as conn:
        if not store.update_saved_search(
            conn, reader.id, search_id, {"name": name, "query": query}
        ):
            raise NotFound(f"no saved search {search_id} of yours")


def delete_saved_search(db: Database, reader: Reader, search_id: int) -> None:
    with db.begin() as conn:
        if not store.delete_saved_search(conn, reader.id, search_id):
            raise NotFound(f"no saved search {search_id} of yours")


# ---------------------------------------------------------------- submissions


def parse_arxiv_id(text: str) -> str:
    """'arXiv:2501.01234v2', 'https://arxiv.org/abs/2501.01234' -> '2501.01234'."""
    value = (text or "").strip()
    value = re.sub(r"^(https?://)?(www\.|export\.)?arxiv\.org/(abs|pdf)/", "", value)
    value = re.sub(r"^arxiv:", "", value, flags=re.IGNORECASE)
    value = value.removesuffix(".pdf")
    if not ARXIV_ID_RE.match(value):
        raise ReaderError(
            f"not an arXiv id: {text[:80]!r} (expected e.g. 2501.01234 or hep-th/9901001)"
        )
    return re.sub(r"v\d+$", "", value)


@dataclass
class SubmissionResult:
    paper_id: str
    title: str
    listing_date: date | None
    new_to_paperfeed: bool
    first_submitter: bool


def record_submission(
    db: Database, reader: Reader, arxiv_id: str, now: datetime, *, new: bool
) -> SubmissionResult:
    """Record that ``reader`` submitted the stored paper ``arxiv_id``: the first
    submitter is credited, and a paper ``new`` to Paperfeed is listed today
    (services.ingest.submit fetches and stores it first)."""
    with db.begin() as conn:
        first = store.record_submission(conn, arxiv_id, reader.id, now)
        if first:
            store.mark_submitted(conn, arxiv_id, reader.name, now.date(), list_today=new)
        stored = paper_store.get_papers(conn, [arxiv_id])[arxiv_id]
    return SubmissionResult(
        paper_id=arxiv_id,
        title=stored["title"],
        listing_date=paper_store._as_date(stored["listing_date"]),
        new_to_paperfeed=new,
        first_submitter=first,
    )


def list_submissions(db: Database, reader: Reader) -> list[dict[str, Any]]:
    with db.connect() as conn:
        return store.list_submissions(conn, reader.id)


# ---------------------------------------------------------------- curation and roles


def curate(
    db: Database,
    reader: Reader,
    paper_id: str,
    *,
    featured: bool | None = None,
    hidden: bool | None = None,
) -> None:
    """Feature or hide a paper for everyone; curators and admins only."""
    if not reader.is_curator:
        raise Forbidden("Only curators can feature or hide papers.")
    with db.begin() as conn:
        paper_id = _existing_paper_id(conn, paper_id)
        paper_store.set_curation(conn, paper_id, featured=featured, hidden=hidden)


def curated_papers(db: Database, reader: Reader) -> list[dict[str, Any]]:
    """Featured and hidden papers, for the curators' page (hidden ones are in no list)."""
    if not reader.is_curator:
        raise Forbidden("Only curators can see the curation page.")
    with db.connect() as conn:
        return store.curated_papers(conn)


CLI_ACTOR = "command line"


def grant_role(db: Database, email: str, role: str, *, by: Reader | None = None) -> Reader:
    """Give an existing or new reader a role: the CLI's `users grant` (``by``
    None) and the admins' roles page. The change and its audit row commit
    together; an admin cannot change their own role, so the last admin stays."""
    if role not in ROLES:
        raise ReaderError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if by is not None and not by.is_admin:
        raise Forbidden("Only admins can grant or revoke roles.")
    email = normalize_email(email)
    now = utcnow()
    with db.begin() as conn:
        existing = store.get_reader_by_email(conn, email)
        row = store.get_or_create_reader(conn, email, now)
        return _set_role(conn, row["id"], role, by, created=existing is None, now=now)


def set_reader_role(db: Database, by: Reader, reader_id: int, role: str) -> Reader:
    """An admin sets a reader's role by id (grant curator/admin, or revoke to reader)."""
    if not by.is_admin:
        raise Forbidden("Only admins can grant or revoke roles.")
    if role not in ROLES:
        raise ReaderError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    with db.begin() as conn:
        return _set_role(conn, reader_id, role, by, created=False, now=utcnow())


def _set_role(
    conn: Any, reader_id: int, role: str, by: Reader | None, *, created: bool, now: datetime
) -> Reader:
    if by is not None and by.id == reader_id:
        raise ReaderError(
            "You cannot change your own role; another admin can (so there is always one)."
        )
    row = store.lock_reader(conn, reader_id)
    if row is None:
        raise NotFound(f"no reader {reader_id}")
    if row["role"] != role:
        store.set_role_by_id(conn, reader_id, role)
        store.record_role_change(
            conn,
            reader_id=reader_id,
            email=row["email"],
            old_role=None if created else row["role"],
            new_role=role,
            changed_by_id=by.id if by else None,
            changed_by=by.email if by else CLI_ACTOR,
            now=now,
        )
    return Reader.from_row({**row, "role": role})


def role_overview(db: Database, by: Reader) -> tuple[list[Reader], list[dict[str, Any]]]:
    """For the admins' roles page: curators and admins, and the latest role changes."""
    if not by.is_admin:
        raise Forbidden("Only admins can see and change roles.")
    with db.connect() as conn:
        privileged = [Reader.from_row(r) for r in store.readers_with_roles(conn, ROLES[1:])]
        return privileged, store.role_changes_log(conn)


def list_readers(db: Database) -> list[Reader]:
    with db.connect() as conn:
        return [Reader.from_row(r) for r in store.list_readers(conn)]
