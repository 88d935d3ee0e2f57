"""What goes into one reader's digest.

Sections, in order: the reader's reading-group sessions, papers from the
authors they follow, personal picks (signed-in readers with signals), matches
for the reader's saved searches (the site's search, limited to the period),
and the period's trending papers (filtered by the subscription's topics). A
paper appears once per digest and is sent to a reader at most once ever:
papers in ``sent_papers`` are left out.

Work shared by every subscriber of a period (the candidate papers, their
lower-cased text) is done once in ``PeriodPapers``, so composing ten thousand
digests costs little more than looking up sets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection

from paperfeed.db import digests as digest_store
from paperfeed.index.backends import Indexes
from paperfeed.trending import Period

# (reader id, the period's papers, limit, exclude) -> [(paper id, note)]
PersonalPicker = Callable[[int, Sequence[dict[str, Any]], int, set[str]], list[tuple[str, str]]]


@dataclass
class PeriodPapers:
    """The visible papers of one period, most upvoted first."""

    period: Period
    papers: list[dict[str, Any]]
    text: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(
        cls, conn: Connection, period: Period, *, half_life_hours: float | None = None
    ) -> PeriodPapers:
        rows = digest_store.period_papers(conn, period.start, period.end)
        if half_life_hours is not None and rows:
            order = trending_order(conn, period, half_life_hours, len(rows))
            position = {pid: i for i, pid in enumerate(order)}
            # Papers beyond the trending pages keep the upvote order, after them.
            rows.sort(key=lambda r: position.get(r["id"], len(position)))
        text = {p["id"]: f"{p['title']} {p['abstract']}".lower() for p in rows}
        return cls(period, rows, text)

    @property
    def ids(self) -> list[str]:
        return [p["id"] for p in self.papers]


TRENDING_DEPTH = 500  # enough for topic filters; the rest keep the upvote order
FOLLOWED_SHOWN = 20  # papers in "From authors you follow" (a busy author's week fits)


def trending_order(
    conn: Connection, period: Period, half_life_hours: float, total: int
) -> list[str]:
    """The site's trending order for the period (featured first, then upvotes
    decayed by age, as on /papers/date and /papers/week), scored as of the end
    of the period so a digest does not depend on the hour it is composed."""
    from paperfeed import trending

    now = datetime.combine(period.end + timedelta(days=1), time.min, tzinfo=UTC)
    ids: list[str] = []
    for page in range(min(total, TRENDING_DEPTH) // trending.MAX_LIMIT + 1):
        chunk = trending.list_papers(
            conn,
            period,
            half_life_hours=half_life_hours,
            page=page,
            limit=trending.MAX_LIMIT,
            now=now,
        )
        ids.extend(p["id"] for p in chunk.papers)
        if not chunk.has_next:
            break
    return ids


def _topic_filter(topics: dict[str, Any] | None) -> Callable[[dict[str, Any], str], bool]:
    categories = {c.strip() for c in (topics or {}).get("categories", []) if c.strip()}
    keywords = [k.strip().lower() for k in (topics or {}).get("keywords", []) if k.strip()]
    if not categories and not keywords:
        return lambda paper, text: True

    def keep(paper: dict[str, Any], text: str) -> bool:
        if categories and categories.intersection(paper["categories"] or []):
            return True
        return any(k in text for k in keywords)

    return keep


# A saved search's query -> the period's matching paper ids, best first.
SearchMatcher = Callable[[str], list[str]]


def period_search(indexes: Indexes, period_papers: PeriodPapers) -> SearchMatcher:
    """Saved searches run through ``paperfeed.search.search`` (one search, with
    its query language, ranking and filters, everywhere), limited to the
    period's listing days, and kept to the period's visible papers. Each
    distinct query runs once per period, however many readers saved it."""
    from paperfeed.search import MAX_PER_PAGE, QueryError, SearchRequest, search

    period = period_papers.period
    visible = set(period_papers.ids)
    found: dict[str, list[str]] = {}

    def match(query: str) -> list[str]:
        if query not in found:
            wanted = SearchRequest(
                query=query,
                since=period.start,
                until=period.end,
                per_page=MAX_PER_PAGE,
                snippets=False,
            )
            try:
                hits = search(indexes, wanted).hits
            except QueryError:  # only a query over the length limit; it matches nothing
                hits = []
            found[query] = [h.id for h in hits if h.id in visible]
        return found[query]

    return match


def compose(
    subscription: dict[str, Any],
    period_papers: PeriodPapers,
    *,
    already_sent: set[str],
    saved_searches: list[dict[str, Any]] | None = None,
    search_matches: SearchMatcher | None = None,
    personal: PersonalPicker | None = None,
    group_sessions: list[dict[str, Any]] | None = None,
    followed: set[str] | None = None,
) -> dict[str, Any]:
    """The frozen content of one digest: {"period", "sections": [{key, title,
    items: [{id, note}]}]}. Empty sections are left out. ``group_sessions``:
    the reader's reading-group sessions of the coming week, listed first
    (even if a paper was sent before: it is the group's schedule).
    ``followed``: the period's papers by authors the reader follows, shown
    next, in the period's order (up to FOLLOWED_SHOWN)."""
    taken = set(already_sent)
    sections: list[dict[str, Any]] = []
    group_items = group_section(group_sessions or [])
    if group_items:
        taken.update(item["id"] for item in group_items)
        sections.append(
            {"key": "group", "title": "This week in your reading group", "items": group_items}
        )

    if followed:
        ids = [p for p in period_papers.ids if p in followed and p not in taken]
        ids = ids[:FOLLOWED_SHOWN]
        if ids:
            taken.update(ids)
            sections.append(
                {
                    "key": "followed",
                    "title": "From authors you follow",
                    "items": [{"id": pid, "note": ""} for pid in ids],
                }
            )

    reader_id = subscription.get("reader_id")
    if reader_id is not None and personal is not None and subscription["personal_count"] > 0:
        picks = personal(reader_id, period_papers.papers, subscription["personal_count"], taken)
        if picks:
            taken.update(pid for pid, _ in picks)
            sections.append(
                {
                    "key": "personal",
                    "title": "Picked for you",
                    "items": [{"id": pid, "note": note} for pid, note in picks],
                }
            )

    if subscription["include_saved_searches"] and saved_searches and search_matches:
        for search in saved_searches:
            ids = [pid for pid in search_matches(search["query"]) if pid not in taken]
            ids = ids[: subscription["search_count"]]
            if ids:
                taken.update(ids)
                sections.append(
                    {
                        "key": "search",
                        "title": f"Matching your search \u201c{search['name']}\u201d",
                        "items": [{"id": pid, "note": ""} for pid in ids],
                    }
                )

    if subscription["trending_count"] > 0:
        keep = _topic_filter(subscription.get("topics"))
        trending = []
        for paper in period_papers.papers:
            pid = paper["id"]
            if pid in taken or not keep(paper, period_papers.text[pid]):
                continue
            trending.append(pid)
            if len(trending) >= subscription["trending_count"]:
                break
        if trending:
            taken.update(trending)
            title = (
                "Trending today" if period_papers.period.kind == "day" else ("Trending this week")
            )
            sections.append(
                {"key": "trending", "title": title, "items": [{"id": p} for p in trending]}
            )
    return {"period": period_papers.period.slug, "sections": sections}


def week_ahead(period: Period) -> tuple[datetime, datetime]:
    """The week after a digest's period: whose reading-group sessions it lists."""
    start = datetime.combine(period.end + timedelta(days=1), time.min, tzinfo=UTC)
    return start, start + timedelta(days=7)


def group_section(sessions: list[dict[str, Any]]) -> list[dict[str, str]]:
    items: dict[str, dict[str, str]] = {}
    for s in sessions:
        presenter = f", presented by {s['presenter_name']}" if s.get("presenter_name") else ""
        when = s["starts_at"].strftime("%a %d %b %H:%M UTC")
        for paper_id in s["paper_ids"]:
            items.setdefault(
                paper_id, {"id": paper_id, "note": f"{s['group_name']}: {when}{presenter}"}
            )
    return list(items.values())


def paper_ids(content: dict[str, Any]) -> list[str]:
    return [item["id"] for s in content.get("sections", []) for item in s["items"]]
