"""Code links and GitHub repositories: storage and the reads pages need.

Links come from ingest (services.code_links.record); repositories' stars from
the stars job (services.github_stars), which resumes from ``checked_at``
(oldest first, never-checked first of all).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, exists, func, select, update

from paperfeed.db.papers import _insert
from paperfeed.db.tables import code_links, papers, repositories, repository_stars

# What "has code" means: a repository or a Hugging Face artifact; a project
# page alone is not code (services.code_links.CODE_KINDS says the same).
CODE_KINDS = ("github", "gitlab", "hf_model", "hf_dataset", "hf_space")
# Which link a card shows as "Code" when a paper has several: a person chose
# HF's (source "hf"), then GitHub, GitLab, then Hugging Face artifacts.
_KIND_ORDER = {k: i for i, k in enumerate(CODE_KINDS)}
_SOURCE_ORDER = {"hf": 0, "abstract": 1, "comment": 2}


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class LinkRow:
    paper_id: str
    url: str
    kind: str
    source: str
    repo: str | None = None  # GitHub "owner/name" as written


def add_links(conn: Connection, rows: Sequence[LinkRow], *, hf_stars: dict[str, int]) -> int:
    """Store links (existing ones are kept), the GitHub repositories they name,
    and HF's star figures for repositories GitHub has not been asked about."""
    stamp = now()
    by_key = {(r.paper_id, r.url): r for r in rows}
    stmt = _insert(conn, code_links).on_conflict_do_nothing()
    result = conn.execute(
        stmt,
        [
            {
                "paper_id": r.paper_id,
                "url": r.url,
                "kind": r.kind,
                "source": r.source,
                "repo": r.repo.lower() if r.repo else None,
                "created_at": stamp,
            }
            for r in by_key.values()
        ],
    )
    repos = {r.repo.lower(): r.repo for r in by_key.values() if r.repo}
    if repos:
        conn.execute(
            _insert(conn, repositories).on_conflict_do_nothing(),
            [
                {"name": key, "full_name": name, "status": "ok", "created_at": stamp}
                for key, name in repos.items()
            ],
        )
    for key, stars in hf_stars.items():
        changed = conn.execute(
            update(repositories)
            .where(
                repositories.c.name == key,
                repositories.c.checked_at.is_(None),
                repositories.c.stars.is_distinct_from(stars),
            )
            .values(stars=stars, stars_source="hf")
        ).rowcount
        if changed:
            _observe(conn, key, stars, stamp)
    return max(0, result.rowcount or 0)


def _observe(conn: Connection, name: str, stars: int, at: datetime) -> None:
    conn.execute(
        _insert(conn, repository_stars).on_conflict_do_nothing(),
        [{"name": name, "observed_at": at, "stars": stars}],
    )


def paper_texts(conn: Connection, *, after: str, limit: int) -> list[tuple[str, str, str | None]]:
    """(id, abstract, comment) of papers by id, from just past ``after``."""
    rows = conn.execute(
        select(papers.c.id, papers.c.abstract, papers.c.comment)
        .where(papers.c.id > after)
        .order_by(papers.c.id)
        .limit(limit)
    )
    return [(r[0], r[1] or "", r[2]) for r in rows]


def has_code() -> ColumnElement[bool]:
    """The papers (in a query over ``papers``) that link to code."""
    return exists().where(
        and_(code_links.c.paper_id == papers.c.id, code_links.c.kind.in_(CODE_KINDS))
    )


def ids_with_code(conn: Connection) -> frozenset[str]:
    rows = conn.execute(
        select(code_links.c.paper_id).where(code_links.c.kind.in_(CODE_KINDS)).distinct()
    )
    return frozenset(r[0] for r in rows)


def code_for(conn: Connection, paper_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per paper that has any link: ``code_url`` and ``code_kind`` (the link a
    card shows), ``github_repo`` (URL), ``github_stars``, ``project_page`` and
    ``links`` (every link: url, kind, source)."""
    if not paper_ids:
        return {}
    rows = conn.execute(
        select(
            code_links.c.paper_id,
            code_links.c.url,
            code_links.c.kind,
            code_links.c.source,
            code_links.c.repo,
            repositories.c.full_name,
            repositories.c.stars,
            repositories.c.status,
        )
        .select_from(code_links.outerjoin(repositories, repositories.c.name == code_links.c.repo))
        .where(code_links.c.paper_id.in_(list(dict.fromkeys(paper_ids))))
    ).all()
    grouped: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[row.paper_id].append(row)
    out: dict[str, dict[str, Any]] = {}
    for paper_id, links in grouped.items():
        links.sort(key=lambda r: (_SOURCE_ORDER.get(r.source, 9), r.url))
        code = sorted(
            (r for r in links if r.kind in _KIND_ORDER and r.status != "gone"),
            key=lambda r: (_SOURCE_ORDER.get(r.source, 9), _KIND_ORDER[r.kind]),
        )
        github = next((r for r in code if r.kind == "github"), None)
        page = next((r for r in links if r.kind == "project"), None)
        out[paper_id] = {
            "code_url": code[0].url if code else None,
            "code_kind": code[0].kind if code else None,
            "github_repo": github.url if github else None,
            "github_stars": github.stars if github else None,
            "project_page": page.url if page else None,
            "links": [{"url": r.url, "kind": r.kind, "source": r.source} for r in links],
        }
    return out


# ---------------------------------------------------------------- the stars job


@dataclass(frozen=True, slots=True)
class Repository:
    name: str  # the key, lower case
    full_name: str
    stars: int | None
    etag: str | None
    checked_at: datetime | None


def due_repositories(conn: Connection, *, checked_before: datetime, limit: int) -> list[Repository]:
    """Repositories to ask GitHub about: never checked first, then the oldest
    check, skipping those checked since ``checked_before`` and those gone or renamed."""
    rows = conn.execute(
        select(
            repositories.c.name,
            repositories.c.full_name,
            repositories.c.stars,
            repositories.c.etag,
            repositories.c.checked_at,
        )
        .where(
            repositories.c.status == "ok",
            (repositories.c.checked_at.is_(None)) | (repositories.c.checked_at < checked_before),
            exists().where(code_links.c.repo == repositories.c.name),
        )
        .order_by(
            repositories.c.checked_at.is_not(None), repositories.c.checked_at, repositories.c.name
        )
        .limit(limit)
    ).all()
    return [Repository(r.name, r.full_name, r.stars, r.etag, r.checked_at) for r in rows]


def not_modified(conn: Connection, name: str, at: datetime) -> None:
    """GitHub answered 304: the stars stand; only the check time moves."""
    conn.execute(update(repositories).where(repositories.c.name == name).values(checked_at=at))


def observed(
    conn: Connection, name: str, *, full_name: str, stars: int, etag: str | None, at: datetime
) -> None:
    old = conn.execute(select(repositories.c.stars).where(repositories.c.name == name)).scalar()
    conn.execute(
        update(repositories)
        .where(repositories.c.name == name)
        .values(full_name=full_name, stars=stars, stars_source="github", etag=etag, checked_at=at)
    )
    last = conn.execute(
        select(repository_stars.c.stars)
        .where(repository_stars.c.name == name)
        .order_by(repository_stars.c.observed_at.desc())
        .limit(1)
    ).scalar()
    if last is None or last != stars or old != stars:
        _observe(conn, name, stars, at)


def gone(conn: Connection, name: str, at: datetime) -> None:
    """GitHub answered 404: the repository was deleted or made private."""
    conn.execute(
        update(repositories)
        .where(repositories.c.name == name)
        .values(status="gone", checked_at=at, etag=None)
    )


def renamed(
    conn: Connection,
    old: str,
    *,
    full_name: str,
    stars: int,
    etag: str | None,
    at: datetime,
) -> str:
    """The repository ``old`` is now ``full_name``: the links move to the new
    name (their URLs too), the old row records where it went, and its star
    history carries on under the new name. Returns the new key."""
    new = full_name.lower()
    if new == old:
        observed(conn, old, full_name=full_name, stars=stars, etag=etag, at=at)
        return new
    exists_new = conn.execute(select(repositories.c.name).where(repositories.c.name == new)).first()
    if exists_new is None:
        conn.execute(
            repositories.insert(),
            [{"name": new, "full_name": full_name, "status": "ok", "created_at": at}],
        )
    # History: rows at times the new name has none move over.
    taken = select(repository_stars.c.observed_at).where(repository_stars.c.name == new)
    conn.execute(
        update(repository_stars)
        .where(repository_stars.c.name == old, repository_stars.c.observed_at.not_in(taken))
        .values(name=new)
    )
    new_url = f"https://github.com/{full_name}"
    for paper_id, url in conn.execute(
        select(code_links.c.paper_id, code_links.c.url).where(code_links.c.repo == old)
    ).all():
        clash = conn.execute(
            select(code_links.c.url).where(
                code_links.c.paper_id == paper_id, code_links.c.url == new_url
            )
        ).first()
        values: dict[str, Any] = {"repo": new}
        if clash is None:
            values["url"] = new_url
        conn.execute(
            update(code_links)
            .where(code_links.c.paper_id == paper_id, code_links.c.url == url)
            .values(**values)
        )
    conn.execute(
        update(repositories)
        .where(repositories.c.name == old)
        .values(status="renamed", renamed_to=new, checked_at=at, etag=None)
    )
    observed(conn, new, full_name=full_name, stars=stars, etag=etag, at=at)
    return new


def repository(conn: Connection, name: str) -> dict[str, Any] | None:
    row = conn.execute(select(repositories).where(repositories.c.name == name.lower())).first()
    return dict(row._mapping) if row else None


def star_history(conn: Connection, names: Iterable[str]) -> dict[str, list[tuple[datetime, int]]]:
    """(observed_at, stars) per repository, oldest first."""
    names = list(dict.fromkeys(names))
    out: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    if not names:
        return out
    rows = conn.execute(
        select(repository_stars.c.name, repository_stars.c.observed_at, repository_stars.c.stars)
        .where(repository_stars.c.name.in_(names))
        .order_by(repository_stars.c.name, repository_stars.c.observed_at)
    )
    for name, at, stars in rows:
        if at.tzinfo is None:  # SQLite hands timestamps back naive (they are UTC)
            at = at.replace(tzinfo=UTC)
        out[name].append((at, stars))
    return out


def code_candidates(
    conn: Connection, where: Sequence[ColumnElement[bool]]
) -> list[tuple[str, int, Any, Any]]:
    """(id, imported upvotes, listing date, published) of the papers ``where``
    selects that link to code: the trending-by-code list's candidates."""
    rows = conn.execute(
        select(
            papers.c.id, papers.c.imported_upvotes, papers.c.listing_date, papers.c.published
        ).where(*where, has_code())
    )
    return [(r[0], int(r[1] or 0), r[2], r[3]) for r in rows]


def github_repos_of(conn: Connection, paper_ids: Sequence[str]) -> dict[str, list[str]]:
    """Repository keys per paper (live ones: not gone, not renamed away)."""
    out: dict[str, list[str]] = defaultdict(list)
    if not paper_ids:
        return out
    rows = conn.execute(
        select(code_links.c.paper_id, code_links.c.repo)
        .select_from(code_links.join(repositories, repositories.c.name == code_links.c.repo))
        .where(code_links.c.paper_id.in_(list(paper_ids)), repositories.c.status == "ok")
    )
    for paper_id, repo in rows:
        out[paper_id].append(repo)
    return out


def stats(conn: Connection) -> dict[str, int]:
    def count(*where: ColumnElement[bool]) -> int:
        return int(
            conn.execute(select(func.count()).select_from(repositories).where(*where)).scalar() or 0
        )

    return {
        "papers_with_code": int(
            conn.execute(
                select(func.count(code_links.c.paper_id.distinct())).where(
                    code_links.c.kind.in_(CODE_KINDS)
                )
            ).scalar()
            or 0
        ),
        "links": int(conn.execute(select(func.count()).select_from(code_links)).scalar() or 0),
        "repositories": count(),
        "never_checked": count(repositories.c.checked_at.is_(None), repositories.c.status == "ok"),
        "gone": count(repositories.c.status == "gone"),
        "renamed": count(repositories.c.status == "renamed"),
    }
