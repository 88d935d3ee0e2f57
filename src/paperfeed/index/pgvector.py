"""Dense search on PostgreSQL: pgvector in the database (no sidecar files).

``embeddings.embedding``, a pgvector column filled from the portable float32
``vector`` column, with an HNSW index per dimension (an expression index on
``embedding::vector(dim)``, partial on ``dim``), searched by inner product
(the vectors are unit length, so that is the cosine).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.engine import Connection

from paperfeed.db.embeddings import bytes_to_vector
from paperfeed.db.engine import Database
from paperfeed.db.postings import vacuum
from paperfeed.db.tables import embeddings
from paperfeed.index.catch_up import BackgroundCatchUp
from paperfeed.tuning import IndexTuning

# The same graph parameters as the faiss sidecar (index/vectors.py), so both
# backends trade recall for speed alike.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 100
HNSW_EF_SEARCH = 64
# A sync with IndexTuning.bulk_min_rows vectors missing, and at least BULK_SHARE
# of the rows of their dimension, drops the HNSW index, fills the column, then
# builds the index in one pass: inserting row by row into a live graph took
# 965 s for 75k vectors here, a build after the fill a fraction of that.
BULK_SHARE = 0.25
COUNT_TTL = 300.0  # seconds a vector count is reused
SYNC_EVERY_SECONDS = 5.0  # how often a long-lived process looks for unfilled vectors
BULK_BATCH = 50000  # rows per COPY + UPDATE transaction in a bulk fill
# maintenance_work_mem for a build: pgvector builds the graph in memory and
# falls back to a much slower on-disk phase when it does not fit. Sized to the
# vectors (~4 bytes a dimension plus the neighbour lists), within these bounds.
BUILD_MEMORY_MIN_MB = 1024
BUILD_MEMORY_MAX_MB = 4096


def _vector_literal(vector: np.ndarray) -> str:
    values = np.asarray(vector, dtype=np.float32).ravel().tolist()
    return ("[" + ",".join(["%.7g"] * len(values)) + "]") % tuple(values)


def hnsw_index_name(dim: int) -> str:
    return f"ix_embeddings_hnsw_{int(dim)}"


def ensure_hnsw_index(db: Database, dim: int) -> None:
    """The HNSW index for vectors of ``dim`` dimensions (inner product), once."""
    dim = int(dim)
    with db.begin() as conn:
        rows = conn.execute(
            text("SELECT count(*) FROM embeddings WHERE dim = :d"), {"d": dim}
        ).scalar_one()
        need_mb = int(rows * (4 * dim + 8 * 2 * HNSW_M * 3) * 1.3 / 2**20)
        memory = min(BUILD_MEMORY_MAX_MB, max(BUILD_MEMORY_MIN_MB, need_mb))
        conn.execute(text(f"SET LOCAL maintenance_work_mem = '{memory}MB'"))
        conn.execute(
            text(
                f"CREATE INDEX IF NOT EXISTS {hnsw_index_name(dim)} ON embeddings "
                f"USING hnsw ((embedding::vector({dim})) vector_ip_ops) "
                f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}) WHERE dim = {dim}"
            )
        )


def drop_hnsw_index(db: Database, dim: int) -> None:
    """Before a bulk fill: searches meanwhile scan exactly (slower, still right)."""
    with db.begin() as conn:
        conn.execute(text(f"DROP INDEX IF EXISTS {hnsw_index_name(dim)}"))


def _dims_to_rebuild(db: Database, bulk_min_rows: int) -> list[int]:
    """Dimensions whose missing vectors are a bulk load (see BULK_SHARE)."""
    with db.connect() as conn:
        # The common case (every few seconds, nothing missing) costs one probe
        # of the partial index on unsynced rows, not a count of the table.
        if (
            conn.execute(text("SELECT 1 FROM embeddings WHERE embedding IS NULL LIMIT 1")).first()
            is None
        ):
            return []
        rows = conn.execute(
            text(
                "SELECT dim, count(*) FILTER (WHERE embedding IS NULL) AS missing, "
                "count(*) AS total FROM embeddings GROUP BY dim"
            )
        ).all()
    return [
        int(r.dim) for r in rows if r.missing >= bulk_min_rows and r.missing >= BULK_SHARE * r.total
    ]


def _write_vectors(conn: Any, rows: Sequence[Any]) -> None:
    """Set ``embedding`` for ``rows`` (paper_id, model, dim, vector bytes): the
    vectors go in by binary COPY into a temporary table (pgvector's own binary
    format, no text to format or parse: that was most of a 75k fill's CPU),
    then one UPDATE joins it."""
    from pgvector.psycopg import register_vector

    raw = conn.connection.driver_connection
    register_vector(raw)
    conn.execute(
        text(
            "CREATE TEMPORARY TABLE IF NOT EXISTS pf_vectors_in "
            "(paper_id text, model text, embedding vector) ON COMMIT DELETE ROWS"
        )
    )
    with (
        raw.cursor() as cur,
        cur.copy(
            "COPY pf_vectors_in (paper_id, model, embedding) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(["text", "text", "vector"])
        for r in rows:
            copy.write_row((r.paper_id, r.model, bytes_to_vector(r.vector, r.dim)))
    conn.execute(
        text(
            "UPDATE embeddings AS e SET embedding = u.embedding FROM pf_vectors_in AS u "
            "WHERE e.paper_id = u.paper_id AND e.model = u.model"
        )
    )
    conn.execute(text("TRUNCATE pf_vectors_in"))


def _report_stats_at_commit(conn: Connection) -> None:
    """Have this transaction's table statistics reach ``pg_stat`` at its commit.

    PostgreSQL 15+ sends a backend's statistics at most once a second, so a
    bulk fill's dead rows could arrive after the VACUUM that follows it (on a
    small table it takes less than that) and be counted as dead again: an
    autovacuum would then walk the new HNSW graph for nothing, the cost the
    VACUUM is there to spare (and tests/test_pg_pruning.py saw the 400 dead
    rows of its corpus once in a full run). Older servers have no such call."""
    if (conn.dialect.server_version_info or (0,)) >= (15,):
        conn.exec_driver_sql("SELECT pg_stat_force_next_flush()")


_HNSW_SESSION_KEY = "paperfeed.hnsw_session"


def _hnsw_session(conn: Connection, ef_search: int, iterative_scan: str) -> None:
    """pgvector's search settings for this pooled connection's session, sent
    only when they differ from what it was last given (the connection's
    ``info`` lives as long as the server session). A search's settings were
    ``set_config(..., true)`` in a transaction of their own before: BEGIN, the
    settings and COMMIT, three round trips on every request for the same two
    values. Only this module's vector searches read these settings, and each
    sets its own, so what one leaves in the session misleads none."""
    wanted = (int(ef_search), iterative_scan)
    info = conn.info
    if info.get(_HNSW_SESSION_KEY) == wanted:
        return
    conn.execute(
        text(
            "SELECT set_config('hnsw.ef_search', :ef, false), "
            "set_config('hnsw.iterative_scan', :scan, false)"
        ),
        {"ef": str(wanted[0]), "scan": iterative_scan},
    )
    info[_HNSW_SESSION_KEY] = wanted


class PgVectorIndex:
    """Dense search on pgvector (index/contracts.py's VectorIndex)."""

    def __init__(self, db: Database, model_id: str, tuning: IndexTuning = IndexTuning()) -> None:
        self.db = db
        self.model_id = model_id
        self.tuning = tuning
        self._count: tuple[float, int] | None = None
        self._synced_once = False  # the first look fills inline (sync_if_due)
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._background = BackgroundCatchUp("pgvector-fill", SYNC_EVERY_SECONDS)

    def __len__(self) -> int:
        # Cached for COUNT_TTL seconds (5 while there are none, so the first
        # vectors show up quickly): counting scans the table (seconds at 1M).
        now = time.monotonic()
        ttl = 5.0 if self._count is None or self._count[1] == 0 else COUNT_TTL
        if self._count is None or now - self._count[0] > ttl:
            with self._count_lock:  # one count at a time (concurrent requests)
                return self._recount(now, ttl)
        return self._count[1]

    def _recount(self, now: float, ttl: float) -> int:
        if self._count is None or now - self._count[0] > ttl:
            self.sync_if_due(self.db)
            with self.db.connect() as conn:
                n = conn.execute(
                    select(func.count())
                    .select_from(embeddings)
                    .where(embeddings.c.model == self.model_id, text("embedding IS NOT NULL"))
                ).scalar_one()
            self._count = (now, int(n))
        return self._count[1]

    def __contains__(self, paper_id: object) -> bool:
        self.sync_if_due(self.db)
        with self.db.connect() as conn:
            row = conn.execute(
                select(embeddings.c.paper_id).where(
                    embeddings.c.paper_id == str(paper_id),
                    embeddings.c.model == self.model_id,
                    text("embedding IS NOT NULL"),
                )
            ).first()
        return row is not None

    def sync_if_due(self, db: Database) -> None:
        """Fill in vectors that other processes stored without filling (a
        worker fills its own): the first look in a process runs here, later
        ones every few seconds on a background thread, so no request waits
        for a COPY, an UPDATE and their HNSW inserts."""
        if not self._synced_once:
            self.sync(db)
        else:
            self._background.start_if_due(
                lambda: self.sync(db, stop=lambda: self._background.stopping)
            )

    def sync(
        self,
        db: Database | None = None,
        *,
        batch: int = 2000,
        stop: Callable[[], bool] | None = None,
    ) -> int:
        """Fill ``embedding`` from the portable ``vector`` bytes where it is missing
        (new or re-embedded rows: a trigger clears it when ``vector`` changes).
        ``stop``: checked before each batch (a background fill asked to stop at
        exit); the HNSW index is still (re)built for what was filled."""
        db = db or self.db
        total = 0
        with self._lock:
            self._synced_once = True
            dims: set[int] = set()
            rebuild = _dims_to_rebuild(db, self.tuning.bulk_min_rows)
            for dim in rebuild:
                drop_hnsw_index(db, dim)
            while not (stop and stop()):
                with db.begin() as conn:
                    rows = conn.execute(
                        text(
                            "SELECT paper_id, model, dim, vector FROM embeddings "
                            "WHERE embedding IS NULL LIMIT :n FOR UPDATE SKIP LOCKED"
                        ),
                        {"n": batch if not rebuild else max(batch, BULK_BATCH)},
                    ).all()
                    if not rows:
                        break
                    _write_vectors(conn, rows)
                    if rebuild:
                        _report_stats_at_commit(conn)
                dims.update(int(r.dim) for r in rows)
                total += len(rows)
            if rebuild and total:
                # The fill's UPDATEs left a dead row per vector. Vacuumed now,
                # before the index exists, not by an autovacuum after, which
                # must also scan the whole HNSW graph: at 1M papers one ran
                # through the first searches after a build (their p99 188 ms,
                # 55 in the next run; docs/benchmarks.md, session 12).
                vacuum(db, "embeddings")
            for dim in dims | set(rebuild):
                ensure_hnsw_index(db, dim)
        if total:
            self._count = None
        return total

    def save(self) -> None:
        return None  # nothing outside the database

    def add(
        self, ids: Sequence[str], vectors: np.ndarray, content_hashes: Sequence[str] | None = None
    ) -> None:
        """Vectors just stored with store_vectors: make them searchable now."""
        self.sync(self.db)

    def vectors_of(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        with self.db.connect() as conn:
            rows = conn.execute(
                select(embeddings.c.paper_id, embeddings.c.dim, embeddings.c.vector).where(
                    embeddings.c.model == self.model_id, embeddings.c.paper_id.in_(list(ids))
                )
            ).all()
        return {r.paper_id: bytes_to_vector(r.vector, r.dim) for r in rows}

    def search(
        self,
        vector: np.ndarray,
        k: int,
        *,
        allowed_ids: Iterable[str] | None = None,
        exclude: Iterable[str] = (),
    ) -> list[tuple[str, float]]:
        """The ``k`` nearest papers as (paper_id, cosine similarity), best first."""
        query = np.asarray(vector, dtype=np.float32).ravel()
        dim = int(query.shape[0])
        if k <= 0:
            return []
        self.sync_if_due(self.db)  # vectors stored since the last look become searchable
        # The expression and the dim predicate match the partial HNSW index.
        distance = f"(embedding::vector({dim})) <#> CAST(:q AS vector({dim}))"
        where = [f"dim = {dim}", "model = :model", "embedding IS NOT NULL"]
        params: dict[str, Any] = {"q": _vector_literal(query), "model": self.model_id, "k": k}
        excluded = list(exclude)
        if excluded:
            where.append("paper_id <> ALL(:exclude)")
            params["exclude"] = excluded
        if allowed_ids is not None:
            where.append("paper_id = ANY(:allowed)")
            params["allowed"] = list(allowed_ids)
        filtered = len(where) > 3  # an exclusion or an allow-list
        sql = (
            f"SELECT paper_id, -({distance}) AS score FROM embeddings "  # noqa: S608 (dim is an int)
            f"WHERE {' AND '.join(where)} ORDER BY {distance} LIMIT :k"
        )
        with self.db.connect() as conn:
            # Filtered searches keep walking the graph until k rows pass the filter.
            ef = max(HNSW_EF_SEARCH, min(1000, int(k)))
            _hnsw_session(conn, ef, "relaxed_order" if filtered else "off")
            stmt = text(sql)
            if "exclude" in params:
                stmt = stmt.bindparams(bindparam("exclude", expanding=False))
            rows = conn.execute(stmt, params).all()
        hits = [(r.paper_id, float(r.score)) for r in rows]
        if allowed_ids is not None:
            # relaxed_order may return slightly out of order: restore it.
            hits.sort(key=lambda h: -h[1])
        return hits
