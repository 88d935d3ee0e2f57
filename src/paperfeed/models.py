"""The domain: the normalized Paper every source yields, and small value types.

Sources differ wildly (Atom, OAI-PMH XML, Kaggle JSON, HF JSON, text pages);
each ingest module's only job is to turn its input into these objects, so the
pipeline, the store and every interface deal with one shape.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field, fields
from datetime import date, datetime

# New-style ids (2301.01234, 0704.0001) and old-style ids (quant-ph/0210005,
# math.GT/0309136), each optionally followed by a version suffix.
_NEW_ID = r"\d{4}\.\d{4,5}"
_OLD_ID = r"[a-z][a-z\-]+(?:\.[A-Z]{2})?/\d{7}"
ARXIV_ID_RE = re.compile(rf"^(?P<id>{_NEW_ID}|{_OLD_ID})(?:v(?P<version>\d+))?$")
ARXIV_ID_IN_TEXT_RE = re.compile(
    rf"(?:arxiv\.org/(?:abs|pdf)/|arXiv:)?(?P<id>{_NEW_ID}|{_OLD_ID})(?:v(?P<version>\d+))?",
    re.IGNORECASE,
)


def document_text(title: str | None, abstract: str | None) -> str:
    """The text a paper is embedded from: title, then abstract.

    The title carries the topic in few tokens, so it goes first and survives
    truncation (the 256-token limit was chosen on scifact-dev, bench/embed.py).
    """
    title = " ".join((title or "").split())
    abstract = " ".join((abstract or "").split())
    if title and abstract:
        return f"{title}. {abstract}"
    return title or abstract


def text_hash(title: str | None, abstract: str | None) -> str:
    """Hash of exactly the text a paper's vector is built from (``document_text``).

    Embedding staleness compares this, not ``Paper.content_hash``: an upvote,
    a new DOI or a listing date changes the stored row but not the vector, and
    must not cost a re-embed. The model id is not in it: a vector row is keyed
    by (paper, model), so another model's vector is a different row anyway.
    """
    return hashlib.sha256(document_text(title, abstract).encode()).hexdigest()[:32]


def split_arxiv_id(raw: str) -> tuple[str, int | None]:
    """'2301.01234v3' -> ('2301.01234', 3). Accepts abs/pdf URLs and 'arXiv:' prefixes.

    Raises ValueError naming the input when it is not an arXiv id.
    """
    text = raw.strip()
    text = re.sub(r"^(?:https?://)?(?:export\.)?arxiv\.org/(?:abs|pdf)/", "", text)
    text = re.sub(r"^arxiv:", "", text, flags=re.IGNORECASE)
    text = text.removesuffix(".pdf")
    m = ARXIV_ID_RE.match(text)
    if not m:
        raise ValueError(f"not an arXiv id: {raw!r}")
    version = m.group("version")
    return m.group("id"), int(version) if version else None


def is_arxiv_id(raw: str) -> bool:
    try:
        split_arxiv_id(raw)
    except ValueError:
        return False
    return True


_WORD = re.compile(r"[a-z0-9]+")


def normalize_title(title: str) -> str:
    """A key that survives case, accents, punctuation and line wrapping.

    Used to find the same paper arriving from a source that has no arXiv id
    (an HF text page) and from one that has (the arXiv API).
    """
    if title.isascii():  # most titles: nothing to strip, skip the per-character pass
        text = title.lower()
    else:
        text = unicodedata.normalize("NFKD", title)
        text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return " ".join(_WORD.findall(text))


def slug_for(title: str) -> str:
    """A stable id for a paper with no arXiv id: readable words plus a hash."""
    key = normalize_title(title)
    words = "-".join(key.split()[:8]) or "paper"
    digest = hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:10]
    return f"{words}-{digest}"


# The text Paperfeed accepts, everywhere (ingest, web parameters, addresses):
# no control characters but tab, line feed and carriage return. PostgreSQL
# cannot store NUL at all; the others have no place in a title, a name or an
# SMTP command, and SQLite would keep them silently.
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def control_character(text: str) -> str | None:
    """The first control character in ``text``, as "U+0000", or None."""
    found = CONTROL_CHARACTER.search(text)
    return f"U+{ord(found.group()):04X}" if found else None


# Past these a record is not a paper but an accident or an attack: it is
# skipped and reported (README, "Ingesting"). The largest in the arXiv cs 2025
# export: a 226-character title, a 3,488-character abstract, 3,303 authors, an
# author of 512 characters, a "category" of 153. Widths of the papers table's
# columns (db/tables.py) are limits too: past them PostgreSQL refuses the batch.
MAX_AUTHORS = 10_000
MAX_CATEGORIES = 100
MAX_CHARS = {
    "id": 200,
    "title": 500,  # and its normalize_title() key, papers.title_key
    "abstract": 20_000,
    "authors": 1_000,  # each
    "categories": 200,  # each
    "primary_category": 64,
    "comment": 5_000,
    "journal_ref": 2_000,
    "doi": 200,
    "abs_url": 500,
    "pdf_url": 500,
    "submitted_by": 200,
    "source": 32,
}


def record_problem(paper: Paper) -> str | None:
    """Why ``paper`` cannot be stored (a limit above, or a control character),
    naming the field; None when it can."""
    lists = (
        ("authors", paper.authors, MAX_AUTHORS),
        ("categories", paper.categories, MAX_CATEGORIES),
    )
    for name, items, most in lists:
        if len(items) > most:
            return f"{name}: {len(items):,} entries (at most {most:,})"
    for name, most in MAX_CHARS.items():
        value = getattr(paper, name)
        for text in value if isinstance(value, list) else (value,):
            if not isinstance(text, str):
                continue
            if len(text) > most:
                return f"{name}: {len(text):,} characters (at most {most:,})"
            if (found := control_character(text)) is not None:
                return f"{name}: contains the control character {found}"
    if len(paper.affiliations) > len(paper.authors):
        return "affiliations: more entries than authors"
    for where, texts in (
        ("affiliations", [a for per_author in paper.affiliations for a in per_author]),
        ("organization", list((paper.organization or {}).values())),
    ):
        for text in texts:
            if not isinstance(text, str):
                return f"{where}: expected text, got {type(text).__name__}"
            if len(text) > MAX_CHARS["authors"]:
                return f"{where}: {len(text):,} characters (at most {MAX_CHARS['authors']:,})"
            if (found := control_character(text)) is not None:
                return f"{where}: contains the control character {found}"
    # NFKD can lengthen a title ("ﬃ" is three letters); ASCII only shortens.
    if not paper.title.isascii() and len(normalize_title(paper.title)) > MAX_CHARS["title"]:
        return f"title: over {MAX_CHARS['title']:,} characters once normalized"
    return None


def clean_text(text: str | None) -> str:
    """Collapse the hard line wraps arXiv puts in titles and abstracts."""
    if not text:
        return ""
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class Version:
    number: int
    created: datetime | None = None


@dataclass(slots=True)
class Paper:
    """One paper as every source yields it. ``id`` is the arXiv id without version,
    or a slug when there is no arXiv id."""

    id: str
    title: str
    abstract: str
    authors: list[str]
    source: str
    categories: list[str] = field(default_factory=list)
    primary_category: str | None = None
    versions: list[Version] = field(default_factory=list)
    published: datetime | None = None
    updated: datetime | None = None
    listing_date: date | None = None
    comment: str | None = None
    journal_ref: str | None = None
    doi: str | None = None
    abs_url: str | None = None
    pdf_url: str | None = None
    upvotes: int | None = None
    submitted_by: str | None = None
    featured_date: date | None = None
    withdrawn: bool = False
    # Code links a source names (HF daily papers' githubRepo, projectPage,
    # githubStars): stored as code links (services.code_links), not papers
    # columns, so not in content_hash either.
    github_repo: str | None = None
    project_page: str | None = None
    github_stars: int | None = None
    # Per author, in the order of ``authors``, the affiliations a source gives
    # (the arXiv API); empty when it gives none.
    affiliations: list[list[str]] = field(default_factory=list)
    # The Hugging Face organization a paper is listed under: {"name", "fullname", "avatar"}.
    organization: dict[str, str] | None = None

    @property
    def has_arxiv_id(self) -> bool:
        return is_arxiv_id(self.id)

    @property
    def latest_version(self) -> int:
        return max((v.number for v in self.versions), default=0)

    def content_hash(self) -> str:
        """Hash of everything stored, so re-ingesting identical data writes nothing."""
        # Field values in declaration order; versions as plain pairs. Cheaper
        # than dataclasses.asdict (which deep-copies), and ingest hashes every record.
        payload = [
            [(v.number, v.created) for v in value] if name == "versions" else value
            for name, value in ((f, getattr(self, f)) for f in _PAPER_FIELDS)
            # Fields added later count only when set, so a paper without them
            # keeps the hash it was stored with (a re-ingest writes nothing).
            if value or name not in _LATER_FIELDS
        ]
        return hashlib.sha256(
            json.dumps(payload, default=str, ensure_ascii=False).encode()
        ).hexdigest()[:32]

    def __post_init__(self) -> None:
        # No Paper exists that cannot be stored: each source turns this
        # ValueError into a Skipped record naming where it was.
        if (problem := record_problem(self)) is not None:
            raise ValueError(problem)
        if not self.primary_category and self.categories:
            self.primary_category = self.categories[0]
        if self.id and is_arxiv_id(self.id):
            if not self.abs_url:
                self.abs_url = f"https://arxiv.org/abs/{self.id}"
            if not self.pdf_url:
                self.pdf_url = f"https://arxiv.org/pdf/{self.id}"


_LINK_FIELDS = ("github_repo", "project_page", "github_stars")
_PAPER_FIELDS = tuple(f.name for f in fields(Paper) if f.name not in _LINK_FIELDS)
_LATER_FIELDS = frozenset({"affiliations", "organization"})


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record a source could not turn into a Paper: where it was, and why."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


class SourceFormatError(Exception):
    """The input is not in the format its source expects; nothing is written."""


_SAFE_URL = re.compile(r"https?://[^\x00-\x20\x7f]+", re.IGNORECASE)


def safe_url(value: str | None) -> str:
    """An http(s) URL from a source, or "" for anything else: autoescaping does
    not stop a ``javascript:`` URL in an href."""
    text = (value or "").strip()
    return text if _SAFE_URL.fullmatch(text) else ""
