"""Issue 25's library path in Debian chromium against a live server: a reader
signs in by email, imports a BibTeX file (written by bibtexparser), sees their
"For you" feed change, writes a private note, and downloads everything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import bibtexparser
import pytest
from bibtexparser.model import Entry, Field

from paperfeed.config import Settings
from paperfeed.db import Database
from tests.browser import LiveServer, screenshot
from tests.smtp_server import SMTPServer
from tests.test_browser_readers import sign_in_by_email
from tests.test_recommend import QUANTUM, QUANTUM_DAY1, QUANTUM_DAY2, embedded  # noqa: F401

pytestmark = pytest.mark.browser


def card_ids(page: Any) -> list[str]:
    ids = page.locator("article.paper-card").evaluate_all("els => els.map(e => e.id)")
    return [i.removeprefix("paper-") for i in ids]


@pytest.mark.slow
def test_import_changes_the_feed_and_everything_downloads(
    browser_page: Any,
    live_server: LiveServer,
    settings: Settings,
    embedded: Database,  # noqa: F811 (tests/test_recommend.py's two-topic papers, embedded)
    smtp_server: SMTPServer,
    tmp_path: Path,
) -> None:
    page = browser_page
    settings.import_fetch_arxiv = False
    sign_in_by_email(page, smtp_server, "reader@example.org")

    page.goto("/for-you")
    before = card_ids(page)
    assert before, "the cold-start feed shows papers"

    library = bibtexparser.Library()
    for n, title in enumerate(QUANTUM[:3]):
        library.add(Entry("article", f"q{n}", [Field("title", "{" + title + "}.")]))
    bib = tmp_path / "my-library.bib"
    bib.write_text(bibtexparser.write_string(library), encoding="utf-8")

    page.goto("/library/import")
    page.get_by_label("Format").select_option("bibtex")
    page.get_by_label("File").set_input_files(str(bib))
    page.get_by_role("button", name="Import file").click()
    page.get_by_role("heading", name="Imported 3 of 3").wait_for()
    after_titles = page.locator("ol.feed-after li").all_inner_texts()
    assert after_titles and after_titles[0] in QUANTUM
    screenshot(page, "library-import")

    page.get_by_role("link", name="Open your feed").click()
    after = card_ids(page)
    assert after != before
    assert set(after[:3]) <= QUANTUM_DAY1 | QUANTUM_DAY2

    # A private note on an imported paper, found by the library's search.
    page.goto("/library")
    first = page.locator("form.note-form textarea").first
    first.fill("lattice surgery idea for the group")
    page.locator("form.note-form").first.get_by_role("button").click()
    page.get_by_label("Search your library and notes").fill("lattice surgery idea")
    page.get_by_role("button", name="Search library").click()
    page.get_by_role("heading", name="Notes matching “lattice surgery idea”").wait_for()
    assert page.locator("blockquote.note").count() == 1

    page.goto("/account")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="JSON archive").click()
    download = download_info.value
    assert download.suggested_filename == "paperfeed-account.json"
    archive = json.loads(Path(download.path()).read_text())
    assert len(archive["saved_papers"]) == 3
    assert archive["notes"][0]["body"] == "lattice surgery idea for the group"
    assert archive["reader"]["email"] == "reader@example.org"
    assert not page.dialogs
    assert [e for e in page.console_errors if "Content Security Policy" in e] == []
