"""axe-core on every page (issue 23), at 1280 and 390 px wide, in light and
dark mode, signed out and signed in: zero serious or critical violations.
Each page is also saved as a screenshot in test-artifacts/ (a11y-*.png), to
look at.

axe-core comes from the axe-playwright-python wheel, which ships axe.min.js.
Left out: /docs (the vendored Swagger UI, a third party's page that
Paperfeed does not style), and the JSON, feed and export endpoints (not
pages)."""

from __future__ import annotations

from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe

from paperfeed.app import Paperfeed
from paperfeed.config import Settings
from paperfeed.db import Database
from tests.browser import LiveServer, screenshot
from tests.smtp_server import SMTPServer
from tests.test_browser_readers import sign_in_by_email
from tests.ui_support import TODAY, Seeded, seed_papers, seed_reader_pages

pytestmark = pytest.mark.browser

SERIOUS = {"serious", "critical"}


def anonymous_pages(seeded: Seeded) -> list[tuple[str, str]]:
    first = seeded.ids[0]
    week = TODAY.isocalendar()
    return [
        ("home", "/"),
        ("day", f"/papers/date/{TODAY.isoformat()}"),
        ("week", f"/papers/week/{week.year}-W{week.week:02d}?sort=newest"),
        ("month", f"/papers/month/{TODAY:%Y-%m}"),
        ("search", "/search?q=GSBAK"),
        ("search-empty", "/search"),
        ("search-error", "/search?q=%22unclosed"),
        ("paper", f"/papers/{first}"),
        ("similar", f"/papers/{first}/similar"),
        ("signin", "/signin"),
        ("digest", "/digest"),
        ("not-found", "/no/such/page"),
    ]


def reader_pages(seeded: Seeded) -> list[tuple[str, str]]:
    assert seeded.digest_view is not None
    return [
        ("signed-in-home", "/"),
        ("signed-in-paper", f"/papers/{seeded.ids[0]}"),
        ("library", "/library"),
        ("collections", "/collections"),
        ("collection", f"/collections/{seeded.collection_id}"),
        ("for-you", "/for-you"),
        ("groups", "/groups"),
        ("notes", "/notes"),
        ("submit", "/submit"),
        ("import", "/library/import"),
        ("account", "/account"),
        ("digest-settings", "/digest/settings"),
        ("digest-view", seeded.digest_view),
        ("signed-in-search", "/search?q=GSBAK"),
    ]


def serious_violations(axe: Axe, page: Any) -> list[str]:
    results = axe.run(page)
    found = []
    for violation in results.response["violations"]:
        if violation["impact"] in SERIOUS:
            targets = [", ".join(map(str, n["target"])) for n in violation["nodes"][:3]]
            found.append(f"{violation['id']} ({violation['impact']}): {targets}")
    return found


@pytest.mark.slow
# The pages' markup does not depend on the backend, and axe reads only markup:
# once (SQLite) is enough, and halves the suite's longest test.
@pytest.mark.sqlite_only("the markup axe checks is the same on both backends")
@pytest.mark.parametrize("width", [1280, 390])
def test_every_page_passes_axe(
    chromium: Any,
    live_server: LiveServer,
    settings: Settings,
    db: Database,
    smtp_server: SMTPServer,
    width: int,
) -> None:
    seeded = seed_papers(db, settings)
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": width, "height": 900}
    )
    axe = Axe()
    problems: dict[str, list[str]] = {}
    try:
        page = context.new_page()

        def check(pages: list[tuple[str, str]]) -> None:
            # Each page is loaded once and checked in both color schemes: the
            # scheme only switches the stylesheet's media queries.
            for name, path in pages:
                page.goto(path)
                page.wait_for_load_state("networkidle")
                for scheme in ("light", "dark"):
                    page.emulate_media(color_scheme=scheme)
                    screenshot(page, f"a11y-{name}-{width}-{scheme}")
                    if found := serious_violations(axe, page):
                        problems[f"{name} {path} ({scheme})"] = found

        check(anonymous_pages(seeded))
        email = f"a11y-{width}@example.org"
        sign_in_by_email(page, smtp_server, email)
        seed_reader_pages(Paperfeed(settings, db), seeded, email)
        check(reader_pages(seeded))
    finally:
        context.close()
    assert not problems, "\n".join(f"{k}: {v}" for k, v in problems.items())
