"""Which BM25 engine: SQLite FTS5 or tantivy? Query latency on real arXiv text.

    python bench/lexical_engines.py --docs 74728 --queries 1000
    python bench/lexical_engines.py --docs 1000000 --queries 1000

Documents are the real papers of ../shared/data/arxiv-cs-2025.jsonl.gz; past
the 74,728 real ones, copies whose abstract words are shuffled (so term
statistics stay realistic and copies are not duplicates). Queries are OR
queries of 3-8 words drawn from real titles, top 100 by BM25, the shape of
the hybrid search's lexical side. Both engines index title + abstract, with
Porter-style stemming. Prints build time, index size and p50/p95/p99.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import tantivy

from paperfeed.index.lexical import SCHEMA, TantivyIndex, combine, document_for, render
from paperfeed.query import parse

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "arxiv-cs-2025.jsonl.gz"
WORD = re.compile(r"[A-Za-z]{3,}")


def real_papers() -> list[dict]:
    with gzip.open(DATA, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def corpus(n: int, papers: list[dict], rng: random.Random) -> Iterator[dict]:
    for i in range(n):
        p = papers[i % len(papers)]
        if i < len(papers):
            yield p
            continue
        words = p["abstract"].split()
        rng.shuffle(words)
        yield {**p, "id": f"{p['id']}-{i // len(papers)}", "abstract": " ".join(words)}


def queries(papers: list[dict], count: int, rng: random.Random) -> list[str]:
    out = []
    while len(out) < count:
        words = WORD.findall(rng.choice(papers)["title"])
        if len(words) >= 3:
            out.append(" ".join(rng.sample(words, min(len(words), rng.randint(3, 8)))))
    return out


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def report(name: str, times: list[float], build: float, size: int) -> None:
    ms = [t * 1000 for t in times]
    print(
        f"{name:8s} build {build:7.1f}s  size {size / 2**20:7.1f} MiB  "
        f"p50 {statistics.median(ms):6.1f} ms  p95 {pct(ms, 95):6.1f} ms  p99 {pct(ms, 99):6.1f} ms"
    )


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def bench_fts5(docs: Iterator[dict], qs: list[str], tmp: Path) -> None:
    path = tmp / "fts.db"
    con = sqlite3.connect(path)
    con.execute(
        "CREATE VIRTUAL TABLE fts USING fts5(id UNINDEXED, title, abstract, tokenize=porter)"
    )
    started = time.perf_counter()
    batch = []
    for d in docs:
        batch.append((d["id"], d["title"], d["abstract"]))
        if len(batch) == 10000:
            con.executemany("INSERT INTO fts VALUES (?, ?, ?)", batch)
            batch.clear()
    con.executemany("INSERT INTO fts VALUES (?, ?, ?)", batch)
    con.commit()
    build = time.perf_counter() - started
    times = []
    for q in qs:
        match = " OR ".join(f'"{w}"' for w in q.split())
        t = time.perf_counter()
        con.execute(
            "SELECT id FROM fts WHERE fts MATCH ? ORDER BY bm25(fts) LIMIT 100", (match,)
        ).fetchall()
        times.append(time.perf_counter() - t)
    report("fts5", times, build, path.stat().st_size)
    con.close()


def bench_tantivy(docs: Iterator[dict], qs: list[str], tmp: Path) -> None:
    index = TantivyIndex(tmp / "tantivy")
    started = time.perf_counter()
    writer = index.index.writer(heap_size=256_000_000, num_threads=1)
    for d in docs:
        writer.add_document(document_for(d))
    writer.commit()
    writer.wait_merging_threads()
    index.index.reload()
    build = time.perf_counter() - started
    times = []
    for q in qs:
        t = time.perf_counter()
        query = combine(render(parse(q).root))
        index.search(query, limit=100)
        times.append(time.perf_counter() - t)
    report("tantivy", times, build, dir_size(tmp / "tantivy"))
    assert SCHEMA is not None and tantivy is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=74728)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--engines", default="fts5,tantivy")
    args = parser.parse_args()
    rng = random.Random(7)
    papers = real_papers()
    qs = queries(papers, args.queries, rng)
    print(f"{args.docs:,} documents, {len(qs)} OR queries of 3-8 title words, top 100")
    with tempfile.TemporaryDirectory(prefix="paperfeed-bench-") as tmp:
        for engine in args.engines.split(","):
            docs = corpus(args.docs, papers, random.Random(11))
            {"fts5": bench_fts5, "tantivy": bench_tantivy}[engine](docs, qs, Path(tmp))


if __name__ == "__main__":
    main()
