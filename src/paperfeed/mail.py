"""Sending email over the configured SMTP server. One place for the
connection (plain, STARTTLS or SSL, with optional login) so magic links and
digests go out the same way; retry policy belongs to the callers that batch."""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import make_msgid

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


def send_message(settings: Settings, message: EmailMessage) -> None:
    """Send one message on its own connection (for one-off mail such as sign-in links)."""
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
