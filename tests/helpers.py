"""Small builders for tests."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from paperfeed.models import Paper


def make_paper(paper_id: str = "2501.00001", **fields: Any) -> Paper:
    values: dict[str, Any] = {
        "title": f"A paper about {paper_id}",
        "abstract": f"We study {paper_id} and report results.",
        "authors": ["Ada Lovelace", "Alan Turing"],
        "categories": ["cs.LG"],
        "source": "test",
    }
    values.update(fields)
    return Paper(id=paper_id, **values)


def real_records(path: Path, count: int) -> Iterator[dict[str, Any]]:
    """The first ``count`` records of a (gzipped) JSON-lines file."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for i, line in enumerate(handle):
            if i >= count:
                return
            yield json.loads(line)


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path
