"""Response bodies for the fixture server, built from the real recorded ones.

The real Atom answer (10 entries) is split into pages; a single entry can be
made in the same shape for any id; OAI-PMH and HF answers live in
tests/fixtures/ (written in the real arXivRaw / daily_papers shapes).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

FIXTURES = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures"
LOCAL_FIXTURES = Path(__file__).resolve().parent / "fixtures"
REAL_ATOM = FIXTURES / "arxiv_api" / "query_all_science_2019-08-10.atom.xml"
HF_ITEM = FIXTURES / "hf_daily_papers" / "daily_papers_item_2602.23229.json"
HF_PAPER = FIXTURES / "hf_daily_papers" / "paper_object_2509.04664.json"
SNAPSHOT_HEAD = FIXTURES / "arxiv_kaggle_snapshot" / "arxiv-metadata-oai-snapshot.head.jsonl"

_ENTRY = re.compile(r"  <entry>.*?</entry>\n", re.DOTALL)


def real_atom() -> str:
    return REAL_ATOM.read_text(encoding="utf-8")


def real_atom_entries() -> list[str]:
    """The 10 <entry> blocks of the recorded answer, verbatim."""
    return _ENTRY.findall(real_atom())


def atom_feed(entries: list[str], *, total: int, start: int = 0) -> str:
    """An API answer in the recorded header's shape with these entries."""
    text = real_atom()
    head = text[: text.index("  <entry>")]
    head = re.sub(r"(<opensearch:totalResults[^>]*>)\d+", rf"\g<1>{total}", head)
    head = re.sub(r"(<opensearch:startIndex[^>]*>)\d+", rf"\g<1>{start}", head)
    head = re.sub(r"(<opensearch:itemsPerPage[^>]*>)\d+", rf"\g<1>{len(entries)}", head)
    return head + "".join(entries) + "</feed>\n"


def atom_pages(page_size: int) -> list[str]:
    """The recorded answer as consecutive pages of ``page_size`` entries."""
    entries = real_atom_entries()
    return [
        atom_feed(entries[i : i + page_size], total=len(entries), start=i)
        for i in range(0, len(entries), page_size)
    ]


def atom_entry(
    arxiv_id: str,
    *,
    version: int = 1,
    title: str = "A recently published paper",
    abstract: str = "We describe a recently published result.",
    authors: tuple[str, ...] | list[str] = ("Ada Lovelace", "Alan Turing"),
    published: datetime | None = None,
    updated: datetime | None = None,
    categories: tuple[str, ...] | list[str] = ("cs.CL",),
    comment: str | None = None,
    doi: str | None = None,
    journal_ref: str | None = None,
) -> str:
    """One <entry> in the real API's shape (element order and namespaces)."""
    published = published or datetime.now(UTC).replace(microsecond=0)
    updated = updated or published
    ns = 'xmlns:arxiv="http://arxiv.org/schemas/atom"'
    scheme = 'scheme="http://arxiv.org/schemas/atom"'
    vid = f"{arxiv_id}v{version}"
    parts = [
        "  <entry>",
        f"    <id>http://arxiv.org/abs/{vid}</id>",
        f"    <updated>{updated:%Y-%m-%dT%H:%M:%SZ}</updated>",
        f"    <published>{published:%Y-%m-%dT%H:%M:%SZ}</published>",
        f"    <title>{escape(title)}</title>",
        f"    <summary>  {escape(abstract)}\n</summary>",
        *(f"    <author>\n      <name>{escape(a)}</name>\n    </author>" for a in authors),
    ]
    if doi:
        parts.append(f"    <arxiv:doi {ns}>{escape(doi)}</arxiv:doi>")
    if comment:
        parts.append(f"    <arxiv:comment {ns}>{escape(comment)}</arxiv:comment>")
    if journal_ref:
        parts.append(f"    <arxiv:journal_ref {ns}>{escape(journal_ref)}</arxiv:journal_ref>")
    parts += [
        f'    <link href="http://arxiv.org/abs/{vid}" rel="alternate" type="text/html"/>',
        f'    <link title="pdf" href="http://arxiv.org/pdf/{vid}" rel="related" '
        'type="application/pdf"/>',
    ]
    if categories:
        parts.append(f'    <arxiv:primary_category {ns} term="{categories[0]}" {scheme}/>')
    parts += [f'    <category term="{c}" {scheme}/>' for c in categories]
    parts.append("  </entry>\n")
    return "\n".join(parts)


def hf_item() -> dict[str, Any]:
    data = json.loads(HF_ITEM.read_text(encoding="utf-8"))
    return data[0] if isinstance(data, list) else data


def hf_paper_object() -> dict[str, Any]:
    return json.loads(HF_PAPER.read_text(encoding="utf-8"))
