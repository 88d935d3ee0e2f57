"""A paper as BibTeX and as Markdown: the exports of the paper page; and its
scholarly-web metadata (citation_* tags, JSON-LD, COinS).

BibTeX follows arXiv's own export (``@misc`` with eprint, archivePrefix,
primaryClass), which is also what Hugging Face Papers shows. Text is encoded
for LaTeX by pylatexenc (``&`` -> ``\\&``, ``é`` -> ``{\\'e}``...), except
inline math (``$...$``), which arXiv titles use and which is kept as written
when its braces balance, since BibTeX only breaks on unbalanced braces.

Markdown carries source text as text: raw HTML, autolinks and link syntax in
a title, abstract or author name are written as character references, so the
export is inert even in a renderer that allows HTML (see ``markdown_text``).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlencode

from pylatexenc.latexencode import unicode_to_latex

from paperfeed.models import is_arxiv_id, normalize_title

_INLINE_MATH = re.compile(r"\$[^$]+\$")
_KEY_STOPWORDS = {"a", "an", "the", "on", "of", "for", "and", "in", "to", "with"}


def latex_escape(text: str) -> str:
    """Plain text to LaTeX, keeping balanced inline math as written."""
    out: list[str] = []
    pos = 0
    for m in _INLINE_MATH.finditer(text):
        out.append(_encode(text[pos : m.start()]))
        math = m.group()
        out.append(math if _braces_balance(math) else _encode(math))
        pos = m.end()
    out.append(_encode(text[pos:]))
    return "".join(out)


def _encode(text: str) -> str:
    if not text:
        return ""
    encoded = str(
        unicode_to_latex(
            text,
            replacement_latex_protection="braces-all",
            unknown_char_policy="keep",
            unknown_char_warning=False,
        )
    )
    # BibTeX counts "\{" as a brace too, so a lone literal brace would unbalance
    # the entry; the text-mode macros have no braces of their own.
    return encoded.replace("{\\{}", "{\\textbraceleft}").replace("{\\}}", "{\\textbraceright}")


def _braces_balance(text: str) -> bool:
    # BibTeX counts every brace, escaped or not.
    depth = 0
    for ch in text:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def _author(name: str) -> str:
    # "Smith, Jr." would read as "Last, First"; a comma or " and " inside one
    # name must not split it, so such names are kept whole in braces.
    escaped = latex_escape(name)
    if "," in name or " and " in name.lower():
        return "{" + escaped + "}"
    return escaped


def _year(paper: dict[str, Any]) -> int | None:
    for key in ("published", "listing_date", "updated"):
        value = paper.get(key)
        if isinstance(value, date | datetime):
            return value.year
    return None


def _last_name(author: str) -> str:
    parts = normalize_title(author).split()
    return parts[-1] if parts else "anon"


def citation_key(paper: dict[str, Any]) -> str:
    """arXiv's style: first author's last name, year, first three title words."""
    authors = paper.get("authors") or []
    words = [w for w in normalize_title(paper["title"]).split() if w not in _KEY_STOPWORDS]
    year = _year(paper)
    key = _last_name(authors[0]) if authors else "anon"
    return f"{key}{year or ''}{''.join(words[:3])}" or "paper"


def bibtex(paper: dict[str, Any]) -> str:
    fields: list[tuple[str, str]] = [
        ("title", "{" + latex_escape(paper["title"]) + "}"),  # {{...}} keeps capitals
        ("author", " and ".join(_author(a) for a in paper.get("authors") or [])),
    ]
    year = _year(paper)
    if year:
        fields.append(("year", str(year)))
    if is_arxiv_id(paper["id"]):
        fields += [("eprint", paper["id"]), ("archivePrefix", "arXiv")]
        if paper.get("primary_category"):
            fields.append(("primaryClass", latex_escape(paper["primary_category"])))
    if paper.get("doi"):
        fields.append(("doi", latex_escape(paper["doi"])))
    if paper.get("journal_ref"):
        fields.append(("note", latex_escape(paper["journal_ref"])))
    url = http_url(paper.get("abs_url")) or (
        f"https://arxiv.org/abs/{paper['id']}" if is_arxiv_id(paper["id"]) else ""
    )
    if url:
        fields.append(("url", _url_field(url)))
    body = ",\n".join(f"      {name}={{{value}}}" for name, value in fields)
    return f"@misc{{{citation_key(paper)},\n{body}\n}}\n"


def http_url(value: str | None) -> str:
    """A source's URL if it is http(s), else "" (never ``javascript:`` and the like)."""
    text = (value or "").strip()
    if text.lower().startswith(("https://", "http://")) and not any(ord(c) < 33 for c in text):
        return text
    return ""


def _url_field(url: str) -> str:
    # url fields are verbatim in biblatex; only braces would break the entry.
    return url.replace("{", "%7B").replace("}", "%7D")


def _day(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return ""


# Characters that start HTML, autolinks, entities and links. Written as
# numeric character references, which Markdown decodes to plain characters and
# never to markup. Backslashes are left alone (LaTeX in abstracts), except
# those right before one of these, doubled so they cannot escape the "&".
_MARKDOWN_ACTIVE = re.compile(r"(\\*)([<>&\[\]])")


def markdown_text(text: str, *, one_line: bool = False) -> str:
    """Source text for a Markdown document: shown as written, never markup."""
    if one_line:
        text = " ".join(text.split())
    return _MARKDOWN_ACTIVE.sub(lambda m: m.group(1) * 2 + f"&#{ord(m.group(2))};", text)


def markdown_url(url: str) -> str:
    """A link target that cannot end the link early or open a tag."""
    return quote(url, safe=":/?#[]@!$&'*+,;=%~")


def markdown(paper: dict[str, Any], page_url: str) -> str:
    """The paper page as Markdown (what huggingface_hub's ``read_paper`` reads)."""
    facts = [
        ("Authors", ", ".join(paper.get("authors") or [])),
        ("Published", _day(paper.get("published"))),
        ("Updated", _day(paper.get("updated"))),
        ("Listed", _day(paper.get("listing_date"))),
        ("Categories", ", ".join(paper.get("categories") or [])),
        ("Comment", paper.get("comment") or ""),
        ("Journal", paper.get("journal_ref") or ""),
        ("DOI", paper.get("doi") or ""),
        ("Upvotes", str(paper.get("upvotes", paper.get("imported_upvotes") or 0))),
    ]
    links = [f"[Paperfeed]({markdown_url(page_url)})"]
    if http_url(paper.get("abs_url")):
        links.append(f"[arXiv]({markdown_url(http_url(paper['abs_url']))})")
    if http_url(paper.get("pdf_url")):
        links.append(f"[PDF]({markdown_url(http_url(paper['pdf_url']))})")
    if http_url(paper.get("code_url")):
        stars = paper.get("github_stars")
        label = "Code" + (f" (★ {stars:,})" if isinstance(stars, int) else "")
        links.append(f"[{label}]({markdown_url(http_url(paper['code_url']))})")
    if http_url(paper.get("project_page")):
        links.append(f"[Project page]({markdown_url(http_url(paper['project_page']))})")
    header = [
        f"**{name}:** {markdown_text(value, one_line=True)}" for name, value in facts if value
    ]
    header.append("**Links:** " + " · ".join(links))
    title = markdown_text(paper["title"], one_line=True)
    parts = [f"# {title}", "  \n".join(header)]  # two spaces: a Markdown line break
    if paper.get("withdrawn"):
        parts.append("> This paper has been withdrawn.")
    if paper.get("tldr"):
        parts.append("**TL;DR:** " + markdown_text(paper["tldr"], one_line=True))
    if paper.get("keyphrases"):
        keywords = ", ".join(markdown_text(k, one_line=True) for k in paper["keyphrases"])
        parts.append("**Keyphrases:** " + keywords)
    parts += ["## Abstract", markdown_text(paper.get("abstract") or "")]
    return "\n\n".join(parts) + "\n"


# ---------------------------------------------------------------- many papers
# Collections, the library and the account export in three reference formats;
# a paper may carry the reader's private note (``note``), written where each
# format keeps personal annotations (BibTeX ``annote``, RIS N1, CSL ``annote``).


def bibtex_many(papers: list[dict[str, Any]]) -> str:
    """One BibTeX file; repeated citation keys get a, b, c... as arXiv's do."""
    seen: dict[str, int] = {}
    out = []
    for paper in papers:
        entry = bibtex(paper)
        key = citation_key(paper)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            suffix = _letters(seen[key] - 1)
            entry = entry.replace(f"{{{key},", f"{{{key}{suffix},", 1)
        if paper.get("note"):
            annote = f",\n      annote={{{latex_escape(paper['note'])}}}\n}}\n"
            entry = entry[: entry.rindex("\n}")] + annote
        out.append(entry)
    return "\n".join(out)


def _letters(n: int) -> str:
    text = ""
    while n > 0:
        n, rest = divmod(n - 1, 26)
        text = chr(97 + rest) + text
    return text


def _url(paper: dict[str, Any]) -> str:
    return http_url(paper.get("abs_url")) or (
        f"https://arxiv.org/abs/{paper['id']}" if is_arxiv_id(paper["id"]) else ""
    )


def ris(papers: list[dict[str, Any]]) -> str:
    """RIS, written by rispy (what Zotero, EndNote and Mendeley read)."""
    import rispy

    records = []
    for paper in papers:
        record: dict[str, Any] = {
            "type_of_reference": "JOUR" if paper.get("journal_ref") else "UNPB",
            "title": " ".join(paper["title"].split()),
            "authors": list(paper.get("authors") or []),
            "abstract": " ".join((paper.get("abstract") or "").split()),
        }
        year = _year(paper)
        if year:
            record["year"] = str(year)
        if paper.get("doi"):
            record["doi"] = paper["doi"]
        if _url(paper):
            record["urls"] = [_url(paper)]
        if is_arxiv_id(paper["id"]):
            record["id"] = f"arXiv:{paper['id']}"
        if paper.get("journal_ref"):
            record["journal_name"] = paper["journal_ref"]
        if paper.get("note"):
            record["notes"] = [" ".join(paper["note"].split())]
        records.append(record)
    return str(rispy.dumps(records))


def _csl_name(name: str) -> dict[str, str]:
    given, _, family = name.strip().rpartition(" ")
    return {"family": family, "given": given} if given else {"literal": family}


def csl_json(papers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """CSL-JSON items (citeproc, Zotero and pandoc read them)."""
    items = []
    for paper in papers:
        item: dict[str, Any] = {
            "id": paper["id"],
            "type": "article-journal" if paper.get("journal_ref") else "article",
            "title": paper["title"],
            "author": [_csl_name(a) for a in paper.get("authors") or []],
            "abstract": paper.get("abstract") or "",
        }
        for key in ("published", "listing_date", "updated"):
            value = paper.get(key)
            if isinstance(value, date | datetime):
                item["issued"] = {"date-parts": [[value.year, value.month, value.day]]}
                break
        if paper.get("doi"):
            item["DOI"] = paper["doi"]
        if _url(paper):
            item["URL"] = _url(paper)
        if is_arxiv_id(paper["id"]):
            item["number"] = f"arXiv:{paper['id']}"
            item["publisher"] = "arXiv"
        if paper.get("journal_ref"):
            item["container-title"] = paper["journal_ref"]
        if paper.get("note"):
            item["annote"] = paper["note"]
        items.append(item)
    return items


# ---------------------------------------------------------------- scholarly web
# What reference managers and indexes read from a page: Highwire Press
# ``citation_*`` meta tags (Google Scholar, Zotero's Embedded Metadata
# translator), schema.org JSON-LD, and COinS (OpenURL in a span's title, which
# Zotero collects from list pages, one item per paper).


def pdf_url(paper: dict[str, Any]) -> str:
    """The paper's PDF: the source's link, else arXiv's for an arXiv id."""
    return http_url(paper.get("pdf_url")) or (
        f"https://arxiv.org/pdf/{paper['id']}" if is_arxiv_id(paper["id"]) else ""
    )


def _published(paper: dict[str, Any]) -> str:
    return _day(paper.get("published")) or _day(paper.get("listing_date"))


def meta_tags(paper: dict[str, Any], page_url: str) -> list[tuple[str, str]]:
    """(name, content) of the paper page's meta tags: Highwire Press
    ``citation_*`` and their Dublin Core twins (``DC.*``)."""
    authors = paper.get("authors") or []
    day = _published(paper)
    tags = [("citation_title", paper["title"])]
    tags += [("citation_author", author) for author in authors]
    if day:
        tags.append(("citation_publication_date", day.replace("-", "/")))  # Scholar's form
    if is_arxiv_id(paper["id"]):
        tags.append(("citation_arxiv_id", paper["id"]))
    if pdf := pdf_url(paper):
        tags.append(("citation_pdf_url", pdf))
    if paper.get("doi"):
        tags.append(("citation_doi", paper["doi"]))
    tags.append(("citation_abstract_html_url", page_url))
    tags.append(("DC.title", paper["title"]))
    tags += [("DC.creator", author) for author in authors]
    if day:
        tags.append(("DC.date", day))
    tags.append(("DC.identifier", page_url))
    return tags


def scholarly_article(paper: dict[str, Any], page_url: str) -> dict[str, Any]:
    """The paper as a schema.org ``ScholarlyArticle`` (JSON-LD)."""
    article: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "ScholarlyArticle",
        "@id": page_url,
        "url": page_url,
        "name": paper["title"],
        "headline": paper["title"],
        "author": [{"@type": "Person", "name": a} for a in paper.get("authors") or []],
    }
    if day := _published(paper):
        article["datePublished"] = day
    if updated := _day(paper.get("updated")):
        article["dateModified"] = updated
    if paper.get("abstract"):
        article["abstract"] = paper["abstract"]
    if paper.get("categories"):
        article["keywords"] = list(paper["categories"])
    identifiers = []
    if is_arxiv_id(paper["id"]):
        identifiers.append({"@type": "PropertyValue", "propertyID": "arXiv", "value": paper["id"]})
    if paper.get("doi"):
        identifiers.append({"@type": "PropertyValue", "propertyID": "DOI", "value": paper["doi"]})
    if identifiers:
        article["identifier"] = identifiers
    if abs_url := http_url(paper.get("abs_url")):
        article["sameAs"] = abs_url
    if pdf := pdf_url(paper):
        article["encoding"] = {
            "@type": "MediaObject",
            "contentUrl": pdf,
            "encodingFormat": "application/pdf",
        }
    return article


def coins(paper: dict[str, Any]) -> str:
    """The paper as an OpenURL ContextObject (Z39.88-2004, KEV journal format,
    genre preprint): the title of a COinS ``<span class="Z3988">``."""
    pairs = [
        ("ctx_ver", "Z39.88-2004"),
        ("rft_val_fmt", "info:ofi/fmt:kev:mtx:journal"),
        ("rft.genre", "preprint"),
        ("rft.atitle", paper["title"]),
    ]
    pairs += [("rft.au", author) for author in paper.get("authors") or []]
    if day := _published(paper):
        pairs.append(("rft.date", day))
    if is_arxiv_id(paper["id"]):
        pairs += [("rft.jtitle", "arXiv"), ("rft_id", f"info:arxiv/{paper['id']}")]
    if paper.get("doi"):
        pairs.append(("rft_id", f"info:doi/{paper['doi']}"))
    if abs_url := http_url(paper.get("abs_url")):
        pairs.append(("rft_id", abs_url))
    return urlencode(pairs)
