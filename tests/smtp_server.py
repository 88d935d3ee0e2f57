"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives,
and can be told to misbehave: answer the next messages with given SMTP errors,
refuse given recipients, drop the connection at the Nth message, or hold the
Nth message unanswered until the test releases it (to kill a sender mid-send)."""

from __future__ import annotations

import asyncio
import email
import socket
import threading
from dataclasses import dataclass, field
from email.message import Message
from email.policy import default as default_policy
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Inbox:
    messages: list[Message] = field(default_factory=list)
    # Responses to give instead of accepting, consumed one per DATA command,
    # e.g. ["421 4.7.0 Try again later", "550 5.1.1 No such user"].
    scripted_failures: list[str] = field(default_factory=list)
    # Recipient address -> response to RCPT TO (e.g. "550 5.1.1 No such user").
    refused_recipients: dict[str, str] = field(default_factory=dict)
    # Drop the connection, unanswered, when the DATA command with this number
    # (1-based, counting every DATA the server has seen) arrives.
    drop_at: set[int] = field(default_factory=set)
    # Hold the DATA with this number unanswered until ``release`` is set; then
    # answer ``held_response`` (a 4xx: the message is not kept).
    hold_at: int | None = None
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    held_response: str = "451 4.3.0 Client went away"
    data_commands: int = 0
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def to(self, address: str) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if address in str(m["To"])]

    def count_by_recipient(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self.lock:
            for m in self.messages:
                counts[str(m["To"])] = counts.get(str(m["To"]), 0) + 1
        return counts

    async def handle_EHLO(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        with self.lock:
            self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        with self.lock:
            refusal = self.refused_recipients.get(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.lock:
            self.data_commands += 1
            number = self.data_commands
            drop = number in self.drop_at
            hold = number == self.hold_at
        if drop:
            server.transport.abort()
            return "421 4.4.2 Connection dropped"
        if hold:
            self.held.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait)
            return self.held_response
        with self.lock:
            if self.scripted_failures:
                return self.scripted_failures.pop(0)
            self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 Message accepted for delivery"


class SMTPServer:
    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SMTPServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.inbox.release.set()
        self.controller.stop()
