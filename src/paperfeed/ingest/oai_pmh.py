"""arXiv OAI-PMH: incremental harvest of everything added or changed since a date.

ListRecords with ``from``/``until``/``set``, followed through resumption
tokens. The default ``arXivRaw`` format carries each version with its date and
size, so version history and withdrawals (a last version of size 0) are known;
the ``arXiv`` format (parsed author names, no versions) works too.

Why not the Sickle client: it brings requests and lxml and its own retry loop,
while PoliteClient already does the pacing and retries (including the 503 +
Retry-After that OAI servers answer when busy) for every source. The XML is
parsed with defusedxml's ElementTree, so a hostile document cannot expand
entities.

The harvest remembers where it got to (``next_from``); the caller stores it in
the meta table once the records are committed, so the next run without
``--from`` continues there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import httpx
from defusedxml import ElementTree

from paperfeed.config import Settings
from paperfeed.ingest.arxiv_meta import (
    arxiv_paper,
    author_name,
    latex_to_text,
    parse_version_date,
    split_authors,
    versions_from_history,
)
from paperfeed.ingest.http import BadBody, FetchError, PoliteClient
from paperfeed.models import Paper, Skipped, Version, clean_text, split_arxiv_id

SOURCE = "arxiv-oai"
PREFIXES = ("arXivRaw", "arXiv")
OAI = "{http://www.openarchives.org/OAI/2.0/}"
RAW = "{http://arxiv.org/OAI/arXivRaw/}"
ARXIV = "{http://arxiv.org/OAI/arXiv/}"


class OAIError(FetchError):
    """The repository answered with an OAI-PMH error (badArgument, badResumptionToken...)."""


@dataclass
class OAIPage:
    records: list[Paper | Skipped]
    token: str | None
    response_date: date | None
    complete_size: int | None = None


def _text(element: Element | None, tag: str) -> str:
    if element is None:
        return ""
    child = element.find(tag)
    return clean_text(child.text) if child is not None and child.text else ""


def _record_id(meta: Element, n: str, where: str, identifier: str) -> tuple[str, str] | Skipped:
    """The record's arXiv id and a 'where' that names it, or why it has none."""
    raw_id = _text(meta, f"{n}id")
    try:
        arxiv_id, _ = split_arxiv_id(raw_id)
    except ValueError:
        return Skipped(f"{where} ({identifier})", f"record has no arXiv id (id {raw_id!r})")
    return arxiv_id, f"{where} record {arxiv_id}"


def _paper_from_raw(meta: Element, where: str, identifier: str) -> Paper | Skipped:
    n = RAW
    found = _record_id(meta, n, where, identifier)
    if isinstance(found, Skipped):
        return found
    arxiv_id, where = found
    history = [
        (v.get("version", ""), _text(v, f"{n}date"), _text(v, f"{n}size"))
        for v in meta.findall(f"{n}version")
    ]
    try:
        versions = versions_from_history([(v, d) for v, d, _ in history])
    except ValueError as exc:
        return Skipped(where, str(exc))
    title = latex_to_text(_text(meta, f"{n}title"))
    abstract = _text(meta, f"{n}abstract")
    authors = split_authors(_text(meta, f"{n}authors"))
    categories = _text(meta, f"{n}categories").split()
    problem = _missing(title=title, abstract=abstract, authors=authors, versions=versions)
    if problem:
        return Skipped(where, problem)
    comment = _text(meta, f"{n}comments") or None
    # New-style withdrawals replace the paper with an empty last version.
    last_size = history[-1][2] if history else ""
    emptied = last_size.rstrip("kb").strip() == "0"
    return arxiv_paper(
        id=arxiv_id,
        title=title,
        abstract=abstract,
        authors=authors,
        categories=categories,
        versions=versions,
        published=versions[0].created,
        updated=versions[-1].created,
        comment=comment,
        journal_ref=_text(meta, f"{n}journal-ref") or None,
        doi=_text(meta, f"{n}doi") or None,
        withdrawn=emptied,
        source=SOURCE,
    )


def _paper_from_arxiv(meta: Element, where: str, identifier: str) -> Paper | Skipped:
    n = ARXIV
    found = _record_id(meta, n, where, identifier)
    if isinstance(found, Skipped):
        return found
    arxiv_id, where = found
    authors = [
        author_name(_text(a, f"{n}keyname"), _text(a, f"{n}forenames"), _text(a, f"{n}suffix"))
        for a in meta.iter(f"{n}author")
    ]
    authors = [a for a in authors if a]
    created = _date(_text(meta, f"{n}created"))
    title = latex_to_text(_text(meta, f"{n}title"))
    abstract = _text(meta, f"{n}abstract")
    problem = _missing(title=title, abstract=abstract, authors=authors, created=created)
    if problem:
        return Skipped(where, problem)
    comment = _text(meta, f"{n}comments") or None
    # This format has no version numbers: only that v1 was created then.
    return arxiv_paper(
        id=arxiv_id,
        title=title,
        abstract=abstract,
        authors=authors,
        categories=_text(meta, f"{n}categories").split(),
        versions=[Version(1, created)],
        published=created,
        updated=_date(_text(meta, f"{n}updated")) or created,
        comment=comment,
        journal_ref=_text(meta, f"{n}journal-ref") or None,
        doi=_text(meta, f"{n}doi") or None,
        source=SOURCE,
    )


def _date(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text + "T00:00:00+00:00") if text else None
    except ValueError:
        return parse_version_date(text)


def _missing(**fields: Any) -> str:
    missing = [name for name, value in fields.items() if not value]
    return "missing " + ", ".join(missing) if missing else ""


def parse_list_records(body: bytes, *, where: str) -> OAIPage:
    """One ListRecords answer. Raises BadBody for a cut-off or non-XML body
    (worth fetching again), OAIError for an OAI-PMH error other than
    noRecordsMatch (which is an empty result)."""
    try:
        root = ElementTree.fromstring(body)
    except ParseError as exc:
        raise BadBody(f"not well-formed XML: {exc}") from exc
    if root.tag != f"{OAI}OAI-PMH":
        raise BadBody(f"not an OAI-PMH response (root element {root.tag!r})")
    response_date = _date(_text(root, f"{OAI}responseDate")[:10])
    errors = root.findall(f"{OAI}error")
    if errors:
        codes = {e.get("code") for e in errors}
        if codes == {"noRecordsMatch"}:
            return OAIPage([], None, response_date.date() if response_date else None)
        detail = "; ".join(f"{e.get('code')}: {clean_text(e.text)}" for e in errors)
        raise OAIError(f"{where}: OAI-PMH error {detail}")
    listing = root.find(f"{OAI}ListRecords")
    if listing is None:
        raise BadBody("OAI-PMH response without ListRecords")
    records: list[Paper | Skipped] = []
    for record in listing.findall(f"{OAI}record"):
        header = record.find(f"{OAI}header")
        identifier = _text(header, f"{OAI}identifier") or "?"
        here = f"{where} ({identifier})"
        if header is not None and header.get("status") == "deleted":
            records.append(Skipped(here, "deleted at the source (OAI status=deleted)"))
            continue
        metadata = record.find(f"{OAI}metadata")
        meta = None if metadata is None else next(iter(metadata), None)
        try:
            if meta is None:
                records.append(Skipped(here, "record without metadata"))
            elif meta.tag == f"{RAW}arXivRaw":
                records.append(_paper_from_raw(meta, where, identifier))
            elif meta.tag == f"{ARXIV}arXiv":
                records.append(_paper_from_arxiv(meta, where, identifier))
            else:
                records.append(Skipped(here, f"unsupported metadata format {meta.tag!r}"))
        except ValueError as exc:  # over a limit of models.record_problem
            records.append(Skipped(here, str(exc)))
    token_el = listing.find(f"{OAI}resumptionToken")
    token = clean_text(token_el.text) if token_el is not None and token_el.text else None
    size = token_el.get("completeListSize") if token_el is not None else None
    return OAIPage(
        records,
        token or None,
        response_date.date() if response_date else None,
        int(size) if size and size.isdigit() else None,
    )


@dataclass
class OAIHarvest:
    """One ListRecords harvest. Iterate ``records()``; once it is exhausted,
    ``next_from`` is the ``from`` date for the next incremental run."""

    settings: Settings
    set_spec: str | None = None
    date_from: date | None = None
    date_until: date | None = None
    metadata_prefix: str = "arXivRaw"
    next_from: date | None = field(default=None, init=False)
    complete_size: int | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.metadata_prefix not in PREFIXES:
            raise ValueError(
                f"metadata prefix {self.metadata_prefix!r} not supported; use one of {PREFIXES}"
            )

    @property
    def watermark_key(self) -> str:
        return watermark_key(self.set_spec, self.metadata_prefix)

    def records(self) -> Iterator[Paper | Skipped]:
        url = self.settings.arxiv_oai_url
        params: dict[str, Any] = {"verb": "ListRecords", "metadataPrefix": self.metadata_prefix}
        if self.set_spec:
            params["set"] = self.set_spec
        if self.date_from:
            params["from"] = self.date_from.isoformat()
        if self.date_until:
            params["until"] = self.date_until.isoformat()
        first_response: date | None = None
        with PoliteClient(self.settings, delay_seconds=self.settings.arxiv_delay_seconds) as http:
            while True:
                where = str(httpx.URL(url, params=params))

                def parse(response: httpx.Response, where: str = where) -> OAIPage:
                    return parse_list_records(response.content, where=where)

                page = http.get(url, params, parse)
                first_response = first_response or page.response_date
                if page.complete_size is not None:
                    self.complete_size = page.complete_size
                yield from page.records
                if not page.token:
                    break
                # A resumption token is an exclusive argument: nothing else goes along.
                params = {"verb": "ListRecords", "resumptionToken": page.token}
        # Records stamped on the last day may still change that day: the next
        # run starts from it again (re-ingesting unchanged papers writes nothing).
        self.next_from = self.date_until or first_response


def watermark_key(set_spec: str | None, metadata_prefix: str = "arXivRaw") -> str:
    return f"oai-harvest:{set_spec or '*'}:{metadata_prefix}"
