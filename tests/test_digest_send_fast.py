"""The sending path's shortcuts give the same bytes as the email package's own way."""

from __future__ import annotations

from datetime import UTC, datetime
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

import pytest

from paperfeed.config import Settings
from paperfeed.digest import render
from paperfeed.digest.mailer import message_bytes

TEXT = "Papers of the day\n\n1. Über graphs — naïve bounds\nhttps://x.example/p/1\n" * 40
HTML = "<p>Über graphs — naïve bounds</p>\n" * 60


@pytest.mark.parametrize("subject", ["Paperfeed: 5 daily papers, 2 June", "Paperfeed: Über — 5"])
def test_digest_message_bytes_match_the_email_package(tmp_path: Path, subject: str) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="s", base_url="https://papers.example.org")
    links = render.links_for(settings, 7, "2026-06-02")
    kwargs = {
        "to": "reader@example.org",
        "subject": subject,
        "text": TEXT,
        "html": HTML,
        "message_id": "<abc@papers.example.org>",
        "links": links,
        "date": datetime(2026, 6, 2, 6, 0, tzinfo=UTC),
    }
    fast = render.digest_message(settings, **kwargs)  # type: ignore[arg-type]
    # The same message built the stock way: MIMEText parts, as_bytes.
    stock = MIMEMultipart("alternative")
    for name, value in fast.items():
        if name not in ("Content-Type", "MIME-Version"):
            stock[name] = value
    fast.set_boundary("=====b=====")
    stock.set_boundary("=====b=====")
    stock.attach(MIMEText(TEXT, "plain", "utf-8"))
    stock.attach(MIMEText(HTML, "html", "utf-8"))
    policy = stock.policy.clone(linesep="\r\n", max_line_length=None)
    assert message_bytes(fast) == stock.as_bytes(policy=policy)
    assert b"\r\n\r\n" in message_bytes(fast) and b"\n\n" not in message_bytes(fast).replace(
        b"\r\n", b""
    )
