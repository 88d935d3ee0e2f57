"""Papers per 1,000 px of a list page, at desktop and phone widths (issue 23).

    python bench/density.py [--src SRC] [--papers 50] [--shots DIR]

Ingests the first ``--papers`` records of the shared arXiv sample (real titles,
authors and abstracts) into a fresh SQLite instance, all listed on one day
with a few imported upvotes, serves it with uvicorn from the sources in SRC
(default: this checkout's src/; give an exported older tree, e.g. main's, to
measure before and after on the same data), and opens the day's list in
Debian chromium at 1280 and 390 px wide, anonymous and with the default
density. Prints, per width: the cards on the page, the list's height,
papers per 1,000 px of list, and how many cards start within the first
screen (1280x800 and 390x844, the header included).
"""

from __future__ import annotations

import argparse
import gzip
import json
import socket
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "data" / "arxiv-cs-2025.jsonl.gz"
if not CORPUS.exists():
    CORPUS = Path("/work/shared/data/arxiv-cs-2025.jsonl.gz")
CHROMIUM = "/usr/bin/chromium"
DAY = date(2025, 3, 18)
WIDTHS = ((1280, 800), (390, 844))

MEASURE = """() => {
  const cards = [...document.querySelectorAll('article.paper-card')];
  if (!cards.length) return null;
  const top = cards[0].getBoundingClientRect().top + window.scrollY;
  const last = cards[cards.length - 1].getBoundingClientRect();
  const bottom = last.bottom + window.scrollY;
  const starts = (c) => c.getBoundingClientRect().top + window.scrollY;
  const firstScreen = cards.filter((c) => starts(c) < window.innerHeight).length;
  return {cards: cards.length, height: bottom - top, first: firstScreen,
          page: document.documentElement.scrollHeight,
          header: document.querySelector('.site-header').getBoundingClientRect().height};
}"""


def _records(count: int) -> list[dict]:
    out = []
    with gzip.open(CORPUS, "rt", encoding="utf-8") as handle:
        for line in handle:
            out.append(json.loads(line))
            if len(out) >= count:
                break
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", type=Path, default=REPO / "src")
    parser.add_argument("--papers", type=int, default=50)
    parser.add_argument("--shots", type=Path, default=None, help="save full-page screenshots here")
    args = parser.parse_args()
    sys.path.insert(0, str(args.src.resolve()))

    import uvicorn
    from playwright.sync_api import sync_playwright

    from paperfeed.app import Paperfeed
    from paperfeed.config import Settings
    from paperfeed.db import Database
    from paperfeed.ingest import pipeline
    from paperfeed.ingest.jsonl import paper_from_record
    from paperfeed.web.app import create_app

    tmp = Path(tempfile.mkdtemp(prefix="pf-density-"))
    settings = Settings(
        data_dir=tmp / "data",
        database_url=f"sqlite:///{tmp / 'paperfeed.db'}",
        secret_key="bench-density-not-a-secret",
    )
    db = Database(settings.database_url_resolved)
    papers = []
    for rank, record in enumerate(_records(args.papers)):
        paper = paper_from_record(record, default_listing_date=DAY)
        paper.listing_date = DAY
        paper.upvotes = max(0, 20 - rank)
        papers.append(paper)
    pipeline.ingest(db, papers)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings.base_url = url
    server = uvicorn.Server(
        uvicorn.Config(create_app(Paperfeed(settings, db)), log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    print(f"sources: {args.src}  papers: {len(papers)}  page: /papers/date/{DAY}")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            for width, height in WIDTHS:
                context = browser.new_context(viewport={"width": width, "height": height})
                page = context.new_page()
                page.goto(f"{url}/papers/date/{DAY}")
                page.wait_for_load_state("networkidle")
                m = page.evaluate(MEASURE)
                per_1000 = 1000 * m["cards"] / m["height"]
                print(
                    f"{width:>5} px: {m['cards']} cards, list {m['height']:.0f} px, "
                    f"page {m['page']} px, header {m['header']:.0f} px -> "
                    f"{per_1000:.2f} papers per 1,000 px; {m['first']} start in the first "
                    f"{width}x{height} screen"
                )
                if args.shots:
                    args.shots.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(args.shots / f"density-{width}.png"))
                context.close()
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        db.dispose()


if __name__ == "__main__":
    main()
