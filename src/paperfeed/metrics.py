"""Prometheus metrics, one place for every counter the product exports.

With several web workers (``serve --workers N``) each process has its own
counters; prometheus-client's multiprocess mode merges them. ``serve`` sets
PROMETHEUS_MULTIPROC_DIR to a fresh directory before the workers start, and
``/metrics`` then collects from that directory instead of the process registry.
"""

from __future__ import annotations

import ipaddress
import os
import secrets

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUEST_SECONDS = Histogram(
    "paperfeed_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template (not raw path: bounded labels).",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
JOBS = Counter(
    "paperfeed_jobs_total",
    "Background jobs by kind and outcome (started, succeeded, failed).",
    ["kind", "status"],
)
JOB_SECONDS = Histogram(
    "paperfeed_job_duration_seconds",
    "Time a background job ran, by kind.",
    ["kind"],
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600),
)
PAPERS_INGESTED = Counter(
    "paperfeed_papers_ingested_total",
    "Papers read by ingest, by outcome (inserted, updated, unchanged, duplicates, skipped).",
    ["outcome"],
)
PAPERS_EMBEDDED = Counter("paperfeed_papers_embedded_total", "Papers embedded into vectors.")
QUERY_VECTOR_CACHE = Counter(
    "paperfeed_query_vector_cache_total",
    "Search queries whose vector came from the per-worker cache (hit) or the model (miss).",
    ["result"],
)


def render() -> tuple[bytes, str]:
    """The exposition text for /metrics, merged across worker processes when needed."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


def may_read(token: str, client_host: str | None, authorization: str | None) -> bool:
    """Whether a request may read /metrics (route counts, job outcomes: not for
    the public). With ``token`` (settings.metrics_token) it must be sent as
    ``Authorization: Bearer <token>``; without one, only loopback clients may,
    which is where a Prometheus beside the server scrapes from."""
    if token:
        scheme, _, sent = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and secrets.compare_digest(
            sent.strip().encode(), token.encode()
        )
    try:
        return ipaddress.ip_address(client_host or "").is_loopback
    except ValueError:
        return False
