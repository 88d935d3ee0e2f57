"""A first run with nothing else installed: mail goes to an outbox in the data
directory, ``paperfeed serve --port`` makes the links in mail point at itself,
an unreachable source fails at once and readably, every record an ingest
reads is accounted for, and libraries' set-up chatter stays out of the log."""

from __future__ import annotations

import email
import email.policy
import logging
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from paperfeed import readers as core
from paperfeed.app import Paperfeed
from paperfeed.config import Settings, served_base_url
from paperfeed.db import Database
from paperfeed.digest.mailer import SENT, BatchMailer
from paperfeed.ingest.http import FetchError, PoliteClient
from paperfeed.ingest.jsonl import read_jsonl
from paperfeed.logs import QuietLibraries
from paperfeed.mail import first_link, new_message
from paperfeed.services import ingest as ingest_service
from tests.conftest import FIXTURES
from tests.readers_helpers import csrf_from, page_csrf, sign_in, token_from_link
from tests.smtp_server import free_port
from tests.workers import wait_for

DAILY_LISTING = FIXTURES / "daily_arxiv_listing" / "2026-07-01.jsonl"


def _outbox(settings: Settings) -> list[email.message.EmailMessage]:
    assert settings.outbox_dir is not None
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for path in sorted(settings.outbox_dir.glob("*.eml"))
    ]


def test_without_an_smtp_server_sign_in_mail_goes_to_the_outbox(
    client: TestClient, settings: Settings, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    assert settings.smtp_host == "" and settings.outbox_dir == settings.data_dir / "outbox"
    csrf = page_csrf(client, "/signin")
    with caplog.at_level(logging.WARNING, logger="paperfeed.mail"):
        answer = client.post("/signin", data={"email": "ada@example.org", "csrf_token": csrf})
    assert answer.status_code == 200
    # The page says where the mail went, since no mail server will deliver it.
    assert "no SMTP server configured" in answer.text
    assert str(settings.outbox_dir) in answer.text
    [message] = _outbox(settings)
    assert message["To"] == "ada@example.org"
    link = first_link(message)
    assert link.startswith(f"{settings.base_url}/signin/verify?token=")
    [record] = [r for r in caplog.records if r.name == "paperfeed.mail"]
    assert record.levelno == logging.WARNING and link in record.getMessage()
    # The written link signs in.
    page = client.get(f"/signin/verify?token={token_from_link(link)}")
    done = client.post(
        "/signin/verify",
        data={"token": token_from_link(link), "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert client.get("/api/me").json()["email"] == "ada@example.org"


def test_with_an_smtp_server_nothing_goes_to_the_outbox(
    client: TestClient, settings: Settings, smtp_server: object
) -> None:
    assert settings.outbox_dir is None
    csrf = page_csrf(client, "/signin")
    answer = client.post("/signin", data={"email": "ada@example.org", "csrf_token": csrf})
    assert answer.status_code == 200 and "no SMTP server configured" not in answer.text
    assert not (settings.data_dir / "outbox").exists()
    assert [m["To"] for m in smtp_server.inbox.messages] == ["ada@example.org"]  # type: ignore[attr-defined]


def test_digests_go_to_the_outbox_too(settings: Settings) -> None:
    message = new_message(
        settings, to="bo@example.org", subject="Digest", text="Today: http://x.test/papers/1\n"
    )
    with BatchMailer(settings) as mailer:
        assert mailer.send(message).status == SENT
    [written] = _outbox(settings)
    assert written["Message-ID"] == message["Message-ID"]
    assert first_link(written) == "http://x.test/papers/1"


def test_a_relay_that_is_down_is_logged_with_its_reason(
    client: TestClient, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings.smtp_host, settings.smtp_port = "127.0.0.1", free_port()
    csrf = page_csrf(client, "/signin")
    with caplog.at_level(logging.ERROR, logger="paperfeed.readers"):
        answer = client.post("/signin", data={"email": "ada@example.org", "csrf_token": csrf})
    assert answer.status_code == 503
    [record] = [r for r in caplog.records if r.name == "paperfeed.readers"]
    assert f"127.0.0.1:{settings.smtp_port}" in record.getMessage()
    assert "Connection refused" in record.getMessage() or "111" in record.getMessage()


@pytest.mark.parametrize(
    ("host", "expected"),
    [("127.0.0.1", "http://127.0.0.1:8201"), ("0.0.0.0", "http://127.0.0.1:8201"),
     ("::1", "http://[::1]:8201"), ("papers.example.org", "http://papers.example.org:8201")],
)  # fmt: skip
def test_served_base_url(host: str, expected: str) -> None:
    assert served_base_url(host, 8201) == expected


# ---------------------------------------------------------------- unreachable sources


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://arxiv-export.invalid/api/query", "cannot resolve arxiv-export.invalid"),
        (None, "127.0.0.1 refused the connection"),
    ],
)
def test_an_unreachable_source_fails_at_once(settings: Settings, url: str | None, words: str):
    url = url or f"http://127.0.0.1:{free_port()}/api/query"
    slept: list[float] = []
    with PoliteClient(settings, sleep=slept.append) as client, pytest.raises(FetchError) as failure:
        client.get(url, {"id_list": "2501.00001"}, lambda r: r.text)
    assert failure.value.reason.startswith(words)
    assert "Errno" not in failure.value.reason
    assert slept == []  # no backoff: one attempt, not http_max_retries + 1


def test_an_offline_submit_says_so_readably(
    client: TestClient, settings: Settings, db: Database
) -> None:
    settings.arxiv_api_url = f"http://127.0.0.1:{free_port()}/api/query"  # nothing listens
    sign_in(client, settings, db, "ada@example.org")
    csrf = csrf_from(client.get("/submit").text)
    answer = client.post("/submit", data={"arxiv_id": "2511.01234", "csrf_token": csrf})
    assert answer.status_code == 502
    assert "Could not fetch arXiv 2511.01234 right now (127.0.0.1 refused the connection" in (
        answer.text
    )
    assert "Errno" not in answer.text and "/api/query" not in answer.text


# ---------------------------------------------------------------- ingest summaries


def test_the_ingest_summary_accounts_for_every_record(paperfeed: Paperfeed) -> None:
    report = ingest_service.store(paperfeed, read_jsonl(DAILY_LISTING))
    lines = sum(1 for line in DAILY_LISTING.read_text().splitlines() if line.strip())
    assert report.read + len(report.skipped) == lines
    assert report.duplicates > 0  # the listing names some papers twice (cross-lists)
    parts = report.inserted + report.updated + report.unchanged + report.duplicates
    assert parts == report.read
    assert report.summary().startswith(
        f"{lines} read: {report.inserted} new, 0 updated, 0 unchanged, "
        f"{report.duplicates} duplicates within the input, 0 skipped"
    )
    again = ingest_service.store(paperfeed, read_jsonl(DAILY_LISTING))
    assert again.inserted == 0 and again.unchanged + again.duplicates == again.read


# ---------------------------------------------------------------- quiet logs


def _record(pathname: str, level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord("x", level, pathname, 1, message, None, None)


def test_library_set_up_chatter_is_dropped_and_their_warnings_kept() -> None:
    quiet = QuietLibraries()
    site = "/venv/lib/python3.12/site-packages"
    quantizer = f"{site}/onnxruntime/quantization/onnx_quantizer.py"
    assert not quiet.filter(_record(quantizer, logging.INFO, "Quantization parameters for x"))
    assert not quiet.filter(_record(f"{site}/faiss/loader.py", logging.INFO, "Loading faiss"))
    assert quiet.filter(_record(f"{site}/faiss/loader.py", logging.WARNING, "could not load"))
    assert quiet.filter(_record("/src/paperfeed/jobs.py", logging.INFO, "embedded 8 papers"))


# ---------------------------------------------------------------- make demo PORT=...


@pytest.mark.slow
def test_serve_on_a_port_mails_links_to_that_port(settings: Settings, tmp_path: Path) -> None:
    """What `make demo PORT=...` runs: `paperfeed serve --port N` with no base
    URL and no SMTP server; the emailed sign-in link points at port N and works."""
    port = free_port()
    env = {
        **os.environ,
        "PAPERFEED_DATABASE_URL": settings.database_url_resolved,
        "PAPERFEED_DATA_DIR": str(settings.data_dir),
        "PAPERFEED_SECRET_KEY": settings.secret_key,
        "PAPERFEED_DIGEST_SCHEDULER": "false",
        "PAPERFEED_CONFIG": str(tmp_path / "absent.toml"),
    }
    for name in ("PAPERFEED_BASE_URL", "PAPERFEED_SMTP_HOST"):
        env.pop(name, None)
    log = (tmp_path / "serve.log").open("wb")
    command = [sys.executable, "-m", "paperfeed", "serve", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            try:
                return httpx.get(f"{base}/readyz", timeout=60).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, what=f"paperfeed serve on port {port}")
        with httpx.Client(base_url=base, timeout=60) as browser:
            form = browser.get("/signin")
            sent = browser.post(
                "/signin",
                data={"email": "ada@example.org", "csrf_token": csrf_from(form.text)},
                follow_redirects=True,
            )
            assert sent.status_code == 200 and "no SMTP server configured" in sent.text
            [message] = _outbox(settings)
            link = first_link(message)
            assert link.startswith(f"{base}/signin/verify?token=")
            page = browser.get(link)
            done = browser.post(
                "/signin/verify",
                data={"token": token_from_link(link), "csrf_token": csrf_from(page.text)},
            )
            assert done.status_code in (200, 303)
            assert browser.get("/api/me").json()["email"] == "ada@example.org"
    finally:
        server.terminate()
        server.wait(60)
        log.close()
    output = (tmp_path / "serve.log").read_text(errors="replace")
    assert f"links in mail use {base}" in " ".join(output.split())
    assert link in output  # the WARNING line names the link, for the console reader
    assert core.normalize_email("ada@example.org") in output
