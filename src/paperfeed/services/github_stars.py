"""Refresh GitHub repositories' stars: polite, resumable, conditional.

One run (the ``github-stars`` job, ``paperfeed code refresh``) asks GitHub's
REST API (``GET /repos/{owner}/{repo}``) about at most
``github_refresh_batch`` repositories: never-checked ones first, then the
oldest check, none checked in the last ``github_recheck_hours``. Each answer
is committed on its own, so a run stopped anywhere resumes where it was.

- ETag: a repository's last ETag goes out as If-None-Match; 304 keeps its
  stars and moves only ``checked_at`` (GitHub does not count a 304 against
  the rate limit).
- Rate limits: when X-RateLimit-Remaining reaches 0, or GitHub answers 403/429
  with a rate-limit signal (Remaining 0, or Retry-After), the run stops and
  records when to resume (X-RateLimit-Reset, or now + Retry-After) in the
  ``meta`` table; runs before then ask nothing.
- Retries: ingest/http.py's PoliteClient, as every network source (timeouts,
  cut connections, 5xx and bad bodies, with backoff).
- 404 (or 410, 451): the repository is marked gone. A renamed or transferred
  repository: GitHub answers 301 to ``/repositories/{id}`` (followed) or a
  different ``full_name``; the links move to the new name (db/code.py ``renamed``).
- An optional token (``github_token``, PAPERFEED_GITHUB_TOKEN) raises the limit
  from 60 to 5,000 requests an hour.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from paperfeed.app import Paperfeed
from paperfeed.db import code as code_store
from paperfeed.db.meta import get_meta, set_meta
from paperfeed.ingest.http import BadBody, FetchError, PoliteClient, retry_after_seconds

log = logging.getLogger("paperfeed.github")

RESUME_KEY = "github-stars:resume-at"
_PASSTHROUGH = frozenset({304, 403, 404, 410, 429, 451})


@dataclass
class StarsReport:
    checked: int = 0
    changed: int = 0  # a new star count
    not_modified: int = 0  # 304
    gone: int = 0
    renamed: list[tuple[str, str]] = field(default_factory=list)
    due: int = 0  # repositories this run meant to ask about
    stopped: str = ""  # why the run stopped early (a rate limit, a failure)
    resume_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "changed": self.changed,
            "not_modified": self.not_modified,
            "gone": self.gone,
            "renamed": [f"{a} -> {b}" for a, b in self.renamed],
            "due": self.due,
            "stopped": self.stopped,
            "resume_at": self.resume_at.isoformat() if self.resume_at else None,
        }

    def summary(self) -> str:
        text = (
            f"{self.checked} of {self.due} repositories checked: {self.changed} new star counts, "
            f"{self.not_modified} unchanged (304), {self.gone} gone, {len(self.renamed)} renamed"
        )
        if self.stopped:
            text += f"; stopped: {self.stopped}"
        return text


@dataclass(frozen=True)
class _Answer:
    status: int
    data: dict[str, Any] | None
    headers: httpx.Headers


def _answer(response: httpx.Response) -> _Answer:
    data = None
    if response.status_code == 200:
        try:
            data = json.loads(response.content)
        except ValueError as exc:
            raise BadBody(f"not JSON: {exc}") from exc
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("full_name"), str)
            or "/" not in data["full_name"]
            or not isinstance(data.get("stargazers_count"), int)
        ):
            raise BadBody("no full_name and stargazers_count in the repository object")
    return _Answer(response.status_code, data, response.headers)


def _rate_limit_reset(headers: httpx.Headers, now: datetime) -> datetime | None:
    """When GitHub's limit resets, if this answer says it is exhausted."""
    hinted = retry_after_seconds(headers.get("Retry-After"))
    if hinted is not None:
        return now + timedelta(seconds=hinted)
    if headers.get("X-RateLimit-Remaining", "").strip() == "0":
        reset = headers.get("X-RateLimit-Reset", "").strip()
        if reset.isdigit():
            return max(now, datetime.fromtimestamp(int(reset), UTC))
        return now + timedelta(hours=1)  # GitHub's window, when it gives no reset
    return None


def resume_at(app: Paperfeed) -> datetime | None:
    with app.db.connect() as conn:
        value = get_meta(conn, RESUME_KEY)
    return datetime.fromisoformat(value) if value else None


def refresh(
    app: Paperfeed,
    *,
    limit: int | None = None,
    now: datetime | None = None,
    stop: threading.Event | None = None,
    client: PoliteClient | None = None,
) -> StarsReport:
    """Ask GitHub about the repositories that are due (see the module docstring)."""
    settings = app.settings
    now = now or datetime.now(UTC)
    report = StarsReport()
    waiting = resume_at(app)
    if waiting is not None and waiting > now:
        report.stopped = f"rate limited until {waiting.isoformat()}"
        report.resume_at = waiting
        return report
    batch = limit or settings.github_refresh_batch
    with app.db.connect() as conn:
        due = code_store.due_repositories(
            conn,
            checked_before=now - timedelta(hours=settings.github_recheck_hours),
            limit=batch,
        )
    report.due = len(due)
    if not due:
        return report
    base = settings.github_api_url.rstrip("/")
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    if settings.github_token:
        headers["Authorization"] = f"Bearer {settings.github_token}"
    http = client or PoliteClient(settings, delay_seconds=settings.github_delay_seconds)
    try:
        for repo in due:
            if stop is not None and stop.is_set():
                report.stopped = "asked to stop"
                break
            asked = dict(headers)
            if repo.etag:
                asked["If-None-Match"] = repo.etag
            try:
                answer = http.get(
                    f"{base}/repos/{repo.full_name}",
                    None,
                    _answer,
                    headers=asked,
                    passthrough=_PASSTHROUGH,
                )
            except FetchError as exc:
                # Down or failing after the retries: the rest waits for the next run.
                report.stopped = exc.reason
                log.warning("GitHub stars refresh stopped at %s: %s", repo.full_name, exc)
                break
            at = datetime.now(UTC)
            reset = _rate_limit_reset(answer.headers, at)
            if answer.status in (403, 429):
                if reset is None:
                    # A 403 that is no rate limit (blocked, a policy): stop rather
                    # than hammer; the repository is asked again next run.
                    report.stopped = f"GitHub answered HTTP {answer.status} for {repo.full_name}"
                    break
                _pause_until(app, reset, report)
                break
            _store(app, repo, answer, at, report)
            report.checked += 1
            if reset is not None:
                _pause_until(app, reset, report)
                break
    finally:
        if client is None:
            http.close()
    log.info("GitHub stars: %s", report.summary())
    return report


def _pause_until(app: Paperfeed, when: datetime, report: StarsReport) -> None:
    with app.db.begin() as conn:
        set_meta(conn, RESUME_KEY, when.isoformat())
    report.stopped = f"rate limited until {when.isoformat()}"
    report.resume_at = when


def _store(
    app: Paperfeed, repo: code_store.Repository, answer: _Answer, at: datetime, report: StarsReport
) -> None:
    with app.db.begin() as conn:
        if answer.status == 304:
            code_store.not_modified(conn, repo.name, at)
            report.not_modified += 1
            return
        if answer.status in (404, 410, 451):
            code_store.gone(conn, repo.name, at)
            report.gone += 1
            return
        data = answer.data or {}
        full_name = str(data["full_name"])
        stars = int(data["stargazers_count"])
        etag = answer.headers.get("ETag")
        if stars != repo.stars:
            report.changed += 1
        if full_name.lower() != repo.name:
            new = code_store.renamed(
                conn, repo.name, full_name=full_name, stars=stars, etag=etag, at=at
            )
            report.renamed.append((repo.full_name, full_name))
            log.info("GitHub repository %s is now %s", repo.full_name, new)
        else:
            code_store.observed(conn, repo.name, full_name=full_name, stars=stars, etag=etag, at=at)
