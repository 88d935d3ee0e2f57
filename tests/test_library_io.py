"""The reader's own library (issue 25): private notes, import from BibTeX, RIS,
CSL-JSON and Zotero, export, and deleting an account, on both backends.

The files in tests/data were written by each format's own writer
(bench/import_titles.py --write: bibtexparser, rispy.dumps, json)."""

from __future__ import annotations

import gzip
import html
import io
import json
from pathlib import Path
from typing import Any

import bibtexparser
import pytest
import rispy
from fastapi.testclient import TestClient
from sqlalchemy import JSON, String, Text, func, select

from paperfeed import readers as core
from paperfeed.app import Paperfeed
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import library as library_store
from paperfeed.db.tables import metadata
from paperfeed.ingest.jsonl import read_jsonl
from paperfeed.ingest.pipeline import ingest
from paperfeed.services import imports
from paperfeed.services import library as service
from tests.fixture_server import JSON as JSON_TYPE
from tests.fixture_server import Reply
from tests.helpers import make_paper
from tests.readers_helpers import csrf_from, new_client, sign_in
from tests.test_digest import confirmed
from tests.test_recommend import QUANTUM, QUANTUM_DAY1, QUANTUM_DAY2, embedded  # noqa: F401

DATA = Path(__file__).parent / "data"
PAPERS = DATA / "import_titles_papers.jsonl.gz"
SAMPLE_DOI = "10.5555/paperfeed.import.1"
SAMPLE_MISSING = "2512.99999"
SAMPLE_NOTE = "Read for the reading group: section 3"
FILES = {"bibtex": "library.bib", "ris": "library.ris", "csl-json": "library.csl.json"}


def _records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in gzip.open(PAPERS, "rt")]


@pytest.fixture
def library_papers(db: Database) -> list[dict[str, Any]]:
    """The 500 corpus papers of the test files, and one paper with the sample DOI."""
    ingest(db, read_jsonl(PAPERS))
    ingest(db, [make_paper("2601.00077", title="Something Else", doi=SAMPLE_DOI.upper())])
    return _records()


def _reader(settings: Settings, db: Database, email: str = "ada@example.org") -> core.Reader:
    link = core.create_magic_link(settings, db, email)
    return core.complete_sign_in(settings, db, link.split("token=")[1])


def _saved(db: Database, reader: core.Reader) -> set[str]:
    return {p["id"] for p in core.library(db, reader)}


# ---------------------------------------------------------------- import


@pytest.mark.parametrize("fmt", sorted(FILES))
def test_each_format_matches_by_id_doi_and_title_and_reports_the_rest(
    paperfeed: Paperfeed, settings: Settings, db: Database, library_papers: list, fmt: str
) -> None:
    settings.import_fetch_arxiv = False
    reader = _reader(settings, db)
    items = imports.read_file(fmt, (DATA / FILES[fmt]).read_bytes())
    report = imports.run_import(paperfeed, reader, items, collection_name="From my manager")

    how = {m["paper_id"]: m["how"] for m in report.matched}
    by_id, by_title = library_papers[200]["id"], library_papers[202]["id"]
    assert how == {by_id: "arXiv id", "2601.00077": "DOI", by_title: "title"}
    assert [u["reason"] for u in report.unmatched] == [
        "not in Paperfeed (fetching from arXiv is off)",
        "no paper here with this DOI or title",
    ]
    assert _saved(db, reader) == set(how)
    assert report.newly_saved == 3
    _, in_collection = core.get_collection(db, reader, report.collection_id or 0)
    assert {p["id"] for p in in_collection} == set(how)
    assert service.get_note(paperfeed, reader, by_id)["body"] == SAMPLE_NOTE


def test_unmatched_arxiv_items_are_fetched_from_arxiv(
    paperfeed: Paperfeed, settings: Settings, db: Database, library_papers: list, fixture_server
) -> None:
    fixture_server.add_arxiv_paper(SAMPLE_MISSING, title="A Paper Only arXiv Has")
    reader = _reader(settings, db)
    items = imports.read_file("bibtex", (DATA / "library.bib").read_bytes())
    report = imports.run_import(paperfeed, reader, items)
    assert SAMPLE_MISSING in _saved(db, reader)
    assert [u["ref"] for u in report.unmatched] == ["nothing (line 28)"]
    assert fixture_server.requests_to("/api/query")


def test_arxiv_unreachable_is_reported_not_fatal(
    paperfeed: Paperfeed, settings: Settings, db: Database, library_papers: list, fixture_server
) -> None:
    fixture_server.route("/api/query", Reply("down", status=503))
    settings.http_max_retries = 1
    reader = _reader(settings, db)
    items = imports.read_file("ris", (DATA / "library.ris").read_bytes())
    report = imports.run_import(paperfeed, reader, items)
    assert len(report.matched) == 3
    assert "arXiv could not be reached" in report.unmatched[0]["reason"]


def test_title_matching_of_200_corpus_entries_without_ids(
    paperfeed: Paperfeed, db: Database
) -> None:
    """The recorded figure (docs/benchmarks.md): titles only, as BibTeX has them."""
    ingest(db, read_jsonl(PAPERS))
    items = imports.read_file("bibtex", (DATA / "import_titles_200.bib").read_bytes())
    assert len(items) == 200 and not any(i.arxiv_id or i.doi for i in items)
    assert any("{" in i.title for i in items) and any("\\" in i.title for i in items)
    found = imports.match(paperfeed, items)
    expected = [r["id"] for r in _records()[:200]]
    right = sum(found.get(n, ("", ""))[0] == want for n, want in enumerate(expected))
    wrong = sum(n in found and found[n][0] != want for n, want in enumerate(expected))
    assert right / 200 >= 0.95 and wrong == 0, (right, wrong)


BROKEN = [
    ("bibtex", "@article{good, title={Fine}}\n@article{bad, title={Oops, year=2020\n", "line 2"),
    ("bibtex", "@article{twice, title={A}}\n\n@article{twice, title={B}}\n", "'twice' (line 3)"),
    ("ris", "TY  - JOUR\nTI  - Fine\nER  - \n\nTY  - JOUR\nTI  - No end\n", "line 5"),
    ("csl-json", '[{"title": "Fine"}, {"title": 3}]', "item 2"),
    ("csl-json", '[{"title": "Fine"},\n {"title": ]', "line 2"),
]


@pytest.mark.parametrize(("fmt", "text", "named"), BROKEN)
def test_a_malformed_file_names_the_entry_and_imports_nothing(
    client: TestClient,
    settings: Settings,
    db: Database,
    library_papers: list,
    fmt: str,
    text: str,
    named: str,
) -> None:
    title = library_papers[0]["title"]
    text = text.replace("Fine", title)  # the good entry matches: it must not be saved alone
    reader = sign_in(client, settings, db, "ada@example.org")
    page = client.get("/library/import")
    response = client.post(
        "/library/import",
        data={"format": fmt, "save": "1", "csrf_token": csrf_from(page.text)},
        files={"file": ("refs", io.BytesIO(text.encode()), "text/plain")},
    )
    assert response.status_code == 400
    assert named in html.unescape(response.text)
    assert _saved(db, reader) == set()


def test_a_failing_write_leaves_nothing_half_imported(
    paperfeed: Paperfeed, settings: Settings, db: Database, library_papers: list
) -> None:
    settings.import_fetch_arxiv = False
    reader = _reader(settings, db)
    core.create_collection(db, reader, "Taken")
    items = imports.read_file("csl-json", (DATA / "library.csl.json").read_bytes())
    with pytest.raises(core.ReaderError, match="already have a collection"):
        imports.run_import(paperfeed, reader, items, collection_name="Taken")
    assert _saved(db, reader) == set()
    assert service.list_notes(paperfeed, reader) == []


def test_zotero_library_through_its_web_api(
    paperfeed: Paperfeed, settings: Settings, db: Database, library_papers: list, fixture_server
) -> None:
    """Recorded Zotero API v3 responses (items of a user library, two pages)."""
    by_id, by_title = library_papers[200], library_papers[202]
    page1 = [
        {
            "key": "AB12CD34",
            "data": {
                "key": "AB12CD34",
                "itemType": "preprint",
                "title": by_id["title"],
                "archiveID": f"arXiv:{by_id['id']}",
                "url": f"https://arxiv.org/abs/{by_id['id']}",
            },
        },
        {"key": "NOTE0001", "data": {"key": "NOTE0001", "itemType": "note", "note": "<p>x</p>"}},
    ]
    page2 = [
        {
            "key": "EF56GH78",
            "data": {
                "key": "EF56GH78",
                "itemType": "conferencePaper",
                "title": by_title["title"],
                "DOI": "",
            },
        }
    ]
    headers = {"Total-Results": "3"}
    fixture_server.route(
        "/zotero/users/475425/items",
        Reply(json.dumps(page1), content_type=JSON_TYPE, headers=headers),
        query={"start": "0"},
    )
    fixture_server.route(
        "/zotero/users/475425/items",
        Reply(json.dumps(page2), content_type=JSON_TYPE, headers=headers),
        query={"start": "2"},
    )
    reader = _reader(settings, db)
    items = imports.read_zotero(settings, "475425", "P9NiFoyLeZu2bZNvvuQPDWsd")
    report = imports.run_import(paperfeed, reader, items)
    assert {m["how"] for m in report.matched} == {"arXiv id", "title"}
    assert _saved(db, reader) == {by_id["id"], by_title["id"]}
    request = fixture_server.requests_to("/zotero/users/475425/items")[0]
    assert request.query["format"] == "json"

    fixture_server.route("/zotero/users/1/items", Reply("Forbidden", status=403))
    with pytest.raises(imports.ImportProblem, match="Zotero refused"):
        imports.read_zotero(settings, "1", "badkey")


def test_import_seeds_the_feed_at_once(
    settings: Settings,
    embedded: Database,  # noqa: F811 (the fixture of tests/test_recommend.py)
    client: TestClient,
) -> None:
    db = embedded
    sign_in(client, settings, db, "ada@example.org")
    library = bibtexparser.Library()
    for n, title in enumerate(QUANTUM[:3]):  # by title: the test's ids are not arXiv's
        library.add(
            bibtexparser.model.Entry(
                "misc", f"q{n}", [bibtexparser.model.Field("title", "{" + title + "}")]
            )
        )
    text = bibtexparser.write_string(library)
    response = client.post(
        "/api/me/import",
        json={"format": "bibtex", "content": text},
        headers={"X-CSRF-Token": csrf_from(client.get("/library/import").text)},
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert [m["how"] for m in report["matched"]] == ["title"] * 3
    before = [p["paper_id"] for p in report["feed_before"]]
    after = [p["paper_id"] for p in report["feed_after"]]
    assert before and after and before != after
    assert set(after[:3]) <= QUANTUM_DAY2 | QUANTUM_DAY1  # the imported topic leads now
    assert {p["reason"] for p in report["feed_after"]} != {""}
    for_you = client.get("/for-you").text
    assert after[0] in for_you and "saved" in for_you


# ---------------------------------------------------------------- notes


def test_notes_are_private_searchable_and_on_collection_items(
    client: TestClient, settings: Settings, db: Database, library_papers: list
) -> None:
    paper, other = library_papers[0]["id"], library_papers[1]["id"]
    ada = sign_in(client, settings, db, "ada@example.org")
    token = core.create_api_token(db, ada, "t", ["read", "write"])[1]
    auth = {"Authorization": f"Bearer {token}"}
    core.set_flag(db, ada, "save", paper, True)
    core.set_flag(db, ada, "save", other, True)
    put = client.put(
        f"/api/papers/{paper}/note", json={"body": "zebrafish <b>idea</b>"}, headers=auth
    )
    assert put.status_code == 200 and put.json()["body"] == "zebrafish <b>idea</b>"
    # The library page's search finds the paper by its note, and escapes the note.
    page = client.get("/library", params={"q": "ZEBRAFISH"})
    assert paper in page.text and other not in page.text
    assert "zebrafish &lt;b&gt;idea&lt;/b&gt;" in page.text
    found = client.get("/api/me/saved/search", params={"q": "zebrafish"}, headers=auth)
    assert [p["id"] for p in found.json()] == [paper]

    # An item note, only on a collection of one's own and a paper in it.
    collection = core.create_collection(db, ada, "Reading")
    core.add_to_collection(db, ada, collection, paper)
    url = f"/api/collections/{collection}/notes/{paper}"
    assert client.put(url, json={"body": "for week 2"}, headers=auth).status_code == 200
    missing = client.put(
        f"/api/collections/{collection}/notes/{other}", json={"body": "x"}, headers=auth
    )
    assert missing.status_code == 404
    assert client.get(f"/collections/{collection}").text.count("for week 2") == 1

    # Nobody else sees them, not even on a public collection.
    bob_client = new_client(client)
    bob = sign_in(bob_client, settings, db, "bob@example.org")
    core.update_collection(db, ada, collection, is_public=True)
    assert "for week 2" not in bob_client.get(f"/collections/{collection}").text
    assert bob_client.get(f"/api/papers/{paper}/note").status_code == 404
    assert bob_client.get("/api/me/notes").json() == []
    bob_put = bob_client.put(
        url,
        json={"body": "mine"},
        headers={"X-CSRF-Token": csrf_from(bob_client.get("/notes").text)},
    )
    assert bob_put.status_code == 404
    assert service.list_notes(Paperfeed(settings, db), bob) == []

    # A read-only token reads notes but cannot write them.
    read_only = core.create_api_token(db, ada, "ro", ["read"])[1]
    ro = {"Authorization": f"Bearer {read_only}"}
    assert client.get("/api/me/notes", headers=ro).status_code == 200
    assert (
        client.put(f"/api/papers/{paper}/note", json={"body": "x"}, headers=ro).status_code == 403
    )
    # The web form: CSRF required.
    assert client.post("/notes", data={"paper_id": other, "body": "b"}).status_code == 403
    form = client.post(
        "/notes",
        data={
            "paper_id": other,
            "body": "web note",
            "next": "/library",
            "csrf_token": csrf_from(client.get("/notes").text),
        },
        follow_redirects=False,
    )
    assert form.status_code == 303
    assert "web note" in client.get("/notes", params={"q": "web"}).text
    assert client.delete(f"/api/papers/{paper}/note", headers=auth).status_code == 204
    assert client.get(f"/api/papers/{paper}/note", headers=auth).status_code == 404


# ---------------------------------------------------------------- export


def test_exports_in_every_format_carry_notes_and_only_ones_own_data(
    client: TestClient, settings: Settings, db: Database, library_papers: list
) -> None:
    app = Paperfeed(settings, db)
    ada = sign_in(client, settings, db, "ada@example.org")
    saved = [library_papers[i]["id"] for i in range(3)]
    for paper_id in saved:
        core.set_flag(db, ada, "save", paper_id, True)
    core.set_flag(db, ada, "vote", saved[0], True)
    core.set_flag(db, ada, "hide", library_papers[9]["id"], True)
    service.set_note(app, ada, saved[1], "my { note } & more")
    collection = core.create_collection(db, ada, "Only in a collection")
    core.add_to_collection(db, ada, collection, library_papers[5]["id"])
    core.create_saved_search(db, ada, "GNNs", "graph neural network")

    bib = client.get("/library/export", params={"what": "library", "format": "bibtex"})
    assert bib.status_code == 200 and "attachment" in bib.headers["content-disposition"]
    entries = bibtexparser.parse_string(bib.text)
    assert not entries.failed_blocks
    assert sorted(e.fields_dict["eprint"].value for e in entries.entries) == sorted(saved)
    assert any("annote" in e.fields_dict for e in entries.entries)
    ris = rispy.loads(client.get("/library/export?what=account&format=ris").text)
    assert len(ris) == 4 and any(r.get("notes") == ["my { note } & more"] for r in ris)
    csl = client.get(f"/library/export?what=collection&collection_id={collection}&format=csl-json")
    assert [i["id"] for i in csl.json()] == [library_papers[5]["id"]]

    archive = client.get("/library/export?what=account&format=json").json()
    assert {p["id"] for p in archive["saved_papers"]} == set(saved)
    assert [v["paper_id"] for v in archive["votes"]] == [saved[0]]
    assert [h["paper_id"] for h in archive["hides"]] == [library_papers[9]["id"]]
    assert archive["collections"][0]["paper_ids"] == [library_papers[5]["id"]]
    assert archive["notes"][0]["body"] == "my { note } & more"
    assert archive["saved_searches"][0]["query"] == "graph neural network"
    assert "subscriptions" in archive
    assert "token_hash" not in json.dumps(archive)

    # Someone else's collection, public or not, is not theirs to export.
    bob_client = new_client(client)
    sign_in(bob_client, settings, db, "bob@example.org")
    core.update_collection(db, ada, collection, is_public=True)
    other = bob_client.get(f"/library/export?what=collection&collection_id={collection}")
    assert other.status_code == 404
    bob_archive = bob_client.get("/api/me/export").json()
    assert bob_archive["saved_papers"] == [] and bob_archive["notes"] == []
    assert client.get("/library/export?format=docx").status_code == 400


# ---------------------------------------------------------------- deleting an account


def test_every_table_referencing_readers_says_what_deletion_does() -> None:
    """A table added with a key to readers.id (comments, groups...) must say
    ON DELETE CASCADE or SET NULL; deletion follows that rule."""
    columns = library_store.reader_columns()
    assert {t.name for t, _ in columns} >= {"votes", "saves", "notes", "api_tokens", "submissions"}
    for table, column in columns:
        rules = {fk.ondelete for fk in column.foreign_keys if fk.column.table.name == "readers"}
        assert rules <= {"CASCADE", "SET NULL"}, f"{table.name}.{column.name}: {rules}"
        assert column.nullable or "SET NULL" not in rules, f"{table.name}.{column.name}"


def test_deleting_an_account_leaves_nothing_of_the_reader(
    client: TestClient, settings: Settings, db: Database, library_papers: list, smtp_server
) -> None:
    app = Paperfeed(settings, db)
    paper = library_papers[0]["id"]
    email = "ada@example.org"
    ada = sign_in(client, settings, db, email)
    token = core.create_api_token(db, ada, "script", ["read", "write"])[1]
    for kind in ("vote", "save", "hide"):
        core.set_flag(db, ada, kind, paper, True)
    collection = core.create_collection(db, ada, "Mine")
    core.add_to_collection(db, ada, collection, paper)
    service.set_note(app, ada, paper, "private")
    service.set_note(app, ada, paper, "item", collection)
    core.create_saved_search(db, ada, "s", "q")
    core.record_submission(db, ada, paper, core.utcnow(), new=False)
    core.grant_role(db, email, "curator")
    core.request_sign_in(settings, db, email, "127.0.0.9")
    confirmed(settings, db, email)
    bob_client = new_client(client)
    bob = sign_in(bob_client, settings, db, "bob@example.org")
    core.set_flag(db, bob, "save", paper, True)

    page = client.get("/account/delete")
    assert page.status_code == 200
    wrong = client.post(
        "/account/delete",
        data={"confirm_email": "bob@example.org", "csrf_token": csrf_from(page.text)},
    )
    assert wrong.status_code == 400
    assert client.post("/account/delete", data={"confirm_email": email}).status_code == 403
    done = client.post(
        "/account/delete", data={"confirm_email": email, "csrf_token": csrf_from(page.text)}
    )
    assert done.status_code == 200 and "Account deleted" in done.text

    with db.connect() as conn:
        for table, column in library_store.reader_columns():
            left = conn.execute(select(func.count()).where(column == ada.id)).scalar()
            assert left == 0, f"{table.name}.{column.name} still points at the reader"
        for table in metadata.sorted_tables:
            texts = [c for c in table.columns if isinstance(c.type, String | Text | JSON)]
            for column in texts:
                rows = conn.execute(select(column).where(column.is_not(None))).scalars()
                assert not any(email in str(v) for v in rows), f"{table.name}.{column.name}"
    assert core.get_reader(db, ada.id) is None
    assert client.get("/api/me").status_code == 401  # the session is gone
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert _saved(db, bob) == {paper}  # nobody else's data moved


def test_deleting_through_the_api_needs_the_address_and_the_write_scope(
    client: TestClient, settings: Settings, db: Database
) -> None:
    ada = _reader(settings, db)
    read_only = {"Authorization": f"Bearer {core.create_api_token(db, ada, 'r', ['read'])[1]}"}
    both = {"Authorization": f"Bearer {core.create_api_token(db, ada, 'w')[1]}"}
    body = {"confirm_email": ada.email}
    assert client.post("/api/me/delete", json=body, headers=read_only).status_code == 403
    assert (
        client.post("/api/me/delete", json={"confirm_email": "x@y.z"}, headers=both).status_code
        == 400
    )
    assert client.post("/api/me/delete", json=body, headers=both).status_code == 204
    assert core.get_reader(db, ada.id) is None


def test_library_answers_are_the_documented_ones(
    client: TestClient, settings: Settings, db: Database, library_papers: list
) -> None:
    from tests.test_api_contract import _documented

    settings.import_fetch_arxiv = False
    ada = _reader(settings, db)
    auth = {"Authorization": f"Bearer {core.create_api_token(db, ada, 't')[1]}"}
    text = (DATA / "library.ris").read_text()
    imported = client.post("/api/me/import", json={"format": "ris", "content": text}, headers=auth)
    assert imported.status_code == 200
    _documented(client, "/api/me/import", "POST", imported)
    broken = client.post(
        "/api/me/import", json={"format": "ris", "content": "TY  - JOUR\n"}, headers=auth
    )
    assert broken.status_code == 400 and "line 1" in broken.json()["detail"]
    _documented(client, "/api/me/import", "POST", broken)
    for fmt in ("bibtex", "ris", "csl-json", "json"):
        exported = client.get("/api/me/export", params={"format": fmt}, headers=auth)
        assert exported.status_code == 200
        _documented(client, "/api/me/export", "GET", exported)
    notes = client.get("/api/me/notes", headers=auth)
    _documented(client, "/api/me/notes", "GET", notes)
    assert [n["body"] for n in notes.json()] == [SAMPLE_NOTE]
