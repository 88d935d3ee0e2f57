"""MCP ``search_papers`` beside the JSON API's ``GET /api/search``: latency
(p50/p99) on the 74,728 real papers, and what answers cost in model tokens.

    .venv/bin/python bench/mcp_search.py [--queries 400] [--workers 1] [--limit 20]

The database is bench/http_load.py's (built the first time under
bench/results/http/sqlite/, reused afterwards: the real corpus, synthetic votes
and vectors, both indexes). One ``paperfeed serve`` on loopback; one client at a
time, sequential: the real ``mcp`` client (streamable HTTP, one session,
Bearer token) and httpx with one connection. Each side gets its own distinct
queries (so neither warms the other's query-vector cache), in alternation.
The MCP figure includes what MCP adds: the token check, the per-token rate
limit (a database write per call) and JSON-RPC framing.

Tokens: 80 papers in one call (search_papers per_page=80, compact and
detail="full"; /api/search and the HF-shaped /api/papers/search for
comparison), counted with bpe-openai's cl100k_base and o200k_base when it is
installed (``pip install -c constraints.txt bpe-openai``: its wheels carry the vocabularies, no
download), else as characters / 4, and the run says which.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))


def _http_load() -> Any:
    spec = importlib.util.spec_from_file_location("bench_http_load", HERE / "http_load.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def counter() -> tuple[str, Any]:
    """A token counter: bpe-openai's encodings when installed, else chars/4."""
    try:
        import bpe_openai
    except ImportError:
        return "chars/4 (an approximation: bpe-openai is not installed)", lambda t: len(t) / 4
    encodings = [bpe_openai.get_encoding(n) for n in ("cl100k_base", "o200k_base")]
    return "cl100k_base / o200k_base (bpe-openai)", lambda t: tuple(
        len(e.encode(t)) for e in encodings
    )


def percentiles(times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"p50 {statistics.median(ms):6.1f} ms  p99 {p99:6.1f} ms  (n={len(ms)})"


def make_token(work: Path, database_url: str) -> str:
    from paperfeed import readers
    from paperfeed.db import Database

    db = Database(database_url)
    reader = readers.grant_role(db, "mcp-bench@example.org", "reader")
    _, token = readers.create_api_token(db, reader, "bench", ["read"])
    db.dispose()
    return token


async def measure(url: str, token: str, queries: list[str], limit: int) -> dict[str, Any]:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {token}"}
    api_times: list[float] = []
    mcp_times: list[float] = []
    out: dict[str, Any] = {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=120) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http)) as mcp,
    ):
        api = httpx.Client(base_url=url, timeout=120)

        async def mcp_search(**args: Any) -> str:
            result = await mcp.call_tool("search_papers", args)
            assert not result.is_error, result.content
            return str(result.content[0].text)  # type: ignore[union-attr]

        for i in range(10):  # warm both paths (model load, index open) on other queries
            api.get("/api/search", params={"q": f"warm up {i}", "per_page": limit})
            await mcp_search(query=f"warming {i}", per_page=limit)
        for i in range(0, len(queries) - 1, 2):
            started = time.perf_counter()
            answer = api.get("/api/search", params={"q": queries[i], "per_page": limit})
            api_times.append(time.perf_counter() - started)
            assert answer.status_code == 200
            started = time.perf_counter()
            await mcp_search(query=queries[i + 1], per_page=limit)
            mcp_times.append(time.perf_counter() - started)
        out["api"], out["mcp"] = api_times, mcp_times
        # What MCP adds whatever the tool: token, rate limit, JSON-RPC, session.
        out["whoami"] = []
        for _ in range(100):
            started = time.perf_counter()
            assert not (await mcp.call_tool("whoami", {})).is_error
            out["whoami"].append(time.perf_counter() - started)
        out["healthz"] = []
        for _ in range(100):
            started = time.perf_counter()
            api.get("/healthz")
            out["healthz"].append(time.perf_counter() - started)
        # What 80 papers cost a model, on a few topical queries.
        topics = ["large language model agents", "graph neural networks", "diffusion models"]
        texts: dict[str, list[str]] = {}
        for q in topics:
            texts.setdefault("mcp compact", []).append(await mcp_search(query=q, per_page=80))
            texts.setdefault("mcp full", []).append(
                await mcp_search(query=q, per_page=80, detail="full")
            )
            texts.setdefault("/api/search", []).append(
                api.get("/api/search", params={"q": q, "per_page": 80}).text
            )
            texts.setdefault("/api/papers/search (HF shape)", []).append(
                api.get("/api/papers/search", params={"q": q, "limit": 80}).text
            )
        tools = (await mcp.list_tools()).tools
        texts["tools/list"] = [json.dumps([t.model_dump(mode="json") for t in tools])]
        read = await mcp.call_tool(
            "read_paper", {"paper_id": json.loads(texts["mcp compact"][0])["hits"][0]["id"]}
        )
        texts["read_paper (one paper)"] = [str(read.content[0].text)]  # type: ignore[union-attr]
        out["texts"] = texts
        api.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=HERE / "results" / "http")
    parser.add_argument("--queries", type=int, default=400, help="split between the two sides")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--limit", type=int, default=20, help="hits per search")
    args = parser.parse_args()
    http_load = _http_load()
    work = args.work / "sqlite"
    database_url = f"sqlite:///{work / 'paperfeed.db'}"
    started = time.perf_counter()
    figures = http_load.build_database(work, database_url)
    print(
        f"corpus: {figures.get('papers')} papers ({time.perf_counter() - started:.0f} s to ready)"
    )
    token = make_token(work, database_url)
    os.environ["PAPERFEED_MCP_CALLS_PER_MINUTE"] = "1000000"  # measure the work, not the limit
    queries = http_load.search_queries(args.queries, seed=11)
    print(f"load average before: {os.getloadavg()}")
    with http_load.paperfeed_server(work, database_url, args.workers) as (_pid, url):
        result = anyio.run(measure, url, token, queries, args.limit)
    print(f"search, {args.limit} hits, one client, sequential, {args.workers} worker(s):")
    print(f"  GET /api/search          {percentiles(result['api'])}")
    print(f"  MCP search_papers (HTTP) {percentiles(result['mcp'])}")
    print("fixed costs:")
    print(f"  MCP whoami (HTTP)        {percentiles(result['whoami'])}")
    print(f"  GET /healthz             {percentiles(result['healthz'])}")
    how, count = counter()
    print(f"tokens ({how}), mean per call:")
    for name, texts in result["texts"].items():
        counts = [count(t) for t in texts]
        if isinstance(counts[0], tuple):
            mean = " / ".join(f"{statistics.mean(c[i] for c in counts):,.0f}" for i in range(2))
        else:
            mean = f"{statistics.mean(counts):,.0f}"
        chars = statistics.mean(len(t) for t in texts)
        print(f"  {name:32s} {mean:>16s} tokens  ({chars:,.0f} chars)")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
