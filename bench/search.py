"""Search latency at 75k and 1M papers, through the function the API calls.

    nice -n 10 .venv/bin/python bench/search.py all [--size 1000000] [--queries 1000]

Three corpora, each a real SQLite database with its tantivy and faiss HNSW
sidecars, built once under bench/cache/search-<name>/ (delete it to rebuild;
an interrupted build resumes by phase: rows, keyword index, vector index;
--store-only stops after the rows):

  real       the 74,728 real papers with their real vectors (bench/corpus_vectors.py)
  synthetic  --size papers made from the real ones: titles and abstracts with
             words dropped and swapped, and abstracts mixed from two papers; each
             vector is the normalized mix of the two source papers' real vectors
             plus Gaussian noise, so terms and vectors keep the corpus's shape
  ingest     the synthetic corpus while a second process ingests new papers
             (papers, vectors, keyword index) as fast as it can, or at
             --writer-rate papers/s (65/s: what the default embedder makes
             on this machine, the rate vectors of new papers arrive at).
             Its papers stay: the corpus grows by each run's (~50k at full
             speed), so measure "synthetic" first or rebuild after

Queries (1,000 by default) are titles and 2-5 word phrases drawn from the
corpus, run through ``paperfeed.search.search`` in hybrid mode (query
embedding included) in a separate process whose peak RSS is reported. The
build reports ingest, vector storage, keyword- and vector-index build times,
and HNSW recall@10 against exact search.

Only the query phase, on an already built corpus (what to re-run on a quiet
machine); --phases adds each part's CPU time per query (embedding, ANN, BM25,
rows, snippets), --serial runs the dense side after BM25 as before session 3:

    nice -n 10 .venv/bin/python bench/search.py _query bench/cache/search-synthetic-1000000
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CACHE = HERE / "cache"
CORPUS = HERE.parent.parent / "shared" / "data" / "arxiv-cs-2025.jsonl.gz"
sys.path.append(str(HERE))

from corpus_vectors import load_cache  # noqa: E402
from paperfeed.config import Settings  # noqa: E402
from paperfeed.db import Database  # noqa: E402
from paperfeed.db import embeddings as vector_store  # noqa: E402
from paperfeed.db import papers as paper_store  # noqa: E402
from paperfeed.index.embedder import current_model_id  # noqa: E402
from paperfeed.models import Paper, text_hash  # noqa: E402

MAX_TOKENS = 128
# --backend postgres: the corpus lives in this database (passed on to the query
# and writer subprocesses through the environment); the database is the index.
DATABASE_URL = os.environ.get("PAPERFEED_BENCH_DATABASE_URL", "")
# --store-only: stop the build after the rows (then run the command again).
STORE_ONLY = False


def peak_rss_mib() -> float:
    """This process's peak RSS. VmHWM, not getrusage: ru_maxrss survives exec,
    so a query process started by a big build process would inherit its peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def settings_for(directory: Path) -> Settings:
    return Settings(
        data_dir=directory,
        database_url=DATABASE_URL or f"sqlite:///{directory / 'paperfeed.db'}",
        secret_key="bench",
        embed_max_tokens=MAX_TOKENS,
    )


# ---------------------------------------------------------------- corpora


def real_records() -> list[dict]:
    with gzip.open(CORPUS, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def to_paper(record: dict, paper_id: str | None = None) -> Paper:
    listing = record.get("listing_date")
    return Paper(
        id=paper_id or record["id"],
        title=record["title"],
        abstract=record["abstract"],
        authors=list(record["authors"]),
        categories=list(record["categories"]),
        listing_date=date.fromisoformat(listing) if listing else None,
        source="bench",
    )


def synthetic_id(i: int) -> str:
    # arXiv-shaped ids that no real paper has (years 90-99).
    return f"{9000 + i // 100_000:04d}.{i % 100_000:05d}"


def perturb(words: list[str], rng: random.Random, drop: float) -> list[str]:
    kept = [w for w in words if rng.random() > drop] or words[:1]
    for _ in range(max(1, len(kept) // 20)):
        j = rng.randrange(len(kept))
        k = min(len(kept) - 1, j + 1)
        kept[j], kept[k] = kept[k], kept[j]
    return kept


class Synthetic:
    """The synthetic corpus, reproducible from (records, vectors, seed)."""

    def __init__(self, records: list[dict], vectors: np.ndarray, seed: int = 0) -> None:
        self.records, self.vectors, self.seed = records, vectors, seed

    def paper(self, i: int) -> tuple[Paper, int, int, float]:
        """Paper ``i``, its two source records and the first one's share of it."""
        n = len(self.records)
        rng = random.Random(self.seed * 1_000_003 + i)
        ia, ib = i % n, rng.randrange(n)
        a, b = self.records[ia], self.records[ib]
        wa, wb = a["abstract"].split(), b["abstract"].split()
        cut_a = rng.randint(max(1, len(wa) // 3), max(1, len(wa)))
        cut_b = rng.randint(0, len(wb) // 2)
        abstract = perturb(wa[:cut_a] + wb[cut_b:][: max(0, len(wa) - cut_a)], rng, 0.1)
        title = perturb(a["title"].split(), rng, 0.15)
        paper = Paper(
            id=synthetic_id(i),
            title=" ".join(title),
            abstract=" ".join(abstract),
            authors=list(a["authors"]),
            categories=list(a["categories"]),
            listing_date=date(2025, 1, 1) + timedelta(days=i % 540),
            source="bench",
        )
        return paper, ia, ib, cut_a / max(1, len(wa))

    def batch(self, start: int, count: int) -> tuple[list[Paper], np.ndarray]:
        papers, rows = [], []
        noise = (
            np.random.default_rng(self.seed * 7919 + start)
            .standard_normal((count, self.vectors.shape[1]))
            .astype(np.float32)
        )
        for k, i in enumerate(range(start, start + count)):
            paper, ia, ib, share = self.paper(i)
            v = share * self.vectors[ia] + (1 - share) * self.vectors[ib]
            # noise of norm ~0.35: cosine to the mix ~0.94, like a reworded abstract
            v = v / np.linalg.norm(v) + noise[k] * (0.35 / np.sqrt(len(v)))
            rows.append(v / np.linalg.norm(v))
            papers.append(paper)
        return papers, np.stack(rows).astype(np.float32)


# ---------------------------------------------------------------- build


def vectors_for(
    records: list[dict], ids: list[str], cached: np.ndarray
) -> tuple[np.ndarray, float]:
    """One vector per record: its real one from the cache, or, for papers the
    cache run has not reached, a noisy mix of two real vectors (same recipe as
    the synthetic corpus). Returns the vectors and the share that are real."""
    position = {pid: k for k, pid in enumerate(ids)}
    rng = np.random.default_rng(5)
    out = np.empty((len(records), cached.shape[1]), dtype=np.float32)
    real = 0
    for k, r in enumerate(records):
        j = position.get(r["id"])
        if j is not None:
            out[k] = cached[j]
            real += 1
        else:
            a, b = rng.integers(len(ids), size=2)
            v = cached[a] + 0.5 * cached[b]
            v = v / np.linalg.norm(v) + rng.standard_normal(cached.shape[1]) * (0.35 / 19.6)
            out[k] = v / np.linalg.norm(v)
    return out, real / max(1, len(records))


def store(db: Database, settings: Settings, papers: list[Paper], vectors: np.ndarray) -> None:
    from paperfeed.ingest.pipeline import ingest
    from paperfeed.tuning import IngestTuning

    ingest(db, papers, tuning=IngestTuning(batch_size=5000))
    with db.begin() as conn:
        hashes = {
            r["id"]: r["text_hash"]
            for r in paper_store.get_papers(conn, [p.id for p in papers]).values()
        }
        vector_store.store_vectors(
            conn,
            current_model_id(settings),
            [(p.id, hashes[p.id], vectors[k]) for k, p in enumerate(papers)],
        )


def bulk_load(db: Database, settings: Settings, papers: list[Paper], vectors: np.ndarray) -> None:
    """Rows straight into the papers and embeddings tables, for the 1M build.

    The ingest pipeline costs ~10 ms of CPU per paper here (merging, hashing
    every field), i.e. hours for a million papers on this shared machine; the
    latency benchmark needs the rows, not the ingest path (the concurrent
    ingest run uses the real pipeline)."""
    from paperfeed.db.postings import defer_postings
    from paperfeed.db.tables import papers as papers_table

    stamp = datetime.now(UTC)
    rows = []
    for p in papers:
        digest = hashlib.sha1(f"{p.id}|{p.title}|{p.abstract}".encode(), usedforsecurity=False)
        rows.append(
            {
                "id": p.id,
                "title": p.title,
                "abstract": p.abstract,
                "authors": p.authors,
                "primary_category": p.primary_category,
                "categories": p.categories,
                "latest_version": 1,
                "listing_date": p.listing_date,
                "abs_url": p.abs_url,
                "pdf_url": p.pdf_url,
                "source": p.source,
                "imported_upvotes": 0,
                "withdrawn": False,
                "featured": False,
                "hidden": False,
                "title_key": p.title.lower()[:500],
                "content_hash": digest.hexdigest()[:32],
                "text_hash": text_hash(p.title, p.abstract),
                "created_at": stamp,
                "modified_at": stamp,
            }
        )
    with db.begin() as conn:
        defer_postings(conn)  # PostgreSQL: the posting table is rebuilt once, after
        conn.execute(papers_table.insert(), rows)
        vector_store.store_vectors(
            conn,
            current_model_id(settings),
            [(r["id"], r["text_hash"], vectors[k]) for k, r in enumerate(rows)],
        )


def build(name: str, size: int) -> Path:
    from paperfeed.index.lexical import TantivyIndex
    from paperfeed.index.vectors import FaissIndex

    directory = CACHE / (f"search-{name}" if name == "real" else f"search-{name}-{size}")
    if DATABASE_URL:
        directory = directory.with_name(directory.name + "-pg")
    done = directory / "built.json"
    if done.is_file():
        print(f"[{name}] using the built corpus in {directory}")
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    settings = settings_for(directory)
    db = Database(settings.database_url_resolved)
    # The build resumes by phase (rows, keyword index, vector index): each
    # finished phase is recorded here, so an interrupted 1M build keeps its rows.
    progress = directory / "build-progress.json"
    figures: dict[str, float | int | str] = (
        json.loads(progress.read_text()) if progress.is_file() else {}
    )
    if "store_seconds" not in figures:
        if db.backend != "postgresql":
            with db.begin() as conn:  # a half-stored run: start the rows again
                conn.exec_driver_sql("DELETE FROM papers")
        _store(name, size, db, settings, figures)
        progress.write_text(json.dumps(figures, indent=1))
    if STORE_ONLY:
        return directory
    if db.backend == "postgresql":
        return _build_pg(name, directory, done, settings, db, figures)
    if "lexical_build_seconds" not in figures:
        started = time.perf_counter()
        lexical_index = TantivyIndex.open(settings, db)  # builds from the queue
        figures["lexical_build_seconds"] = time.perf_counter() - started
        figures["lexical_shards"] = len(lexical_index.shards)
        progress.write_text(json.dumps(figures, indent=1))
    print(f"[{name}] keyword index built in {figures['lexical_build_seconds']:.0f}s", flush=True)

    started = time.perf_counter()
    cpu = time.process_time()
    index = FaissIndex.open(settings, db)
    figures["vector_build_seconds"] = time.perf_counter() - started
    figures["vector_build_cpu_seconds"] = time.process_time() - cpu
    index.save()
    figures["vector_save_seconds"] = time.perf_counter() - started - figures["vector_build_seconds"]
    figures["load_average"] = Path("/proc/loadavg").read_text().split()[0]
    print(f"[{name}] vector index built in {figures['vector_build_seconds']:.0f}s", flush=True)
    figures.update(recall(index, settings, db))
    figures["build_peak_rss_mib"] = round(peak_rss_mib())
    done.write_text(json.dumps(figures, indent=1))
    db.dispose()
    return directory


def _store(name: str, size: int, db: Database, settings: Settings, figures: dict) -> None:
    records = real_records()
    ids, cached = load_cache(MAX_TOKENS)
    vectors = np.asarray(cached, dtype=np.float32)
    vectors, real_share = vectors_for(records, ids, vectors)
    figures["papers"] = size if name != "real" else len(records)
    figures["real_vectors"] = len(ids)
    figures["real_vector_share"] = round(real_share, 4)
    started = time.perf_counter()
    if name == "real":
        for s in range(0, len(records), 5000):
            chunk = records[s : s + 5000]
            bulk_load(db, settings, [to_paper(r) for r in chunk], vectors[s : s + 5000])
    else:
        synth = Synthetic(records, vectors)
        for s in range(0, size, 5000):
            papers, vecs = synth.batch(s, min(5000, size - s))
            bulk_load(db, settings, papers, vecs)
            if s % 100_000 == 0:
                print(f"[{name}] stored {s + len(papers):,} papers", flush=True)
    figures["store_seconds"] = time.perf_counter() - started
    print(f"[{name}] papers + vectors stored in {figures['store_seconds']:.0f}s", flush=True)


def _build_pg(
    name: str, directory: Path, done: Path, settings: Settings, db: Database, figures: dict
) -> Path:
    """PostgreSQL: the tsvector column and its GIN index were filled as the rows
    went in; the pgvector column and its HNSW index are filled by the sync."""
    from paperfeed.db.postings import rebuild_postings
    from paperfeed.index.backends import open_indexes

    indexes = open_indexes(settings, db)
    started = time.perf_counter()
    indexes.sync_lexical()  # drains the outbox: nothing to build
    figures["lexical_build_seconds"] = time.perf_counter() - started
    if "postings_build_seconds" not in figures:
        started = time.perf_counter()
        rebuild_postings(db)  # the stores deferred it (migration 0014)
        figures["postings_build_seconds"] = time.perf_counter() - started
        seconds = figures["postings_build_seconds"]
        print(f"[{name}] posting table built in {seconds:.0f}s", flush=True)
    started = time.perf_counter()
    index = indexes.vectors
    index.sync(db)
    figures["hnsw_build_seconds"] = time.perf_counter() - started
    print(f"[{name}] pgvector column + HNSW in {figures['hnsw_build_seconds']:.0f}s", flush=True)
    figures.update(_recall_pg(index, settings, db))
    figures["build_peak_rss_mib"] = round(peak_rss_mib())
    done.write_text(json.dumps(figures, indent=1))
    db.dispose()
    return directory


def _recall_pg(index, settings: Settings, db: Database, n: int = 300) -> dict[str, float]:
    """pgvector HNSW recall@10 against exact search (default ef_search)."""
    from paperfeed.index.embedder import get_embedder

    model = current_model_id(settings)
    ids, matrix = [], []
    with db.begin() as conn:  # streamed: a server-side cursor needs a transaction
        for batch in vector_store.iter_vectors(conn, model):
            ids += [b.paper_id for b in batch]
            matrix.append(np.stack([b.vector for b in batch]))
    full = np.concatenate(matrix)
    queries = get_embedder(settings).embed_queries(make_queries(Path(settings.data_dir), n, 7))
    truth = np.argsort(-(queries @ full.T), axis=1)[:, :10]
    hits = sum(
        len({pid for pid, _ in index.search(q, 10)} & {ids[j] for j in t})
        for q, t in zip(queries, truth, strict=True)
    )
    out = {"recall@10_ef40": round(hits / (10 * n), 4)}
    print(f"recall@10 vs exact: {out}", flush=True)
    return out


def recall(index, settings: Settings, db: Database, n: int = 300) -> dict[str, float]:
    """HNSW recall@10 against exact search (float32 dot products over every
    vector), over the whole index."""
    from paperfeed.index import vectors as vmod

    model = current_model_id(settings)
    ids, matrix = [], []
    with db.begin() as conn:  # streamed: a server-side cursor needs a transaction
        for batch in vector_store.iter_vectors(conn, model):
            ids += [b.paper_id for b in batch]
            matrix.append(np.stack([b.vector for b in batch]))
    full = np.concatenate(matrix)
    # Real query vectors: the benchmark's own queries (titles, phrases), embedded.
    from paperfeed.index.embedder import get_embedder

    db_dir = Path(settings.data_dir)
    queries = get_embedder(settings).embed_queries(make_queries(db_dir, n, seed=7))
    truth = np.argsort(-(queries @ full.T), axis=1)[:, :10]
    out = {}
    for ef in (64, 128, 256):
        vmod.HNSW_EF_SEARCH = ef
        hits = rescored = 0
        for q, t in zip(queries, truth, strict=True):
            want = {ids[j] for j in t}
            # The graph's own answer (8-bit scores), then what search() returns:
            # 2x the candidates, re-scored exactly from the table.
            got = {pid for pid, _ in index._approximate(q, 10, None, set())}
            hits += len(got & want)
            rescored += len({pid for pid, _ in index.search(q, 10)} & want)
        out[f"recall@10_ef{ef}"] = round(hits / (10 * n), 4)
        out[f"recall@10_ef{ef}_rescored"] = round(rescored / (10 * n), 4)
    vmod.HNSW_EF_SEARCH = 128
    del full
    print(f"recall@10 vs exact: {out}", flush=True)
    return out


# ---------------------------------------------------------------- queries


def make_queries(directory: Path, count: int, seed: int = 42) -> list[str]:
    settings = settings_for(directory)
    db = Database(settings.database_url_resolved, auto_migrate=False)
    from sqlalchemy import select

    from paperfeed.db.tables import papers

    # Drawn by a seeded generator from the sorted ids, not SQL random(), so
    # every run (and both backends) gets the same queries for the same corpus.
    rng = random.Random(seed)
    with db.connect() as conn:
        ids = sorted(conn.execute(select(papers.c.id)).scalars())
        chosen = rng.sample(ids, min(count, len(ids)))
        found = {
            row.id: (row.title, row.abstract)
            for start in range(0, len(chosen), 500)
            for row in conn.execute(
                select(papers.c.id, papers.c.title, papers.c.abstract).where(
                    papers.c.id.in_(chosen[start : start + 500])
                )
            )
        }
    rows = [found[paper_id] for paper_id in chosen]
    queries = []
    for i, (title, abstract) in enumerate(rows):
        if i % 2 == 0:
            queries.append(title)
        else:
            words = abstract.split()
            n = rng.randint(2, 5)
            start = rng.randrange(max(1, len(words) - n))
            queries.append(" ".join(w.strip(".,;:()") for w in words[start : start + n]))
    db.dispose()
    return queries


def _pg_server_cpu(db: Database) -> float | None:
    """CPU seconds (user + sys) of the PostgreSQL server's processes so far:
    the postmaster's children (backends, checkpointer, ...) found through
    this connection's backend pid. None on SQLite or when /proc is unreadable."""
    if db.backend != "postgresql":
        return None
    from sqlalchemy import text

    with db.connect() as conn:
        backend = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    try:
        postmaster = int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == postmaster or stat.parent.name == str(postmaster):
                    total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


class PhaseClock:
    """Thread CPU time per query spent in each part of a search: the query
    embedding and the ANN search (on the dense worker thread), tantivy, the
    page's SQLite rows and the snippets. Wraps the functions in place."""

    def __init__(self) -> None:
        from paperfeed import search as search_module
        from paperfeed import trending
        from paperfeed.index import lexical, vectors

        self.spent: dict[str, float] = {}
        self.per_query: list[dict[str, float]] = []
        self._lock = threading.Lock()
        self._wrap(search_module.QueryVectorCache, "get", "embedding")
        self._wrap(vectors.FaissIndex, "search", "ann")
        # tantivy's CPU on every thread (a sharded index searches its shards at
        # once), and the wall time of the whole keyword search.
        self._wrap(lexical, "_top_docs", "bm25")
        self._wrap(lexical.TantivyIndex, "search", "bm25_wall", clock=time.perf_counter)
        self._wrap(lexical.TantivyIndex, "snippets_html", "snippets")
        self._wrap(trending, "papers_with_upvotes", "rows")

    def _wrap(
        self, owner: object, name: str, label: str, clock: Callable[[], float] = time.thread_time
    ) -> None:
        original = getattr(owner, name)

        def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
            started = clock()
            try:
                return original(*args, **kwargs)
            finally:
                with self._lock:
                    self.spent[label] = self.spent.get(label, 0.0) + clock() - started

        setattr(owner, name, timed)

    def next_query(self) -> None:
        with self._lock:
            self.per_query.append({k: v * 1000 for k, v in self.spent.items()})
            self.spent.clear()

    def summary(self, cpu: list[float]) -> dict[str, float]:
        rows = self.per_query
        out: dict[str, float] = {}
        for label in ("embedding", "ann", "bm25", "bm25_wall", "rows", "snippets"):
            values = sorted(r.get(label, 0.0) for r in rows)
            out[f"{label}_cpu_p50_ms"] = round(statistics.median(values), 2)
            p99 = values[min(len(values) - 1, int(0.99 * len(values)))]
            out[f"{label}_cpu_p99_ms"] = round(p99, 2)
        # With the dense side beside BM25, an idle 2-core machine's wall time
        # is about the CPU time minus the shorter of the two sides.
        overlap = sorted(
            c - min(r.get("embedding", 0.0) + r.get("ann", 0.0), r.get("bm25", 0.0))
            for c, r in zip(cpu, rows, strict=False)
        )
        out["idle_estimate_p50_ms"] = round(statistics.median(overlap), 2)
        return out


def run_queries(
    directory: Path, count: int, *, serial: bool = False, phases: bool = False
) -> dict[str, float]:
    """In this process: open the corpus, run the queries, report latency and RSS.

    ``serial``: the dense side after the lexical one, as before session 3
    (same results). ``phases``: add each part's thread CPU time per query."""
    from paperfeed.app import Paperfeed
    from paperfeed.index.lexical import TantivyIndex
    from paperfeed.search import SearchRequest
    from paperfeed.services.search import search
    from paperfeed.tuning import SearchTuning, Tuning

    clock = PhaseClock() if phases else None
    settings = settings_for(directory)
    db = Database(settings.database_url_resolved)
    # The process's query-vector cache, as a server has; ``serial``: no overlap.
    tuning = Tuning(search=SearchTuning(parallel_dense=not serial))
    paperfeed = Paperfeed(settings, db, tuning)
    queries = make_queries(directory, count)
    started = time.perf_counter()
    search(paperfeed, SearchRequest(query="warm up the indexes and the model"))
    open_seconds = time.perf_counter() - started
    for q in queries[:20]:
        search(paperfeed, SearchRequest(query=q))
    times, cpu, modes = [], [], {}
    if clock is not None:
        clock.spent.clear()  # not the warm-up's
    server_before = _pg_server_cpu(db)
    for q in queries:
        t, c = time.perf_counter(), time.process_time()
        result = search(paperfeed, SearchRequest(query=q))
        times.append((time.perf_counter() - t) * 1000)
        # CPU time of this process (all its threads): on a machine shared with
        # other work, wall time is mostly waiting for a core; CPU time is what
        # an idle machine would roughly take.
        cpu.append((time.process_time() - c) * 1000)
        modes[result.mode] = modes.get(result.mode, 0) + 1
        if clock is not None:
            clock.next_query()
    by_phase = clock.summary(cpu) if clock is not None else {}
    if serial:
        by_phase.pop("idle_estimate_p50_ms", None)  # nothing overlaps
    server_after = _pg_server_cpu(db)
    times.sort()
    cpu.sort()

    def pct(p: float) -> float:
        return times[min(len(times) - 1, int(p * len(times)))]

    lexical = paperfeed.indexes.lexical
    return {
        "queries": len(times),
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(pct(0.95), 2),
        "p99_ms": round(pct(0.99), 2),
        "mean_ms": round(statistics.fmean(times), 2),
        "cpu_p50_ms": round(statistics.median(cpu), 2),
        "cpu_p95_ms": round(cpu[min(len(cpu) - 1, int(0.95 * len(cpu)))], 2),
        "cpu_p99_ms": round(cpu[min(len(cpu) - 1, int(0.99 * len(cpu)))], 2),
        "open_seconds": round(open_seconds, 2),
        "peak_rss_mib": round(peak_rss_mib()),
        "modes": json.dumps(modes),
        # PostgreSQL: the server's CPU per query (mean), beside this process's.
        "pg_server_cpu_mean_ms": (
            round((server_after - server_before) / len(times) * 1000, 2)
            if server_before is not None and server_after is not None
            else None
        ),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "dense_beside_lexical": not serial,
        "lexical_shards": len(lexical.shards) if isinstance(lexical, TantivyIndex) else None,
        **by_phase,
    }


def writer(directory: Path, stop_file: Path, report: Path, rate: float = 0.0) -> None:
    """Concurrent ingest: new synthetic papers, their vectors and the keyword
    index, batch after batch, until ``stop_file`` appears. ``rate``: at most
    that many papers a second (one batch a second); 0, as fast as it goes."""
    from paperfeed.index.backends import open_indexes

    settings = settings_for(directory)
    db = Database(settings.database_url_resolved)
    indexes = open_indexes(settings, db)
    ids, cached = load_cache(MAX_TOKENS)
    records = real_records()
    vectors, _ = vectors_for(records, ids, np.asarray(cached, dtype=np.float32))
    synth = Synthetic(records, vectors, seed=99)
    # Ids beyond the corpus, and beyond what earlier ingest runs added: a run
    # that re-wrote their papers (same text, same vectors) would add nothing
    # to the indexes and measure an easier case.
    from paperfeed.db.papers import count_papers

    with db.connect() as conn:
        earlier = count_papers(conn) - json.loads((directory / "built.json").read_text())["papers"]
    start = 5_000_000 + max(0, earlier)
    total, started = 0, time.perf_counter()
    batch = max(1, round(rate)) if rate else 200
    while not stop_file.exists():
        papers, vecs = synth.batch(start + total, batch)
        store(db, settings, papers, vecs)
        indexes.sync_lexical()
        total += len(papers)
        if rate:
            time.sleep(max(0.0, started + total / rate - time.perf_counter()))
    seconds = time.perf_counter() - started
    report.write_text(json.dumps({"ingested": total, "papers_per_s": round(total / seconds, 1)}))
    db.dispose()


def measure(
    directory: Path,
    count: int,
    *,
    with_writer: bool,
    writer_rate: float = 0.0,
    phases: bool = False,
) -> dict:
    writer_proc = None
    stop_file = directory / "stop-writer"
    report = directory / "writer.json"
    stop_file.unlink(missing_ok=True)
    if with_writer:
        cmd = [sys.executable, __file__, "_writer", str(directory)]
        cmd += ["--writer-rate", str(writer_rate)]
        writer_proc = subprocess.Popen(cmd)  # noqa: S603
        time.sleep(5)
    out = subprocess.run(  # noqa: S603
        [sys.executable, __file__, "_query", str(directory), "--queries", str(count)]
        + (["--phases"] if phases else []),
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if writer_proc is not None:
        stop_file.touch()
        writer_proc.wait(timeout=600)
        result["writer"] = json.loads(report.read_text())
        stop_file.unlink(missing_ok=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "command", choices=["all", "real", "synthetic", "ingest", "_query", "_writer"]
    )
    parser.add_argument("directory", nargs="?")
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--database-url", help="--backend postgres: an empty database")
    parser.add_argument("--store-only", action="store_true", help="build: stop after the rows")
    parser.add_argument(
        "--serial", action="store_true", help="_query: dense side after BM25 (before session 3)"
    )
    parser.add_argument(
        "--writer-rate",
        type=float,
        default=0.0,
        help="ingest: papers/s the writer holds to (default: as fast as it goes)",
    )
    parser.add_argument(
        "--phases", action="store_true", help="_query: thread CPU per part of the search"
    )
    args = parser.parse_args()
    if args.store_only:
        global STORE_ONLY
        STORE_ONLY = True
    if args.backend == "postgres":
        global DATABASE_URL
        if not args.database_url:
            parser.error("--backend postgres needs --database-url")
        DATABASE_URL = os.environ["PAPERFEED_BENCH_DATABASE_URL"] = args.database_url
    if args.command == "_query":
        result = run_queries(
            Path(args.directory), args.queries, serial=args.serial, phases=args.phases
        )
        print(json.dumps(result))
        return
    if args.command == "_writer":
        d = Path(args.directory)
        writer(d, d / "stop-writer", d / "writer.json", args.writer_rate)
        return
    print(f"python {sys.version.split()[0]}, pid {os.getpid()}, 2 cores shared with other work")
    wanted = ["real", "synthetic", "ingest"] if args.command == "all" else [args.command]
    for name in wanted:
        corpus = "synthetic" if name == "ingest" else name
        directory = build(corpus, args.size)
        if STORE_ONLY:
            return
        built = json.loads((directory / "built.json").read_text())
        print(f"[{corpus}] build: {json.dumps(built)}", flush=True)
        result = measure(
            directory,
            args.queries,
            with_writer=name == "ingest",
            writer_rate=args.writer_rate,
            phases=args.phases,
        )
        print(f"[{name}] search: {json.dumps(result)}", flush=True)


if __name__ == "__main__":
    main()
