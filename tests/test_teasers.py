"""Keyphrases and the TL;DR: extraction (index/teasers.py) and their upkeep by
the embed job, per paper version, on both backends, with the real packaged model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import teasers as teaser_store
from paperfeed.index import teasers
from paperfeed.index.embedder import get_embedder
from paperfeed.index.embedding import embed_pending, teaser_method
from paperfeed.ingest.pipeline import ingest
from tests.helpers import make_paper
from tests.trending_support import add_reader

LABELS = Path(__file__).parent / "data" / "summaries_labels.jsonl"

TITLE = "Generative Video Matting"
ABSTRACT = (
    "Video matting has traditionally been limited by the lack of high-quality ground-truth "
    "data. Most existing video matting datasets provide only human-annotated imperfect alpha "
    "and foreground annotations, e.g. for composites. In this work, we propose to solve the "
    "problem from two perspectives. Second, we introduce a novel video matting approach that "
    "can effectively leverage the rich priors from pre-trained video diffusion models. The "
    "code is available at https://github.com/aim-uofa/GVM."
)


def _labels() -> list[dict]:
    return [json.loads(x) for x in LABELS.read_text(encoding="utf-8").splitlines() if x]


def test_the_labels_are_fifty_papers_with_a_sentence_of_their_abstract() -> None:
    labels = _labels()
    assert len(labels) == 50 and len({d["id"] for d in labels}) == 50
    for d in labels:
        assert d["tldr"] in d["abstract"]
        assert 3 <= len(d["keyphrases"]) <= 5


def test_sentences_split_at_ends_not_at_abbreviations() -> None:
    text = "We use e.g. cats. Fig. 3 shows dogs, i.e. pets! Is it 3.5 or 4? Yes."
    assert [text[s:e] for s, e in teasers.split_sentences(text)] == [
        "We use e.g. cats.",
        "Fig. 3 shows dogs, i.e. pets!",
        "Is it 3.5 or 4?",
        "Yes.",
    ]
    assert teasers.split_sentences("") == []


def test_candidates_are_content_word_runs() -> None:
    found = {
        c.key: c for c in teasers.candidates("We propose LoRA adapters for large language models.")
    }
    assert "lora adapters" in found and found["lora adapters"].surface == "LoRA adapters"
    assert "language models" in found
    assert not any(k.split()[0] in teasers.STOPWORDS for k in found)
    assert "propose" not in found and "we propose" not in found


def test_extract_picks_the_contribution_sentence_and_title_phrases(settings: Settings) -> None:
    embedder = get_embedder(settings)
    vectors, made = teasers.embed_with_teasers(embedder, [TITLE], [ABSTRACT])
    np.testing.assert_allclose(
        vectors, embedder.embed_documents([f"{TITLE}. {ABSTRACT}"]), atol=1e-5
    )
    (teaser,) = made
    assert teaser.tldr.startswith("Second, we introduce a novel video matting approach")
    assert any("video matting" in k.lower() for k in teaser.keyphrases)
    assert 1 <= len(teaser.keyphrases) <= teasers.MAX_KEYPHRASES
    assert len({k.lower() for k in teaser.keyphrases}) == len(teaser.keyphrases)
    assert not any("github" in k.lower() for k in teaser.keyphrases + [teaser.tldr])


def test_pooled_and_separately_embedded_spans_agree_on_most_labelled_sentences(
    settings: Settings,
) -> None:
    """The shipped pooled TL;DR finds the labelled sentence for most of the 50
    papers (bench/summaries_eval.py prints the exact figures)."""
    labels = _labels()
    embedder = get_embedder(settings)
    _, made = teasers.embed_with_teasers(
        embedder, [d["title"] for d in labels], [d["abstract"] for d in labels]
    )
    hits = sum(t.tldr == d["tldr"] for t, d in zip(made, labels, strict=True))
    firsts = sum(
        d["abstract"][slice(*teasers.split_sentences(d["abstract"])[0])] == d["tldr"]
        for d in labels
    )
    assert hits >= 30 > firsts


def _row(db: Database, paper_id: str) -> sa.Row:
    with db.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT text_hash, method, tldr, created_at FROM paper_teasers WHERE paper_id = :p"
            ),
            {"p": paper_id},
        ).one()


def _vector_written(db: Database, paper_id: str) -> object:
    with db.connect() as conn:
        return conn.execute(
            sa.text("SELECT created_at FROM embeddings WHERE paper_id = :p"), {"p": paper_id}
        ).scalar_one()


def test_the_embed_job_keeps_teasers_per_paper_version(settings: Settings, db: Database) -> None:
    ingest(db, [make_paper("2501.00001", title=TITLE, abstract=ABSTRACT), make_paper("2501.00002")])
    assert embed_pending(db, settings) == 2
    with db.connect() as conn:
        current = teaser_store.current_teasers(conn, ["2501.00001", "2501.00002", "missing"])
    assert set(current) == {"2501.00001", "2501.00002"}
    assert current["2501.00001"].tldr.startswith("Second, we introduce")
    first = _row(db, "2501.00001")
    assert first.method == teaser_method(get_embedder(settings).model_id)
    assert embed_pending(db, settings) == 0  # nothing pending: both are current

    # A new version with another abstract: the old teaser is no longer shown,
    # and the next pass makes a new one.
    ingest(db, [make_paper("2501.00001", title=TITLE, abstract="We propose a cat detector.")])
    with db.connect() as conn:
        assert "2501.00001" not in teaser_store.current_teasers(conn, ["2501.00001"])
    assert embed_pending(db, settings) == 1
    with db.connect() as conn:
        assert teaser_store.current_teasers(conn, ["2501.00001"])["2501.00001"].tldr == (
            "We propose a cat detector."
        )
    assert _row(db, "2501.00001").text_hash != first.text_hash


def test_a_current_vector_without_a_teaser_gets_only_the_teaser(
    settings: Settings, db: Database
) -> None:
    ingest(db, [make_paper("2501.00003", title=TITLE, abstract=ABSTRACT)])
    assert embed_pending(db, settings, with_teasers=False) == 1  # as before the upgrade
    written = _vector_written(db, "2501.00003")
    with db.connect() as conn:
        assert teaser_store.current_teasers(conn, ["2501.00003"]) == {}
    assert embed_pending(db, settings) == 1
    assert _vector_written(db, "2501.00003") == written  # the vector was not rewritten
    with db.connect() as conn:
        assert teaser_store.current_teasers(conn, ["2501.00003"])["2501.00003"].keyphrases
    # Another recipe makes it pending again.
    with db.begin() as conn:
        conn.execute(sa.text("UPDATE paper_teasers SET method = 'older-recipe'"))
    assert embed_pending(db, settings) == 1


def test_cards_pages_feeds_and_the_api_show_them_escaped(
    settings: Settings, db: Database, client: object
) -> None:
    from datetime import date

    from fastapi.testclient import TestClient

    assert isinstance(client, TestClient)
    hostile = (
        "Graph matching is hard. We propose <script>alert(1)</script> graph matching "
        "networks & solvers for graph matching. Code is at https://example.org/x."
    )
    ingest(
        db,
        [
            make_paper(
                "2501.00009",
                title="Graph Matching Networks",
                abstract=hostile,
                listing_date=date(2025, 3, 18),
            )
        ],
    )
    assert embed_pending(db, settings) == 1
    with db.connect() as conn:
        teaser = teaser_store.current_teasers(conn, ["2501.00009"])["2501.00009"]
    assert teaser.tldr.startswith("We propose <script>")
    phrase = teaser.keyphrases[0]

    for path in ("/papers/date/2025-03-18", "/papers/2501.00009"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert (
            "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
            and "<script>alert(1)" not in page.text
        )
        assert "paper-tldr" in page.text
        quoted = "%22" + phrase.replace(" ", "%20") + "%22"
        assert f'href="/search?q={quoted}"' in page.text, path
        # The chip's search finds the paper.
        assert "2501.00009" in client.get(f"/search?q={quoted}").text

    api = client.get("/api/papers/2501.00009").json()
    assert api["ai_summary"] == teaser.tldr and api["ai_keywords"] == teaser.keyphrases
    feed = client.get("/papers/date/2025-03-18/feed.xml").text
    assert "TL;DR: We propose &lt;script&gt;" in feed
    assert f'term="{phrase}"' in feed
    markdown = client.get("/papers/2501.00009.md").text
    assert "**TL;DR:**" in markdown and "**Keyphrases:**" in markdown

    # A public collection's page and Atom feed carry it too.
    from paperfeed import readers

    owner = readers.get_reader(db, add_reader(db, "curator@example.org"))
    assert owner is not None
    shelf = readers.create_collection(db, owner, "Matching", is_public=True)
    readers.add_to_collection(db, owner, shelf, "2501.00009")
    assert "paper-tldr" in client.get(f"/collections/{shelf}").text
    assert "TL;DR: We propose &lt;script&gt;" in client.get(f"/collections/{shelf}/feed.xml").text


def test_digests_carry_the_tldr_and_the_code_link(settings: Settings, db: Database) -> None:
    from paperfeed import trending
    from paperfeed.digest import render
    from paperfeed.services import code_links

    coded = make_paper(
        "2501.00012", abstract="Widgets at scale. Code: https://github.com/example/widgets ."
    )
    ingest(db, [make_paper("2501.00011", title=TITLE, abstract=ABSTRACT), coded])
    with db.begin() as conn:  # what the ingest service does for each batch
        code_links.record(conn, [coded])
    assert embed_pending(db, settings) == 2
    with db.begin() as conn:  # the second paper's text changed since: no TL;DR shown
        conn.execute(
            sa.text("UPDATE paper_teasers SET text_hash = 'old' WHERE paper_id = '2501.00012'")
        )
    with db.connect() as conn:
        papers = trending.paper_rows(conn, ["2501.00011", "2501.00012"])
    content = {
        "sections": [{"title": "Top", "items": [{"id": "2501.00011"}, {"id": "2501.00012"}]}]
    }
    text, html = render.render_digest(
        settings, period_label="Today", content=content, papers=papers, links=None
    )
    tldr = papers["2501.00011"]["tldr"]
    assert tldr.startswith("Second, we introduce")
    assert f"TL;DR: {tldr}" in text and f"<strong>TL;DR</strong> {tldr}" in html
    assert papers["2501.00012"]["tldr"] is None and papers["2501.00012"]["keyphrases"] == []
    assert text.count("TL;DR") == 1
    # The code link of the second paper, the first has none.
    assert papers["2501.00011"]["code_url"] is None
    assert text.count("Code: ") == 1 and "Code: https://github.com/example/widgets" in text
    assert html.count('class="code-link"') == 1
    assert 'href="https://github.com/example/widgets"' in html


def test_no_abstract_no_tldr_and_run_on_sentences_are_cut(settings: Settings) -> None:
    embedder = get_embedder(settings)
    run_on = "We propose " + ", ".join(f"method number {i}" for i in range(80)) + "."
    _, (no_abstract, long_one) = teasers.embed_with_teasers(
        embedder, ["Graph Neural Networks", "Run-on"], ["", run_on]
    )
    assert no_abstract.tldr == "" and no_abstract.keyphrases == ["graph neural networks"]
    assert len(long_one.tldr) <= teasers.MAX_TLDR_CHARS + 1 and long_one.tldr.endswith("…")
