"""Deriving the fused int8 MiniLM from the packaged ONNX file (no torch)."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import onnx
import pytest

from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import embeddings as vector_store
from paperfeed.index import onnx_derive
from paperfeed.index.embedder import (
    PACKAGED_MINILM,
    PACKAGED_MINILM_QINT8,
    EmbedderUnavailable,
    OnnxEmbedder,
    current_model_id,
    load_embedder,
    packaged_minilm_files,
)
from paperfeed.index.embedding import embed_pending
from paperfeed.index.onnx_derive import DerivationError, cached_int8, derive_int8, derived_path
from paperfeed.ingest.pipeline import ingest
from tests.helpers import make_paper

TEXTS = [
    "Graph neural networks for molecule property prediction.",
    "We study the convergence of stochastic gradient descent on non-convex losses "
    "and give a bound that depends on the noise of the gradients. " * 3,
    "A survey of retrieval-augmented generation.",
]


@pytest.fixture(scope="module")
def derived(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source, _ = packaged_minilm_files()
    return cached_int8(source, tmp_path_factory.mktemp("models"))


def test_derived_model_computes_in_int8(derived: Path) -> None:
    ops = collections.Counter(node.op_type for node in onnx.load(str(derived)).graph.node)
    # 6 layers x (Q, K, V, attention output, FFN up); the FFN down-projection stays float.
    assert ops["MatMulInteger"] == 30
    assert ops["SkipLayerNormalization"] == 12  # fused residual + LayerNorm
    assert ops["BiasGelu"] == 6
    # Only the result is left beside it: no temporary directory, no partial file.
    assert [p.name for p in derived.parent.iterdir()] == [derived.name]


def test_derived_vectors_match_the_source_model(derived: Path) -> None:
    source, tokenizer = packaged_minilm_files()
    fast = OnnxEmbedder(derived, tokenizer, model_id="fast").embed_documents(TEXTS)
    slow = OnnxEmbedder(source, tokenizer, model_id="slow").embed_documents(TEXTS)
    cosines = (fast * slow).sum(axis=1)
    assert cosines.min() > 0.99, cosines
    # and it still ranks: each text is nearest to its own source-model vector
    assert list((fast @ slow.T).argmax(axis=1)) == [0, 1, 2]


def test_derivation_is_deterministic(derived: Path, tmp_path: Path) -> None:
    source, _ = packaged_minilm_files()
    again = derive_int8(source, tmp_path / "again.onnx")
    assert onnx_derive.file_sha256(again) == onnx_derive.file_sha256(derived)


def test_a_failed_derivation_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(source: Path, dest: Path) -> None:
        dest.write_bytes(b"half a model")
        raise RuntimeError("killed mid-way")

    monkeypatch.setattr(onnx_derive, "_fuse", crash)
    source, _ = packaged_minilm_files()
    dest = tmp_path / "models" / "m.onnx"
    with pytest.raises(DerivationError, match="killed mid-way"):
        derive_int8(source, dest)
    assert list(dest.parent.iterdir()) == []
    with pytest.raises(DerivationError, match="source model not found"):
        derive_int8(tmp_path / "missing.onnx", dest)


def test_the_cache_is_reused_and_keyed_by_source(
    derived: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, _ = packaged_minilm_files()
    assert derived_path(source, derived.parent) == derived

    def must_not_run(source: Path, dest: Path) -> Path:
        raise AssertionError("derived again although cached")

    monkeypatch.setattr(onnx_derive, "derive_int8", must_not_run)
    assert cached_int8(source, derived.parent) == derived


def test_packaged_models_and_their_ids(derived: Path, tmp_path: Path) -> None:
    fast = load_embedder(PACKAGED_MINILM_QINT8, max_tokens=128, cache_dir=derived.parent)
    assert fast.model_id == f"{PACKAGED_MINILM_QINT8}@128"
    plain = load_embedder(PACKAGED_MINILM, max_tokens=128)
    assert plain.model_id == f"{PACKAGED_MINILM}@128"
    # The two give different vectors, so their ids differ and a switch re-embeds.
    assert fast.model_id != plain.model_id
    settings = Settings(data_dir=tmp_path, embed_max_tokens=128)
    assert current_model_id(settings) == f"{PACKAGED_MINILM_QINT8}@128"  # the default


def test_an_onnx_directory_is_a_model(derived: Path, tmp_path: Path) -> None:
    _, tokenizer = packaged_minilm_files()
    model_dir = tmp_path / "my-encoder"
    model_dir.mkdir()
    (model_dir / "model.onnx").symlink_to(derived)
    (model_dir / "tokenizer.json").symlink_to(tokenizer)
    embedder = load_embedder(str(model_dir))
    assert embedder.model_id == f"onnx:{model_dir.resolve()}@256"
    settings = Settings(data_dir=tmp_path, embed_model=str(model_dir))
    assert current_model_id(settings) == embedder.model_id
    vectors = embedder.embed_documents(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    with pytest.raises(EmbedderUnavailable, match="must hold model.onnx and tokenizer.json"):
        load_embedder(f"onnx:{tmp_path / 'nothing-here'}")


def test_switching_to_the_derived_model_re_embeds(
    derived: Path, settings: Settings, db: Database
) -> None:
    ingest(db, [make_paper("2501.00001"), make_paper("2501.00002")])
    shipped = settings.model_copy(update={"embed_model": PACKAGED_MINILM})
    assert embed_pending(db, shipped) == 2
    assert embed_pending(db, shipped) == 0
    fast = settings.model_copy(
        update={"embed_model": PACKAGED_MINILM_QINT8, "model_cache_dir": derived.parent}
    )
    assert embed_pending(db, fast) == 2  # a new model id: every paper is pending again
    with db.connect() as conn:
        assert vector_store.count_pending(conn, current_model_id(fast)) == 0
