"""The personal model on real embeddings (the packaged MiniLM): ranking,
explanations, caching by signal set, cold start, the API, the CLI, the
"For you" page, and the personal section of a digest."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from paperfeed import readers as reader_core
from paperfeed import recommend
from paperfeed.app import Paperfeed
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db.papers import upsert_papers
from paperfeed.digest import runner
from paperfeed.index.embedding import embed_pending
from paperfeed.tuning import RecommendTuning
from tests.helpers import make_paper
from tests.readers_helpers import sign_in
from tests.smtp_server import SMTPServer
from tests.test_digest import confirmed, text_part

DAY = date(2025, 6, 2)

QUANTUM = [
    "Surface code decoders for quantum error correction on superconducting qubits",
    "Fault-tolerant logical qubits with low-density parity-check quantum codes",
    "Magic state distillation overhead in fault-tolerant quantum computation",
    "Benchmarking quantum error mitigation on noisy intermediate-scale devices",
    "Lattice surgery for logical operations in the surface code",
    "Bosonic cat qubits and biased-noise quantum error correction",
    "Decoding quantum LDPC codes with belief propagation and ordered statistics",
    "Threshold theorems for concatenated quantum codes under circuit noise",
]
PROTEIN = [
    "Protein structure prediction with geometric deep learning",
    "Generative diffusion models for de novo protein backbone design",
    "Predicting protein-ligand binding affinity with graph neural networks",
    "Language models of amino acid sequences for mutation effect prediction",
    "Inverse folding: designing sequences for a given protein structure",
    "Molecular dynamics surrogates for protein conformational ensembles",
    "Antibody design with equivariant neural networks",
    "Enzyme function prediction from sequence and structure",
]


def topic_papers(titles: list[str], prefix: str, day: date) -> list:
    return [
        make_paper(
            f"{prefix}{i:05d}",
            title=title,
            abstract=f"{title}. We present methods and experiments on this problem.",
            listing_date=day,
            categories=["quant-ph"] if prefix.startswith("2506.1") else ["q-bio.BM"],
            upvotes=i,
        )
        for i, title in enumerate(titles)
    ]


@pytest.fixture
def embedded(settings: Settings, db: Database) -> Database:
    """Two clearly separate topics, half listed on DAY and half the day after."""
    papers = [
        *topic_papers(QUANTUM[:4], "2506.10", DAY),
        *topic_papers(QUANTUM[4:], "2506.11", DAY + timedelta(days=1)),
        *topic_papers(PROTEIN[:4], "2506.20", DAY),
        *topic_papers(PROTEIN[4:], "2506.21", DAY + timedelta(days=1)),
    ]
    with db.begin() as conn:
        upsert_papers(conn, papers)
    assert embed_pending(db, settings) == len(papers)
    return db


QUANTUM_DAY1 = {f"2506.10{i:05d}" for i in range(4)}
QUANTUM_DAY2 = {f"2506.11{i:05d}" for i in range(4)}
PROTEIN_ALL = {f"2506.20{i:05d}" for i in range(4)} | {f"2506.21{i:05d}" for i in range(4)}


def test_positives_pull_their_topic_up_and_each_pick_explains_itself(
    settings: Settings, embedded: Database
) -> None:
    picks = recommend.recommend(
        recommend.Recommender(settings, embedded),
        positive_ids=["2506.1000000", "2506.1000001"],
        since=DAY,
        until=DAY + timedelta(days=1),
        limit=20,
    )
    ids = [p.paper_id for p in picks]
    assert "2506.1000000" not in ids and "2506.1000001" not in ids  # never the positives
    assert set(ids[:6]) == (QUANTUM_DAY1 | QUANTUM_DAY2) - {"2506.1000000", "2506.1000001"}
    assert set(ids[6:]) == PROTEIN_ALL
    assert [p.score for p in picks] == sorted((p.score for p in picks), reverse=True)
    for pick in picks:
        assert pick.because_id in {"2506.1000000", "2506.1000001"}
        assert pick.because_title in pick.reason


def test_a_pick_chosen_for_shared_terms_names_those_terms(
    settings: Settings, embedded: Database
) -> None:
    recommender = recommend.Recommender(settings, embedded)
    store = recommender.store()
    window = store.window(DAY, DAY + timedelta(days=1))
    model = recommender.model_for(store, recommend.Signals(("2506.1000000",)), window)
    # "Lattice surgery ... in the surface code" shares only "surface code" with
    # the positive "Surface code decoders for quantum error correction ...".
    row = window.position["2506.1100000"]
    terms = recommend.SIGNAL_NAMES.index("terms")
    why = recommend._why(store, model, window, row, 0, terms)
    named = set(why.split(", ", 1)[1].replace("\u201c", "").replace("\u201d", "").split(", "))
    assert why.startswith("mostly for its terms shared with your papers")
    assert named and named <= {"surface", "code", "surface code"}


def test_a_comment_like_the_readers_lifts_a_paper_and_is_named_as_the_reason(
    settings: Settings, db: Database
) -> None:
    """The "notes" signal: arXiv comments sharing a venue and a code host."""
    shared = "Accepted at QIP 2026. Code: https://github.com/qlab/decoders"
    papers = [
        *topic_papers(QUANTUM[:4], "2506.10", DAY),
        *topic_papers(PROTEIN, "2506.20", DAY + timedelta(days=1)),
    ]
    papers[0] = dataclasses.replace(papers[0], comment=shared)
    # One protein paper (off the reader's topic) carries the reader's comment;
    # the others have comments of their own.
    lifted = "2506.2000005"
    for i, paper in enumerate(papers):
        if paper.id == lifted:
            papers[i] = dataclasses.replace(paper, comment="Accepted at QIP 2026. Code: qlab")
        elif paper.id.startswith("2506.20"):
            papers[i] = dataclasses.replace(paper, comment=f"{i + 8} pages, {i} figures")
    with db.begin() as conn:
        upsert_papers(conn, papers)
    embed_pending(db, settings)
    recommender = recommend.Recommender(settings, db)
    day2 = DAY + timedelta(days=1)
    picks = recommend.recommend(
        recommender, positive_ids=["2506.1000000"], since=day2, until=day2, limit=8
    )
    assert picks[0].paper_id == lifted
    # No other pick is "for its comment": theirs share nothing with the reader's.
    assert all(p.signal != "notes" for p in picks[1:])
    # The comment is in the words' text too, and its own signal: positive for
    # the one paper whose comment shares terms with the reader's, zero for the rest.
    store = recommender.store()
    window = store.window(day2, day2)
    model = recommender.model_for(store, recommend.Signals(("2506.1000000",)), window)
    raw, _, _ = model.signals(window)
    notes = recommend.SIGNAL_NAMES.index("notes")
    assert raw[notes, window.position[lifted]] > 0
    others = [i for i, paper_id in enumerate(window.ids) if paper_id != lifted]
    assert (raw[notes, others] == 0).all()
    # Said "for its comment", the reason names the shared terms.
    why = recommend._why(store, model, window, window.position[lifted], 0, notes)
    assert why.startswith("mostly for its arXiv comment, like your papers'")
    named = set(why.split("papers' ", 1)[1].replace("\u201c", "").replace("\u201d", "").split(", "))
    assert named and named <= {
        "accepted",
        "qip",
        "2026",
        "qip 2026",
        "accepted at",
        "at qip",
        "code",
        "qlab",
        "at",
        "code qlab",
        "2026 code",
    }


def test_since_and_until_are_inclusive_listing_date_bounds(
    settings: Settings, embedded: Database
) -> None:
    second_day = DAY + timedelta(days=1)
    picks = recommend.recommend(
        recommend.Recommender(settings, embedded),
        positive_ids=["2506.1000000"],
        since=second_day,
        until=second_day,
    )
    assert {p.listing_date for p in picks} == {second_day}
    assert len(picks) == 8


def test_model_is_cached_and_retrained_only_when_signals_change(
    settings: Settings, embedded: Database
) -> None:
    reader = reader_core.Reader.from_row(_reader_row(embedded, "mia@example.org"))
    reader_core.set_flag(embedded, reader, "save", "2506.1000000", True)
    recommender = recommend.Recommender(settings, embedded)
    first = recommend.for_reader(recommender, reader.id, until=DAY + timedelta(days=1))
    again = recommend.for_reader(recommender, reader.id, until=DAY + timedelta(days=1))
    assert recommender.training_count == 1  # the second request reused the model
    assert [p.paper_id for p in first] == [p.paper_id for p in again]
    assert first[0].reason.startswith("because you saved")

    reader_core.set_flag(embedded, reader, "hide", "2506.1000001", True)
    after_hide = recommend.for_reader(recommender, reader.id, until=DAY + timedelta(days=1))
    assert recommender.training_count == 2  # new signal set, new model
    assert "2506.1000001" not in {p.paper_id for p in after_hide}


def _reader_row(db: Database, email: str) -> dict:
    from datetime import UTC, datetime

    from paperfeed.db import readers as reader_store

    with db.begin() as conn:
        return reader_store.get_or_create_reader(conn, email, datetime.now(UTC))


def test_cold_start_from_categories_and_keywords(settings: Settings, embedded: Database) -> None:
    by_category = recommend.recommend(
        recommend.Recommender(settings, embedded),
        categories=["q-bio.BM"],
        since=DAY,
        until=DAY + timedelta(days=1),
    )
    assert {p.paper_id for p in by_category} == PROTEIN_ALL
    assert all("q-bio.BM" in p.reason for p in by_category)
    by_keyword = recommend.recommend(
        recommend.Recommender(settings, embedded),
        keywords=["surface code"],
        since=DAY,
        until=DAY + timedelta(days=1),
    )
    assert {p.paper_id for p in by_keyword} == {"2506.1000000", "2506.1100000"}


def test_api_recommend(settings: Settings, embedded: Database, client: TestClient) -> None:
    response = client.post(
        "/api/recommend",
        json={
            "positive_ids": ["2506.2000000"],
            "negative_ids": ["2506.1000000"],
            "since": DAY.isoformat(),
            "until": DAY.isoformat(),
            "limit": 3,
        },
    )
    assert response.status_code == 200, response.text
    papers = response.json()["papers"]
    assert len(papers) == 3
    assert {p["id"] if "id" in p else p["paper_id"] for p in papers} <= PROTEIN_ALL
    assert all(p["listing_date"] == DAY.isoformat() for p in papers)
    assert papers[0]["score"] >= papers[-1]["score"]
    assert papers[0]["because_id"] == "2506.2000000"

    for body, needle in [
        ({"positive_ids": ["9999.99999"]}, "unknown paper"),
        ({"positive_ids": ["2506.2000000"], "since": "2025-06-03", "until": "2025-06-02"}, "after"),
        ({}, "positive_ids"),
        ({"positive_ids": ["2506.2000000"], "limit": 0}, "limit"),
    ]:
        bad = client.post("/api/recommend", json=body)
        assert bad.status_code == 422 and needle in bad.text, (body, bad.text)


def test_cli_recommend(cli_env: Settings, embedded: Database) -> None:
    from paperfeed.cli import app

    result = CliRunner().invoke(
        app,
        [
            "recommend",
            "--positive",
            "2506.2000001",
            "--since",
            DAY.isoformat(),
            "--until",
            (DAY + timedelta(days=1)).isoformat(),
            "--limit",
            "7",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    papers = json.loads(result.stdout)["papers"]
    assert {p["paper_id"] for p in papers} == PROTEIN_ALL - {"2506.2000001"}
    bad = CliRunner().invoke(app, ["recommend", "--positive", "x", "--since", "June"])
    assert bad.exit_code == 2 and "not a date" in bad.output


def test_for_you_page(settings: Settings, embedded: Database, client: TestClient) -> None:
    assert client.get("/for-you", follow_redirects=False).status_code == 303  # sign in first
    reader = sign_in(client, settings, embedded, "noa@example.org")
    page = client.get("/for-you")
    assert page.status_code == 200 and "choose what to follow" in page.text
    reader_core.set_flag(embedded, reader, "vote", "2506.2000002", True)
    page = client.get("/for-you")
    assert "because you upvoted" in page.text
    assert page.text.index("2506.2") < page.text.index("2506.1")  # protein first


def test_digest_personal_section_for_signed_in_subscriber(
    settings: Settings, embedded: Database, smtp_server: SMTPServer
) -> None:
    settings.smtp_retry_base_seconds = 0.0
    row = _reader_row(embedded, "ola@example.org")
    reader = reader_core.Reader.from_row(row)
    reader_core.set_flag(embedded, reader, "save", "2506.1000003", True)
    sub = confirmed(settings, embedded, "ola@example.org", personal_count=3, trending_count=2)
    from paperfeed.db import digests as digest_store

    with embedded.begin() as conn:  # what signing in and subscribing from the account does
        digest_store.request_subscription(conn, "ola@example.org", nonce="x", reader_id=row["id"])
    report = runner.run(settings, embedded, periods=[DAY.isoformat()])
    assert report.sent == 1
    [message] = smtp_server.inbox.to("ola@example.org")
    text = text_part(message)
    personal = text.split("== Picked for you ==")[1].split("==")[0]
    assert personal.count("/papers/2506.10") == 3  # the three other quantum papers of DAY
    assert "because you saved" in personal
    assert sub["id"]


def test_window_features_are_built_once_and_picks_name_their_strongest_signal(
    paperfeed: Paperfeed, embedded: Database
) -> None:
    window = (DAY, DAY + timedelta(days=1))
    recommender = paperfeed.recommender  # the application object keeps the features
    assert paperfeed.recommender is recommender
    first = recommend.recommend(
        recommender, positive_ids=["2506.1000000"], since=window[0], until=window[1]
    )
    store = recommender.store()
    built = store.windows[window]
    again = recommend.recommend(
        recommender, positive_ids=["2506.2000000"], since=window[0], until=window[1]
    )
    assert store.windows[window] is built  # the second reader reused the window's features
    assert first[0].paper_id in QUANTUM_DAY1 | QUANTUM_DAY2
    assert again[0].paper_id in PROTEIN_ALL
    for pick in [*first, *again]:
        assert pick.signal in recommend.SIGNAL_NAMES
        assert "mostly for its" in pick.reason

    with embedded.begin() as conn:  # a curator hides a paper: the window is rebuilt
        from paperfeed.db.papers import set_curation

        set_curation(conn, "2506.1000001", hidden=True)
    store.windows[window].checked = 0.0
    hidden = recommend.recommend(
        recommender, positive_ids=["2506.1000000"], since=window[0], until=window[1]
    )
    assert "2506.1000001" not in {p.paper_id for p in hidden}
    assert store.windows[window] is not built


def test_caches_are_bounded_in_bytes(settings: Settings, embedded: Database) -> None:
    """Many distinct libraries and windows: the models and windows kept stay
    within their byte budgets (the newest of each is always kept)."""
    one_window = recommend.Recommender(settings, embedded).store()
    one_window.window(DAY, DAY)
    window_bytes = one_window.windows[(DAY, DAY)].nbytes()
    tuning = RecommendTuning(model_cache_bytes=1, window_cache_bytes=int(window_bytes * 2.5))
    recommender = recommend.Recommender(settings, embedded, tuning)
    ids = sorted(QUANTUM_DAY1 | QUANTUM_DAY2 | PROTEIN_ALL)
    for i, paper_id in enumerate(ids):
        recommend.recommend(recommender, positive_ids=[paper_id], since=DAY, until=DAY)
        assert len(recommender.models) == 1, i  # a byte budget below one model keeps one
    assert recommender.training_count == len(ids)
    store = recommender.store()
    for days in range(4):
        store.window(DAY - timedelta(days=days), DAY + timedelta(days=1))
    assert sum(w.nbytes() for w in store.windows.values()) <= tuning.window_cache_bytes
    assert 1 <= len(store.windows) < 4
    assert (DAY - timedelta(days=3), DAY + timedelta(days=1)) in store.windows  # the newest
    roomy = recommend.Recommender(settings, embedded)
    for paper_id in ids:
        recommend.recommend(roomy, positive_ids=[paper_id], since=DAY, until=DAY)
    assert len(roomy.models) == len(ids)
    assert 0 < roomy.models_bytes <= roomy.tuning.model_cache_bytes
