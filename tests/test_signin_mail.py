"""Sign-in and digest subscription give the same answer whether or not the
mail relay accepts the address: a relay refusing some addresses at RCPT must
not turn the forms into an oracle. The refusal is logged with its reason.
Real aiosmtpd server on 127.0.0.1, both backends."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from paperfeed.config import Settings
from tests.readers_helpers import page_csrf
from tests.smtp_server import SMTPServer, free_port

REFUSED = "ghost@example.org"
KNOWN = "reader@example.org"


def _answers(client: TestClient, path: str, form_page: str, email: str) -> tuple[int, str, str]:
    csrf = page_csrf(client, form_page)
    response = client.post(path, data={"email": email, "csrf_token": csrf}, follow_redirects=False)
    return (
        response.status_code,
        response.headers.get("location", ""),
        response.text.replace(email, ""),
    )


@pytest.mark.parametrize(
    ("path", "form_page"), [("/signin", "/signin"), ("/digest/subscribe", "/digest")]
)
def test_a_refused_recipient_gets_the_same_answer(
    client: TestClient,
    smtp_server: SMTPServer,
    caplog: pytest.LogCaptureFixture,
    path: str,
    form_page: str,
):
    smtp_server.inbox.refused_recipients[REFUSED] = "550 5.1.1 No such user here"
    with caplog.at_level(logging.WARNING, logger="paperfeed.mail"):
        refused = _answers(client, path, form_page, REFUSED)
    accepted = _answers(client, path, form_page, KNOWN)
    assert refused == accepted
    assert refused[0] in (200, 303)
    assert [m["To"] for m in smtp_server.inbox.messages] == [KNOWN]
    [record] = [r for r in caplog.records if r.name == "paperfeed.mail"]
    assert record.levelno == logging.WARNING
    assert record.to == REFUSED and "No such user here" in record.reason  # type: ignore[attr-defined]


def test_a_relay_that_is_down_is_still_reported(client: TestClient, settings: Settings):
    # Nothing listens: the same for every address, so it can be said.
    settings.smtp_host, settings.smtp_port = "127.0.0.1", free_port()
    csrf = page_csrf(client, "/signin")
    response = client.post("/signin", data={"email": KNOWN, "csrf_token": csrf})
    assert response.status_code == 503
    assert "could not be sent right now" in response.text
