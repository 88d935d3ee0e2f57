"""Bad input and crashes: broken files write nothing, malformed records are
skipped and named, and a kill -9 mid-ingest leaves a consistent database that
a re-run completes without duplicates."""

from __future__ import annotations

import gzip
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from paperfeed.cli import app
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import papers as paper_store
from tests.conftest import ARXIV_CS
from tests.helpers import real_records

runner = CliRunner(env={"COLUMNS": "400"})


def _stats(settings: Settings) -> dict[str, Any]:
    db = Database(settings.database_url_resolved)
    try:
        with db.connect() as conn:
            return paper_store.stats(conn)
    finally:
        db.dispose()


def _seed(tmp_path: Path) -> None:
    seed = tmp_path / "seed.jsonl"
    seed.write_text("".join(json.dumps(r) + "\n" for r in real_records(ARXIV_CS, 50)))
    assert runner.invoke(app, ["ingest", "jsonl", str(seed)]).exit_code == 0


def test_truncated_gzip_writes_nothing_even_past_the_first_batch(
    cli_env: Settings, tmp_path: Path
) -> None:
    _seed(tmp_path)
    before = _stats(cli_env)
    lines = "".join(json.dumps(r) + "\n" for r in real_records(ARXIV_CS, 6000)).encode()
    packed = gzip.compress(lines)
    broken = tmp_path / "cut.jsonl.gz"
    broken.write_bytes(packed[: int(len(packed) * 0.9)])  # 5000+ good records, then nothing
    for command in ("jsonl", "snapshot"):
        result = runner.invoke(app, ["ingest", command, str(broken)])
        assert result.exit_code == 2, result.output
        assert f"{broken}: broken gzip file" in result.output
        assert "nothing was written" in result.output
    assert _stats(cli_env) == before


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("figure.jsonl", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "not UTF-8"),
        ("page.jsonl.gz", gzip.compress(b"<html><body>404</body></html>\n"), "not a JSON-lines"),
        ("list.jsonl", b"[1, 2, 3]\n[4]\n", "no usable record"),
    ],
    ids=["figure", "html-gz", "list"],  # gzip stamps the time: the bytes are no stable id
)
def test_file_not_in_its_format(
    cli_env: Settings, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    _seed(tmp_path)
    before = _stats(cli_env)
    path = tmp_path / name
    path.write_bytes(content)
    result = runner.invoke(app, ["ingest", "jsonl", str(path)])
    assert result.exit_code == 2, result.output
    assert message in result.output and "nothing was written" in result.output
    assert _stats(cli_env) == before


def test_malformed_records_across_batches(cli_env: Settings, tmp_path: Path) -> None:
    records = list(real_records(ARXIV_CS, 4500))
    lines = [json.dumps(r) for r in records]
    lines[9] = lines[9][:-20]  # cut JSON
    lines[2499] = json.dumps({**records[2499], "authors": []})
    lines[4399] = json.dumps({**records[4399], "id": "not/an id"})
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["ingest", "jsonl", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{path}:10: invalid JSON" in result.output
    assert f"{path}:2500 (id {records[2499]['id']}): missing 'authors'" in result.output
    assert f"{path}:4400 (id not/an id): not an arXiv id" in result.output
    summary = "4500 read: 4497 new, 0 updated, 0 unchanged, 0 duplicates within the input"
    assert f"{summary}, 3 skipped" in " ".join(result.output.split())
    assert _stats(cli_env)["papers"] == 4497


def _count(db_path: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30) as conn:
            return int(conn.execute("SELECT count(*) FROM papers").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # not created or not migrated yet


@pytest.mark.slow
@pytest.mark.sqlite_only(
    "reads the SQLite file directly (sqlite3, PRAGMA integrity_check); the PostgreSQL "
    "kill-mid-ingest case is tests/test_jobs.py::test_worker_killed_mid_ingest_*"
)
def test_kill_9_mid_ingest_then_rerun(cli_env: Settings, tmp_path: Path) -> None:
    records = list(real_records(ARXIV_CS, 20_000))
    # Some papers appear twice (a re-listed paper): the store must hold each once.
    lines = [json.dumps(r) for r in records] + [json.dumps(r) for r in records[::40]]
    data = tmp_path / "slice.jsonl.gz"
    data.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    distinct = {r["id"]: r for r in records}
    db_path = Path(cli_env.database_url_resolved.removeprefix("sqlite:///"))
    command = [
        sys.executable,
        "-c",
        "from paperfeed.cli import main; main()",
        "ingest",
        "jsonl",
        str(data),
    ]
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # Kill once at least one batch has committed, without any time limit:
        # the poll ends when the database shows papers or the process ends.
        while _count(db_path) == 0 and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, "the ingest finished before it could be killed"

    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = conn.execute("SELECT id, title, abstract, authors, listing_date FROM papers")
        rows = stored.fetchall()
        queued = {r[0] for r in conn.execute("SELECT paper_id FROM index_queue")}
    assert 0 < len(rows) < len(distinct)
    for paper_id, title, abstract, authors, listing_date in rows:
        source = distinct[paper_id]
        assert title == " ".join(source["title"].split())
        assert abstract == " ".join(source["abstract"].split())
        assert json.loads(authors) and listing_date == source["listing_date"]
    # The outbox committed with the papers: every stored paper is queued for indexing.
    assert queued == {r[0] for r in rows}

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(lines)} read" in rerun.stderr
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids = [r[0] for r in conn.execute("SELECT id FROM papers")]
    assert len(ids) == len(set(ids)) == len(distinct)
    assert set(ids) == set(distinct)
