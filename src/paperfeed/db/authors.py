"""Authors, organizations and follows: linking queued papers to them, and the
reads their pages, the digest and the filters need.

Linking (``link_batch``) takes papers from ``author_queue`` and, in the
caller's transaction, replaces each one's ``paper_authors`` and
``paper_organizations`` rows and deletes its queue row: a batch links
completely or not at all, so a stopped backfill resumes where it was.
Which names are one author is decided by ``paperfeed.names`` (docs/authors.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    Connection,
    String,
    and_,
    any_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    update,
)

from paperfeed.db.papers import _insert
from paperfeed.db.tables import (
    author_follows,
    author_queue,
    authors,
    organizations,
    paper_authors,
    paper_organizations,
    papers,
)
from paperfeed.names import (
    AuthorName,
    abbreviates,
    organization_key,
    parse_author,
    split_affiliation,
)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class LinkCounts:
    papers: int = 0
    authors_created: int = 0
    merged: int = 0  # initials-only authors folded into the full name they abbreviate


# ---------------------------------------------------------------- linking


def queued(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(author_queue)).scalar() or 0)


def link_batch(conn: Connection, limit: int) -> LinkCounts:
    """Link up to ``limit`` queued papers in the caller's transaction, the
    most recently queued first: what an ingest just stored comes before the
    backlog of migration 0023's backfill."""
    counts = LinkCounts()
    query = (
        select(author_queue.c.paper_id)
        .order_by(author_queue.c.queued_at.desc(), author_queue.c.paper_id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        # Two linkers (the embed job, an ingest) take different papers.
        query = query.with_for_update(skip_locked=True)
    ids = list(conn.execute(query).scalars())
    if not ids:
        return counts
    rows = conn.execute(
        select(papers.c.id, papers.c.authors, papers.c.affiliations, papers.c.organization).where(
            papers.c.id.in_(ids)
        )
    ).all()
    counts.papers = len(ids)
    written: list[tuple[str, int, str, AuthorName, str | None]] = []
    for row in rows:
        affiliations = row.affiliations or []
        for position, name in enumerate(row.authors or []):
            parsed = parse_author(name)
            if parsed is None:
                continue
            mine = affiliations[position] if position < len(affiliations) else []
            written.append((row.id, position, name, parsed, "; ".join(mine) or None))
    author_ids = _author_ids(conn, [(name, parsed) for _, _, name, parsed, _ in written], counts)
    conn.execute(delete(paper_authors).where(paper_authors.c.paper_id.in_(ids)))
    if written:
        conn.execute(
            insert(paper_authors),
            [
                {
                    "paper_id": paper_id,
                    "position": position,
                    "author_id": author_ids[parsed.key],
                    "name": name,
                    "affiliation": affiliation,
                }
                for paper_id, position, name, parsed, affiliation in written
            ],
        )
    _link_organizations(conn, ids, rows)
    conn.execute(delete(author_queue).where(author_queue.c.paper_id.in_(ids)))
    return counts


def _author_ids(
    conn: Connection, names: Sequence[tuple[str, AuthorName]], counts: LinkCounts
) -> dict[str, int]:
    """Written key -> author id, creating authors and applying the initials merge."""
    if not names:
        return {}
    display: dict[str, tuple[str, AuthorName]] = {}
    for name, parsed in names:
        display.setdefault(parsed.key, (name, parsed))
    keys = list(display)
    known = _ids_by_key(conn, keys)
    # Full names first: an initials-only name may abbreviate one of them.
    new_full = [k for k in keys if k not in known and not display[k][1].abbreviated]
    _create(conn, [display[k] for k in new_full], counts)
    known.update(_ids_by_key(conn, new_full))
    short = [display[k][1] for k in keys if k not in known]
    targets = _unique_full_names(conn, short)
    target_ids = _ids_by_key(conn, list(set(targets.values())))
    resolved = {s.key: target_ids[targets[s.key]] for s in short if s.key in targets}
    _create(conn, [display[s.key] for s in short if s.key not in targets], counts)
    known.update(_ids_by_key(conn, [s.key for s in short if s.key not in targets]))
    known.update(resolved)
    if new_full:
        counts.merged += _fold_abbreviations(conn, [display[k][1] for k in new_full])
    return known


def _among(conn: Connection, column: Any, values: Sequence[Any]) -> Any:
    """``column IN values`` as one parameter (a JSON array on SQLite, an array
    on PostgreSQL): a batch's thousands of keys as an expanded IN list cost
    SQLAlchemy more than the query."""
    if conn.dialect.name == "sqlite":
        each = func.json_each(bindparam("values", json.dumps(list(values)), type_=String))
        return column.in_(select(literal_column("value")).select_from(each))
    return column == any_(bindparam("values", list(values), type_=ARRAY(column.type)))


def _ids_by_key(conn: Connection, keys: Sequence[str]) -> dict[str, int]:
    if not keys:
        return {}
    return {
        key: author_id
        for author_id, key in conn.execute(
            select(authors.c.id, authors.c.key).where(_among(conn, authors.c.key, keys))
        )
    }


def _create(conn: Connection, named: Sequence[tuple[str, AuthorName]], counts: LinkCounts) -> None:
    if not named:
        return
    stamp = _now()
    result = conn.execute(
        _insert(conn, authors).on_conflict_do_nothing(index_elements=[authors.c.key]),
        [
            {
                "key": parsed.key,
                "name": " ".join(name.split()),
                "initials_key": parsed.initials_key,
                "initials": parsed.initials[:200],
                "abbreviated": parsed.abbreviated,
                "created_at": stamp,
            }
            for name, parsed in named
        ],
    )
    counts.authors_created += max(result.rowcount or 0, 0)


def _full_candidates(conn: Connection, initials_keys: Sequence[str]) -> list[Any]:
    if not initials_keys:
        return []
    return list(
        conn.execute(
            select(authors.c.key, authors.c.initials_key, authors.c.initials).where(
                authors.c.initials_key.in_(list(set(initials_keys))),
                authors.c.abbreviated.is_(False),
            )
        )
    )


def _as_name(row: Any, abbreviated: bool) -> AuthorName:
    return AuthorName(row.key, row.initials_key, row.initials, abbreviated)


def _unique_full_names(conn: Connection, short: Sequence[AuthorName]) -> dict[str, str]:
    """For each initials-only name, the key of the one full name it
    abbreviates; names with none or several are absent."""
    by_initials: dict[str, list[AuthorName]] = {}
    for row in _full_candidates(conn, [s.initials_key for s in short]):
        by_initials.setdefault(row.initials_key, []).append(_as_name(row, False))
    found = {}
    for s in short:
        matches = [f for f in by_initials.get(s.initials_key, []) if abbreviates(s, f)]
        if len(matches) == 1:
            found[s.key] = matches[0].key
    return found


def _fold_abbreviations(conn: Connection, new_full: Sequence[AuthorName]) -> int:
    """Initials-only authors stored before the full name they abbreviate
    arrived: when that full name is now their one candidate, their papers and
    followers move to it and they go. Merges are not undone if a second
    candidate arrives later (docs/authors.md)."""
    initials_keys = list({f.initials_key for f in new_full})
    shorts = list(
        conn.execute(
            select(authors.c.id, authors.c.key, authors.c.initials_key, authors.c.initials).where(
                authors.c.initials_key.in_(initials_keys), authors.c.abbreviated.is_(True)
            )
        )
    )
    if not shorts:
        return 0
    targets = _unique_full_names(conn, [_as_name(s, True) for s in shorts])
    merged = 0
    for s in shorts:
        target_key = targets.get(s.key)
        if target_key is None:
            continue
        target_id = _ids_by_key(conn, [target_key])[target_key]
        conn.execute(
            update(paper_authors)
            .where(paper_authors.c.author_id == s.id)
            .values(author_id=target_id)
        )
        already = select(author_follows.c.reader_id).where(author_follows.c.author_id == target_id)
        conn.execute(
            update(author_follows)
            .where(author_follows.c.author_id == s.id, author_follows.c.reader_id.not_in(already))
            .values(author_id=target_id)
        )
        conn.execute(delete(authors).where(authors.c.id == s.id))
        merged += 1
    return merged


def _link_organizations(conn: Connection, ids: Sequence[str], rows: Sequence[Any]) -> None:
    named: dict[str, tuple[str, str | None]] = {}  # key -> (display name, HF handle)
    pairs: set[tuple[str, str]] = set()
    for row in rows:
        for per_author in row.affiliations or []:
            for text in per_author or []:
                for part in split_affiliation(text):
                    key = organization_key(part)
                    if key is not None:
                        named.setdefault(key, (part[:1000], None))
                        pairs.add((row.id, key))
        org = row.organization or {}
        label = str(org.get("fullname") or org.get("name") or "")
        key = organization_key(label) if label else None
        if key is not None:
            named[key] = (label[:1000], (org.get("name") or None))
            pairs.add((row.id, key))
    conn.execute(delete(paper_organizations).where(paper_organizations.c.paper_id.in_(ids)))
    if not pairs:
        return
    stamp = _now()
    conn.execute(
        _insert(conn, organizations).on_conflict_do_nothing(index_elements=[organizations.c.key]),
        [
            {"key": k, "name": name, "hf_name": hf and hf[:200], "created_at": stamp}
            for k, (name, hf) in named.items()
        ],
    )
    for k, (_, hf) in named.items():
        if hf:
            conn.execute(
                update(organizations)
                .where(organizations.c.key == k, organizations.c.hf_name.is_(None))
                .values(hf_name=hf[:200])
            )
    org_ids = dict(
        conn.execute(
            select(organizations.c.key, organizations.c.id).where(
                organizations.c.key.in_(list(named))
            )
        ).all()
    )
    conn.execute(
        insert(paper_organizations),
        [{"paper_id": p, "organization_id": org_ids[k]} for p, k in sorted(pairs)],
    )


# ---------------------------------------------------------------- reads


def get_author(conn: Connection, key: str) -> dict[str, Any] | None:
    row = conn.execute(select(authors).where(authors.c.key == key)).first()
    return dict(row._mapping) if row is not None else None


def full_candidates_for(conn: Connection, short: AuthorName) -> list[dict[str, Any]]:
    """Stored full-name authors an initials-only name abbreviates."""
    rows = conn.execute(
        select(authors).where(
            authors.c.initials_key == short.initials_key, authors.c.abbreviated.is_(False)
        )
    ).all()
    return [dict(r._mapping) for r in rows if abbreviates(short, _as_name(r, False))]


def _visible() -> Any:
    return papers.c.hidden.is_(False)


def author_paper_ids(
    conn: Connection, author_id: int, *, limit: int, offset: int
) -> tuple[list[str], int]:
    """An author's papers, newest first, and how many there are."""
    base = (
        select(papers.c.id)
        .join(paper_authors, paper_authors.c.paper_id == papers.c.id)
        .where(paper_authors.c.author_id == author_id, _visible())
        .distinct()
    )
    total = int(conn.execute(select(func.count()).select_from(base.subquery())).scalar() or 0)
    ids = list(
        conn.execute(
            select(papers.c.id)
            .where(papers.c.id.in_(base))
            .order_by(papers.c.published.desc(), papers.c.id.desc())
            .limit(limit)
            .offset(offset)
        ).scalars()
    )
    return ids, total


def coauthors(conn: Connection, author_id: int, *, limit: int) -> list[dict[str, Any]]:
    """Who wrote with the author most, with how many shared papers."""
    mine = select(paper_authors.c.paper_id).where(paper_authors.c.author_id == author_id)
    shared = func.count(func.distinct(paper_authors.c.paper_id)).label("papers")
    rows = conn.execute(
        select(authors.c.key, authors.c.name, shared)
        .join(paper_authors, paper_authors.c.author_id == authors.c.id)
        .where(paper_authors.c.paper_id.in_(mine), authors.c.id != author_id)
        .group_by(authors.c.id, authors.c.key, authors.c.name)
        .order_by(shared.desc(), authors.c.key)
        .limit(limit)
    ).all()
    return [{"key": r.key, "name": r.name, "papers": int(r.papers)} for r in rows]


def author_categories(conn: Connection, author_id: int) -> list[dict[str, Any]]:
    """The primary categories of the author's papers, most frequent first."""
    count = func.count(func.distinct(papers.c.id)).label("papers")
    rows = conn.execute(
        select(papers.c.primary_category, count)
        .join(paper_authors, paper_authors.c.paper_id == papers.c.id)
        .where(
            paper_authors.c.author_id == author_id,
            papers.c.primary_category.is_not(None),
            _visible(),
        )
        .group_by(papers.c.primary_category)
        .order_by(count.desc(), papers.c.primary_category)
    ).all()
    return [{"category": r.primary_category, "papers": int(r.papers)} for r in rows]


def paper_authors_of(conn: Connection, paper_id: str) -> list[dict[str, Any]]:
    """A paper's linked authors in order: the name as written, the author's key
    and the affiliation given on this paper."""
    rows = conn.execute(
        select(paper_authors.c.name, paper_authors.c.affiliation, authors.c.key)
        .join(authors, authors.c.id == paper_authors.c.author_id)
        .where(paper_authors.c.paper_id == paper_id)
        .order_by(paper_authors.c.position)
    ).all()
    return [{"name": r.name, "key": r.key, "affiliation": r.affiliation} for r in rows]


def paper_organizations_of(conn: Connection, paper_ids: Sequence[str]) -> dict[str, list[Any]]:
    """paper id -> its organizations ({"key", "name", "hf_name"}), by name."""
    if not paper_ids:
        return {}
    rows = conn.execute(
        select(
            paper_organizations.c.paper_id,
            organizations.c.key,
            organizations.c.name,
            organizations.c.hf_name,
        )
        .join(organizations, organizations.c.id == paper_organizations.c.organization_id)
        .where(paper_organizations.c.paper_id.in_(list(paper_ids)))
        .order_by(organizations.c.name)
    ).all()
    found: dict[str, list[Any]] = {}
    for r in rows:
        found.setdefault(r.paper_id, []).append(
            {"key": r.key, "name": r.name, "hf_name": r.hf_name}
        )
    return found


def get_organization(conn: Connection, key: str) -> dict[str, Any] | None:
    row = conn.execute(select(organizations).where(organizations.c.key == key)).first()
    return dict(row._mapping) if row is not None else None


def organization_paper_ids(
    conn: Connection, organization_id: int, *, limit: int, offset: int
) -> tuple[list[str], int]:
    base = and_(
        paper_organizations.c.organization_id == organization_id,
        paper_organizations.c.paper_id == papers.c.id,
        _visible(),
    )
    total = int(
        conn.execute(
            select(func.count()).select_from(papers).join(paper_organizations, base)
        ).scalar()
        or 0
    )
    ids = list(
        conn.execute(
            select(papers.c.id)
            .join(paper_organizations, base)
            .order_by(papers.c.published.desc(), papers.c.id.desc())
            .limit(limit)
            .offset(offset)
        ).scalars()
    )
    return ids, total


# ---------------------------------------------------------------- follows (private)


def follow(conn: Connection, reader_id: int, author_id: int) -> bool:
    """Follow; False when the reader already did."""
    result = conn.execute(
        _insert(conn, author_follows).on_conflict_do_nothing(),
        [{"reader_id": reader_id, "author_id": author_id, "created_at": _now()}],
    )
    return bool(result.rowcount)


def unfollow(conn: Connection, reader_id: int, author_id: int) -> bool:
    result = conn.execute(
        delete(author_follows).where(
            author_follows.c.reader_id == reader_id, author_follows.c.author_id == author_id
        )
    )
    return bool(result.rowcount)


def is_following(conn: Connection, reader_id: int, author_id: int) -> bool:
    return (
        conn.execute(
            select(author_follows.c.author_id).where(
                author_follows.c.reader_id == reader_id, author_follows.c.author_id == author_id
            )
        ).first()
        is not None
    )


def followed_authors(conn: Connection, reader_id: int) -> list[dict[str, Any]]:
    """The reader's followed authors (only ever asked for by that reader), by name."""
    rows = conn.execute(
        select(authors.c.key, authors.c.name, author_follows.c.created_at)
        .join(author_follows, author_follows.c.author_id == authors.c.id)
        .where(author_follows.c.reader_id == reader_id)
        .order_by(authors.c.name, authors.c.key)
    ).all()
    return [{"key": r.key, "name": r.name, "followed_at": r.created_at} for r in rows]


def followed_paper_ids(
    conn: Connection,
    reader_id: int,
    *,
    since: datetime | None = None,
    limit: int | None = None,
    among: Sequence[str] | None = None,
) -> list[str]:
    """Papers by authors the reader follows, newest first: published after
    ``since`` and/or among ``among`` when given."""
    followed = select(author_follows.c.author_id).where(author_follows.c.reader_id == reader_id)
    by_them = select(paper_authors.c.paper_id).where(paper_authors.c.author_id.in_(followed))
    query = select(papers.c.id).where(papers.c.id.in_(by_them), _visible())
    if since is not None:
        query = query.where(papers.c.published >= since)
    if among is not None:
        query = query.where(papers.c.id.in_(list(among)))
    query = query.order_by(papers.c.published.desc(), papers.c.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return list(conn.execute(query).scalars())


def followed_in_period(
    conn: Connection, reader_ids: Sequence[int], start: Any, end: Any
) -> dict[int, set[str]]:
    """For each reader, the papers listed from ``start`` to ``end`` (days,
    inclusive) by authors they follow: one query for a batch of digests."""
    if not reader_ids:
        return {}
    rows = conn.execute(
        select(author_follows.c.reader_id, paper_authors.c.paper_id)
        .join(paper_authors, paper_authors.c.author_id == author_follows.c.author_id)
        .join(papers, papers.c.id == paper_authors.c.paper_id)
        .where(
            author_follows.c.reader_id.in_(list(reader_ids)),
            papers.c.listing_date >= start,
            papers.c.listing_date <= end,
            _visible(),
        )
    ).all()
    found: dict[int, set[str]] = {}
    for reader_id, paper_id in rows:
        found.setdefault(reader_id, set()).add(paper_id)
    return found
