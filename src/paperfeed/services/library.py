"""A reader's own library: private notes, searching it, exporting it (a
collection, the library or the whole account) and deleting the account.

Only the acting reader's rows are read or written (the queries in db/library.py
carry the reader's id); another reader's collection is "not found".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from paperfeed import export, readers
from paperfeed.app import Paperfeed
from paperfeed.db import authors as author_store
from paperfeed.db import library as store
from paperfeed.db import papers as paper_store
from paperfeed.db import readers as reader_store
from paperfeed.readers import NotFound, Reader, ReaderError

NOTE_MAX = 20_000
FORMATS = ("bibtex", "ris", "csl-json", "json")
MEDIA_TYPES = {
    "bibtex": ("application/x-bibtex; charset=utf-8", "bib"),
    "ris": ("application/x-research-info-systems; charset=utf-8", "ris"),
    "csl-json": ("application/vnd.citationstyles.csl+json; charset=utf-8", "json"),
    "json": ("application/json; charset=utf-8", "json"),
}

# ---------------------------------------------------------------- notes


def _clean_note(body: str) -> str:
    body = (body or "").strip()
    if len(body) > NOTE_MAX:
        raise ReaderError(f"A note holds at most {NOTE_MAX} characters.")
    return body


def set_note(
    app: Paperfeed, reader: Reader, paper_id: str, body: str, collection_id: int | None = None
) -> dict[str, Any] | None:
    """Write the reader's note on a paper, or on a paper of one of their
    collections; an empty note deletes it. Returns the note (None: deleted)."""
    readers.require_scope(reader, "write")
    body = _clean_note(body)
    with app.db.begin() as conn:
        resolved = paper_store.resolve_ids(conn, [paper_id])[paper_id]
        if not paper_store.get_papers(conn, [resolved]):
            raise NotFound(f"no paper {paper_id[:200]!r}")
        if collection_id is not None and not store.in_own_collection(
            conn, reader.id, collection_id, resolved
        ):
            raise NotFound(f"no paper {paper_id[:200]!r} in a collection {collection_id} of yours")
        if not body:
            store.delete_note(conn, reader.id, resolved, collection_id)
            return None
        store.set_note(conn, reader.id, resolved, collection_id, body, readers.utcnow())
        return store.get_note(conn, reader.id, resolved, collection_id)


def get_note(
    app: Paperfeed, reader: Reader, paper_id: str, collection_id: int | None = None
) -> dict[str, Any]:
    with app.db.connect() as conn:
        resolved = paper_store.resolve_ids(conn, [paper_id])[paper_id]
        found = store.get_note(conn, reader.id, resolved, collection_id)
    if found is None:
        raise NotFound(f"no note of yours on {paper_id[:200]!r}")
    return found


def notes_on(
    app: Paperfeed, reader: Reader | None, paper_ids: list[str], collection_id: int | None = None
) -> dict[str, str]:
    """paper id -> the reader's note, for a page's cards (nothing for visitors)."""
    if reader is None:
        return {}
    with app.db.connect() as conn:
        return store.notes_on(conn, reader.id, paper_ids, collection_id)


def list_notes(app: Paperfeed, reader: Reader, text: str = "") -> list[dict[str, Any]]:
    with app.db.connect() as conn:
        return store.list_notes(conn, reader.id, text.strip()[:200])


def search_library(app: Paperfeed, reader: Reader, text: str) -> list[dict[str, Any]]:
    """Saved papers whose title, abstract or note contain ``text``."""
    with app.db.connect() as conn:
        return store.search_saved(conn, reader.id, text.strip()[:200])


# ---------------------------------------------------------------- export


@dataclass
class Export:
    body: str
    media_type: str
    filename: str


def _with_notes(papers: list[dict[str, Any]], notes: dict[str, str]) -> list[dict[str, Any]]:
    return [{**p, "note": notes.get(p["id"], "")} for p in papers]


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def archive(app: Paperfeed, reader: Reader) -> dict[str, Any]:
    """Everything of the reader's, as one JSON document. Beyond the named
    sections, any other table keyed to the reader (comments, groups...) is
    included by name, without credentials (db/library.SECRET_COLUMNS)."""
    readers.require_scope(reader, "read")
    with app.db.connect() as conn:
        flags = store.flagged(conn, reader.id)
        data: dict[str, Any] = {
            "format": "paperfeed-archive-1",
            "exported_at": readers.utcnow(),
            "reader": {"id": reader.id, "email": reader.email, "name": reader.name},
            "saved_papers": store.saved_papers(conn, reader.id),
            **flags,
            "collections": [],
            "notes": store.all_notes(conn, reader.id),
            "saved_searches": store.list_saved_searches(conn, reader.id),
            # By key and name: an author's key is their page, /authors/{key}.
            "followed_authors": author_store.followed_authors(conn, reader.id),
            "subscriptions": store.reader_subscriptions(conn, reader.id, reader.email),
        }
        items = store.own_collection_papers(conn, reader.id)
        for collection in reader_store.list_collections(conn, reader.id):
            collection["paper_ids"] = [
                p["id"] for p in items if p["collection_id"] == collection["id"]
            ]
            data["collections"].append(collection)
        covered = {
            "votes",
            "saves",
            "hides",
            "collections",
            "notes",
            "saved_searches",
            "author_follows",
            "subscriptions",
            "readers",
            "reader_sessions",
            "api_tokens",
            "role_changes",
        }
        for table, column in store.reader_columns():
            if table.name not in covered:
                data.setdefault(table.name, []).extend(
                    store.rows_of(conn, table, column, reader.id)
                )
    return data


def export_papers(
    app: Paperfeed, reader: Reader, what: str, fmt: str, collection_id: int | None = None
) -> Export:
    """``what``: "collection" (one of the reader's), "library" (saved papers)
    or "account" (saved and collected papers; as ``json``, the whole archive)."""
    readers.require_scope(reader, "read")
    if fmt not in FORMATS:
        raise ReaderError(f"unknown format {fmt[:40]!r}; choose one of {', '.join(FORMATS)}")
    media_type, extension = MEDIA_TYPES[fmt]
    if what == "account" and fmt == "json":
        body = json.dumps(archive(app, reader), default=_json_default, indent=1)
        return Export(body, media_type, f"paperfeed-account.{extension}")
    with app.db.connect() as conn:
        if what == "collection":
            if collection_id is None or not reader_store.owns_collection(
                conn, reader.id, collection_id
            ):
                raise NotFound(f"no collection {collection_id} of yours")
            papers = store.own_collection_papers(conn, reader.id, collection_id)
            ids = [p["id"] for p in papers]
            # An item's own note wins over the note on the paper.
            notes = {
                **store.notes_on(conn, reader.id, ids),
                **store.notes_on(conn, reader.id, ids, collection_id),
            }
            name = f"paperfeed-collection-{collection_id}"
        elif what in ("library", "account"):
            papers = store.saved_papers(conn, reader.id)
            if what == "account":
                papers += store.own_collection_papers(conn, reader.id)
            papers = list({p["id"]: p for p in papers}.values())
            notes = store.notes_on(conn, reader.id, [p["id"] for p in papers])
            name = f"paperfeed-{what}"
        else:
            raise ReaderError(f"unknown export {what[:40]!r}: collection, library or account")
    rows = _with_notes(papers, notes)
    if fmt == "bibtex":
        body = export.bibtex_many(rows)
    elif fmt == "ris":
        body = export.ris(rows)
    elif fmt == "csl-json":
        body = json.dumps(export.csl_json(rows), indent=1, ensure_ascii=False)
    else:
        body = json.dumps({"papers": rows}, default=_json_default, indent=1)
    return Export(body, media_type, f"{name}.{extension}")


# ---------------------------------------------------------------- deleting the account


def delete_account(app: Paperfeed, reader: Reader, confirm_email: str) -> dict[str, int]:
    """Delete the reader and everything of theirs, in one transaction; their
    sessions and API tokens go with it. ``confirm_email`` must be their address."""
    readers.require_scope(reader, "write")
    if (confirm_email or "").strip().lower() != reader.email:
        raise ReaderError("Type your email address exactly to confirm deleting your account.")
    with app.db.begin() as conn:
        return store.delete_reader(conn, reader.id, reader.email)
