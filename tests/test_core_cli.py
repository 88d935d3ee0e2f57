"""The CLI on real data: ingest a slice of the arXiv export and the HF pages, then read back."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from typer.testing import CliRunner

from paperfeed.cli import app
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import papers as paper_store
from tests.conftest import ARXIV_CS, FIXTURES
from tests.helpers import real_records, write_jsonl

# Wide enough that rich does not wrap file paths in messages.
runner = CliRunner(env={"COLUMNS": "400"})


def test_ingest_real_slice_then_stats_and_show(cli_env: Settings, tmp_path: Path) -> None:
    records = list(real_records(ARXIV_CS, 300))
    sample = write_jsonl(tmp_path / "slice.jsonl", records)
    result = runner.invoke(app, ["ingest", "jsonl", str(sample)])
    assert result.exit_code == 0, result.output
    assert "300 read: 300 new" in result.output

    again = runner.invoke(app, ["ingest", "jsonl", str(sample)])
    assert "0 new, 0 updated, 300 unchanged" in again.output

    stats = json.loads(runner.invoke(app, ["stats"]).stdout)
    assert stats["papers"] == 300

    shown = runner.invoke(app, ["show", records[0]["id"]])
    assert json.loads(shown.stdout)["title"] == " ".join(records[0]["title"].split())
    missing = runner.invoke(app, ["show", "9999.99999"])
    assert missing.exit_code == 1


def test_ingest_limit_reads_gzip(cli_env: Settings) -> None:
    result = runner.invoke(app, ["ingest", "jsonl", str(ARXIV_CS), "--limit", "120"])
    assert result.exit_code == 0, result.output
    assert "120 read: 120 new" in result.output


def test_hf_pages_ingest_titles_and_abstracts(cli_env: Settings) -> None:
    pages = sorted((FIXTURES / "hf_papers_pages").glob("*.txt"))
    result = runner.invoke(app, ["ingest", "hf-page", *map(str, pages), "--year", "2025"])
    assert result.exit_code == 0, result.output
    db = Database(cli_env.database_url_resolved)
    with db.connect() as conn:
        listed = paper_store.papers_listed_on(conn, __import__("datetime").date(2025, 4, 1))
    titles = {p["title"] for p in listed}
    assert (
        "Harnessing Explanations: LLM-to-LM Interpreter for Enhanced Text-Attributed "
        "Graph Representation Learning" in titles
    )
    assert all(len(p["abstract"]) > 200 for p in listed)


def test_malformed_line_is_skipped_and_named(cli_env: Settings, tmp_path: Path) -> None:
    good = list(real_records(ARXIV_CS, 3))
    path = tmp_path / "mixed.jsonl"
    lines = [
        json.dumps(good[0]),
        "{not json",
        json.dumps({**good[1], "title": ""}),
        json.dumps(good[2]),
    ]
    path.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["ingest", "jsonl", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{path}:2" in result.output and "invalid JSON" in result.output
    assert f"{path}:3" in result.output and "missing 'title'" in result.output
    assert "4 read: 2 new" in result.output and "2 skipped" in result.output


def test_file_in_wrong_format_writes_nothing(cli_env: Settings, tmp_path: Path) -> None:
    runner.invoke(
        app,
        [
            "ingest",
            "jsonl",
            str(write_jsonl(tmp_path / "a.jsonl", list(real_records(ARXIV_CS, 5)))),
        ],
    )
    html = tmp_path / "page.jsonl"
    html.write_text("<!doctype html><html><body>Not found</body></html>\n")
    result = runner.invoke(app, ["ingest", "jsonl", str(html)])
    assert result.exit_code == 2
    assert "not a JSON-lines file" in result.output and "nothing was written" in result.output
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(gzip.compress(b'{"id": "2501.00001"}\n' * 50)[:40])
    result = runner.invoke(app, ["ingest", "jsonl", str(broken)])
    assert result.exit_code == 2
    stats = json.loads(runner.invoke(app, ["stats"]).stdout)
    assert stats["papers"] == 5
