"""The arXiv bulk metadata snapshot (Kaggle/Cornell), on its real first 200 records."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime
from pathlib import Path

from typer.testing import CliRunner

from paperfeed.cli import app
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import papers as paper_store
from paperfeed.ingest.jsonl import read_jsonl
from paperfeed.ingest.kaggle_snapshot import read_snapshot
from paperfeed.ingest.pipeline import ingest
from paperfeed.models import Paper, Skipped
from tests.feeds import SNAPSHOT_HEAD

runner = CliRunner(env={"COLUMNS": "400"})
CS_IDS = [
    "0704.0002",
    "0704.0046",
    "0704.0047",
    "0704.0050",
    "0704.0062",
    "0704.0090",
    "0704.0098",
    "0704.0108",
]


def _papers(records: object) -> dict[str, Paper]:
    return {r.id: r for r in records if isinstance(r, Paper)}  # type: ignore[attr-defined]


def test_snapshot_fields_versions_and_withdrawn() -> None:
    records = list(read_snapshot(SNAPSHOT_HEAD))
    papers = _papers(records)
    assert len(papers) == 200 and len(records) == 200
    p = papers["0704.0027"]
    assert [v.number for v in p.versions] == [1, 2, 3, 4]
    assert p.versions[0].created == datetime(2007, 4, 2, 19, 17, 14, tzinfo=UTC)
    assert p.published == p.versions[0].created
    assert p.updated == datetime(2009, 9, 24, 12, 40, 18, tzinfo=UTC)
    assert p.authors == ["M. O. Goerbig", "J. -N. Fuchs", "K. Kechedzhi", "Vladimir I. Fal'ko"]
    first = papers["0704.0001"]
    # authors_parsed is used (decoded names), not the TeX author string.
    assert first.authors[0] == "C. Balázs"
    assert first.doi == "10.1103/PhysRevD.76.013009"
    assert first.journal_ref == "Phys.Rev.D76:013009,2007"
    assert first.comment == "37 pages, 15 figures; published version"
    assert first.title == (
        "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
    )
    assert papers["0704.0002"].categories == ["math.CO", "cs.CG"]
    assert papers["0704.0002"].primary_category == "math.CO"
    assert papers["0704.0028"].authors == ["Péter E. Frenkel"]
    # Submitted Monday 2 April 2007, 19:18 UTC = 15:18 New York: after the
    # 14:00 cutoff, so announced Tuesday evening in Wednesday's listing.
    assert first.listing_date == date(2007, 4, 4)
    withdrawn = [pid for pid, paper in papers.items() if paper.withdrawn]
    assert withdrawn == ["0704.0156"]


def test_category_filter_and_gzip(tmp_path: Path) -> None:
    packed = tmp_path / "snapshot.json.gz"
    packed.write_bytes(gzip.compress(SNAPSHOT_HEAD.read_bytes()))
    assert sorted(_papers(read_snapshot(packed, category="cs"))) == CS_IDS
    assert sorted(_papers(read_snapshot(packed, category="cs.CG"))) == ["0704.0002"]
    assert "0704.0001" in _papers(read_snapshot(packed, category="hep-ph"))


def test_generic_jsonl_reader_recognises_snapshot_lines(db: Database) -> None:
    report = ingest(db, read_jsonl(SNAPSHOT_HEAD))
    assert report.inserted == 200 and not report.skipped
    with db.connect() as conn:
        paper = paper_store.get_paper(conn, "0704.0027")
        again = ingest(db, read_snapshot(SNAPSHOT_HEAD))
    assert paper is not None
    assert paper["source"] == "arxiv-snapshot"
    assert [v["version"] for v in paper["versions"]] == [1, 2, 3, 4]
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 200)


def test_bad_snapshot_record_is_skipped_with_line_and_id(tmp_path: Path, db: Database) -> None:
    lines = SNAPSHOT_HEAD.read_text(encoding="utf-8").splitlines()[:10]
    broken = json.loads(lines[3])
    broken["versions"] = [{"version": "first", "created": "yesterday"}]
    no_title = json.loads(lines[5])
    no_title["title"] = "   "
    lines[3] = json.dumps(broken)
    lines[5] = json.dumps(no_title)
    lines.insert(7, '{"id": "0704.9999", "title": "cut off')
    path = tmp_path / "snap.json"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = ingest(db, read_snapshot(path))
    assert report.inserted == 8
    skipped = [str(s) for s in report.skipped]
    assert skipped == [
        f"{path}:4 (id 0704.0004): bad version 'first'",
        f"{path}:6 (id 0704.0006): missing 'title'",
        f"{path}:8: invalid JSON (Invalid control character at column 38)",
    ]


def test_cli_snapshot_and_wrong_files(cli_env: Settings, tmp_path: Path) -> None:
    result = runner.invoke(app, ["ingest", "snapshot", str(SNAPSHOT_HEAD), "--category", "cs"])
    assert result.exit_code == 0, result.output
    assert "8 read: 8 new" in result.output
    db = Database(cli_env.database_url_resolved)
    with db.connect() as conn:
        before = paper_store.stats(conn)
    # The arxiv-cs export is JSON lines, but not the snapshot.
    other = tmp_path / "export.jsonl"
    other.write_text(json.dumps({"id": "2501.00001", "title": "x", "authors": ["a"]}) + "\n")
    png = tmp_path / "snapshot.json"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256)))
    html = tmp_path / "snapshot.html"
    html.write_text("<!DOCTYPE html>\n<html><title>Kaggle</title></html>\n")
    for path, message in (
        (other, "not an arXiv metadata snapshot record"),
        (png, "not UTF-8 text"),
        (html, "not a JSON-lines file"),
    ):
        result = runner.invoke(app, ["ingest", "snapshot", str(path)])
        assert result.exit_code == 2, result.output
        assert message in result.output and str(path) in result.output
        assert "nothing was written" in result.output
    with db.connect() as conn:
        assert paper_store.stats(conn) == before
    db.dispose()


def test_skipped_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(SNAPSHOT_HEAD.read_text(encoding="utf-8") + "[1, 2]\n", encoding="utf-8")
    records = list(read_snapshot(path))
    assert isinstance(records[-1], Skipped)
    assert records[-1].where == f"{path}:201"
