"""Fusion arithmetic, and ``paperfeed eval`` on a tiny BEIR set whose metrics
are computed by hand below."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from paperfeed.config import Settings
from paperfeed.evaluate import EvalError, evaluate_run, load_beir, run_eval
from paperfeed.search import Fusion, convex, fuse, normalize, rrf


def test_rrf_by_hand() -> None:
    a = [("x", 9.0), ("y", 5.0), ("z", 1.0)]
    b = [("z", 0.9), ("x", 0.8)]
    fused = dict(rrf([a, b], [1.0, 1.0], k=60))
    assert fused["x"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["y"] == pytest.approx(1 / 62)
    assert fused["z"] == pytest.approx(1 / 63 + 1 / 61)
    assert [i for i, _ in rrf([a, b], [1.0, 1.0], k=60)] == ["x", "z", "y"]
    weighted = dict(rrf([a, b], [2.0, 0.5], k=10))
    assert weighted["z"] == pytest.approx(2 / 13 + 0.5 / 11)


def test_normalizations_by_hand() -> None:
    assert normalize([2.0, 4.0, 6.0], "minmax") == [0.0, 0.5, 1.0]
    sd = math.sqrt(8 / 3)
    assert normalize([2.0, 4.0, 6.0], "zscore") == pytest.approx([-2 / sd, 0.0, 2 / sd])
    assert normalize([3.0, 3.0], "minmax") == [1.0, 1.0]
    assert normalize([3.0, 3.0], "zscore") == [0.0, 0.0]
    with pytest.raises(ValueError, match="unknown normalization"):
        normalize([1.0], "softmax")


def test_convex_fusion_by_hand() -> None:
    lexical = [("a", 10.0), ("b", 6.0), ("c", 2.0)]  # min-max: 1, 0.5, 0
    dense = [("b", 0.9), ("d", 0.5)]  # min-max: 1, 0
    fused = dict(convex(lexical, dense, 0.3, "minmax"))
    assert fused["a"] == pytest.approx(0.3 * 1.0 + 0.7 * 0.0)  # missing from dense: its floor
    assert fused["b"] == pytest.approx(0.3 * 0.5 + 0.7 * 1.0)
    assert fused["c"] == pytest.approx(0.0)
    assert fused["d"] == pytest.approx(0.3 * 0.0 + 0.7 * 0.0)
    assert fuse(lexical, [], Fusion()) == lexical
    assert fuse([], dense, Fusion()) == dense
    assert fuse(lexical, dense, Fusion("convex", "minmax", 0.3))[0][0] == "b"


def test_metrics_by_hand() -> None:
    qrels = {"q1": {"d1": 2, "d3": 1}, "q2": {"d9": 1}}
    run = {"q1": [("d2", 3.0), ("d1", 2.0), ("d3", 1.0)], "q2": [("d5", 1.0)]}
    # q1: DCG = 2/log2(3) + 1/log2(4) (ir-measures' nDCG uses gain = relevance);
    # ideal = 2/log2(2) + 1/log2(3). q2 finds nothing relevant.
    dcg = 2 / math.log2(3) + 1 / math.log2(4)
    ideal = 2 / math.log2(2) + 1 / math.log2(3)
    values = evaluate_run(qrels, run)
    assert values["nDCG@10"] == pytest.approx((dcg / ideal + 0) / 2)
    assert values["RR@10"] == pytest.approx((1 / 2 + 0) / 2)
    assert values["R@100"] == pytest.approx((1.0 + 0) / 2)
    # A query with no results counts as zero rather than disappearing.
    assert evaluate_run(qrels, {"q1": run["q1"], "q2": []})["RR@10"] == pytest.approx(0.25)


def write_beir(root: Path) -> Path:
    docs = [
        {"_id": "d1", "title": "Apples", "text": "apple apple apple orchards and apple cider"},
        {"_id": "d2", "title": "Fruit", "text": "an apple a day, with pears and plums"},
        {"_id": "d3", "title": "Bananas", "text": "bananas are yellow tropical fruit"},
        {"_id": "d4", "title": "Cars", "text": "engines, wheels and gearboxes"},
    ]
    queries = [{"_id": "q1", "text": "apple"}, {"_id": "q2", "text": "gearboxes"}]
    root.mkdir(parents=True, exist_ok=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (root / "qrels").mkdir(exist_ok=True)
    # q1's relevant paper is d2, which BM25 ranks second (d1 repeats "apple");
    # q2's relevant paper is d3, which does not contain the word at all.
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td2\t1\nq2\td3\t1\n")
    return root


def test_eval_on_a_tiny_beir_set(tmp_path: Path, settings: Settings) -> None:
    data = load_beir(write_beir(tmp_path / "tiny"))
    assert data.split == "test" and set(data.queries) == {"q1", "q2"}
    report = run_eval(data, settings, dense=False)
    lexical = report["systems"]["lexical"]
    assert lexical["nDCG@10"] == pytest.approx((1 / math.log2(3) + 0) / 2)
    assert lexical["RR@10"] == pytest.approx((1 / 2 + 0) / 2)
    assert lexical["R@100"] == pytest.approx((1 + 0) / 2)
    assert report["documents"] == 4 and report["queries"] == 2


def test_eval_never_touches_the_readers_database(tmp_path: Path, cli_env: Settings) -> None:
    from paperfeed.cli import app

    dataset = write_beir(tmp_path / "tiny")
    result = CliRunner().invoke(app, ["eval", str(dataset), "--no-dense", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert report["systems"]["lexical"]["RR@10"] == pytest.approx(0.25)
    assert not Path(cli_env.database_url_resolved.removeprefix("sqlite:///")).exists()
    assert not cli_env.index_dir.exists()


def test_bad_datasets_are_named(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "bad")
    with pytest.raises(EvalError, match="no split 'dev'"):
        load_beir(root, "dev")
    (root / "corpus.jsonl").write_text('{"_id": "d1", "title": "x"}\nnot json\n')
    with pytest.raises(EvalError, match=r"corpus.jsonl:2: not JSON"):
        load_beir(root)
    (root / "queries.jsonl").unlink()
    write_beir(root)
    (root / "queries.jsonl").unlink()
    with pytest.raises(EvalError, match=r"queries.jsonl: no such file"):
        load_beir(root)
    with pytest.raises(EvalError, match="no qrels"):
        load_beir(tmp_path / "nowhere")


class _ConstantEmbedder:
    """Every text gets the same vector; the vector and the id are chosen per test."""

    def __init__(self, model_id: str, value: float) -> None:
        self.model_id = model_id
        self.value = value
        self.calls = 0

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        return np.full((len(texts), 4), self.value, dtype=np.float32)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return np.full((len(texts), 4), 0.5, dtype=np.float32)


def test_dense_eval_cache_is_keyed_by_model_id(tmp_path: Path, settings: Settings) -> None:
    """The corpus matrix cache must not serve one truncation's (or recipe's)
    vectors to another: the configured model name alone is the same for both."""
    from paperfeed.evaluate import dense_run

    data = load_beir(write_beir(tmp_path / "tiny"))
    cache = tmp_path / "cache"
    first = _ConstantEmbedder("packaged:m@256", 1.0)
    dense_run(data, settings, first, cache_dir=cache, progress=lambda _: None)
    again = _ConstantEmbedder("packaged:m@256", 1.0)
    dense_run(data, settings, again, cache_dir=cache, progress=lambda _: None)
    assert (first.calls, again.calls) == (1, 0)  # same id: reused
    other = _ConstantEmbedder("packaged:m@128", 2.0)
    run = dense_run(data, settings, other, cache_dir=cache, progress=lambda _: None)
    assert other.calls == 1  # another id: embedded afresh
    assert run["q1"][0][1] == pytest.approx(4 * 0.5 * 2.0)
