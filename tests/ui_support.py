"""A small instance with every kind of page filled (issue 23's browser tests):
papers with TeX in titles and abstracts, one hostile title, vectors for
"Similar papers", a signed-in reader with a saved paper, a public collection,
a group, and a digest to view in the browser."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from paperfeed import readers as core
from paperfeed.app import Paperfeed
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import digests as digest_store
from paperfeed.db import embeddings as vector_store
from paperfeed.db import papers as paper_store
from paperfeed.db.tables import readers
from paperfeed.digest import tokens
from paperfeed.index.embedder import current_model_id
from paperfeed.ingest.pipeline import ingest
from paperfeed.services import groups
from tests.helpers import make_paper, unit_vectors

TODAY = datetime.now(UTC).date()
MATH_TITLE = "GSBAK$^K$: $top$-$K$ retrieval with D$^2$iT, paper {n}"
MATH_ABSTRACT = (
    "We bound the error by $\\sum_{{i=1}}^{{n}} x_i^2 \\le \\epsilon$ in $O(n \\log n)$ time, "
    "paper {n}. A run costs $5 and $10 on a cloud machine, and the method generalizes to "
    "graphs, sets and sequences with the same guarantees."
)
HOSTILE_TITLE = (
    "<img src=x onerror=alert('img')> $\\href{javascript:alert('href')}{click}$ "
    "<script>alert('script')</script> costs $5 and $10"
)
HOSTILE_ID = "2503.00099"
CATEGORIES = ["cs.RO", "cs.LG", "cs.CV", "cs.AI", "stat.ML"]


@dataclass
class Seeded:
    ids: list[str]
    collection_id: int | None = None
    digest_view: str | None = None


def seed_papers(db: Database, settings: Settings, count: int = 12) -> Seeded:
    """``count`` papers listed today with TeX, all categories on the first,
    and stored vectors (so "Similar papers" has neighbours)."""
    import numpy as np

    ids = [f"2503.{n:05d}" for n in range(1, count + 1)]
    papers = [
        make_paper(
            pid,
            title=MATH_TITLE.format(n=n),
            abstract=MATH_ABSTRACT.format(n=n),
            categories=CATEGORIES if n == 1 else ["cs.LG"],
            primary_category="cs.RO" if n == 1 else "cs.LG",
            listing_date=TODAY,
            upvotes=3 if n == 2 else 0,
        )
        for n, pid in enumerate(ids, start=1)
    ]
    papers.append(make_paper(HOSTILE_ID, title=HOSTILE_TITLE, listing_date=TODAY))
    ingest(db, papers)
    every = [*ids, HOSTILE_ID]
    vectors = unit_vectors(np.random.default_rng(3), len(every), 384)
    with db.begin() as conn:
        rows = paper_store.get_papers(conn, every)
        vector_store.store_vectors(
            conn,
            current_model_id(settings),
            [(pid, rows[pid]["text_hash"], vectors[k]) for k, pid in enumerate(every)],
        )
    return Seeded(ids)


def reader_by_email(db: Database, email: str) -> core.Reader:
    with db.connect() as conn:
        reader_id = conn.execute(select(readers.c.id).where(readers.c.email == email)).scalar_one()
    reader = core.get_reader(db, int(reader_id))
    assert reader is not None
    return reader


def seed_reader_pages(
    app: Paperfeed, seeded: Seeded, email: str, *, period: str | None = None
) -> Seeded:
    """For the signed-in reader ``email``: a saved and upvoted paper, a public
    collection of three, a group, and a digest of the first papers whose
    "view in browser" address is ``seeded.digest_view``."""
    db, settings = app.db, app.settings
    reader = reader_by_email(db, email)
    core.set_flag(db, reader, "save", seeded.ids[0], True)
    core.toggle_vote(db, reader, seeded.ids[1])
    seeded.collection_id = core.create_collection(
        db, reader, "Math papers", description="TeX in every title", is_public=True
    )
    for pid in seeded.ids[:3]:
        core.add_to_collection(db, reader, seeded.collection_id, pid)
    groups.create_group(app, reader, "Reading group", "Weekly papers")
    period = period or TODAY.isoformat()
    with db.begin() as conn:
        sub, _ = digest_store.request_subscription(conn, email, nonce=(nonce := "n" * 8))
        digest_store.confirm_subscription(conn, sub["id"], nonce)
        content: dict[str, Any] = {
            "label": "Today",
            "sections": [{"title": "Trending", "items": [{"id": i} for i in seeded.ids[:3]]}],
        }
        digest_store.claim(
            conn,
            sub["id"],
            period,
            message_id=f"<{secrets.token_hex(8)}@test>",
            content=content,
            paper_ids=seeded.ids[:3],
        )
    seeded.digest_view = "/digest/view/" + tokens.make(settings, tokens.VIEW, [sub["id"], period])
    return seeded
