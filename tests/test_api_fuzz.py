"""Property-based fuzzing of the whole HTTP API with schemathesis.

Against a live uvicorn server (tests.browser.LiveServer) on each backend,
once anonymously and once with a reader's Bearer token, every operation in
/openapi.json gets a bounded number of generated requests, valid and invalid
(schemathesis' positive and negative modes). Each response must:
- not be a 5xx;
- have a status code, content type, headers and body the document declares;
- arrive within MAX_RESPONSE_SECONDS (schemathesis' ``max_response_time`` check).

Generation is derandomized (a fixed seed per operation), so a run is the same
every time; a failure names the operation, the check and a curl command.

KNOWN_ELSEWHERE lists the few failure classes that other branches fix; each
entry names the class and the branch, and matches only its own inputs. The
lead removes an entry once that branch is merged.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup

from paperfeed import readers as core
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.ingest.pipeline import ingest
from tests import feeds
from tests.browser import LiveServer
from tests.fixture_server import Reply
from tests.helpers import make_paper
from tests.readers_helpers import token_from_link

# Enough to meet every operation's error paths in CI's time; set
# PAPERFEED_FUZZ_EXAMPLES for a deeper run by hand.
EXAMPLES_PER_OPERATION = int(os.environ.get("PAPERFEED_FUZZ_EXAMPLES", "8"))
MAX_RESPONSE_SECONDS = 5.0
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
]

# ---------------------------------------------------------------- known elsewhere

# The widest id each backend's id columns hold: SQLite's INTEGER is 64-bit,
# PostgreSQL's (SQLAlchemy Integer) 32-bit.
_ID_BITS = {"sqlite": 64, "postgresql": 32}


def _id_out_of_column_range(case: Any, backend: str) -> bool:
    limit = 2 ** (_ID_BITS[backend] - 1)
    return any(
        isinstance(v, int) and not -limit <= v < limit
        for v in (case.path_parameters or {}).values()
    )


def _has_nul(case: Any) -> bool:
    def walk(value: Any) -> bool:
        if isinstance(value, str):
            return "\x00" in value
        if isinstance(value, dict):
            return any(walk(k) or walk(v) for k, v in value.items())
        if isinstance(value, list | tuple):
            return any(walk(v) for v in value)
        return False

    return walk([case.path_parameters, case.query, case.body])


@dataclass(frozen=True)
class Known:
    what: str
    branch: str
    matches: Callable[[Any, str], bool]  # (case, backend) -> bool


KNOWN_ELSEWHERE = [
    Known(
        "class 1: an id path parameter its column cannot hold gives a 500",
        "hostile-input",
        _id_out_of_column_range,
    ),
    Known(
        "class 4: NUL characters give a 500 on PostgreSQL",
        "hostile-input",
        lambda case, backend: backend == "postgresql" and _has_nul(case),
    ),
]


def _known(case: Any, backend: str) -> Known | None:
    return next((k for k in KNOWN_ELSEWHERE if k.matches(case, backend)), None)


# ---------------------------------------------------------------- the run


@pytest.fixture
def server(
    settings: Settings, db: Database, smtp_server: Any, fixture_server: Any
) -> Iterator[LiveServer]:
    """A live server with a few papers, so paper routes answer 200 too; mail
    goes to the test SMTP server, arXiv submissions to the replaying server."""
    ingest(db, [make_paper(f"2501.{i:05d}", listing_date=date(2025, 1, 1 + i)) for i in range(5)])
    # arXiv knows no paper the fuzzer submits: a 404, as for a real unknown id.
    fixture_server.route("/api/query", Reply(feeds.atom_feed([], total=0)))
    with LiveServer(settings, db) as live:
        yield live


def _reader(settings: Settings, db: Database) -> core.Reader:
    """A signed-up reader with a public collection (ids 1 and up)."""
    link = core.create_magic_link(settings, db, "fuzz@example.org")
    reader = core.complete_sign_in(settings, db, token_from_link(link))
    core.create_collection(db, reader, "Fuzzed", description="", is_public=True)
    return reader


def _bearer(db: Database, reader: core.Reader) -> dict[str, str]:
    return {"Authorization": f"Bearer {core.create_api_token(db, reader, 'fuzz')[1]}"}


@pytest.mark.slow
@pytest.mark.parametrize("auth", ["anonymous", "token"])
def test_every_operation_answers_as_documented(
    server: LiveServer, settings: Settings, db: Database, backend: str, auth: str
) -> None:
    reader = _reader(settings, db)
    headers = _bearer(db, reader) if auth == "token" else {}
    config = schemathesis.Config.from_dict(
        {
            "seed": 22,
            "generation": {"max-examples": EXAMPLES_PER_OPERATION, "deterministic": True},
            "checks": {
                "enabled": False,
                **{name: {"enabled": True} for name in CHECKS},
                "max_response_time": MAX_RESPONSE_SECONDS,
            },
        }
    )
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json", config=config)
    session = requests.Session()
    failures: dict[str, str] = {}
    known_hits: dict[str, int] = {}
    operations = cases = 0

    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        strategies = []
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                strategies.append(operation.as_strategy(generation_mode=mode))
            except Exception:  # noqa: BLE001 - nothing to negate in this operation
                continue

        @hypothesis_settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=st.one_of(strategies))
        def run(case: Any) -> None:
            nonlocal cases
            cases += 1
            response = case.call(base_url=server.url, session=session, headers=headers)
            if auth == "token" and core.reader_for_api_token(db, _token_of(headers)) is None:
                headers.update(_bearer(db, reader))  # DELETE /api/me/tokens/{id} took ours
            try:
                case.validate_response(response, headers=headers)
            except FailureGroup as exc:
                known = _known(case, backend)
                if known is not None:
                    known_hits[f"{known.what} ({known.branch})"] = (
                        known_hits.get(f"{known.what} ({known.branch})", 0) + 1
                    )
                    return
                failures.setdefault(case.operation.label, _short(str(exc)))

        run()

    print(
        f"\nfuzz {backend}/{auth}: {operations} operations, {cases} cases, "
        f"known elsewhere: {known_hits or 'none'}"
    )
    assert operations >= 50
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())


def _token_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def _short(text: str) -> str:
    return re.sub(r"\n{3,}", "\n\n", text)[:3000]
