"""The vector sidecar: an HNSW graph over 8-bit vectors (faiss) beside the SQLite file.

The ``embeddings`` table is the truth; this file is a cache of it for fast
nearest-neighbour search, and can always be rebuilt from it. So:

* Saves are crash-safe: the graph goes to a new file named by generation, then
  the small metadata file that points at it is replaced atomically. A crash at
  any moment leaves the previous complete pair.
* Saves can be rare (after a batch, on shutdown): on open, ``sync`` catches up
  from the table, adding vectors written since the last save (new papers,
  re-embedded ones) and dropping papers that are gone. A lost or stale sidecar
  costs a rebuild, never a wrong answer.
* The index records the model that built it; a different model rebuilds it.

Why 8-bit: float32 vectors of a million papers are 1.5 GB, which with the
graph, the keyword index and the process itself does not fit the 2 GiB target
(docs/benchmarks.md). faiss's ``IndexHNSWSQ`` keeps one byte per dimension
(per-dimension ranges learnt from the vectors), a quarter of the memory. The
graph ranks candidates with those approximate vectors; when the index knows
its database, the exact path (small index, narrow filter) re-scores its
candidates with the float32 vectors from the ``embeddings`` table, so scores
are exact there and papers removed from the table are dropped even before the
next sync; the graph path does so only with IndexTuning.rescore_graph (costly).

Labels are the row numbers faiss assigns (0, 1, 2, ...); ``_ids[label]`` is
the paper id, "" once dead. faiss's HNSW cannot delete or replace a vector, so
a removed paper's label is marked dead (searches skip it through an id
selector) and a re-embedded paper gets a new label. When dead labels pass a
quarter of the graph, the next ``sync`` rebuilds it from the table.
"""

from __future__ import annotations

import json
import os
import threading
import time
from array import array
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import embeddings as vector_store
from paperfeed.index.catch_up import BackgroundCatchUp
from paperfeed.index.embedder import current_model_id
from paperfeed.tuning import IndexTuning

META_FILE = "vectors.json"
FORMAT = 2  # 1 was the hnswlib float32 graph
# Graph parameters (as before with hnswlib, and as pgvector in index/pgvector.py).
# Recall@10 against exact search is in docs/benchmarks.md (Latency).
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 100
HNSW_EF_SEARCH = 128
# With a database, the candidates (RESCORE_FACTOR x as many as asked for) are
# re-scored exactly from the float32 vectors in the table: always for the
# exact path (small index, narrow filter), and for the graph path only if
# IndexTuning.rescore_graph.
RESCORE_FACTOR = 2
# The 8-bit ranges are learnt from up to this many vectors (a sample of the
# first batch). While the index holds fewer, it is rebuilt (retrained) each
# time it doubles, so ranges learnt on the first few papers do not clip the
# vectors of the many that follow.
TRAIN_SAMPLE = 50_000
# Dead labels (removed or re-embedded papers) above this share: rebuild.
COMPACT_SHARE = 0.25
# Vectors a bulk build hands to faiss at once (faiss inserts a batch on all cores).
BUILD_BATCH = 50_000
# Vectors written by transactions that committed late can carry a timestamp a
# little before the last one we saw; re-reading a window is cheap and idempotent.
CATCH_UP_WINDOW = timedelta(minutes=2)
# How often a long-lived process looks for vectors written by other processes.
REFRESH_SECONDS = 5.0
CHUNK_PAUSE = 0.0005


def _hash64(content_hash: str) -> int:
    """A vector's hash (embeddings.content_hash, which holds papers.text_hash since
    0009) squeezed into an int64, so a million of them fit in 8 MB."""
    return int(content_hash[:15].ljust(15, "0"), 16)


def _faiss() -> Any:
    # Imported on first use (the CLI starts faster), and as Any: faiss's
    # bundled type stubs leave out most of its SWIG classes.
    import faiss

    return faiss


def _new_graph(dim: int, sample: np.ndarray) -> Any:
    faiss = _faiss()

    graph = faiss.IndexHNSWSQ(
        dim, faiss.ScalarQuantizer.QT_8bit, HNSW_M, faiss.METRIC_INNER_PRODUCT
    )
    # Widen the learnt per-dimension ranges by 20 % of their span: vectors
    # added later, outside the sample's range, are clipped less.
    faiss.downcast_index(graph.storage).sq.rangestat_arg = 0.2
    graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    graph.train(np.ascontiguousarray(sample[:TRAIN_SAMPLE], dtype=np.float32))
    return graph


class FaissIndex:
    """Nearest-neighbour search over paper vectors of one model, beside a SQLite
    file (index/contracts.py's VectorIndex)."""

    def __init__(
        self,
        directory: Path,
        model_id: str,
        dim: int | None = None,
        tuning: IndexTuning = IndexTuning(),
    ) -> None:
        self.directory = directory
        self.model_id = model_id
        self.dim = dim
        self.tuning = tuning
        self._graph: Any = None
        self._ids: list[str] = []
        self._labels: dict[str, int] = {}
        # array("q"), not numpy: appends are amortized, where a numpy
        # concatenate per catch-up chunk copied all 8 MB of a 1M index.
        self._hashes = array("q")
        self._dead_labels: list[int] = []
        self._trained_on = 0  # how many vectors the 8-bit ranges were learnt from
        self._generation = 0
        self._synced_at: datetime | None = None
        self._alive_bitmap: np.ndarray | None = None  # packed; None when nothing is dead
        self._dirty = False
        self._db: Database | None = None  # for exact re-scoring, once known
        # _lock guards the graph and its mappings: searches hold it briefly,
        # and so does each chunk of a sync. _sync_lock makes syncs and saves
        # take turns (always taken before _lock), so a save never writes a
        # half-applied catch-up and two catch-ups never add the same vectors.
        self._lock = threading.RLock()
        self._sync_lock = threading.RLock()
        self._last_check = time.monotonic()
        self._background = BackgroundCatchUp("vector-catch-up", REFRESH_SECONDS)

    # ------------------------------------------------------------ open / save

    @classmethod
    def open(
        cls,
        settings: Settings,
        db: Database | None = None,
        *,
        model_id: str | None = None,
        tuning: IndexTuning = IndexTuning(),
    ) -> FaissIndex:
        """Load the sidecar for the configured model and, given a database,
        catch up with its ``embeddings`` table. A missing, corrupt or
        other-model sidecar is rebuilt from the table."""
        model_id = model_id or current_model_id(settings)
        index = cls(Path(settings.index_dir), model_id, tuning=tuning)
        index._load()
        if db is not None:
            index.sync(db)
        return index

    @property
    def meta_path(self) -> Path:
        return self.directory / META_FILE

    def _load(self) -> None:
        try:
            meta = json.loads(self.meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return  # nothing saved yet, or unreadable: sync rebuilds
        if meta.get("format") != FORMAT or meta.get("model") != self.model_id:
            return
        faiss = _faiss()
        try:
            graph = faiss.read_index(str(self.directory / str(meta["index_file"])))
        except (RuntimeError, OSError, KeyError, ValueError):
            return
        ids: list[str] = meta["ids"]
        if graph.ntotal != len(ids) or graph.d != int(meta["dim"]):
            return  # graph and mapping disagree: rebuild rather than guess
        self.dim = int(meta["dim"])
        self._graph = graph
        self._ids = ids
        self._labels = {pid: label for label, pid in enumerate(ids) if pid}
        self._hashes = array("q", (int(h, 16) for h in meta["hashes"]))
        self._dead_labels = [label for label, pid in enumerate(ids) if not pid]
        self._trained_on = int(meta["trained_on"])
        self._generation = int(meta["generation"])
        synced = meta.get("synced_at")
        self._synced_at = datetime.fromisoformat(synced) if synced else None
        self._alive_bitmap = None

    def save(self) -> None:
        """Write the graph to a new file, then atomically point the metadata at it."""
        faiss = _faiss()
        with self._sync_lock, self._lock:
            if self._graph is None or not self._dirty:
                return
            self.directory.mkdir(parents=True, exist_ok=True)
            generation = self._generation + 1
            index_file = f"vectors-{generation}.faiss"
            graph = self.directory / index_file
            faiss.write_index(self._graph, str(graph))
            _fsync(graph)
            meta = {
                "format": FORMAT,
                "model": self.model_id,
                "dim": self.dim,
                "generation": generation,
                "index_file": index_file,
                "trained_on": self._trained_on,
                "synced_at": self._synced_at.isoformat() if self._synced_at else None,
                "ids": self._ids,
                "hashes": [format(int(h), "x") for h in self._hashes],
            }
            tmp = self.meta_path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(meta), encoding="utf-8")
            _fsync(tmp)
            os.replace(tmp, self.meta_path)
            self._generation = generation
            self._dirty = False
            # Only now is the old graph unreferenced (.hnsw: the hnswlib format).
            for pattern in ("vectors-*.faiss", "vectors-*.hnsw"):
                for old in self.directory.glob(pattern):
                    if old.name != index_file:
                        old.unlink(missing_ok=True)

    # ------------------------------------------------------------ changes

    def __len__(self) -> int:
        return len(self._labels)

    def __contains__(self, paper_id: object) -> bool:
        return paper_id in self._labels

    def _reset(self) -> None:
        self._graph = None
        self.dim = None
        self._ids, self._labels = [], {}
        self._hashes = array("q")
        self._dead_labels = []
        self._trained_on = 0
        self._alive_bitmap = None
        self._dirty = True

    def add(
        self,
        ids: Sequence[str],
        vectors: np.ndarray,
        content_hashes: Sequence[str] | None = None,
    ) -> None:
        """Add or replace vectors (rows of ``vectors``, unit length) for these papers."""
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(ids):
            raise ValueError(f"expected {len(ids)} vectors, got shape {vectors.shape}")
        hashes = content_hashes or [""] * len(ids)
        with self._lock:
            if self._graph is None:
                self.dim = vectors.shape[1]
                self._graph = _new_graph(self.dim, vectors)
                self._trained_on = min(len(vectors), TRAIN_SAMPLE)
            elif vectors.shape[1] != self.dim:
                raise ValueError(
                    f"vectors of dimension {vectors.shape[1]} added to an index of "
                    f"dimension {self.dim}"
                )
            # Last one wins when a batch names a paper twice.
            latest = {pid: row for row, pid in enumerate(ids)}
            replaced = [pid for pid in latest if pid in self._labels]
            if replaced:
                self.remove(replaced)  # faiss cannot replace in place: a new label
            rows = list(latest.values())
            first = len(self._ids)
            self._ids.extend(latest)
            self._labels.update((pid, first + k) for k, pid in enumerate(latest))
            self._hashes.extend(_hash64(hashes[row]) if hashes[row] else 0 for row in rows)
            self._graph.add(vectors[rows])
            self._alive_bitmap = None  # recomputed on the next search
            self._dirty = True

    def remove(self, ids: Iterable[str]) -> None:
        with self._lock:
            for pid in ids:
                label = self._labels.pop(pid, None)
                if label is None:
                    continue
                self._ids[label] = ""
                self._hashes[label] = 0
                self._dead_labels.append(label)
                self._alive_bitmap = None
                self._dirty = True

    @property
    def _dead(self) -> int:
        return len(self._ids) - len(self._labels)

    def _selector_bitmap(self) -> np.ndarray | None:
        """The live labels as the packed bitmap faiss's IDSelectorBitmap reads;
        None when every label is live (no selector: faster)."""
        if self._dead == 0:
            return None
        if self._alive_bitmap is None:
            # From the dead labels, not a walk over every id: after each chunk
            # of a catch-up this runs again (~1 ms at 1M, where a walk took ~60).
            alive = np.ones(len(self._ids), dtype=bool)
            alive[np.array(self._dead_labels, dtype=np.int64)] = False
            self._alive_bitmap = np.packbits(alive, bitorder="little")
        return self._alive_bitmap

    def sync(self, db: Database) -> int:
        """Catch up with the ``embeddings`` table; returns how many papers changed.

        An empty index loads every vector in large batches (a bulk build).
        Otherwise it reads the keys of vectors written since the last sync
        (with a window for late commits) and fetches only the vectors it
        lacks, adding them ``tuning.catch_up_chunk`` at a time so that searches go on
        in between; then, if the counts still disagree, walks all keys: after
        a crash, a deleted sidecar, or papers removed from the database. An
        index mostly made of dead labels, or trained on too few vectors, is
        rebuilt from the table (searches wait for that rare rebuild).
        """
        changed = 0
        # begin(), not connect(): the keys and vectors are streamed through a
        # server-side cursor, which on PostgreSQL lives only in a transaction.
        with self._sync_lock, db.begin() as conn:
            self._db = db
            with self._lock:
                if self._graph is not None and (
                    self._dead > COMPACT_SHARE * len(self._ids)
                    or (
                        self._trained_on < TRAIN_SAMPLE
                        and vector_store.count_vectors(conn, self.model_id) >= 2 * self._trained_on
                    )
                ):
                    self._reset()
                if self._graph is None:
                    self._reset()
                    self._synced_at = None
                    return self._bulk_load(conn)
            since = self._synced_at - CATCH_UP_WINDOW if self._synced_at else None
            changed += self._apply(
                conn, vector_store.iter_vector_keys(conn, self.model_id, since=since)
            )
            if self._background.stopping:
                return changed
            # Compare with the rows this index has seen (written up to
            # synced_at): vectors a concurrent writer commits meanwhile are
            # for the next sync, and must not trigger a full walk every time.
            seen = vector_store.count_vectors(conn, self.model_id, until=self._synced_at)
            if self._synced_at is None or seen != len(self._labels):
                in_db: set[str] = set()
                for keys in vector_store.iter_vector_keys(conn, self.model_id):
                    in_db.update(k[0] for k in keys)
                    if since is not None:
                        changed += self._apply(conn, [keys])
                with self._lock:
                    gone = [pid for pid in self._labels if pid not in in_db]
                    self.remove(gone)
                changed += len(gone)
        return changed

    def _bulk_load(self, conn: Any) -> int:
        """Every vector of the model into an empty index, BUILD_BATCH at a time."""
        ids: list[str] = []
        hashes: list[str] = []
        rows: list[np.ndarray] = []
        total = 0

        def flush() -> None:
            self.add(ids, np.stack(rows), hashes)
            ids.clear()
            hashes.clear()
            rows.clear()

        for batch in vector_store.iter_vectors(conn, self.model_id):
            for item in batch:
                ids.append(item.paper_id)
                hashes.append(item.content_hash)
                rows.append(item.vector)
                if self._synced_at is None or item.created_at > self._synced_at:
                    self._synced_at = item.created_at
            if len(ids) >= BUILD_BATCH:
                total += len(ids)
                flush()
        if ids:
            total += len(ids)
            flush()
        self._dirty = True
        return total

    def refresh_if_due(self, db: Database, every: float = REFRESH_SECONDS) -> int:
        """Sync when another process (``paperfeed embed --watch``, a worker) has
        written vectors since the last look; checked at most every ``every``
        seconds, and then with one indexed MAX() query."""
        now = time.monotonic()
        if now - self._last_check < every:
            return 0
        self._last_check = now
        with db.connect() as conn:
            latest = vector_store.latest_vector_time(conn, self.model_id)
        if latest is None or (self._synced_at is not None and latest <= self._synced_at):
            return 0
        return self.sync(db)

    def sync_if_due(self, db: Database) -> None:
        """``refresh_if_due`` on a background thread, for the request path: a
        search never waits for a catch-up, only for one chunk of it at most."""
        self._background.start_if_due(lambda: self._follow(db))

    def _follow(self, db: Database) -> None:
        # One OpenMP thread for faiss's inserts from here (the setting is per
        # calling thread): the other core is the searches'.
        _faiss().omp_set_num_threads(1)
        self.refresh_if_due(db, every=0)

    def _apply(self, conn: Any, batches: Iterable[list[tuple[str, str, datetime]]]) -> int:
        changed = 0
        for keys in batches:
            wanted: dict[str, str] = {}
            latest = self._synced_at
            for paper_id, content_hash, created_at in keys:
                label = self._labels.get(paper_id)
                if label is None or self._hashes[label] != _hash64(content_hash):
                    wanted[paper_id] = content_hash
                if latest is None or created_at > latest:
                    latest = created_at
            ids = list(wanted)
            for start in range(0, len(ids), 2000):
                if self._background.stopping:
                    return changed  # _synced_at not moved: the rest is for the next sync
                chunk = ids[start : start + 2000]
                found = vector_store.get_vectors(conn, self.model_id, chunk)
                present = [pid for pid in chunk if pid in found]  # deleted meanwhile: skip
                step = self.tuning.catch_up_chunk
                for first in range(0, len(present), step):
                    part = present[first : first + step]
                    self.add(
                        part, np.stack([found[pid] for pid in part]), [wanted[pid] for pid in part]
                    )
                    changed += len(part)
                    if self._background.stopping:
                        return changed
                    # Let a waiting search take the lock before the next chunk:
                    # a released lock is not handed over, and this thread would
                    # usually win it back at once.
                    time.sleep(CHUNK_PAUSE)
            # Only now: a save in between must not claim vectors not yet added.
            self._synced_at = latest
        if changed:
            self._dirty = True
        return changed

    # ------------------------------------------------------------ search

    def vectors_of(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Vectors of these papers (absent ones are left out): exact from the
        table when the index knows its database, else the 8-bit approximation."""
        with self._lock:
            found = [(pid, self._labels[pid]) for pid in ids if pid in self._labels]
            if not found:
                return {}
            if self._db is not None:
                with self._db.connect() as conn:
                    return vector_store.get_vectors(conn, self.model_id, [p for p, _ in found])
            labels = np.array([label for _, label in found], dtype=np.int64)
            data = self._graph.reconstruct_batch(labels)
            return {pid: np.asarray(data[i], dtype=np.float32) for i, (pid, _) in enumerate(found)}

    def search(
        self,
        vector: np.ndarray,
        k: int,
        *,
        allowed_ids: Iterable[str] | None = None,
        exclude: Iterable[str] = (),
    ) -> list[tuple[str, float]]:
        """The ``k`` nearest papers as (paper_id, cosine similarity), best first.

        ``allowed_ids`` restricts the result (a filter); when it allows few
        papers, or the index is small, the search is a dot product over all of
        them. Either way the best candidates are re-scored exactly from the
        table when the index knows its database.
        """
        query = np.ascontiguousarray(np.asarray(vector, dtype=np.float32).reshape(-1))
        excluded = set(exclude)
        with self._lock:
            if self._graph is None or not self._labels or k <= 0:
                return []
            rescore = self._db is not None
            want = k * RESCORE_FACTOR if rescore else k
            if allowed_ids is not None:
                allowed = [self._labels[p] for p in set(allowed_ids) if p in self._labels]
                allowed = [a for a in allowed if self._ids[a] not in excluded]
                if len(allowed) <= self.tuning.exact_max_candidates:
                    found = self._exact(query, want, np.array(allowed, dtype=np.int64))
                else:
                    rescore = rescore and self.tuning.rescore_graph
                    want = want if rescore else k
                    mask = np.zeros(len(self._ids), dtype=bool)
                    mask[allowed] = True
                    found = self._approximate(
                        query, want, np.packbits(mask, bitorder="little"), excluded
                    )
            elif len(self._labels) <= self.tuning.exact_max_index:
                labels = np.array(
                    [lb for pid, lb in self._labels.items() if pid not in excluded],
                    dtype=np.int64,
                )
                found = self._exact(query, want, labels)
            else:
                rescore = rescore and self.tuning.rescore_graph
                want = want if rescore else k
                found = self._approximate(query, want, self._selector_bitmap(), excluded)
            db = self._db
        if rescore and db is not None and found:
            found = self._rescore(db, query, [pid for pid, _ in found])
        return found[:k]

    def _rescore(self, db: Database, query: np.ndarray, ids: list[str]) -> list[tuple[str, float]]:
        with db.connect() as conn:
            exact = vector_store.get_vectors(conn, self.model_id, ids)
        # A paper gone from the table since the last sync is gone from the answer.
        kept = [pid for pid in ids if pid in exact]
        if not kept:
            return []
        scores = np.stack([exact[pid] for pid in kept]) @ query
        order = np.argsort(-scores, kind="stable")
        return [(kept[i], float(scores[i])) for i in order]

    def _exact(self, query: np.ndarray, k: int, labels: np.ndarray) -> list[tuple[str, float]]:
        if labels.size == 0:
            return []
        matrix = self._graph.reconstruct_batch(labels)
        scores = matrix @ query
        top = min(k, scores.size)
        best = np.argpartition(-scores, top - 1)[:top]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(self._ids[int(labels[i])], float(scores[i])) for i in best]

    def _approximate(
        self, query: np.ndarray, k: int, bitmap: np.ndarray | None, excluded: set[str]
    ) -> list[tuple[str, float]]:
        faiss = _faiss()
        want = min(k + len(excluded), len(self._labels))
        params = faiss.SearchParametersHNSW(efSearch=max(HNSW_EF_SEARCH, want))
        if bitmap is not None:
            selector = faiss.IDSelectorBitmap(len(self._ids), faiss.swig_ptr(bitmap))
            params.sel = selector  # (selector stays referenced until the search returns)
        scores, labels = self._graph.search(query.reshape(1, -1), want, params=params)
        ids = self._ids
        out: list[tuple[str, float]] = []
        # (Python ints and floats first: indexing per numpy scalar costs more.)
        for label, score in zip(labels[0].tolist(), scores[0].tolist(), strict=True):
            if label < 0:
                continue  # fewer than ``want`` reachable
            pid = ids[label]
            if pid and pid not in excluded:
                out.append((pid, score))
        return out[:k]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
