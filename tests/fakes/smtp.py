"""A real SMTP server in the test process (aiosmtpd), keeping what it receives."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.ports import free_port as _free_port

# aiosmtpd's thread logs each connection's end at INFO, sometimes after the test that opened it
# has ended and pytest has closed the stream its handler wrote to ("--- Logging error ---").
logging.getLogger("mail.log").setLevel(logging.WARNING)


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage
    raw: bytes = b""  # as it crossed the wire (the parsed message decodes encoded words)

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""  # type: ignore[union-attr]

    @property
    def html(self) -> str | None:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part is not None else None  # type: ignore[union-attr]

    def link(self, path_part: str) -> str:
        """The first URL in the text body containing ``path_part``."""
        for url in re.findall(r"https?://\S+", self.text):
            if path_part in url:
                return url
        raise AssertionError(f"no link with {path_part!r} in:\n{self.text}")


@dataclass
class Handler:
    received: list[Received] = field(default_factory=list)
    refuse_next: int = 0  # answer this many DATA commands with a temporary failure
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # A message under way: with ``hold`` set, DATA sets ``entered`` and answers only once
    # ``hold`` is cleared (``release``), so a test acts while the flush waits on the relay.
    hold: threading.Event | None = None
    entered: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        gate, self.hold = self.hold, None
        if gate is not None:
            gate.set()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        gate = self.hold
        if gate is not None:
            self.entered.set()
            # aiosmtpd's own thread and loop: the flush waits for the answer meanwhile
            await asyncio.get_running_loop().run_in_executor(None, gate.wait, 60)
        with self.lock:
            if self.refuse_next > 0:
                self.refuse_next -= 1
                self.refused += 1
                return "451 4.3.0 Try again later"
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), message, envelope.content)
            )
        return "250 OK"

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [
                r for r in self.received if address.lower() in (a.lower() for a in r.recipients)
            ]


@dataclass
class SmtpServer:
    handler: Handler
    port: int

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def to(self, address: str) -> list[Received]:
        return self.handler.to(address)


@contextmanager
def smtp_server(port: int | None = None) -> Iterator[SmtpServer]:
    """A plain SMTP server (no STARTTLS offered) on ``port`` (a free local port by default),
    stopped at the end."""
    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=port or _free_port())
    controller.start()
    try:
        yield SmtpServer(handler, controller.port)
    finally:
        controller.stop()
