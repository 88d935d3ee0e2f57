"""Importing a reader's references: BibTeX (bibtexparser 2), RIS (rispy),
CSL-JSON and a Zotero library (its web API, through httpx: pyzotero pins
bibtexparser below 2).

Each item is matched to a stored paper by arXiv id, then DOI, then normalised
title (LaTeX decoded, braces and accents dropped: ``models.normalize_title``).
Items with an arXiv id Paperfeed lacks are fetched through the arXiv source;
when arXiv cannot be reached they are reported, like items that match nothing.
A file that does not parse is refused whole, naming the entry (key and line);
what the reader gets (saves, a collection, notes) is written in one transaction.
The saves are the "For you" model's positives, and its model cache is keyed by
the signals, so the next feed is the new one; the report carries the top picks
before and after.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from paperfeed import readers, recommend
from paperfeed.app import Paperfeed
from paperfeed.config import Settings
from paperfeed.db import library as store
from paperfeed.db import papers as paper_store
from paperfeed.db import readers as reader_store
from paperfeed.ingest import arxiv_api
from paperfeed.ingest.http import FetchError
from paperfeed.models import normalize_title
from paperfeed.readers import Reader, ReaderError
from paperfeed.services.ingest import store as store_papers

FORMATS = ("bibtex", "ris", "csl-json")
MAX_BYTES = 5_000_000
MAX_ITEMS = 5_000
MAX_FETCH = 100  # arXiv papers fetched per import
ARXIV_IN_TEXT = re.compile(
    r"arxiv(?:\.org/(?:abs|pdf)/|[\s.:/]*)(\d{4}\.\d{4,5}|[a-z\-]+(?:\.[a-z]{2})?/\d{7})(?:v\d+)?",
    re.IGNORECASE,
)
DOI_PREFIX = re.compile(r"^(https?://(dx\.)?doi\.org/|doi:\s*)", re.IGNORECASE)


class ImportProblem(ReaderError):
    """The input cannot be imported; the message names the entry."""


@dataclass
class Item:
    ref: str  # how the reader finds it in their file: key and line, or record number
    title: str = ""
    arxiv_id: str | None = None
    doi: str | None = None
    note: str = ""


@dataclass
class ImportReport:
    total: int
    matched: list[dict[str, str]] = field(default_factory=list)  # ref, title, paper_id, how
    unmatched: list[dict[str, str]] = field(default_factory=list)  # ref, title, reason
    newly_saved: int = 0
    collection_id: int | None = None
    before: list[recommend.Pick] = field(default_factory=list)
    after: list[recommend.Pick] = field(default_factory=list)


# ---------------------------------------------------------------- reading


def _arxiv_id(*texts: str | None) -> str | None:
    for text in texts:
        found = ARXIV_IN_TEXT.search(text or "")
        if found:
            return found.group(1)
    return None


def _doi(value: str | None) -> str | None:
    value = DOI_PREFIX.sub("", (value or "").strip())
    return value.lower() if value.startswith("10.") else None


def _item(ref: str, title: str, doi: str | None, note: str, *id_texts: str | None) -> Item:
    doi = _doi(doi)
    arxiv = _arxiv_id(*id_texts, doi)  # arXiv's own DOIs: 10.48550/arXiv.<id>
    return Item(
        ref=ref,
        title=" ".join((title or "").split()),
        arxiv_id=arxiv,
        doi=doi,
        note=(note or "").strip(),
    )


def read_bibtex(text: str) -> list[Item]:
    import bibtexparser
    from bibtexparser.model import DuplicateBlockKeyBlock

    library = bibtexparser.parse_string(text)
    if library.failed_blocks:
        block = library.failed_blocks[0]
        line = (block.start_line or 0) + 1
        if isinstance(block, DuplicateBlockKeyBlock):
            raise ImportProblem(f"BibTeX entry {block.key!r} (line {line}) repeats an earlier key.")
        head = " ".join((block.raw or "").split())[:80]
        raise ImportProblem(
            f"BibTeX entry at line {line} does not parse ({head!r}): check its braces and "
            "quotes. Nothing was imported."
        )
    items = []
    for entry in library.entries:
        fields = {k.lower(): str(v.value) for k, v in entry.fields_dict.items()}
        eprint = fields.get("eprint", "")
        if eprint and (fields.get("archiveprefix", "") + fields.get("eprinttype", "")).lower() in (
            "arxiv",
            "",
        ):
            eprint = f"arXiv:{eprint}"
        ref = f"{entry.key} (line {(entry.start_line or 0) + 1})"
        items.append(
            _item(
                ref,
                fields.get("title", ""),
                fields.get("doi"),
                fields.get("annote", ""),
                eprint,
                fields.get("url"),
                fields.get("journal"),
                fields.get("note"),
            )
        )
    return items


def read_ris(text: str) -> list[Item]:
    import rispy

    # rispy skips a record without its "ER  -" end silently; refuse it instead.
    start = None
    for number, line in enumerate(text.splitlines(), 1):
        tag = line[:6]
        if tag.startswith("TY  -"):
            if start is not None:
                raise ImportProblem(f"RIS record at line {start} has no 'ER  -' end.")
            start = number
        elif tag.startswith("ER  -"):
            if start is None:
                raise ImportProblem(f"RIS line {number}: 'ER  -' without a record ('TY  -').")
            start = None
    if start is not None:
        raise ImportProblem(f"RIS record at line {start} has no 'ER  -' end.")
    try:
        records = rispy.loads(text)
    except Exception as exc:  # rispy raises bare exceptions on broken tags
        raise ImportProblem(f"RIS does not parse: {str(exc)[:200]}") from exc
    items = []
    for number, record in enumerate(records, 1):
        title = record.get("title") or record.get("primary_title") or ""
        urls = record.get("urls") or []
        items.append(
            _item(
                f"record {number}",
                title,
                record.get("doi"),
                "\n".join(record.get("notes") or []),
                record.get("id"),
                *urls,
            )
        )
    return items


def read_csl_json(text: str) -> list[Item]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportProblem(f"CSL-JSON does not parse: {exc.msg} at line {exc.lineno}.") from exc
    if isinstance(data, dict):
        data = data.get("items", [data])
    if not isinstance(data, list):
        raise ImportProblem("CSL-JSON must be a list of items.")
    items = []
    for number, entry in enumerate(data, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("title", ""), str):
            raise ImportProblem(f"CSL-JSON item {number} is not an item with a text title.")
        ref = f"{str(entry.get('id', ''))[:80]} (item {number})"
        text_of = {k: str(entry.get(k) or "") for k in ("DOI", "URL", "number", "note", "annote")}
        items.append(
            _item(
                ref,
                entry.get("title", ""),
                text_of["DOI"],
                text_of["annote"],
                text_of["number"],
                text_of["URL"],
                text_of["note"],
            )
        )
    return items


READERS = {"bibtex": read_bibtex, "ris": read_ris, "csl-json": read_csl_json}


def read_file(fmt: str, data: bytes) -> list[Item]:
    if fmt not in READERS:
        raise ImportProblem(f"unknown format {fmt[:40]!r}; choose one of {', '.join(FORMATS)}")
    if len(data) > MAX_BYTES:
        raise ImportProblem(f"The file is larger than {MAX_BYTES // 1_000_000} MB.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportProblem(f"The file is not UTF-8 text (byte {exc.start}).") from exc
    items = READERS[fmt](text)
    if not items:
        raise ImportProblem(f"The file holds no {fmt} entries.")
    if len(items) > MAX_ITEMS:
        raise ImportProblem(f"At most {MAX_ITEMS} entries at once.")
    return items


def read_zotero(settings: Settings, user_id: str, api_key: str) -> list[Item]:
    """The items of a Zotero user library, through the web API (version 3),
    with the reader's own key; the key is used for this call and not kept."""
    if not re.fullmatch(r"\d{1,20}", user_id or ""):
        raise ImportProblem("A Zotero user id is a number (zotero.org/settings/keys shows it).")
    if not re.fullmatch(r"[A-Za-z0-9]{1,64}", api_key or ""):
        raise ImportProblem("A Zotero API key is letters and digits.")
    headers = {"Zotero-API-Key": api_key, "Zotero-API-Version": "3"}
    url = f"{settings.zotero_api_url.rstrip('/')}/users/{user_id}/items"
    items: list[Item] = []
    try:
        with httpx.Client(timeout=settings.http_timeout_seconds, headers=headers) as client:
            start = 0
            while True:
                response = client.get(url, params={"format": "json", "limit": 100, "start": start})
                if response.status_code in (401, 403, 404):
                    raise ImportProblem(
                        f"Zotero refused the request ({response.status_code}): check the "
                        "user id and that the key may read the library."
                    )
                response.raise_for_status()
                page = response.json()
                for entry in page:
                    data = entry.get("data", {})
                    if data.get("itemType") in ("attachment", "note", "annotation"):
                        continue
                    items.append(
                        _item(
                            f"Zotero item {data.get('key', '?')}",
                            data.get("title", ""),
                            data.get("DOI"),
                            "",
                            data.get("archiveID"),
                            data.get("url"),
                            data.get("extra"),
                        )
                    )
                start += len(page)
                total = int(response.headers.get("Total-Results", start))
                if not page or start >= total or len(items) > MAX_ITEMS:
                    break
    except ImportProblem:
        raise
    except (httpx.HTTPError, ValueError) as exc:  # ValueError: a body that is not JSON
        raise readers.SourceUnavailable(f"Zotero could not be read right now ({exc}).") from exc
    return items


# ---------------------------------------------------------------- matching


def title_keys(title: str) -> list[str]:
    """Keys a BibTeX title may match under: LaTeX decoded (accents, escapes)
    with math kept as written, and the raw text without braces."""
    from pylatexenc.latex2text import LatexNodes2Text

    keys = []
    for math_mode in ("verbatim", "text"):  # "$\\pi$" stored as written, or as "$π$"
        try:
            decoded = LatexNodes2Text(math_mode=math_mode).latex_to_text(title)
        except Exception:  # noqa: S112 (pylatexenc on broken LaTeX: the raw key follows)
            continue
        keys.append(normalize_title(decoded))
    keys.append(normalize_title(title.replace("{", "").replace("}", "")))
    return [k for k in dict.fromkeys(keys) if k]


def match(app: Paperfeed, items: list[Item]) -> dict[int, tuple[str, str]]:
    """item index -> (paper id, how: "arXiv id", "DOI" or "title")."""
    found: dict[int, tuple[str, str]] = {}
    with app.db.connect() as conn:
        ids = [i.arxiv_id for i in items if i.arxiv_id]
        resolved = paper_store.resolve_ids(conn, ids) if ids else {}
        known = paper_store.get_papers(conn, list(set(resolved.values())))
        by_doi = store.papers_by_doi(conn, [i.doi for i in items if i.doi])
        keys = {n: title_keys(i.title) for n, i in enumerate(items) if i.title}
        by_title = paper_store.find_by_title_key(conn, [k for ks in keys.values() for k in ks])
    for n, item in enumerate(items):
        if item.arxiv_id and resolved.get(item.arxiv_id) in known:
            found[n] = (resolved[item.arxiv_id], "arXiv id")
        elif item.doi and item.doi in by_doi:
            found[n] = (by_doi[item.doi], "DOI")
        else:
            hit = next((by_title[k] for k in keys.get(n, []) if k in by_title), None)
            if hit:
                found[n] = (hit, "title")
    return found


def _fetch_missing(app: Paperfeed, items: list[Item], found: dict[int, Any]) -> str:
    """Fetch the unmatched items' arXiv papers; returns why not, if it could not."""
    missing = sorted({i.arxiv_id for n, i in enumerate(items) if i.arxiv_id and n not in found})
    if not missing or not app.settings.import_fetch_arxiv:
        return "not in Paperfeed (fetching from arXiv is off)" if missing else ""
    if len(missing) > MAX_FETCH:  # one import must not turn into a harvest
        return f"not in Paperfeed (an import fetches at most {MAX_FETCH} papers from arXiv)"
    try:
        fetched = arxiv_api.fetch_by_ids(app.settings, missing)
    except (FetchError, ValueError) as exc:
        return f"not in Paperfeed, and arXiv could not be reached ({exc})"
    store_papers(app, fetched)
    return "arXiv does not know this id"


def _picks(app: Paperfeed, reader: Reader, limit: int = 5) -> list[recommend.Pick]:
    try:
        return recommend.for_reader(app.recommender, reader.id, limit=limit)
    except recommend.RecommendError:
        return []


def run_import(
    app: Paperfeed,
    reader: Reader,
    items: list[Item],
    *,
    collection_name: str = "",
    save: bool = True,
) -> ImportReport:
    """Match ``items``, fetch missing arXiv papers, then in one transaction
    save the matched papers (``save``), gather them in a new collection
    (``collection_name``) and keep the items' notes on the papers."""
    readers.require_scope(reader, "write")
    name = " ".join(collection_name.split())
    if not save and not name:
        raise ReaderError("Choose to save the papers, or name a collection for them.")
    if len(name) > 200:
        raise ReaderError("A collection needs a name of 1 to 200 characters.")
    report = ImportReport(total=len(items), before=_picks(app, reader))
    found = match(app, items)
    why_missing = _fetch_missing(app, items, found)
    if why_missing:
        found = match(app, items)
    paper_ids = list(dict.fromkeys(found[n][0] for n in sorted(found)))
    now = readers.utcnow()
    with app.db.begin() as conn:
        if save:
            report.newly_saved = store.save_papers(conn, reader.id, paper_ids, now)
        if name:
            if reader_store.collection_name_taken(conn, reader.id, name):
                raise ReaderError(f"You already have a collection named {name!r}.")
            report.collection_id = reader_store.create_collection(
                conn, reader.id, name, "Imported", False, now
            )
            store.fill_collection(conn, reader.id, report.collection_id, paper_ids, now)
        for n, (paper_id, _how) in found.items():
            if items[n].note and not store.get_note(conn, reader.id, paper_id, None):
                store.set_note(conn, reader.id, paper_id, None, items[n].note[:20_000], now)
    for n, item in enumerate(items):
        if n in found:
            report.matched.append(
                {"ref": item.ref, "title": item.title, "paper_id": found[n][0], "how": found[n][1]}
            )
        else:
            reason = why_missing if item.arxiv_id else "no paper here with this DOI or title"
            report.unmatched.append({"ref": item.ref, "title": item.title, "reason": reason})
    report.after = _picks(app, reader)
    return report
