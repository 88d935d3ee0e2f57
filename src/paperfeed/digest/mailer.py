"""Sending a batch of messages over one SMTP connection.

The connection (plain, STARTTLS or SSL, login) comes from ``paperfeed.mail``.
Per message, the server's answer decides what happens:
- 2xx: sent;
- 4xx (421 "closing", 451 "try later", ...) or a dropped connection: transient,
  retried with exponential backoff on a fresh connection when the old one is gone;
- 5xx to RCPT or DATA: permanent for that address; the caller suppresses it.
Failures that are not about the recipient (connecting, logging in, our own
MAIL FROM refused) raise ``MailerError``: suppressing a reader because our
password is wrong would be a disaster.
"""

from __future__ import annotations

import functools
import random
import re
import smtplib
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.message import Message
from email.utils import getaddresses
from io import BytesIO
from types import TracebackType

from paperfeed.config import Settings
from paperfeed.mail import smtp_connection, write_to_outbox

SENT = "sent"
TRANSIENT = "transient"  # gave up for now; a later run tries again
PERMANENT = "permanent"  # 5xx for this recipient


class MailerError(RuntimeError):
    """The SMTP server cannot be used at all (connect, login, sender refused)."""


@dataclass(frozen=True)
class SendResult:
    status: str
    code: int | None = None
    detail: str = ""
    attempts: int = 1

    @property
    def reason(self) -> str:
        return f"{self.code} {self.detail}".strip() if self.code else self.detail


def _text(resp: bytes | str) -> str:
    return resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)


_NEWLINE = re.compile(r"\r\n|\r|\n")  # as email.generator.NLCRE


@functools.lru_cache(maxsize=64)
def _sender_address(from_header: str) -> str:
    # Every digest has the same From: parse it once, not once per message.
    return getaddresses([from_header])[0][1]


class _FlatGenerator(BytesGenerator):
    """``BytesGenerator`` without the work our messages never need.

    Flattening was the largest item of the sender's CPU under cProfile
    (bench/digest.py): every header went through ``Header`` folding although
    ours are short ASCII lines, and every 76-character base64 line was a
    separate write. Same bytes out (tests/test_digest_send_fast.py compares them with
    ``Message.as_bytes``); a header that is not plain short ASCII still takes
    the policy's folding.
    """

    # The generator's internals (``_fp``, which it swaps per MIME part, and
    # ``_NL``) are not in the type stubs, hence the ignores below.

    def _write_headers(self, msg: Message) -> None:
        policy = self.policy
        assert policy is not None  # flatten() always sets one
        linesep = policy.linesep
        for name, value in msg.raw_items():
            if (
                isinstance(value, str)
                and value.isascii()
                and "\n" not in value
                and "\r" not in value
                and len(name) + len(value) < 900  # far below SMTP's 998
            ):
                self._fp.write(f"{name}: {value}{linesep}".encode("ascii"))  # type: ignore[attr-defined]
            else:
                self._fp.write(policy.fold_binary(name, value))  # type: ignore[attr-defined]
        self.write(self._NL)  # type: ignore[attr-defined]

    def _write_lines(self, lines: str) -> None:
        if lines:
            self.write(_NEWLINE.sub(self._NL, lines))  # type: ignore[attr-defined]


def message_bytes(message: Message) -> bytes:
    """The message as SMTP wants it: CRLF line ends, headers left unfolded (all
    far below SMTP's 998 characters), so no policy refolding."""
    policy = message.policy.clone(linesep="\r\n", max_line_length=None)
    buffer = BytesIO()
    _FlatGenerator(buffer, mangle_from_=False, policy=policy).flatten(message, unixfrom=False)
    return buffer.getvalue()


class BatchMailer:
    """One SMTP connection reused for many messages; reconnects when it drops.

    Use as a context manager; ``send`` one message at a time so the caller can
    record each outcome before the next message goes out.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.sleep = sleep
        self.attempts = max(1, settings.smtp_retry_attempts)
        self.base_delay = settings.smtp_retry_base_seconds
        self.connections_opened = 0
        self._stack: ExitStack | None = None
        self._client: smtplib.SMTP | None = None

    def __enter__(self) -> BatchMailer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            stack.close()

    def _connection(self) -> smtplib.SMTP:
        if self._client is None:
            stack = ExitStack()
            try:
                self._client = stack.enter_context(smtp_connection(self.settings))
            except smtplib.SMTPAuthenticationError as exc:
                stack.close()
                raise MailerError(
                    f"SMTP login to {self.settings.smtp_host} refused: "
                    f"{exc.smtp_code} {_text(exc.smtp_error)}"
                ) from exc
            except BaseException:
                stack.close()
                raise
            self._stack = stack
            self.connections_opened += 1
        return self._client

    def _drop_connection(self) -> None:
        # A dead socket cannot say QUIT; closing must not raise either.
        client, self._client = self._client, None
        if client is not None:
            client.close()
        if self._stack is not None:
            self._stack.pop_all()
            self._stack = None

    def _backoff(self, attempt: int) -> None:
        if self.base_delay > 0:
            delay = self.base_delay * (2**attempt)
            self.sleep(delay + random.uniform(0, self.base_delay))

    def send(self, message: Message) -> SendResult:
        if self.settings.outbox_dir is not None:  # no SMTP server: a file per message
            write_to_outbox(self.settings.outbox_dir, message)
            return SendResult(SENT)
        sender = _sender_address(str(message["From"]))
        recipients = [addr for _, addr in getaddresses([str(message["To"])])]
        raw = message_bytes(message)  # once, not once per retry
        last = SendResult(TRANSIENT, None, "not attempted", 0)
        for attempt in range(self.attempts):
            try:
                client = self._connection()
                client.sendmail(sender, recipients, raw)
                return SendResult(SENT, 250, "", attempt + 1)
            except smtplib.SMTPRecipientsRefused as exc:
                code, resp = next(iter(exc.recipients.values()), (550, b"refused"))
                result = self._classify(code, resp, attempt)
            except smtplib.SMTPSenderRefused as exc:
                if exc.smtp_code >= 500:
                    raise MailerError(
                        f"SMTP server refused sender {exc.sender}: "
                        f"{exc.smtp_code} {_text(exc.smtp_error)}"
                    ) from exc
                result = self._classify(exc.smtp_code, exc.smtp_error, attempt)
            except smtplib.SMTPResponseException as exc:  # SMTPDataError, 421 on connect...
                result = self._classify(exc.smtp_code, exc.smtp_error, attempt)
            except (smtplib.SMTPServerDisconnected, ConnectionError, TimeoutError) as exc:
                self._drop_connection()
                result = SendResult(TRANSIENT, None, f"connection lost: {exc}", attempt + 1)
            except OSError as exc:  # connection refused, DNS, TLS...
                self._drop_connection()
                result = SendResult(TRANSIENT, None, f"cannot connect: {exc}", attempt + 1)
            if result.status == PERMANENT:
                return result
            last = result
            if attempt + 1 < self.attempts:
                self._backoff(attempt)
        if last.code is None and self.connections_opened == 0:
            # Never reached the server at all: that is not this recipient's fault.
            raise MailerError(
                f"cannot reach SMTP server {self.settings.smtp_host}:{self.settings.smtp_port}: "
                f"{last.detail}"
            )
        return last

    def _classify(self, code: int, resp: bytes | str, attempt: int) -> SendResult:
        detail = _text(resp)
        if 400 <= code < 500:
            if code == 421:
                # "Service not available, closing channel": smtplib already
                # closed the socket; open a new one next time.
                self._drop_connection()
            else:
                self._reset()
            return SendResult(TRANSIENT, code, detail, attempt + 1)
        if code >= 500:
            self._reset()
            return SendResult(PERMANENT, code, detail, attempt + 1)
        self._drop_connection()
        return SendResult(TRANSIENT, code, detail, attempt + 1)

    def _reset(self) -> None:
        """Make the session ready for the next message (RSET), or drop it."""
        if self._client is None:
            return
        try:
            self._client.rset()
        except (smtplib.SMTPException, OSError):
            self._drop_connection()
