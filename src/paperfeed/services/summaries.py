"""Optional abstractive summaries through an OpenAI-compatible endpoint.

Off unless ``summaries_url`` and ``summaries_model`` are set. The ``summarize``
job (and ``paperfeed summarize``) writes one summary per paper version (its
``text_hash``) and prompt version for the whole instance, newest papers first,
under a daily cap of requests counted in the database (``summary_usage``), so
several workers and the CLI share it. Each summary is stored with the name of
the model that wrote it and shown on the paper page as machine-written.

The prompt lives here, with its version: change the text, bump
``PROMPT_VERSION``; papers then get summaries of the new prompt (the old ones
stay shown until then).
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from paperfeed import llm
from paperfeed.app import Paperfeed
from paperfeed.db import summaries as summary_store

log = logging.getLogger(__name__)

PROMPT_VERSION = "v1"
SYSTEM_PROMPT = (
    "You summarize research papers for a paper-discovery site. Using only the title "
    "and abstract given, write two or three plain sentences for a researcher in a "
    "neighbouring field: the problem, what the paper does, and its main result. "
    "No lists, no markup, no links, no claims that the abstract does not make."
)
USER_TEMPLATE = "Title: {title}\n\nAbstract: {abstract}"

MAX_SUMMARY_CHARS = 1200
BATCH = 20  # papers read per query; each costs one request at most

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def prompt_messages(title: str, abstract: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": USER_TEMPLATE.format(title=title, abstract=abstract)},
    ]


def clean(text: str) -> str:
    """The answer as stored: control characters dropped, whitespace collapsed,
    cut at a sentence end within ``MAX_SUMMARY_CHARS``. Rendered as text
    (escaped) everywhere, never as markup."""
    text = " ".join(_CONTROL.sub(" ", text).split())
    if len(text) <= MAX_SUMMARY_CHARS:
        return text
    cut = text[:MAX_SUMMARY_CHARS]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return cut[: end + 1] if end > 0 else cut.rstrip() + "…"


@dataclass
class SummaryRun:
    enabled: bool
    made: int = 0
    capped: bool = False  # stopped at the daily cap
    error: str | None = None  # stopped at an endpoint error (the next run retries)
    requests_today: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def enabled(app: Paperfeed) -> bool:
    return bool(app.settings.summaries_url and app.settings.summaries_model)


def summarize_pending(
    app: Paperfeed, *, limit: int | None = None, now: datetime | None = None
) -> SummaryRun:
    """Summarize papers that lack a summary of their present text, until none
    is left, ``limit`` were made, the day's cap is used up, or the endpoint
    fails (one failure ends the run: a down server is not asked again for
    every paper; the request counts against the cap all the same)."""
    settings = app.settings
    if not enabled(app):
        return SummaryRun(enabled=False)
    day = (now or datetime.now(UTC)).astimezone(UTC).date()
    run = SummaryRun(enabled=True)
    while limit is None or run.made < limit:
        want = BATCH if limit is None else min(BATCH, limit - run.made)
        with app.db.connect() as conn:
            batch = summary_store.papers_without_summary(conn, PROMPT_VERSION, limit=want)
        if not batch:
            break
        for paper in batch:
            with app.db.begin() as conn:
                if not summary_store.reserve_request(conn, day, settings.summaries_daily_cap):
                    run.capped = True
                    break
            try:
                answer = llm.chat(
                    settings.summaries_url,
                    settings.summaries_model,
                    prompt_messages(paper.title, paper.abstract),
                    api_key=settings.summaries_api_key,
                    timeout=settings.summaries_timeout_seconds,
                )
            except llm.ChatError as exc:
                run.error = str(exc)
                break
            body = clean(answer.text)
            if not body:
                run.error = f"{settings.summaries_url}: the answer for {paper.id} was empty"
                break
            with app.db.begin() as conn:
                summary_store.store_summary(
                    conn,
                    paper_id=paper.id,
                    text_hash=paper.text_hash,
                    model=answer.model,
                    prompt_version=PROMPT_VERSION,
                    body=body,
                    created_at=datetime.now(UTC),
                )
            run.made += 1
        if run.capped or run.error:
            break
    with app.db.connect() as conn:
        run.requests_today = summary_store.requests_on(conn, day)
    if run.error:
        log.warning("summaries stopped: %s", run.error)
    elif run.capped:
        log.info("summaries: the daily cap (%d) is used up", settings.summaries_daily_cap)
    return run


def for_paper(app: Paperfeed, paper_id: str) -> summary_store.StoredSummary | None:
    """The machine summary shown on a paper's page (of its present text)."""
    with app.db.connect() as conn:
        return summary_store.current_summary(conn, paper_id)
