"""Operations: /healthz, /readyz, /metrics, request ids and JSON logs, and
``paperfeed serve --workers 2`` as a real multi-process server."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from paperfeed.app import Paperfeed
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.ingest.pipeline import ingest
from paperfeed.logs import JsonFormatter, request_id
from paperfeed.web.app import create_app
from tests.helpers import make_paper
from tests.smtp_server import SMTPServer
from tests.workers import wait_for


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok"}


def test_readyz_fails_when_schema_is_behind(client: TestClient, db: Database) -> None:
    with db.begin() as conn:
        conn.execute(text("DELETE FROM alembic_version"))
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "code expects" in ready.json()["checks"]["migrations"]


def test_readyz_checks_redis_when_configured(settings: Settings, db: Database) -> None:
    settings.redis_url = f"redis://127.0.0.1:{_closed_port()}/0"
    with TestClient(create_app(Paperfeed(settings, db))) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["redis"].startswith("error: ConnectionError")
    assert ready.json()["checks"]["database"] == "ok"


def test_metrics_by_route_template_and_request_id(client: TestClient, db: Database) -> None:
    ingest(db, [make_paper("2501.00042")])
    for _ in range(3):
        assert client.get("/papers/2501.00042").status_code == 200
    assert client.get("/papers/9999.99999").status_code == 404
    echoed = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    forged = client.get("/healthz", headers={"X-Request-ID": "bad id\r\nx"})
    assert re.fullmatch(r"[0-9a-f]{32}", forged.headers["x-request-id"])
    body = TestClient(client.app, client=("127.0.0.1", 40000)).get("/metrics").text
    # Labelled by the template, never by the raw path.
    line = re.search(
        r'paperfeed_http_request_duration_seconds_count\{method="GET",'
        r'route="/papers/\{paper_id(?::\w+)?\}",status="200"\} (\d+)',
        body,
    )
    assert line is not None and int(float(line.group(1))) >= 3
    assert "2501.00042" not in body
    assert re.search(r'route="/papers/\{paper_id(:\w+)?\}",status="404"', body)


def test_metrics_are_for_loopback_or_the_token_holder(
    client: TestClient, settings: Settings
) -> None:
    def scrape(host: str, **headers: str) -> int:
        status: int = (
            TestClient(client.app, client=(host, 40000))
            .get("/metrics", headers=headers)
            .status_code
        )
        return status

    # No token set: loopback clients only (a Prometheus beside the server).
    assert scrape("127.0.0.1") == scrape("::1") == 200
    refused = TestClient(client.app, client=("203.0.113.7", 40000)).get("/metrics")
    assert refused.status_code == 403 and "PAPERFEED_METRICS_TOKEN" in refused.text
    assert "paperfeed_http" not in refused.text
    assert scrape("203.0.113.7", authorization="Bearer anything") == 403
    # A token set: it is needed from everywhere, loopback included.
    settings.metrics_token = "s3cret-scrape-token"
    assert scrape("203.0.113.7", authorization="Bearer s3cret-scrape-token") == 200
    assert scrape("127.0.0.1", authorization="Bearer s3cret-scrape-token") == 200
    assert scrape("127.0.0.1") == 401
    assert scrape("203.0.113.7", authorization="Bearer wrong") == 401
    assert scrape("203.0.113.7", authorization="Basic s3cret-scrape-token") == 401


def test_json_log_lines_carry_the_request_id() -> None:
    token = request_id.set("req-7")
    try:
        record = logging.LogRecord(
            "paperfeed.x", logging.INFO, __file__, 1, "hi %s", ("there",), None
        )
        record.route = "/papers/{paper_id}"
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert line["msg"] == "hi there"
    assert line["request_id"] == "req-7"
    assert line["route"] == "/papers/{paper_id}"
    assert line["level"] == "info"


@pytest.mark.slow
def test_serve_with_two_workers(settings: Settings, db: Database, tmp_path: Path) -> None:
    ingest(db, [make_paper(f"2501.{i:05d}") for i in range(5)])
    port = _closed_port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {
        **os.environ,
        "PAPERFEED_DATABASE_URL": settings.database_url_resolved,
        "PAPERFEED_DATA_DIR": str(settings.data_dir),
        "PAPERFEED_SECRET_KEY": settings.secret_key,
        "PAPERFEED_LOG_LEVEL": "WARNING",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "paperfeed", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            try:
                return httpx.get(f"{base}/readyz", timeout=60).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, what="the server to be ready")
        for i in range(30):
            # A new connection each time, so both workers' accept loops get a share.
            with httpx.Client(timeout=60) as http:
                assert http.get(f"{base}/papers/2501.{i % 5:05d}").status_code == 200
        body = httpx.get(f"{base}/metrics", timeout=60).text
    finally:
        server.terminate()
        server.wait(60)
    count = re.search(
        r'paperfeed_http_request_duration_seconds_count\{method="GET",'
        r'route="/papers/\{paper_id(?::\w+)?\}",status="200"\} (\d+)',
        body,
    )
    # Merged over the worker processes: every request is counted once.
    assert count is not None and int(float(count.group(1))) == 30
    worker_pids = {p.name.rsplit("_", 1)[-1] for p in metrics_dir.glob("histogram_*.db")}
    assert len(worker_pids) >= 1


def _serve_env(settings: Settings, smtp_server: SMTPServer, **extra: str) -> dict[str, str]:
    """The environment of a ``paperfeed serve`` child on the test's database and
    SMTP server, with no config file and no digest scheduler unless ``extra`` says so."""
    return {
        **os.environ,
        "PAPERFEED_DATABASE_URL": settings.database_url_resolved,
        "PAPERFEED_DATA_DIR": str(settings.data_dir),
        "PAPERFEED_SECRET_KEY": settings.secret_key,
        "PAPERFEED_LOG_LEVEL": "WARNING",
        "PAPERFEED_SMTP_HOST": "127.0.0.1",
        "PAPERFEED_SMTP_PORT": str(smtp_server.port),
        "PAPERFEED_DIGEST_SCHEDULER": "false",
        "PAPERFEED_CONFIG": str(settings.data_dir / "absent.toml"),
        **extra,
    }


class _Server:
    """One ``paperfeed serve`` process on its own port."""

    def __init__(self, env: dict[str, str], workers: int = 1) -> None:
        self.port = _closed_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "paperfeed", "serve", "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*command, "--workers", str(workers)], env=env, stdout=subprocess.DEVNULL
        )

    def wait_ready(self) -> None:
        def up() -> bool:
            try:
                return httpx.get(f"{self.base}/readyz", timeout=60).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, what=f"the server on port {self.port}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(60)


@pytest.mark.slow
def test_sessions_and_sign_in_limits_hold_across_servers(
    settings: Settings, db: Database, smtp_server: SMTPServer
) -> None:
    """Two server processes on one database (as behind a load balancer): a
    session made on one is valid on the other, and the sign-in rate limit
    counts requests made to both."""
    from paperfeed import readers as core
    from tests.readers_helpers import csrf_from, token_from_link

    env = _serve_env(settings, smtp_server)
    one, two = _Server(env), _Server(env)
    try:
        one.wait_ready()
        two.wait_ready()
        with httpx.Client(timeout=60) as browser:
            # Signed in through server one...
            token = token_from_link(core.create_magic_link(settings, db, "ada@example.org"))
            page = browser.get(f"{one.base}/signin/verify", params={"token": token})
            done = browser.post(
                f"{one.base}/signin/verify",
                data={"token": token, "csrf_token": csrf_from(page.text)},
            )
            assert done.status_code in (200, 303), done.text[:300]
            me_one = browser.get(f"{one.base}/api/me")
            # ... and server two knows the session (the cookie is signed, not stored).
            me_two = browser.get(f"{two.base}/api/me")
            assert me_one.status_code == me_two.status_code == 200
            assert me_two.json()["id"] == me_one.json()["id"]
        limit = settings.signin_limit_per_address
        statuses = []
        with httpx.Client(timeout=60) as stranger:
            for i in range(limit + 1):
                server = (one, two)[i % 2]
                form = stranger.get(f"{server.base}/signin")
                answer = stranger.post(
                    f"{server.base}/signin",
                    data={"email": "bob@example.org", "csrf_token": csrf_from(form.text)},
                )
                statuses.append(answer.status_code)
        # The limit is shared: the requests spread over both servers hit it once.
        assert statuses[:limit] == [303] * limit  # accepted: on to "check your email"
        assert statuses[limit] == 429
    finally:
        one.stop()
        two.stop()


@pytest.mark.slow
def test_forwarded_headers_are_believed_only_from_trusted_proxies(
    settings: Settings, db: Database, smtp_server: SMTPServer
) -> None:
    """Two real `paperfeed serve` processes: one with the default (no trusted
    proxies), where rotating X-Forwarded-For from 127.0.0.1 no longer escapes
    the per-IP sign-in limit; one trusting 127.0.0.1 as its proxy, where the
    forwarded address is the client's (for the limit, and for /metrics)."""
    from tests.readers_helpers import csrf_from

    env = _serve_env(settings, smtp_server, PAPERFEED_SIGNIN_LIMIT_PER_IP="2")
    env.pop("PAPERFEED_TRUSTED_PROXIES", None)
    untrusting = _Server(env)
    behind_proxy = _Server({**env, "PAPERFEED_TRUSTED_PROXIES": "127.0.0.1"})

    def sign_ins(server: _Server, first: int) -> list[int]:
        statuses = []
        with httpx.Client(timeout=60) as http:
            for i in range(first, first + 3):
                forwarded = {"X-Forwarded-For": f"198.51.100.{i}"}
                form = http.get(f"{server.base}/signin", headers=forwarded)
                answer = http.post(
                    f"{server.base}/signin",
                    data={"email": f"user{i}@example.org", "csrf_token": csrf_from(form.text)},
                    headers=forwarded,
                )
                statuses.append(answer.status_code)
        return statuses

    def metrics_status(server: _Server, **headers: str) -> int:
        return httpx.get(f"{server.base}/metrics", headers=headers, timeout=60).status_code

    try:
        untrusting.wait_ready()
        behind_proxy.wait_ready()
        # All three come from 127.0.0.1, whatever the header says.
        assert sign_ins(untrusting, 1) == [303, 303, 429]
        assert metrics_status(untrusting, **{"X-Forwarded-For": "203.0.113.9"}) == 200
        # Through the trusted proxy each forwarded address counts on its own.
        assert sign_ins(behind_proxy, 10) == [303, 303, 303]
        assert metrics_status(behind_proxy, **{"X-Forwarded-For": "203.0.113.9"}) == 403
        assert metrics_status(behind_proxy) == 200
    finally:
        untrusting.stop()
        behind_proxy.stop()


@pytest.mark.slow
def test_serve_embeds_new_papers_and_sends_digests_in_the_background(
    settings: Settings, db: Database, smtp_server: SMTPServer
) -> None:
    """`paperfeed serve`'s background jobs, end to end: a paper stored while the
    server runs gets its vector and shows up in the served pages' similar
    papers, and the due digest is mailed, with no command run by hand."""
    from datetime import UTC, datetime

    from paperfeed.db import embeddings as vector_store
    from paperfeed.digest.schedule import current_period
    from paperfeed.index.embedder import current_model_id
    from tests.test_digest import confirmed, seed_papers

    settings.base_url = "https://papers.example.org"
    seed_papers(db, current_period("daily", datetime.now(UTC).date()).start, prefix="2613.0")
    confirmed(settings, db, "background@example.org")
    env = _serve_env(
        settings,
        smtp_server,
        PAPERFEED_BASE_URL=settings.base_url,
        PAPERFEED_DIGEST_SCHEDULER="true",
    )
    server = _Server(env)
    try:
        server.wait_ready()
        wait_for(lambda: smtp_server.inbox.messages, what="the digest from the server")
        newcomer = "2613.05555"  # not among the seeded ids
        ingest(db, [make_paper(newcomer, title="Paper 1 on a day, revisited")])
        model = current_model_id(settings)

        def all_embedded() -> bool:
            with db.connect() as conn:
                return vector_store.count_pending(conn, model) == 0

        wait_for(all_embedded, what="the server to embed every paper")

        def suggested() -> bool:
            page = httpx.get(f"{server.base}/papers/2613.00001", timeout=60)
            return page.status_code == 200 and f"/papers/{newcomer}" in page.text

        wait_for(suggested, what="the new paper among the served similar papers")
    finally:
        server.stop()
    assert smtp_server.inbox.count_by_recipient() == {"background@example.org": 1}
