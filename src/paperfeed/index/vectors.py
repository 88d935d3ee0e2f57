"""The vector sidecar: an HNSW index (hnswlib) beside the SQLite file.

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

Labels are integers that hnswlib needs; ``_ids[label]`` is the paper id
("" once deleted). A re-embedded paper keeps its label and its vector is
replaced in place; a removed paper's label is marked deleted, and its slot is
reused by the next add.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import embeddings as vector_store
from paperfeed.index.embedder import current_model_id

META_FILE = "vectors.json"
FORMAT = 1
# Graph parameters. With M=16 / ef_construction=100, recall@10 against exact
# search on the 75k corpus was 0.84 at ef=64 and 0.91 at ef=128 (real query
# vectors, bench/search.py); searching costs well under a millisecond either
# way, so ef=128 (and at least the number of results asked for).
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 100
HNSW_EF_SEARCH = 128
# Below these sizes a brute-force dot product is exact and about as fast.
EXACT_MAX_INDEX = 5_000
EXACT_MAX_CANDIDATES = 20_000
# Vectors written by transactions that committed late can carry a timestamp a
# little before the last one we saw; re-reading a window is cheap and idempotent.
CATCH_UP_WINDOW = timedelta(minutes=2)
# How often a long-lived process looks for vectors written by other processes.
REFRESH_SECONDS = 5.0


def _hash64(content_hash: str) -> int:
    """A vector's hash (embeddings.content_hash, which holds papers.text_hash since
    0009) squeezed into an int64, so a million of them fit in 8 MB."""
    return int(content_hash[:15].ljust(15, "0"), 16)


class VectorIndex:
    """Nearest-neighbour search over paper vectors of one model."""

    def __init__(self, directory: Path, model_id: str, dim: int | None = None) -> None:
        self.directory = directory
        self.model_id = model_id
        self.dim = dim
        self._hnsw: Any = None
        self._ids: list[str] = []
        self._labels: dict[str, int] = {}
        self._hashes = np.zeros(0, dtype=np.int64)
        self._free: list[int] = []  # deleted labels, whose slots hnswlib can reuse
        self._generation = 0
        self._synced_at: datetime | None = None
        self._exact_cache: tuple[np.ndarray, np.ndarray] | None = None
        self._dirty = False
        self._lock = threading.RLock()
        self._last_check = time.monotonic()

    # ------------------------------------------------------------ open / save

    @classmethod
    def open(
        cls, settings: Settings, db: Database | None = None, *, model_id: str | None = None
    ) -> VectorIndex:
        """Load the sidecar for the configured model and, given a database,
        catch up with its ``embeddings`` table. A missing, corrupt or
        other-model sidecar is rebuilt from the table."""
        model_id = model_id or current_model_id(settings)
        index = cls(Path(settings.index_dir), model_id)
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
        graph = self.directory / str(meta["index_file"])
        import hnswlib

        try:
            hnsw = hnswlib.Index(space="ip", dim=int(meta["dim"]))
            hnsw.load_index(
                str(graph), max_elements=int(meta["max_elements"]), allow_replace_deleted=True
            )
        except (RuntimeError, OSError, KeyError, ValueError):
            return
        ids: list[str] = meta["ids"]
        if hnsw.element_count != len(ids):
            return  # graph and mapping disagree: rebuild rather than guess
        self.dim = int(meta["dim"])
        self._hnsw = hnsw
        self._hnsw.set_ef(HNSW_EF_SEARCH)
        self._ids = ids
        self._labels = {pid: label for label, pid in enumerate(ids) if pid}
        self._free = [label for label, pid in enumerate(ids) if not pid]
        self._hashes = np.array([int(h, 16) for h in meta["hashes"]], dtype=np.int64)
        self._generation = int(meta["generation"])
        synced = meta.get("synced_at")
        self._synced_at = datetime.fromisoformat(synced) if synced else None

    def save(self) -> None:
        """Write the graph to a new file, then atomically point the metadata at it."""
        with self._lock:
            if self._hnsw is None or not self._dirty:
                return
            self.directory.mkdir(parents=True, exist_ok=True)
            generation = self._generation + 1
            index_file = f"vectors-{generation}.hnsw"
            graph = self.directory / index_file
            self._hnsw.save_index(str(graph))
            _fsync(graph)
            meta = {
                "format": FORMAT,
                "model": self.model_id,
                "dim": self.dim,
                "generation": generation,
                "index_file": index_file,
                "max_elements": self._hnsw.get_max_elements(),
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
            # Only now is the old graph unreferenced.
            for old in self.directory.glob("vectors-*.hnsw"):
                if old.name != index_file:
                    old.unlink(missing_ok=True)

    # ------------------------------------------------------------ changes

    def __len__(self) -> int:
        return len(self._labels)

    def __contains__(self, paper_id: object) -> bool:
        return paper_id in self._labels

    def _ensure(self, dim: int, extra: int) -> None:
        import hnswlib

        if self._hnsw is None:
            self.dim = dim
            self._hnsw = hnswlib.Index(space="ip", dim=dim)
            self._hnsw.init_index(
                max_elements=max(1024, extra),
                M=HNSW_M,
                ef_construction=HNSW_EF_CONSTRUCTION,
                allow_replace_deleted=True,
            )
            self._hnsw.set_ef(HNSW_EF_SEARCH)
        elif dim != self.dim:
            raise ValueError(
                f"vectors of dimension {dim} added to an index of dimension {self.dim}"
            )
        needed = self._hnsw.element_count + extra
        capacity = self._hnsw.get_max_elements()
        if needed > capacity:
            # Grow by 10 %: rarely enough for a stream of small adds, while a
            # 1.6 GB graph (1M papers) does not get 50 % of idle headroom.
            self._hnsw.resize_index(max(needed, capacity + max(1024, capacity // 10)))

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
            # Last one wins when a batch names a paper twice.
            latest = {pid: row for row, pid in enumerate(ids)}
            rows = list(latest.values())
            new_count = sum(1 for pid in latest if pid not in self._labels)
            self._ensure(vectors.shape[1], new_count)
            labels = np.empty(len(rows), dtype=np.int64)
            reuse = np.zeros(len(rows), dtype=bool)
            for i, row in enumerate(rows):
                pid = ids[row]
                label = self._labels.get(pid)
                if label is None:
                    if self._free:
                        label = self._free.pop()
                        reuse[i] = True
                        self._ids[label] = pid
                    else:
                        label = len(self._ids)
                        self._ids.append(pid)
                    self._labels[pid] = label
                labels[i] = label
            if len(self._hashes) < len(self._ids):
                grown = np.zeros(len(self._ids), dtype=np.int64)
                grown[: len(self._hashes)] = self._hashes
                self._hashes = grown
            for i, row in enumerate(rows):
                self._hashes[labels[i]] = _hash64(hashes[row]) if hashes[row] else 0
            data = vectors[rows]
            # Reused labels were marked deleted: hnswlib refuses a plain add on
            # them but puts them back (in the slot of some deleted element)
            # with replace_deleted.
            if reuse.any():
                self._hnsw.add_items(data[reuse], labels[reuse], replace_deleted=True)
            if (~reuse).any():
                self._hnsw.add_items(data[~reuse], labels[~reuse])
            self._exact_cache = None
            self._dirty = True

    def remove(self, ids: Iterable[str]) -> None:
        with self._lock:
            for pid in ids:
                label = self._labels.pop(pid, None)
                if label is None:
                    continue
                self._hnsw.mark_deleted(label)
                self._ids[label] = ""
                self._hashes[label] = 0
                self._free.append(label)
                self._exact_cache = None
                self._dirty = True

    def sync(self, db: Database) -> int:
        """Catch up with the ``embeddings`` table; returns how many papers changed.

        Reads the keys of vectors written since the last sync (with a window
        for late commits) and fetches only the vectors it lacks; then, if the
        counts still disagree, walks all keys: after a crash, a deleted sidecar,
        or papers removed from the database.
        """
        changed = 0
        with self._lock, db.connect() as conn:
            if self._hnsw is None and self.dim is None:
                total = vector_store.count_vectors(conn, self.model_id)
                if total:  # building from scratch: allocate the graph once
                    first = vector_store.get_vectors(
                        conn,
                        self.model_id,
                        [next(iter(vector_store.iter_vector_keys(conn, self.model_id)))[0][0]],
                    )
                    self._ensure(len(next(iter(first.values()))), total)
            since = self._synced_at - CATCH_UP_WINDOW if self._synced_at else None
            changed += self._apply(
                conn, vector_store.iter_vector_keys(conn, self.model_id, since=since)
            )
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
                gone = [pid for pid in self._labels if pid not in in_db]
                self.remove(gone)
                changed += len(gone)
        return changed

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

    def _apply(self, conn: Any, batches: Iterable[list[tuple[str, str, datetime]]]) -> int:
        changed = 0
        for keys in batches:
            wanted: dict[str, str] = {}
            for paper_id, content_hash, created_at in keys:
                label = self._labels.get(paper_id)
                if label is None or self._hashes[label] != _hash64(content_hash):
                    wanted[paper_id] = content_hash
                if self._synced_at is None or created_at > self._synced_at:
                    self._synced_at = created_at
            if not wanted:
                continue
            ids = list(wanted)
            for start in range(0, len(ids), 2000):
                chunk = ids[start : start + 2000]
                found = vector_store.get_vectors(conn, self.model_id, chunk)
                present = [pid for pid in chunk if pid in found]  # deleted meanwhile: skip
                if present:
                    self.add(
                        present,
                        np.stack([found[pid] for pid in present]),
                        [wanted[pid] for pid in present],
                    )
                    changed += len(present)
        if changed:
            self._dirty = True
        return changed

    # ------------------------------------------------------------ search

    def vectors_of(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Indexed vectors of these papers (absent ones are left out)."""
        with self._lock:
            found = [(pid, self._labels[pid]) for pid in ids if pid in self._labels]
            if not found:
                return {}
            data = self._hnsw.get_items([label for _, label in found], return_type="numpy")
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
        papers, or the index is small, the search is an exact dot product.
        """
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        excluded = set(exclude)
        with self._lock:
            if self._hnsw is None or not self._labels or k <= 0:
                return []
            if allowed_ids is not None:
                allowed = [self._labels[p] for p in set(allowed_ids) if p in self._labels]
                allowed = [a for a in allowed if self._ids[a] not in excluded]
                if len(allowed) <= EXACT_MAX_CANDIDATES:
                    return self._exact(query, k, np.array(allowed, dtype=np.int64))
                allowed_set = set(allowed)
                return self._approximate(query, k, allowed_set.__contains__, excluded)
            if len(self._labels) <= EXACT_MAX_INDEX:
                labels = np.array(
                    [lb for pid, lb in self._labels.items() if pid not in excluded],
                    dtype=np.int64,
                )
                return self._exact(query, k, labels)
            return self._approximate(query, k, None, excluded)

    def _exact(self, query: np.ndarray, k: int, labels: np.ndarray) -> list[tuple[str, float]]:
        if labels.size == 0:
            return []
        matrix = self._hnsw.get_items(labels, return_type="numpy").astype(np.float32, copy=False)
        scores = matrix @ query
        top = min(k, scores.size)
        best = np.argpartition(-scores, top - 1)[:top]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(self._ids[int(labels[i])], float(scores[i])) for i in best]

    def _approximate(
        self, query: np.ndarray, k: int, accept: Any, excluded: set[str]
    ) -> list[tuple[str, float]]:
        want = min(k + len(excluded), len(self._labels))
        self._hnsw.set_ef(max(HNSW_EF_SEARCH, want))
        labels, distances = self._hnsw.knn_query(query, k=want, num_threads=1, filter=accept)
        out: list[tuple[str, float]] = []
        for label, distance in zip(labels[0], distances[0], strict=True):
            pid = self._ids[int(label)]
            if pid and pid not in excluded:
                out.append((pid, 1.0 - float(distance)))  # ip space: distance = 1 - dot
        return out[:k]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_open_indexes: dict[tuple[str, str], VectorIndex] = {}
_open_lock = threading.Lock()
_open_pg: dict[tuple[str, str], Any] = {}


def get_vector_index(settings: Settings, db: Database) -> VectorIndex:
    """The process-wide index for these settings: opened (and synced) once, then
    kept in step with vectors that other processes write. On PostgreSQL,
    pgvector in the database itself (db/pg_search.py)."""
    if db.backend == "postgresql":
        from paperfeed.db.pg_search import PgVectorIndex

        pg_key = (db.url, current_model_id(settings))
        with _open_lock:
            pg_index = _open_pg.get(pg_key)
            if pg_index is None:
                pg_index = _open_pg[pg_key] = PgVectorIndex(db, current_model_id(settings))
        return pg_index  # type: ignore[return-value]  # same methods as VectorIndex
    key = (str(settings.index_dir), current_model_id(settings))
    with _open_lock:
        index = _open_indexes.get(key)
        if index is None:
            index = VectorIndex.open(settings, db)
            _open_indexes[key] = index
    index.refresh_if_due(db)
    return index
