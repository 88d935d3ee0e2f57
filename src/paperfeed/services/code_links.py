"""A paper's code and project links: found in its abstract and comment at
ingest, or imported from Hugging Face's daily papers (docs/code.md).

``extract`` is a pure function over text; ``record`` stores what a batch of
papers links to, in the ingest batch's transaction (``services.ingest.store``
hands it to the pipeline), so a paper and its links commit together.

Kinds: ``github``, ``gitlab``, ``hf_model``, ``hf_dataset``, ``hf_space`` (the
code and artifacts), and ``project`` (a project or personal page: ``*.github.io``
and other sites that are not a publisher, a preprint server or social media).
A link is normalised: trailing punctuation and LaTeX braces stripped, ``.git``
dropped, and a GitHub ``/tree/...`` or ``/blob/...`` path reduced to the
repository itself (``https://github.com/owner/repo``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from paperfeed.app import Paperfeed
from paperfeed.db import code as code_store
from paperfeed.db.code import CODE_KINDS
from paperfeed.models import Paper

KINDS = (*CODE_KINDS, "project")
MAX_LINKS_PER_PAPER = 12  # a survey listing fifty repositories is not "its" code
MAX_URL_CHARS = 500  # code_links.url

# A URL runs to whitespace or a character no abstract puts inside one: LaTeX
# braces (\href{...}{...}, \url{...}), quotes, angle brackets, backslashes.
# Two expressions, each starting with literal text: one with an optional
# "www." or re.IGNORECASE tried a match at every position of every abstract,
# which was most of ingest's extraction cost (docs/benchmarks.md, issue 24).
_URL_CHARS = r"[^\s{}<>\"'\\|^`]+"
_HTTP = re.compile(r"(?:https?|HTTPS?)://" + _URL_CHARS)
# A code host written without a scheme ("github.com/owner/repo").
_BARE = re.compile(r"(?:github\.com|gitlab\.com|huggingface\.co|hf\.co)/" + _URL_CHARS)
_BARE_HOSTS = ("github.com/", "gitlab.com/", "huggingface.co/", "hf.co/")
# Before a bare host: part of a longer host or path (a URL the other found).
_GLUED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.@/-")
_TRAILING = ".,;:!?)]}*'\"~"
_GITHUB_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_REPO_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
# github.com/<first segment> pages that are GitHub's own, not an owner.
_GITHUB_RESERVED = {
    "about", "apps", "collections", "contact", "customer-stories", "enterprise", "events",
    "explore", "features", "login", "marketplace", "new", "notifications", "orgs", "pricing",
    "search", "settings", "site", "sponsors", "topics", "trending", "users", "join",
}  # fmt: skip
_HF_RESERVED = {
    "papers", "blog", "docs", "collections", "organizations", "login", "join", "pricing",
    "learn", "posts", "tasks", "models", "datasets", "spaces", "settings", "api", "chat",
}  # fmt: skip
# Hosts that are not a paper's project page: publishers, preprint servers,
# identifiers, licences, video and social media, link shorteners.
_NOT_PROJECT = frozenset({
    "arxiv.org", "doi.org", "creativecommons.org", "openreview.net", "aclanthology.org",
    "ieee.org", "acm.org", "springer.com", "sciencedirect.com", "nature.com", "wiley.com",
    "twitter.com", "x.com", "youtube.com", "youtu.be", "linkedin.com", "facebook.com",
    "google.com", "bit.ly", "wikipedia.org", "kaggle.com", "zenodo.org", "figshare.com",
    "4open.science", "paperswithcode.com", "semanticscholar.org", "neurips.cc", "mlr.press",
    "aaai.org", "ijcai.org", "cvf.com", "thecvf.com", "overleaf.com", "dropbox.com",
})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Link:
    url: str
    kind: str
    repo: str | None = None  # GitHub: "owner/name" as written (the store lower-cases its key)


def _strip(url: str) -> str:
    while url and url[-1] in _TRAILING:
        # A closing bracket that closes one inside the URL stays (wiki-style paths).
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


def _github(path: list[str]) -> Link | None:
    if len(path) < 2:
        return None  # a user or organization, not a repository
    owner, name = path[0], path[1]
    name = name.removesuffix(".git")
    if owner.lower() in _GITHUB_RESERVED or not _GITHUB_NAME.match(owner):
        return None
    if not _REPO_NAME.match(name) or name in (".", ".."):
        return None
    return Link(f"https://github.com/{owner}/{name}", "github", f"{owner}/{name}")


def _gitlab(host: str, path: list[str]) -> Link | None:
    if "-" in path:  # /group/project/-/tree/main: the project is before "/-/"
        path = path[: path.index("-")]
    if len(path) < 2:
        return None
    path[-1] = path[-1].removesuffix(".git")
    if not all(_REPO_NAME.match(p) for p in path):
        return None
    return Link(f"https://{host}/{'/'.join(path)}", "gitlab")


def _huggingface(path: list[str]) -> Link | None:
    kind = "hf_model"
    if path and path[0] in ("datasets", "spaces"):
        kind = "hf_dataset" if path[0] == "datasets" else "hf_space"
        path = path[1:]
    elif path and path[0].lower() in _HF_RESERVED:
        return None
    if len(path) < 2 or not all(_REPO_NAME.match(p) for p in path[:2]):
        return None  # an organization or user page
    prefix = {"hf_model": "", "hf_dataset": "datasets/", "hf_space": "spaces/"}[kind]
    return Link(f"https://huggingface.co/{prefix}{path[0]}/{path[1]}", kind)


def _project(url: str, host: str) -> Link | None:
    labels = host.split(".")
    if len(labels) < 2 or any(".".join(labels[i:]) in _NOT_PROJECT for i in range(len(labels) - 1)):
        return None
    if host in ("github.com", "gitlab.com", "huggingface.co", "hf.co"):
        return None  # such a link that is no repository (a profile, a search)
    return Link(url, "project")


def classify(raw: str) -> Link | None:
    """One URL as written -> a normalised Link, or None when it is not a code
    or project link (a DOI, a profile page, a publisher)."""
    url = _strip(raw.strip())
    if not url.lower().startswith(("http://", "https://")):
        url = "https://" + url
    scheme_end = url.index("://") + 3
    rest = url[scheme_end:]
    host, _, path_text = rest.partition("/")
    host = host.lower().split("@")[-1].split(":")[0].removeprefix("www.")
    path_text = path_text.split("?")[0].split("#")[0]
    path = [p for p in path_text.split("/") if p]
    if host == "github.com":
        link = _github(path)
    elif host == "gitlab.com" or (host.startswith("gitlab.") and len(path) >= 2):
        link = _gitlab(host, path)
    elif host in ("huggingface.co", "hf.co"):
        link = _huggingface(path)
    else:
        # A project page keeps its path (a lab site's /projects/x), normalised
        # to https and without a trailing slash, query or fragment.
        cleaned = f"https://{host}" + ("/" + "/".join(path) if path else "")
        link = _project(cleaned, host)
    if link is None or len(link.url) > MAX_URL_CHARS:
        return None
    return link


def extract(text: str | None) -> list[Link]:
    """The code and project links in ``text``, in order of appearance, each once."""
    # Most abstracts have no link at all: substring tests (C speed) skip the
    # regular expressions for them.
    if not text:
        return []
    # Every bare host ends ".co/" or ".com/"; two scans, not four.
    bare = (".co/" in text or ".com/" in text) and any(h in text for h in _BARE_HOSTS)
    if not bare and "://" not in text:
        return []
    found: list[tuple[int, str]] = [(m.start(), m.group()) for m in _HTTP.finditer(text)]
    if bare:
        for m in _BARE.finditer(text):
            start = m.start()
            if start >= 4 and text[start - 4 : start] == "www.":
                start -= 4
            if start and text[start - 1] in _GLUED:
                continue  # inside a URL the first expression found, or a longer host
            found.append((start, m.group()))
        found.sort()
    links: dict[str, Link] = {}
    for _, raw in found:
        link = classify(raw)
        if link is not None and link.url.lower() not in links:
            links[link.url.lower()] = link
            if len(links) >= MAX_LINKS_PER_PAPER:
                break
    return list(links.values())


def links_of(paper: Paper) -> list[tuple[Link, str]]:
    """Every link of ``paper`` with its source: HF's fields first (a person
    chose them), then the abstract, then the comment."""
    out: list[tuple[Link, str]] = []
    seen: set[str] = set()

    def add(link: Link | None, source: str) -> None:
        if link is not None and link.url.lower() not in seen and len(out) < MAX_LINKS_PER_PAPER:
            seen.add(link.url.lower())
            out.append((link, source))

    if paper.github_repo:
        add(classify(paper.github_repo), "hf")
    if paper.project_page:
        page = classify(paper.project_page)
        # HF's projectPage is a project page by definition, whatever its host.
        if page is not None and page.kind == "project":
            add(page, "hf")
        elif page is None and paper.project_page.startswith(("http://", "https://")):
            add(Link(_strip(paper.project_page)[:MAX_URL_CHARS], "project"), "hf")
        else:
            add(page, "hf")
    for link in extract(paper.abstract):
        add(link, "abstract")
    for link in extract(paper.comment):
        add(link, "comment")
    return out


def record(conn: Connection, batch: Sequence[Paper]) -> int:
    """Store the links of ``batch`` (already stored papers, ids resolved), and
    the GitHub repositories they name, with HF's star figure where GitHub has
    not been asked yet. Links already stored are kept; returns links added."""
    rows: list[code_store.LinkRow] = []
    hf_stars: dict[str, int] = {}
    for paper in batch:
        for link, source in links_of(paper):
            rows.append(code_store.LinkRow(paper.id, link.url, link.kind, source, link.repo))
            if (
                source == "hf"
                and link.kind == "github"
                and link.repo is not None
                and paper.github_stars is not None
            ):
                hf_stars[link.repo.lower()] = paper.github_stars
    if not rows:
        return 0
    return code_store.add_links(conn, rows, hf_stars=hf_stars)


@dataclass
class BackfillReport:
    papers: int = 0
    links: int = 0


def backfill(app: Paperfeed, *, batch_size: int = 2000) -> BackfillReport:
    """Find the links of every stored paper (papers stored before links were
    extracted at ingest, or after the rules changed). Idempotent: links already
    stored are kept; one transaction per batch, so a stopped run loses nothing."""
    report = BackfillReport()
    after = ""
    while True:
        with app.db.connect() as conn:
            texts = code_store.paper_texts(conn, after=after, limit=batch_size)
        if not texts:
            return report
        rows = [
            code_store.LinkRow(paper_id, link.url, link.kind, source, link.repo)
            for paper_id, abstract, comment in texts
            for source, text in (("abstract", abstract), ("comment", comment))
            for link in extract(text)
        ]
        if rows:
            with app.db.begin() as conn:
                report.links += code_store.add_links(conn, rows, hf_stars={})
        report.papers += len(texts)
        after = texts[-1][0]


def stats(app: Paperfeed) -> dict[str, int]:
    with app.db.connect() as conn:
        return code_store.stats(conn)
