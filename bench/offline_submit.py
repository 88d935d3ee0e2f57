"""How long a reader's submission takes to fail when arXiv cannot be reached
(an offline machine): the web form's POST /submit, through the real app, with
arXiv's URL pointing at a name that does not resolve (``.invalid``) and at a
closed port on 127.0.0.1. Default retry settings (5 retries, 2 s backoff).

    python bench/offline_submit.py [--runs 5]

Prints the median and worst seconds per case, and the message shown. The
target (issue 23): under 2 s with a readable message (before: 63.6 s and a raw
"[Errno -2] Name or service not known").
"""

from __future__ import annotations

import argparse
import re
import socket
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from paperfeed import readers
from paperfeed.app import Paperfeed
from paperfeed.config import Settings
from paperfeed.web.app import create_app


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(api_url: str, runs: int) -> tuple[list[float], str]:
    data = Path(tempfile.mkdtemp(prefix="offline-submit-"))
    settings = Settings(data_dir=data, secret_key="bench-" * 8, arxiv_api_url=api_url)
    paperfeed = Paperfeed(settings)
    client = TestClient(create_app(paperfeed))
    link = readers.create_magic_link(settings, paperfeed.db, "bench@example.org")
    token = link.split("token=")[1]
    page = client.get(f"/signin/verify?token={token}")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    client.post("/signin/verify", data={"token": token, "csrf_token": csrf.group(1)})
    form = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/submit").text)
    assert form is not None  # signed in: the form is there
    csrf_value = form.group(1)
    times, message = [], ""
    for _ in range(runs):
        started = time.perf_counter()
        answer = client.post("/submit", data={"arxiv_id": "2511.01234", "csrf_token": csrf_value})
        times.append(time.perf_counter() - started)
        found = re.search(r'class="form-error"[^>]*>([^<]*)<', answer.text)
        message = f"HTTP {answer.status_code}: {found.group(1) if found else answer.text[:200]}"
    return times, message


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    cases = {
        "unresolvable host": "http://export.arxiv.invalid/api/query",
        "closed port": f"http://127.0.0.1:{closed_port()}/api/query",
    }
    for name, url in cases.items():
        times, message = run(url, args.runs)
        print(
            f"{name}: median {statistics.median(times):.3f} s, worst {max(times):.3f} s "
            f"over {args.runs} runs; {message}"
        )


if __name__ == "__main__":
    main()
