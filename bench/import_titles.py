"""Title matching of library imports: how many of 200 BibTeX entries drawn
from the corpus, with ids and DOIs removed, find their paper by title alone.

    python bench/import_titles.py --write   # (re)make the committed test files
    python bench/import_titles.py           # measure on them

The entries are written by bibtexparser's own writer, with the title as
BibTeX files have it: capitals protected by braces, accents as LaTeX
macros, BibTeX specials escaped, lines wrapped, a trailing period, or the
whole title in double braces. tests/data gets the .bib file and the papers
(the 200 plus 300 others from the corpus, so a title has neighbours to be
confused with) that tests/test_library_import.py imports against.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "data" / "arxiv-cs-2025.jsonl.gz"
DATA = ROOT / "tests" / "data"
BIB = DATA / "import_titles_200.bib"
PAPERS = DATA / "import_titles_papers.jsonl.gz"
SEED = 25


def perturb(title: str, rng: random.Random) -> str:
    """The title as a BibTeX file written by a person or a reference manager has it."""
    from pylatexenc.latexencode import unicode_to_latex

    text = " ".join(title.split())
    if not text.isascii() or rng.random() < 0.5:
        text = unicode_to_latex(text, non_ascii_only=True, unknown_char_policy="keep")
    for char in "&%#_":
        text = re.sub(rf"(?<!\\){re.escape(char)}", "\\" + char, text)
    if rng.random() < 0.5:  # protect capitals: {BERT}, {G}raph
        text = re.sub(r"\b([A-Z][A-Za-z0-9]*[A-Z][A-Za-z0-9]*)\b", r"{\1}", text)
    if rng.random() < 0.3:
        text = "{" + text + "}"
    if rng.random() < 0.4:  # wrapped at 60 columns
        words, lines, line = text.split(" "), [], ""
        for word in words:
            if len(line) + len(word) > 60:
                lines.append(line)
                line = ""
            line = f"{line} {word}".strip()
        text = "\n   ".join([*lines, line])
    if rng.random() < 0.3:
        text += "."
    return text


def write() -> None:
    from bibtexparser import Library, write_string
    from bibtexparser.model import Entry, Field

    with gzip.open(CORPUS, "rt", encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines]
    rng = random.Random(SEED)
    chosen = rng.sample(records, 500)
    library = Library()
    for n, record in enumerate(chosen[:200]):
        year = (record.get("listing_date") or "2025")[:4]
        key = f"ref{n:03d}"
        fields = [
            Field("title", perturb(record["title"], rng)),
            Field("author", " and ".join(record.get("authors") or [])),
            Field("year", year),
        ]
        library.add(Entry("article", key, fields))
    DATA.mkdir(parents=True, exist_ok=True)
    BIB.write_text(write_string(library), encoding="utf-8")
    with gzip.open(PAPERS, "wt", encoding="utf-8") as out:
        for record in chosen:
            out.write(json.dumps(record) + "\n")
    print(
        f"wrote {BIB.relative_to(ROOT)} (200 entries) and {PAPERS.relative_to(ROOT)} (500 papers)"
    )
    write_samples(chosen[200:203])


# The small files of tests/test_library_import.py, one per format, each made by
# that format's own writer: an arXiv id (with a note), a DOI the test gives a
# paper, a title, an arXiv id Paperfeed lacks, and a reference to nothing.
SAMPLE_DOI = "10.5555/paperfeed.import.1"
SAMPLE_MISSING = "2512.99999"
SAMPLE_NOTE = "Read for the reading group: section 3"


def write_samples(records: list[dict]) -> None:
    import rispy
    from bibtexparser import Library, write_string
    from bibtexparser.model import Entry, Field

    by_id, _, by_title = records
    nothing = "A Study of Papers That Were Never Written"
    library = Library()
    library.add(
        Entry(
            "misc",
            "byid",
            [
                Field("title", by_id["title"]),
                Field("eprint", by_id["id"]),
                Field("archivePrefix", "arXiv"),
                Field("annote", SAMPLE_NOTE),
            ],
        )
    )
    library.add(
        Entry(
            "article",
            "bydoi",
            [Field("title", "Something Else Entirely"), Field("doi", SAMPLE_DOI)],
        )
    )
    library.add(
        Entry(
            "inproceedings",
            "bytitle",
            [Field("title", perturb(by_title["title"], random.Random(1)) + ".")],
        )
    )
    library.add(
        Entry(
            "misc",
            "missing",
            [
                Field("title", "A Paper Only arXiv Has"),
                Field("eprint", SAMPLE_MISSING),
                Field("archivePrefix", "arXiv"),
            ],
        )
    )
    library.add(Entry("book", "nothing", [Field("title", nothing)]))
    (DATA / "library.bib").write_text(write_string(library), encoding="utf-8")
    ris = [
        {
            "type_of_reference": "UNPB",
            "title": by_id["title"],
            "urls": [f"https://arxiv.org/abs/{by_id['id']}v2"],
            "notes": [SAMPLE_NOTE],
        },
        {"type_of_reference": "JOUR", "title": "Something Else Entirely", "doi": SAMPLE_DOI},
        {"type_of_reference": "JOUR", "title": by_title["title"].upper()},
        {
            "type_of_reference": "UNPB",
            "title": "A Paper Only arXiv Has",
            "id": f"arXiv:{SAMPLE_MISSING}",
        },
        {"type_of_reference": "BOOK", "title": nothing},
    ]
    (DATA / "library.ris").write_text(rispy.dumps(ris), encoding="utf-8")
    csl = [
        {
            "id": "byid",
            "type": "article",
            "title": by_id["title"],
            "number": f"arXiv:{by_id['id']}",
            "annote": SAMPLE_NOTE,
        },
        {
            "id": "bydoi",
            "type": "article-journal",
            "title": "Something Else Entirely",
            "DOI": f"https://doi.org/{SAMPLE_DOI}",
        },
        {"id": "bytitle", "type": "paper-conference", "title": by_title["title"]},
        {
            "id": "missing",
            "type": "article",
            "title": "A Paper Only arXiv Has",
            "URL": f"https://arxiv.org/abs/{SAMPLE_MISSING}",
        },
        {"id": "nothing", "type": "book", "title": nothing},
    ]
    (DATA / "library.csl.json").write_text(json.dumps(csl, indent=1), encoding="utf-8")
    print("wrote tests/data/library.bib, library.ris, library.csl.json")


def expected_ids() -> list[str]:
    with gzip.open(PAPERS, "rt") as lines:
        return [json.loads(line)["id"] for line in lines][:200]


def measure() -> float:
    from paperfeed.app import Paperfeed
    from paperfeed.config import Settings
    from paperfeed.ingest.jsonl import read_jsonl
    from paperfeed.services import imports
    from paperfeed.services.ingest import store

    with tempfile.TemporaryDirectory() as tmp:
        app = Paperfeed(Settings(data_dir=Path(tmp)))
        store(app, read_jsonl(PAPERS))
        items = imports.read_file("bibtex", BIB.read_bytes())
        found = imports.match(app, items)
    expected = expected_ids()
    right = sum(1 for n, want in enumerate(expected) if found.get(n, ("",))[0] == want)
    wrong = sum(1 for n, want in enumerate(expected) if n in found and found[n][0] != want)
    print(
        f"{len(items)} entries: {right} matched to their paper, {wrong} to another, "
        f"{len(items) - right - wrong} unmatched: {100 * right / len(items):.1f} %"
    )
    return right / len(items)


def against_corpus() -> None:
    """The same keys against every title of the 74k-paper corpus (in memory,
    normalize_title as the papers table stores it): does a key find its paper
    and only it?"""
    from paperfeed.models import normalize_title
    from paperfeed.services import imports

    by_key: dict[str, set[str]] = {}
    with gzip.open(CORPUS, "rt", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            by_key.setdefault(normalize_title(record["title"]), set()).add(record["id"])
    items = imports.read_file("bibtex", BIB.read_bytes())
    unique = ambiguous = 0
    for item, want in zip(items, expected_ids(), strict=True):
        hits = next((by_key[k] for k in imports.title_keys(item.title) if k in by_key), set())
        unique += hits == {want}
        ambiguous += want in hits and len(hits) > 1
    print(
        f"against all {sum(len(v) for v in by_key.values())} corpus titles: {unique} of "
        f"{len(items)} find only their paper, {ambiguous} share their title with another"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--corpus", action="store_true", help="also check against all titles")
    args = parser.parse_args()
    if args.write:
        write()
    if args.corpus:
        against_corpus()
    sys.exit(0 if measure() >= 0.95 else 1)
