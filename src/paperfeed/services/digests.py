"""Digests as readers see them outside the send run (digest/runner.py sends):
a preview of what an address would get, and a sent digest in the browser."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from paperfeed import trending
from paperfeed.app import Paperfeed
from paperfeed.db import digests as digest_store
from paperfeed.digest import compose as composer
from paperfeed.digest import render, runner
from paperfeed.digest.schedule import current_period, label, parse_period
from paperfeed.trending import Period


@dataclass
class DigestPreview:
    email: str
    period: Period
    papers: int
    text: str
    html: str


def preview(app: Paperfeed, email: str, period: Period | None = None) -> DigestPreview:
    """The digest ``email`` would get for ``period`` (default: its current one),
    composed as the send run composes it; nothing is claimed or sent.
    LookupError when the address has no subscription."""
    settings, db = app.settings, app.db
    with db.connect() as conn:
        sub = digest_store.get_subscription_by_email(conn, email)
        if sub is None:
            raise LookupError(f"no subscription for {email!r}")
        period = period or current_period(sub["frequency"], date.today())
        period_papers = composer.PeriodPapers.load(
            conn, period, half_life_hours=settings.trending_half_life_hours
        )
    [(_, content)] = runner.compose_batch(
        db,
        [sub],
        period_papers,
        search_matches=composer.period_search(app.indexes, period_papers),
        personal=runner.default_personal_picker(settings, db, app.recommender),
    )
    ids = composer.paper_ids(content)
    with db.connect() as conn:
        papers = trending.paper_rows(conn, ids)
    text, html = render.render_digest(
        settings,
        period_label=label(period),
        content=content,
        papers=papers,
        links=render.links_for(settings, sub["id"], period.slug),
    )
    return DigestPreview(sub["email"], period, len(ids), text, html)


def sent_html(app: Paperfeed, subscription_id: int, period_key: str) -> str | None:
    """The HTML of a digest claimed for sending (its frozen content), for the
    "view in browser" link; None when there is no such digest."""
    period = parse_period(period_key)
    with app.db.connect() as conn:
        log = digest_store.get_log(conn, subscription_id, period_key)
        if log is None or not log["content"]:
            return None
        papers = trending.paper_rows(conn, composer.paper_ids(log["content"]))
    _, html = render.render_digest(
        app.settings,
        period_label=log["content"].get("label", label(period)),
        content=log["content"],
        papers=papers,
        links=None,
    )
    return html
