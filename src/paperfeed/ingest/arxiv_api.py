"""The arXiv API (Atom): papers by category and submission date, or by id.

https://info.arxiv.org/help/api/user-manual.html. feedparser parses the Atom
(it knows the arxiv: and opensearch: extensions); ``PoliteClient`` keeps to
one connection, the pause arXiv asks for, and the retries. A page that is cut
off or not a feed is fetched again rather than half-used.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import feedparser
import httpx
from defusedxml import ElementTree

from paperfeed.config import Settings
from paperfeed.ingest.arxiv_meta import arxiv_paper
from paperfeed.ingest.http import BadBody, FetchError, PoliteClient
from paperfeed.models import Paper, Skipped, Version, clean_text, split_arxiv_id

SOURCE = "arxiv-api"
# arXiv allows up to 2000 per call; smaller pages lose less when one is retried.
PAGE_SIZE = 200
# id_list queries go in the URL; keep it well under common URL length limits.
IDS_PER_REQUEST = 100


@dataclass
class FeedPage:
    total: int
    start: int
    records: list[Paper | Skipped]


def search_query(category: str, date_from: date, date_until: date) -> str:
    """cat:cs.CL AND submittedDate:[202501010000 TO 202501022359] (both days included)."""
    return f"cat:{category} AND submittedDate:[{date_from:%Y%m%d}0000 TO {date_until:%Y%m%d}2359]"


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


_ATOM = "{http://www.w3.org/2005/Atom}"
_ARXIV = "{http://arxiv.org/schemas/atom}"


def author_affiliations(body: bytes) -> dict[str, list[list[str]]]:
    """Entry id -> per named author, in order, their <arxiv:affiliation>s.

    feedparser keeps only the last affiliation of an entry, not whose it is,
    so the feed is read again for them; only feeds that have any.
    """
    if b"affiliation" not in body:
        return {}
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return {}
    found: dict[str, list[list[str]]] = {}
    for entry in root.iter(f"{_ATOM}entry"):
        per_author = [
            [clean_text(a.text) for a in author.iter(f"{_ARXIV}affiliation") if clean_text(a.text)]
            for author in entry.iter(f"{_ATOM}author")
            if clean_text(author.findtext(f"{_ATOM}name"))
        ]
        if any(per_author):
            found[clean_text(entry.findtext(f"{_ATOM}id"))] = per_author
    return found


def paper_from_entry(
    entry: Any, *, where: str, affiliations: list[list[str]] | None = None
) -> Paper | Skipped:
    """One Atom entry -> Paper, or Skipped naming the entry and what it lacks."""
    raw_id = str(entry.get("id") or "")
    try:
        arxiv_id, version = split_arxiv_id(raw_id)
    except ValueError:
        return Skipped(where, f"entry has no arXiv id (id {raw_id!r})")
    where = f"{where} entry {arxiv_id}"
    title = clean_text(entry.get("title"))
    abstract = clean_text(entry.get("summary"))
    authors = [clean_text(a.get("name")) for a in entry.get("authors", []) if a.get("name")]
    published = _parse_time(entry.get("published"))
    updated = _parse_time(entry.get("updated")) or published
    missing = [
        name
        for name, value in (
            ("title", title),
            ("summary", abstract),
            ("author", authors),
            ("published", published),
        )
        if not value
    ]
    if missing:
        return Skipped(where, "missing " + ", ".join(missing))
    categories = [t["term"] for t in entry.get("tags", []) if t.get("term")]
    primary = (entry.get("arxiv_primary_category") or {}).get("term") or None
    if primary and primary not in categories:
        categories.insert(0, primary)
    version = version or 1
    # The feed only shows the current version: v1 is dated by <published>,
    # the current one by <updated>. Versions in between come from OAI-PMH.
    versions = [Version(1, published)]
    if version > 1:
        versions.append(Version(version, updated))
    links = {
        (link.get("title") or link.get("rel")): link.get("href") for link in entry.get("links", [])
    }
    comment = clean_text(entry.get("arxiv_comment")) or None
    return arxiv_paper(
        id=arxiv_id,
        title=title,
        abstract=abstract,
        authors=authors,
        categories=categories,
        primary_category=primary,
        versions=versions,
        published=published,
        updated=updated,
        comment=comment,
        journal_ref=clean_text(entry.get("arxiv_journal_ref")) or None,
        doi=clean_text(entry.get("arxiv_doi")) or None,
        abs_url=_unversioned(links.get("alternate")) or None,
        pdf_url=_unversioned(links.get("pdf")) or None,
        affiliations=affiliations if affiliations and len(affiliations) == len(authors) else [],
        source=SOURCE,
    )


def _unversioned(url: str | None) -> str | None:
    """Links point at the version fetched; a paper's links point at its latest."""
    if not url:
        return None
    return re.sub(r"v\d+$", "", url).replace("http://", "https://", 1)


def parse_feed(body: bytes, *, where: str) -> FeedPage:
    """Parse one API answer. Raises BadBody for a cut-off or foreign body."""
    feed = feedparser.parse(body)
    if feed.get("bozo") and not isinstance(
        feed.get("bozo_exception"), feedparser.CharacterEncodingOverride
    ):
        raise BadBody(f"not well-formed Atom: {feed.get('bozo_exception')}")
    total = feed.feed.get("opensearch_totalresults")
    if total is None:
        raise BadBody("not an arXiv API feed (no opensearch:totalResults)")
    records: list[Paper | Skipped] = []
    affiliations = author_affiliations(body)
    for entry in feed.entries:
        if "/api/errors" in str(entry.get("id", "")):
            # A malformed query: asking again would get the same answer.
            raise FetchError(f"{where}: arXiv API error: {clean_text(entry.get('summary'))}")
        try:
            records.append(
                paper_from_entry(
                    entry,
                    where=where,
                    affiliations=affiliations.get(clean_text(entry.get("id"))),
                )
            )
        except ValueError as exc:  # over a limit of models.record_problem
            records.append(Skipped(f"{where} entry {entry.get('id')}", str(exc)))
    return FeedPage(
        total=int(total),
        start=int(feed.feed.get("opensearch_startindex") or 0),
        records=records,
    )


class ArxivAPI:
    """A session with the arXiv API: one connection, polite, retrying."""

    def __init__(self, settings: Settings, *, client: PoliteClient | None = None) -> None:
        self.url = settings.arxiv_api_url
        self.http = client or PoliteClient(settings, delay_seconds=settings.arxiv_delay_seconds)

    def close(self) -> None:
        self.http.close()

    def page(self, params: dict[str, Any]) -> FeedPage:
        where = str(httpx.URL(self.url, params=params))

        def parse(response: httpx.Response) -> FeedPage:
            page = parse_feed(response.content, where=where)
            if not page.records and int(params.get("start", 0)) < page.total:
                # arXiv now and then answers an empty page inside the result
                # set; asking again gets the entries.
                raise BadBody(f"empty page at start={params.get('start')} of {page.total}")
            return page

        return self.http.get(self.url, params, parse)

    def search(
        self, query: str, *, max_results: int | None = None, page_size: int = PAGE_SIZE
    ) -> Iterator[Paper | Skipped]:
        """Every entry matching ``query``, oldest submission first, page by page
        until opensearch:totalResults is reached."""
        start = 0
        seen = 0
        while True:
            size = page_size if max_results is None else min(page_size, max_results - seen)
            if size <= 0:
                return
            params = {
                "search_query": query,
                "start": start,
                "max_results": size,
                "sortBy": "submittedDate",
                "sortOrder": "ascending",
            }
            page = self.page(params)
            if not page.records:
                return
            yield from page.records
            seen += len(page.records)
            start += len(page.records)
            if start >= page.total:
                return

    def by_ids(self, ids: Iterable[str]) -> Iterator[Paper | Skipped]:
        wanted = [split_arxiv_id(i)[0] for i in ids]
        for i in range(0, len(wanted), IDS_PER_REQUEST):
            chunk = wanted[i : i + IDS_PER_REQUEST]
            params = {"id_list": ",".join(chunk), "start": 0, "max_results": len(chunk)}
            yield from self.page(params).records


def fetch_category(
    settings: Settings,
    category: str,
    date_from: date,
    date_until: date,
    *,
    max_results: int | None = None,
) -> Iterator[Paper | Skipped]:
    """Papers first submitted to ``category`` between the two days (inclusive)."""
    api = ArxivAPI(settings)
    try:
        query = search_query(category, date_from, date_until)
        yield from api.search(query, max_results=max_results)
    finally:
        api.close()


def fetch_by_ids(settings: Settings, ids: Iterable[str]) -> list[Paper]:
    """The current metadata of the given papers (versions in ids are ignored).

    Ids arXiv does not know are simply absent from the result. Raises
    ValueError for a string that is not an arXiv id, FetchError when arXiv
    cannot be reached after the retries.
    """
    api = ArxivAPI(settings)
    try:
        return [r for r in api.by_ids(ids) if isinstance(r, Paper)]
    finally:
        api.close()
