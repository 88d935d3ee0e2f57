"""Authors and organizations as pages and follows; linking papers to them.

- ``link_pending``: drain ``author_queue`` in batches, each its own
  transaction (so the backfill of migration 0023 resumes where it stopped).
  ``services.ingest.store`` calls it after storing, the embed job calls it
  too (an instance upgraded in place links its old papers there).
- ``author_page`` / ``organization_page``: what an author's or an
  organization's page, feed, API route and MCP tool show.
- ``follow`` / ``unfollow`` / ``followed``: a reader's follows, private to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from paperfeed import readers
from paperfeed.app import Paperfeed
from paperfeed.db import authors as store
from paperfeed.db import papers as paper_store
from paperfeed.names import MAX_KEY, AuthorName
from paperfeed.readers import NotFound, Reader

PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
COAUTHORS_SHOWN = 20


@dataclass
class LinkReport:
    papers: int = 0
    authors_created: int = 0
    merged: int = 0
    left: int = 0  # still queued (a stopped run)


def link_pending(app: Paperfeed, *, limit: int | None = None, stop: Any = None) -> LinkReport:
    """Link queued papers to their authors and organizations, a batch per
    transaction, until the queue is empty, ``limit`` papers are done or
    ``stop`` (an Event) is set."""
    report = LinkReport()
    size = app.tuning.ingest.link_batch_size
    while limit is None or report.papers < limit:
        if stop is not None and stop.is_set():
            break
        batch = size if limit is None else min(size, limit - report.papers)
        with app.db.begin() as conn:
            counts = store.link_batch(conn, batch)
        if not counts.papers:
            break
        report.papers += counts.papers
        report.authors_created += counts.authors_created
        report.merged += counts.merged
    with app.db.connect() as conn:
        report.left = store.queued(conn)
    return report


def _check_key(key: str, what: str) -> str:
    if not key or len(key) > MAX_KEY or key != key.strip():
        raise NotFound(f"no {what} {key[:200]!r}")
    return key


def _page_bounds(page: int, per_page: int) -> tuple[int, int]:
    if page < 1:
        raise readers.ReaderError(f"page: must be 1 or more, got {page}")
    if not 1 <= per_page <= MAX_PAGE_SIZE:
        raise readers.ReaderError(f"per_page: must be from 1 to {MAX_PAGE_SIZE}, got {per_page}")
    return per_page, (page - 1) * per_page


def initials_readings(key: str) -> list[AuthorName]:
    """The initials forms a key can be: its leading one-letter words are the
    initials, and the rest is the surname, at every split ("l-leal-taixe" is
    "L. Leal Taixe" or "L. Leal-Taixe"; the key has lost which)."""
    words = key.split("-")
    readings = []
    for i in range(1, len(words)):
        if len(words[i - 1]) != 1:
            break
        initials = "".join(words[:i])
        surname = "-".join(words[i:])
        readings.append(AuthorName(key, f"{initials[0]}-{surname}", initials, True))
    return readings


@dataclass
class AuthorPage:
    author: dict[str, Any]
    papers: list[dict[str, Any]]
    total: int
    page: int
    per_page: int
    coauthors: list[dict[str, Any]] = field(default_factory=list)
    categories: list[dict[str, Any]] = field(default_factory=list)
    following: bool = False
    # An initials-only key with no author of its own ("j-smith"): the full
    # names it may stand for (the page offers them; several: ambiguous).
    candidates: list[dict[str, Any]] = field(default_factory=list)


def resolve_author(app: Paperfeed, key: str) -> dict[str, Any] | list[dict[str, Any]]:
    """The author stored under ``key``; for an initials-only key merged into
    (or ambiguous between) full names, those full names. Raises NotFound."""
    _check_key(key, "author")
    with app.db.connect() as conn:
        found = store.get_author(conn, key)
        if found is not None:
            return found
        candidates: dict[str, dict[str, Any]] = {}
        for short in initials_readings(key):
            for found_author in store.full_candidates_for(conn, short):
                candidates.setdefault(found_author["key"], found_author)
        if candidates:
            return list(candidates.values())
    raise NotFound(f"no author {key[:200]!r}")


def author_page(
    app: Paperfeed,
    key: str,
    *,
    reader: Reader | None = None,
    page: int = 1,
    per_page: int = PAGE_SIZE,
) -> AuthorPage:
    limit, offset = _page_bounds(page, per_page)
    found = resolve_author(app, key)
    if isinstance(found, list):
        if len(found) == 1:
            found = found[0]
        else:
            return AuthorPage(
                {"key": key, "name": key, "id": None}, [], 0, page, per_page, candidates=found
            )
    with app.db.connect() as conn:
        ids, total = store.author_paper_ids(conn, found["id"], limit=limit, offset=offset)
        rows = paper_store.get_papers(conn, ids)
        coauthors = store.coauthors(conn, found["id"], limit=COAUTHORS_SHOWN)
        categories = store.author_categories(conn, found["id"])
        following = reader is not None and store.is_following(conn, reader.id, found["id"])
    return AuthorPage(
        author=_public_author(found),
        papers=[rows[i] for i in ids if i in rows],
        total=total,
        page=page,
        per_page=per_page,
        coauthors=coauthors,
        categories=categories,
        following=following,
    )


def author_path(key: str) -> str:
    return f"/authors/{quote(key, safe='')}"


def organization_path(key: str) -> str:
    return f"/organizations/{quote(key, safe='')}"


def paper_ref(paper: dict[str, Any]) -> dict[str, Any]:
    """A paper as the author and organization answers list it."""
    return {
        "id": paper["id"],
        "title": paper["title"],
        "authors": list(paper.get("authors") or []),
        "primary_category": paper.get("primary_category"),
        "published": paper.get("published"),
        "listing_date": paper.get("listing_date"),
    }


def author_page_dict(found: AuthorPage) -> dict[str, Any]:
    """An author page in the JSON API's shape (web.schemas.AuthorPageOut),
    for the API and the MCP tool alike."""
    author = found.author
    return {
        "author": {
            "key": author["key"],
            "name": author["name"],
            "url": author_path(author["key"]),
            "orcid": author.get("orcid"),
            "openalex_id": author.get("openalex_id"),
            "semantic_scholar_id": author.get("semantic_scholar_id"),
        },
        "papers": [paper_ref(p) for p in found.papers],
        "total": found.total,
        "page": found.page,
        "per_page": found.per_page,
        "coauthors": found.coauthors,
        "categories": found.categories,
        "following": found.following,
        "candidates": [{"key": c["key"], "name": c["name"]} for c in found.candidates],
    }


def organization_page_dict(found: OrganizationPage) -> dict[str, Any]:
    org = found.organization
    return {
        "organization": {**org, "url": organization_path(org["key"])},
        "papers": [paper_ref(p) for p in found.papers],
        "total": found.total,
        "page": found.page,
        "per_page": found.per_page,
    }


def _public_author(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "key": row["key"],
        "name": row["name"],
        "orcid": row.get("orcid"),
        "openalex_id": row.get("openalex_id"),
        "semantic_scholar_id": row.get("semantic_scholar_id"),
    }


def paper_authors(app: Paperfeed, paper_id: str) -> list[dict[str, Any]]:
    """A paper's linked authors in order, with the affiliation given on it."""
    with app.db.connect() as conn:
        return store.paper_authors_of(conn, paper_id)


def paper_organizations(app: Paperfeed, paper_ids: list[str]) -> dict[str, list[Any]]:
    with app.db.connect() as conn:
        return store.paper_organizations_of(conn, paper_ids)


@dataclass
class OrganizationPage:
    organization: dict[str, Any]
    papers: list[dict[str, Any]]
    total: int
    page: int
    per_page: int


def organization_page(
    app: Paperfeed, key: str, *, page: int = 1, per_page: int = PAGE_SIZE
) -> OrganizationPage:
    limit, offset = _page_bounds(page, per_page)
    _check_key(key, "organization")
    with app.db.connect() as conn:
        found = store.get_organization(conn, key)
        if found is None:
            raise NotFound(f"no organization {key[:200]!r}")
        ids, total = store.organization_paper_ids(conn, found["id"], limit=limit, offset=offset)
        rows = paper_store.get_papers(conn, ids)
    organization = {"key": found["key"], "name": found["name"], "hf_name": found["hf_name"]}
    return OrganizationPage(
        organization, [rows[i] for i in ids if i in rows], total, page, per_page
    )


# ---------------------------------------------------------------- follows


def _author_for_follow(app: Paperfeed, key: str) -> dict[str, Any]:
    found = resolve_author(app, key)
    if isinstance(found, list):
        if len(found) != 1:
            raise readers.ReaderError(
                f"{key!r} may be any of {len(found)} authors; follow one of them by its full name"
            )
        return found[0]
    return found


def follow(app: Paperfeed, reader: Reader, key: str) -> dict[str, Any]:
    """Follow the author; returns {"key", "name", "following": True}."""
    readers.require_scope(reader, "write")
    author = _author_for_follow(app, key)
    with app.db.begin() as conn:
        store.follow(conn, reader.id, author["id"])
    return {"key": author["key"], "name": author["name"], "following": True}


def unfollow(app: Paperfeed, reader: Reader, key: str) -> dict[str, Any]:
    readers.require_scope(reader, "write")
    author = _author_for_follow(app, key)
    with app.db.begin() as conn:
        store.unfollow(conn, reader.id, author["id"])
    return {"key": author["key"], "name": author["name"], "following": False}


def followed(app: Paperfeed, reader: Reader) -> list[dict[str, Any]]:
    """The authors the reader follows (only the reader asks for their own)."""
    with app.db.connect() as conn:
        return store.followed_authors(conn, reader.id)


def followed_paper_ids(
    app: Paperfeed,
    reader: Reader,
    *,
    since: datetime | None = None,
    limit: int | None = None,
    among: list[str] | None = None,
) -> list[str]:
    """Papers by authors the reader follows, newest first."""
    with app.db.connect() as conn:
        return store.followed_paper_ids(conn, reader.id, since=since, limit=limit, among=among)


def papers_by_id(app: Paperfeed, ids: list[str]) -> dict[str, dict[str, Any]]:
    with app.db.connect() as conn:
        return paper_store.get_papers(conn, ids)
