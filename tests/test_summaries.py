"""Optional abstractive summaries against a real local HTTP server on 127.0.0.1
that answers in the OpenAI chat.completions shape (as llama.cpp, vLLM and
Ollama do): once per paper version, under the daily cap, the prompt versioned,
stored with the model's name, shown marked and escaped; errors end a run cleanly."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from paperfeed import jobs, llm
from paperfeed.app import Paperfeed
from paperfeed.cli import app as cli_app
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import summaries as summary_store
from paperfeed.ingest.pipeline import ingest
from paperfeed.jobs import JobSpec
from paperfeed.services import summaries
from paperfeed.web.app import create_app
from tests.helpers import make_paper


def completion(text: str, model: str = "llama-3.2-3b-instruct") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1733500000,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 120, "completion_tokens": 40, "total_tokens": 160},
    }


@dataclass
class ChatServer:
    """Answers POST /v1/chat/completions with the queued replies in turn (the
    last one repeats) and records each request's headers and JSON body."""

    replies: list[tuple[int, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def answer(self) -> tuple[int, Any]:
        if len(self.replies) > 1:
            return self.replies.pop(0)
        return self.replies[0] if self.replies else (200, completion("A summary."))


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    state = ChatServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            state.requests.append({"path": self.path, "headers": dict(self.headers), "json": body})
            if self.path != "/v1/chat/completions":
                status, reply = 404, {"error": {"message": "no such route"}}
            else:
                status, reply = state.answer()
            data = reply.encode() if isinstance(reply, str) else json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _app(settings: Settings, db: Database, server: ChatServer, **overrides: Any) -> Paperfeed:
    configured = settings.model_copy(
        update={
            "summaries_url": server.url,
            "summaries_model": "llama-3.2-3b-instruct",
            "summaries_api_key": "sk-local-test",
            "summaries_daily_cap": 10,
            **overrides,
        }
    )
    return Paperfeed(configured, db)


def _papers(db: Database, n: int) -> None:
    ingest(
        db,
        [
            make_paper(f"2501.0000{i}", abstract=f"We propose method {i}. It works well.")
            for i in range(1, n + 1)
        ],
    )


def test_off_by_default(settings: Settings, db: Database) -> None:
    _papers(db, 1)
    app = Paperfeed(settings, db)
    assert settings.summaries_url == "" and not summaries.enabled(app)
    assert summaries.summarize_pending(app) == summaries.SummaryRun(enabled=False)
    assert all(p.name != "summaries" for p in jobs.background_jobs(app))


def test_one_summary_per_paper_version_in_the_chat_shape(
    settings: Settings, db: Database, chat_server: ChatServer
) -> None:
    _papers(db, 2)
    chat_server.replies = [(200, completion("  The paper\x00 proposes a method.\n\nIt works. "))]
    app = _app(settings, db, chat_server)
    run = summaries.summarize_pending(app)
    assert (run.made, run.capped, run.error, run.requests_today) == (2, False, None, 2)
    first = chat_server.requests[0]
    assert first["path"] == "/v1/chat/completions"
    assert first["headers"]["Authorization"] == "Bearer sk-local-test"
    sent = first["json"]
    assert sent["model"] == "llama-3.2-3b-instruct" and sent["stream"] is False
    assert sent["messages"][0] == {"role": "system", "content": summaries.SYSTEM_PROMPT}
    assert sent["messages"][1]["role"] == "user"
    assert "Abstract: We propose method 2." in sent["messages"][1]["content"]  # newest first

    stored = summaries.for_paper(app, "2501.00001")
    assert stored is not None
    assert stored.body == "The paper proposes a method. It works."  # cleaned
    assert stored.model == "llama-3.2-3b-instruct"
    assert stored.prompt_version == summaries.PROMPT_VERSION

    # Made once for the whole instance: a second run asks nothing.
    again = summaries.summarize_pending(app)
    assert again.made == 0 and len(chat_server.requests) == 2

    # A new version of a paper (new abstract) gets a new summary; the old one
    # is not shown for the new text.
    ingest(db, [make_paper("2501.00001", abstract="We propose something else entirely.")])
    assert summaries.for_paper(app, "2501.00001") is None
    chat_server.replies = [(200, completion("Something else.", model="served-name"))]
    assert summaries.summarize_pending(app).made == 1
    newer = summaries.for_paper(app, "2501.00001")
    assert newer is not None and (newer.body, newer.model) == ("Something else.", "served-name")


def test_the_daily_cap_holds_across_runs_and_resets_the_next_day(
    settings: Settings, db: Database, chat_server: ChatServer
) -> None:
    _papers(db, 5)
    app = _app(settings, db, chat_server, summaries_daily_cap=2)
    today = datetime(2026, 12, 7, 12, tzinfo=UTC)
    run = summaries.summarize_pending(app, now=today)
    assert (run.made, run.capped, run.requests_today) == (2, True, 2)
    again = summaries.summarize_pending(app, now=today)
    assert (again.made, again.capped) == (0, True)
    assert len(chat_server.requests) == 2
    with db.begin() as conn:
        assert not summary_store.reserve_request(conn, today.date(), 2)
    tomorrow = summaries.summarize_pending(app, now=today + timedelta(days=1))
    assert (tomorrow.made, tomorrow.capped) == (2, True)
    assert len(chat_server.requests) == 4


def test_an_error_answer_ends_the_run_and_counts_against_the_cap(
    settings: Settings, db: Database, chat_server: ChatServer
) -> None:
    _papers(db, 3)
    app = _app(settings, db, chat_server)
    chat_server.replies = [
        (200, completion("First one.")),
        (503, {"error": {"message": "model is loading", "type": "unavailable"}}),
        (200, completion("After the error.")),
    ]
    run = summaries.summarize_pending(app)
    assert run.made == 1 and run.requests_today == 2
    assert run.error is not None
    assert "503" in run.error and "model is loading" in run.error and chat_server.url in run.error
    assert len(chat_server.requests) == 2  # not asked again for the third paper
    # The next run retries the rest.
    assert summaries.summarize_pending(app).made == 2


def test_answers_that_are_not_chat_completions_are_clear_errors(
    chat_server: ChatServer,
) -> None:
    messages = summaries.prompt_messages("T", "A")
    for reply, expected in [
        ((200, {"choices": []}), "not a chat.completions answer"),
        ((200, "<html>proxy login</html>"), "not a chat.completions answer"),
        ((200, completion("   ")), "content is empty"),
        ((401, {"error": {"message": "invalid api key"}}), "401: invalid api key"),
        ((500, "upstream crashed"), "500: upstream crashed"),
    ]:
        chat_server.replies = [reply]
        with pytest.raises(llm.ChatError, match=expected):
            llm.chat(chat_server.url, "m", messages)
    with pytest.raises(llm.ChatError, match="ConnectError|connect"):
        llm.chat("http://127.0.0.1:9/v1", "m", messages, timeout=2)


def test_the_page_marks_and_escapes_the_machine_summary(
    settings: Settings, db: Database, chat_server: ChatServer
) -> None:
    _papers(db, 1)
    chat_server.replies = [(200, completion('<script>alert("x")</script> Bold claim & more.'))]
    app = _app(settings, db, chat_server)
    assert summaries.summarize_pending(app).made == 1
    with TestClient(create_app(app)) as client:
        page = client.get("/papers/2501.00001")
    assert page.status_code == 200
    assert "Machine-written summary" in page.text
    assert "llama-3.2-3b-instruct" in page.text
    assert "&lt;script&gt;alert(" in page.text and '<script>alert("x")' not in page.text


def test_the_job_and_the_command(
    settings: Settings, db: Database, chat_server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _papers(db, 3)
    app = _app(settings, db, chat_server)
    assert any(p.name == "summaries" for p in jobs.background_jobs(app))
    result = jobs.execute(app, JobSpec("summarize", {"limit": 1}))
    assert result["made"] == 1 and result["enabled"] is True

    for key, value in {
        "DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": settings.database_url,
        "SUMMARIES_URL": chat_server.url,
        "SUMMARIES_MODEL": "llama-3.2-3b-instruct",
        "SUMMARIES_DAILY_CAP": "2",
    }.items():
        monkeypatch.setenv(f"PAPERFEED_{key}", value)
    out = CliRunner().invoke(cli_app, ["summarize"])
    assert out.exit_code == 0, out.output
    assert "1 summary made; 2 of 2 requests used today" in out.output
    assert "daily cap is used up" in out.output

    monkeypatch.setenv("PAPERFEED_SUMMARIES_URL", "")
    off = CliRunner().invoke(cli_app, ["summarize"])
    assert off.exit_code == 2 and "summaries are off" in off.output
