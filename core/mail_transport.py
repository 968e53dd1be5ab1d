"""How the outbox reaches a relay: the mail settings (``MailConfig``), the transports (SMTP
through aiosmtplib, or ``.eml`` files without ``SMTP_URL``) and what a failed delivery means:
permanent (a 5xx about the recipient or the message), the relay down (no connection, TLS, login:
every message would fail alike) or worth another try. core/mail.py's Mailer uses them."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib

from core.mail_message import flatten
from core.setting_checks import check_smtp_url


@dataclass(frozen=True)
class MailConfig:
    smtp_url: str | None = None
    starttls: str = "auto"  # auto (when offered), on (required), off
    mail_from: str = "TrulyBot <no-reply@localhost>"
    reply_to: str | None = None
    timeout_seconds: float = 10.0
    ca_file: str | None = None  # PEM of the CA that signed the server's certificate
    outbox_dir: Path = Path(".trulybot/outbox")
    max_attempts: int = 8  # flushes that try one message before it is marked failed
    tries_per_flush: int = 3  # SMTP attempts within one flush (tenacity)
    retry_seconds: float = 1.0  # backoff base, in the job and between flushes

    @classmethod
    def from_settings(cls, settings: Any) -> MailConfig:
        return cls(
            smtp_url=settings.smtp_url,
            starttls=settings.smtp_starttls,
            mail_from=settings.mail_from,
            reply_to=settings.mail_reply_to,
            timeout_seconds=settings.smtp_timeout_seconds,
            ca_file=settings.smtp_ca_file,
            outbox_dir=Path(settings.data_dir) / "outbox",
            max_attempts=settings.mail_max_attempts,
            retry_seconds=settings.mail_retry_seconds,
        )


class PlaintextRefused(aiosmtplib.SMTPException):
    """The server offered no STARTTLS, and the credentials in SMTP_URL are never sent without
    TLS (a relay without TLS, or a network in between that strips the offer). Retried later."""


def is_permanent(exc: BaseException) -> bool:
    """A refusal that retrying cannot change: a 5xx reply to the recipient or to the message.
    A relay-wide refusal (authentication, the sender) is retried: it ends when the operator
    fixes the settings, and the mails waiting then still go out."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(is_permanent(r) for r in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError):
        return 500 <= exc.code < 600
    return False


RELAY_OUTAGE_KEEP = timedelta(days=3)
"""How long a message waits through a relay that is down (``is_relay_down``): those failures say
nothing about the message and do not count towards MAIL_MAX_ATTEMPTS, but a message still not
sent this long after it was written is given up (a relay gone for good, a setting never fixed)."""


def is_relay_down(exc: BaseException) -> bool:
    """A failure of the relay before any message is handed over: no connection (refused, timed
    out, a refusing greeting), no TLS (a failed handshake, no STARTTLS offered), a refused
    login. Every message would fail the same way, so the flush stops at it. What happens once
    a message is under way (a lost connection, a timeout, a refusal of its sender, recipient or
    content, SMTPUTF8 unsupported for its address) may be the message's own: it counts."""
    if isinstance(
        exc,
        aiosmtplib.SMTPConnectError
        | ssl.SSLError
        | PlaintextRefused
        | aiosmtplib.SMTPHeloError
        | aiosmtplib.SMTPAuthenticationError,
    ):
        return True
    return type(exc) is aiosmtplib.SMTPException and "STARTTLS extension not supported" in str(exc)


def is_transient(exc: BaseException) -> bool:
    """Worth another try in this flush: a 4xx, a timeout, a lost connection."""
    retried = isinstance(exc, aiosmtplib.SMTPException | OSError | TimeoutError)
    return retried and not is_permanent(exc)


class Transport(Protocol):
    async def send(self, message: EmailMessage) -> str:
        """Deliver ``message``; return where it went (for the log). Raise to retry."""


class SmtpTransport:
    def __init__(self, config: MailConfig) -> None:
        assert config.smtp_url is not None
        check_smtp_url(config.smtp_url)  # as the settings check it at start
        parts = urlsplit(config.smtp_url)
        self.use_tls = parts.scheme == "smtps"
        self.hostname = parts.hostname or "localhost"
        self.port = parts.port or (465 if self.use_tls else 587)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.start_tls: bool | None = {"auto": None, "on": True, "off": False}[config.starttls]
        if self.start_tls is None and (self.username or self.password):
            # "auto" upgrades when STARTTLS is offered; an attacker on the path removes the
            # offer, and the password went out in clear. With credentials, TLS is required.
            self.start_tls = True
        if self.use_tls:
            self.start_tls = False  # already TLS
        self.timeout = config.timeout_seconds
        self.ca_file = config.ca_file

    async def send(self, message: EmailMessage) -> str:
        sender = parseaddr(str(message["From"]))[1]
        recipient = str(message["To"])
        # SMTPUTF8 only for a non-ASCII address in the envelope: a display name (Société
        # Générale Bot) is written as an encoded word, and asking for SMTPUTF8 for it failed
        # every mail on a relay that does not offer it.
        utf8 = not (sender + recipient).isascii()
        try:
            await aiosmtplib.send(
                flatten(message),
                sender=sender,
                recipients=[recipient],
                mail_options=["SMTPUTF8"] if utf8 else None,
                hostname=self.hostname,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.use_tls,
                start_tls=self.start_tls,
                timeout=self.timeout,
                cert_bundle=self.ca_file,
            )
        except aiosmtplib.SMTPException as exc:
            credentials = self.username or self.password
            if credentials and "STARTTLS extension not supported" in str(exc):
                raise PlaintextRefused(
                    f"{self.hostname}:{self.port} offered no STARTTLS: not sent, the SMTP"
                    " credentials are never sent without TLS (a relay without TLS, or a"
                    " network that strips its offer)"
                ) from exc
            raise
        return f"smtp {self.hostname}:{self.port}"


class FileTransport:
    """The embedded default: ``<dir>/<UTC time>-<id>.eml`` per message, ``<id>`` its outbox
    row's; ``forget`` and ``forget_older`` delete them (blocking: run in a thread)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _files(self) -> Iterator[Path]:
        if self.directory.is_dir():
            yield from self.directory.glob("*.eml")

    def forget(self, mail_ids: Iterable[uuid.UUID]) -> int:
        """Delete the files of these messages (one look at the directory); how many went."""
        wanted = {str(mail_id) for mail_id in mail_ids}
        removed = 0
        for path in self._files():
            if path.stem.partition("-")[2] in wanted:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed += 1
        return removed

    def forget_older(self, before: datetime) -> int:
        """Delete the files last written before ``before`` (a file is written once, when its
        message is sent); how many went."""
        cutoff = before.timestamp()
        removed = 0
        for path in self._files():
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed

    async def send(self, message: EmailMessage) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        mail_id = message["X-TrulyBot-Mail-Id"]
        path = self.directory / f"{stamp}-{mail_id}.eml"
        await asyncio.to_thread(path.write_bytes, flatten(message))
        return str(path)


def transport_for(config: MailConfig) -> Transport:
    return SmtpTransport(config) if config.smtp_url else FileTransport(config.outbox_dir)
