"""Sending email over the configured SMTP server. One place for the
connection (plain, STARTTLS or SSL, with optional login) so magic links and
digests go out the same way; retry policy belongs to the callers that batch.

Without an SMTP server (``smtp_host`` empty, the default) every message is
written to ``Settings.outbox_dir`` as a ``.eml`` file instead, and its first
link is logged at WARNING: a first run or a demo signs in with nothing else
installed."""

from __future__ import annotations

import logging
import os
import re
import secrets
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.utils import make_msgid
from pathlib import Path

from paperfeed.config import Settings

log = logging.getLogger(__name__)


@contextmanager
def smtp_connection(settings: Settings) -> Iterator[smtplib.SMTP]:
    """An open, authenticated SMTP session; closed on exit."""
    timeout = settings.http_timeout_seconds
    client: smtplib.SMTP
    if settings.smtp_security == "ssl":
        client = smtplib.SMTP_SSL(
            settings.smtp_host,
            settings.smtp_port,
            timeout=timeout,
            context=ssl.create_default_context(),
        )
    else:
        client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    try:
        client.ehlo()
        if settings.smtp_security == "starttls":
            client.starttls(context=ssl.create_default_context())
            client.ehlo()
        if settings.smtp_username:
            client.login(settings.smtp_username, settings.smtp_password)
        yield client
    finally:
        try:
            client.quit()
        except smtplib.SMTPException:
            client.close()
        except OSError:
            client.close()


def new_message(settings: Settings, *, to: str, subject: str, text: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="paperfeed.local")
    message.set_content(text)
    return message


_LINK = re.compile(r"https?://[^\s<>\"]+")


def first_link(message: Message) -> str:
    """The first http(s) link of the message's plain-text part, or ""."""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                text = payload.decode(part.get_content_charset() or "utf-8", "replace")
                if found := _LINK.search(text):
                    return found.group(0)
    return ""


def write_to_outbox(outbox: Path, message: Message) -> Path:
    """Write ``message`` to ``outbox`` as a new .eml file (whole or not at all:
    written beside, then renamed) and log where it went, with its link."""
    outbox.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    path = outbox / f"{stamp}-{secrets.token_hex(6)}.eml"
    partial = path.with_suffix(".part")
    partial.write_bytes(message.as_bytes())
    os.replace(partial, path)
    log.warning(
        "no SMTP server configured (PAPERFEED_SMTP_HOST): mail to %s written to %s; link: %s",
        message["To"],
        path,
        first_link(message) or "(none)",
    )
    return path


def send_message(settings: Settings, message: EmailMessage) -> None:
    """Send one message on its own connection (for one-off mail such as sign-in links)."""
    if settings.outbox_dir is not None:
        write_to_outbox(settings.outbox_dir, message)
        return
    with smtp_connection(settings) as client:
        client.send_message(message)


def send_quietly(settings: Settings, message: EmailMessage) -> None:
    """Send mail asked for by an anonymous request (a sign-in link, a digest
    confirmation) without telling the requester how the relay answered for
    that address: a refusal at RCPT, DATA or a dropped connection once the
    address is given is logged with its reason, not raised, so every address
    gets the same answer and the form is no oracle for which ones the relay
    knows. Failures before any address is named (connecting, EHLO, login) are
    the same for every address and are raised, so an outage still shows."""
    if settings.outbox_dir is not None:
        write_to_outbox(settings.outbox_dir, message)
        return
    with smtp_connection(settings) as client:
        try:
            client.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning(
                "mail not accepted by the SMTP server",
                extra={
                    "to": str(message["To"]),
                    "subject": str(message["Subject"]),
                    "reason": repr(exc),
                },
            )
