"""Outgoing mail: templates, a transactional outbox, and a background job that delivers it.

A service that must tell someone something (a verification link, an invitation) calls::

    await mailer.enqueue(session, to="a@example.com", template="verify_email", link=...)

in the unit of work of the action itself: the message is rendered from the Jinja2 templates
``<template>.subject.txt``, ``<template>.txt`` and (optional) ``<template>.html`` of the template
package, and written to ``mail_outbox``. Nothing is sent inside the request: once that
transaction commits, the job ``mail.flush`` is enqueued (arq on Redis, or the in-process queue)
and delivers every due message; a transaction that rolls back leaves no message.

Delivery: SMTP through aiosmtplib when ``SMTP_URL`` is set (``smtp://user:pass@host:587`` with
STARTTLS per ``SMTP_STARTTLS``, or ``smtps://host:465`` for TLS from the first byte). Without
it, each message is written to ``DATA_DIR/outbox/<time>-<id>.eml`` and one log line names the
file, so a local run shows the links a person would click. Those files follow their rows: a
visitor's erasure or a workspace's purge deletes the files of the messages it deletes
(``Mailer.forget_files``, after its commit), and ``Mailer.forget_settled`` ages them out with
the rows (``KEEP_SETTLED``). A refused or failed attempt is
retried in the job with exponential backoff (tenacity); a message still failing is put back
with a later ``next_attempt_at`` and tried by the next flush (the scheduled ``mail_flush``
requests one every minute, api/schedule.py), up to ``MAIL_MAX_ATTEMPTS`` flushes, then marked
failed (logged). A permanent refusal (a 5xx reply to RCPT or DATA: no such user, message
rejected) fails the message at once; a 4xx, a timeout or a lost connection is retried.
A relay that is down (no connection, no TLS, a refused login: ``is_relay_down``) stops the
flush at the first message (the others wait, untried, for the next), and does not count
towards the message's ``MAIL_MAX_ATTEMPTS``: an outage of hours lost every message written in
it. A message is given up on after ``RELAY_OUTAGE_KEEP`` of that.

Several workers may flush at once: each message is claimed on its own (``locked_until``) just
before it is sent, and the claim is the token its flush marks it with (sent, or tried), so a
flush whose claim ran out cannot overwrite another flush's outcome. Right before each try the
flush checks that the message is still in the outbox under its claim: a withdrawn invitation
(an erasure, a purge) deletes its unsent mail, and one withdrawn while a flush held it (a 4xx,
then the backoff) is not handed to the relay afterwards.

Credentials in ``SMTP_URL`` never cross a connection without TLS: with ``SMTP_STARTTLS=auto``
they make STARTTLS required, and a server that does not offer it (or a network that strips the
offer) fails the attempt, which is retried later. A mail about a workspace (a notification,
a digest) is sent only while its recipient still belongs to that workspace.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import jinja2
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from core import mail_repository as repo
from core.db import Database
from core.mail_message import build_message
from core.mail_transport import RELAY_OUTAGE_KEEP as RELAY_OUTAGE_KEEP
from core.mail_transport import FileTransport as FileTransport
from core.mail_transport import MailConfig as MailConfig
from core.mail_transport import PlaintextRefused as PlaintextRefused
from core.mail_transport import SmtpTransport as SmtpTransport
from core.mail_transport import Transport as Transport
from core.mail_transport import is_permanent, is_relay_down, is_transient, transport_for

log = logging.getLogger("trulybot.mail")

MAILER_KEY = "mailer"  # where the job context holds the Mailer
FLUSH_JOB = "mail.flush"
CLAIM_SECONDS = 300  # a claimed message is left alone this long (a worker that died frees it)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None


@functools.cache
def _environments(package: str, folder: str) -> tuple[jinja2.Environment, jinja2.Environment]:
    """The text and HTML environments of a template folder, one pair per process: each keeps
    the templates it compiled (a runtime built anew, as each test builds one, compiles none
    again; compiling was 2 % of the CPU of tests/workspaces)."""
    loader = jinja2.PackageLoader(package, folder)
    # text/plain bodies and subjects, never shown as HTML
    text_env = jinja2.Environment(
        loader=loader,
        autoescape=False,  # noqa: S701
        undefined=jinja2.StrictUndefined,
    )
    html_env = jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)
    return text_env, html_env


class Templates:
    """``<name>.subject.txt``, ``<name>.txt`` and ``<name>.html`` from a package folder (HTML is
    autoescaped; text is not)."""

    def __init__(self, package: str, folder: str = "templates/mail") -> None:
        self.text_env, self.html_env = _environments(package, folder)

    def render(self, name: str, /, **context: Any) -> Rendered:
        subject = self.text_env.get_template(f"{name}.subject.txt").render(**context)
        text = self.text_env.get_template(f"{name}.txt").render(**context)
        try:
            html: str | None = self.html_env.get_template(f"{name}.html").render(**context)
        except jinja2.TemplateNotFound:
            html = None
        return Rendered(subject=" ".join(subject.split())[:300], text=text, html=html)


KEEP_SETTLED = timedelta(days=7)
"""How long a sent (or failed) message stays in the outbox, and a file the file outbox wrote on
disk: long enough to look into a delivery problem. Notification mails quote visitors (a lead's
email and message); those recorded with what they are about go with an erasure or a purge, the
others (queued before migration 0019) with age."""


async def forget_settled(db: Database, now: datetime) -> int:
    """Delete the messages settled more than KEEP_SETTLED before ``now``; how many (the rows
    only: ``Mailer.forget_settled`` also ages out the file outbox)."""
    async with db.transaction(lookup=repo.OUTBOX_SENDER) as session:
        return await repo.delete_settled(session, before=now - KEEP_SETTLED)


StillMember = Callable[[uuid.UUID, str, tuple[str, ...]], Awaitable[bool]]
"""Whether an address still receives mail about a workspace (its own transaction): it is still
a member, and, for a notification (``KINDS_HEADER``), still receives those kinds."""

KINDS_HEADER = "X-TrulyBot-Notification"
"""The notification kinds a mail tells of (``lead.created``; a digest: ``a, b``): checked again
just before it is sent (``StillMember``), and a header a mail filter can sort by."""


def kinds_of(headers: Mapping[str, str] | None) -> tuple[str, ...]:
    value = (headers or {}).get(KINDS_HEADER, "")
    return tuple(kind.strip() for kind in value.split(",") if kind.strip())


class Mailer:
    """Enqueues messages in the caller's unit of work; ``flush`` (the job) delivers them."""

    def __init__(
        self,
        db: Database,
        config: MailConfig,
        templates: Templates,
        *,
        enqueue_job: Callable[[str], Awaitable[Any]] | None = None,
        transport: Transport | None = None,
        still_member: StillMember | None = None,
    ) -> None:
        self.db = db
        self.config = config
        self.templates = templates
        self.transport = transport or transport_for(config)
        self._enqueue_job = enqueue_job
        self._still_member = still_member
        self._kicks: set[asyncio.Task[Any]] = set()

    def bind_jobs(self, enqueue_job: Callable[[str], Awaitable[Any]]) -> None:
        self._enqueue_job = enqueue_job

    async def forget_files(self, mail_ids: Sequence[uuid.UUID]) -> int:
        """Delete what the transport kept of these messages, whose rows an erasure or a purge
        deleted (``mail_repository.forget_about``; call it after that commit): the file
        outbox's files. An SMTP relay keeps nothing here. How many files went."""
        if not mail_ids or not isinstance(self.transport, FileTransport):
            return 0
        return await asyncio.to_thread(self.transport.forget, mail_ids)

    async def forget_settled(self, now: datetime) -> int:
        """The scheduled cleanup (``mail_outbox_cleanup``): the messages settled more than
        KEEP_SETTLED before ``now``, and the file outbox's files as old; how many rows went."""
        rows = await forget_settled(self.db, now)
        if isinstance(self.transport, FileTransport):
            await asyncio.to_thread(self.transport.forget_older, now - KEEP_SETTLED)
        return rows

    async def enqueue(
        self,
        session: AsyncSession,
        *,
        to: str,
        template: str,
        mail_headers: Mapping[str, str] | None = None,
        about_workspace: uuid.UUID | None = None,
        about_leads: Sequence[uuid.UUID] = (),
        about_conversations: Sequence[uuid.UUID] = (),
        about_invitation: uuid.UUID | None = None,
        **context: Any,
    ) -> uuid.UUID:
        """Render ``template`` for ``to`` and add it to the outbox in ``session``'s transaction;
        the flush job is enqueued once that transaction commits. ``mail_headers``: extra headers
        (``List-Unsubscribe``). ``about_workspace``, ``about_leads``, ``about_conversations``:
        the workspace the mail is about and the leads and conversations it quotes, so a purge or
        an erasure deletes it (``mail_repository.forget_about``); ``about_invitation``: the
        invitation it carries, so withdrawing it deletes the mail not sent yet
        (``forget_invitations``)."""
        rendered = self.templates.render(template, **context)
        mail_id = await repo.insert(
            session,
            recipient=to,
            subject=rendered.subject,
            text_body=rendered.text,
            html_body=rendered.html,
            template=template,
            headers=dict(mail_headers) if mail_headers else None,
            about_workspace=about_workspace,
            about_leads=about_leads,
            about_conversations=about_conversations,
            about_invitation=about_invitation,
        )
        sync_session = session.sync_session
        if not sync_session.info.get("tb_mail_kick"):
            sync_session.info["tb_mail_kick"] = True
            loop = asyncio.get_running_loop()

            def kick(_session: Any) -> None:
                _session.info.pop("tb_mail_kick", None)
                loop.call_soon(self._kick)

            def forget(_session: Any, _previous: Any) -> None:
                # Rolled back: the rows are gone; a kick would find nothing of them (harmless).
                _session.info.pop("tb_mail_kick", None)

            event.listen(sync_session, "after_commit", kick, once=True)
            event.listen(sync_session, "after_soft_rollback", forget, once=True)
        return mail_id

    def _kick(self) -> None:
        if self._enqueue_job is None:
            return
        task = asyncio.ensure_future(self.kick())
        self._kicks.add(task)
        task.add_done_callback(self._kicks.discard)

    async def kick(self) -> None:
        """Enqueue a flush now (at startup: messages left by a previous process; after a commit
        that wrote mail; every minute, the scheduled ``mail_flush``). A queue that cannot take it
        (Redis down) stops nothing: every flush sends whatever waits in the outbox, so the next
        one sends these too."""
        if self._enqueue_job is None:
            return
        try:
            await self._enqueue_job(FLUSH_JOB)
        except Exception as exc:
            log.warning("mail: no flush requested (%s); the next flush sends what waits", exc)

    async def settle(self) -> None:
        """Wait until the flushes requested so far are enqueued (tests, shutdown)."""
        while self._kicks:
            await asyncio.gather(*list(self._kicks), return_exceptions=True)

    def build(self, row: repo.OutboxRow) -> EmailMessage:
        return build_message(row, mail_from=self.config.mail_from, reply_to=self.config.reply_to)

    async def _deliver(self, row: repo.OutboxRow) -> str | None:
        """Hand ``row`` to the transport, with this flush's tries; where it went, or None when
        it left the outbox (or this flush's claim) before a try: asked again right before each
        one, since a try and the backoff after a 4xx take seconds, and a withdrawn invitation,
        an erasure or a purge deletes the mail meanwhile. No row lock is held across a try: it
        would keep a connection in a transaction through the relay's timeouts and make the
        owner's withdrawal wait for them, and stop nothing more (a mail the relay has started
        taking is out of our hands either way)."""
        message = self.build(row)
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(max(1, self.config.tries_per_flush)),
            wait=wait_exponential(multiplier=self.config.retry_seconds, max=30),
            retry=retry_if_exception(is_transient),
            reraise=True,
        ):
            with attempt:
                async with self.db.transaction(lookup=repo.OUTBOX_SENDER) as session:
                    if not await repo.still_claimed(session, row.id, claim=row.claim):
                        return None
                return await self.transport.send(message)
        raise AssertionError("unreachable")  # pragma: no cover

    def _lease(self) -> timedelta:
        """How long one message's claim lasts: its tries in this flush, each bounded by the
        timeout per SMTP command (a connection is a few of them), with the backoff between."""
        tries = max(1, self.config.tries_per_flush)
        return timedelta(
            seconds=max(CLAIM_SECONDS, tries * (10 * self.config.timeout_seconds + 30))
        )

    async def flush(self) -> int:
        """Deliver every due message; how many were sent. Safe on several workers at once:
        each message is claimed just before it is sent (a batch claimed at once outlived its
        claim behind a slow relay, and the next flush sent the rest of it again)."""
        sent = 0
        while True:
            now = datetime.now(UTC)
            async with self.db.transaction(lookup=repo.OUTBOX_SENDER) as session:
                row = await repo.claim_next(session, now=now, until=now + self._lease())
            if row is None:
                return sent
            if not await self._addressed(row):
                continue
            outcome = await self._send_one(row)
            if outcome is None:  # the relay is down: the rest waits for the next flush
                return sent
            sent += outcome

    async def _addressed(self, row: repo.OutboxRow) -> bool:
        """Whether ``row`` still goes out: a mail about a workspace waits in the outbox (behind
        a failing relay, for hours), and a member removed meanwhile got it, with the leads it
        quotes; so did one demoted below what it tells (payments), or who turned it off.
        Deleted when its recipient no longer receives it."""
        if row.about_workspace is None or self._still_member is None:
            return True
        if await self._still_member(row.about_workspace, row.recipient, kinds_of(row.headers)):
            return True
        async with self.db.transaction(lookup=repo.OUTBOX_SENDER) as session:
            await repo.delete_claimed(session, row.id, claim=row.claim)
        log.info(
            "mail %s to %s dropped: no longer a member, or no longer receives it",
            row.id,
            _mask(row.recipient),
        )
        return False

    async def _send_one(self, row: repo.OutboxRow) -> int | None:
        """1 sent, 0 not (retried later, or failed for good), None: the relay is down."""
        try:
            where = await self._deliver(row)
        except Exception as exc:
            refused = is_permanent(exc)
            relay_down = not refused and is_relay_down(exc)
            if relay_down:
                # Not this message's fault: it keeps its attempts, and is due again at the next
                # flush but one (the others go first); given up only after RELAY_OUTAGE_KEEP.
                attempts = row.attempts
                give_up = datetime.now(UTC) - row.created_at > RELAY_OUTAGE_KEEP
                delay = timedelta(seconds=self.config.retry_seconds * 60)
            else:
                attempts = row.attempts + 1
                give_up = refused or attempts >= self.config.max_attempts
                delay = timedelta(seconds=self.config.retry_seconds * 60 * 2 ** min(attempts, 10))
            async with self.db.transaction(lookup=repo.OUTBOX_SENDER) as session:
                mine = await repo.mark_failed_attempt(
                    session,
                    row.id,
                    claim=row.claim,
                    attempts=attempts,
                    error=f"{type(exc).__name__}: {exc}"[:2000],
                    next_attempt_at=datetime.now(UTC) + delay,
                    give_up=give_up,
                )
            log.warning(
                "mail %s to %s %s after attempt %d: %s%s",
                row.id,
                _mask(row.recipient),
                "refused for good (5xx)"
                if refused
                else "failed for good"
                if give_up
                else "waits for the relay (down)"
                if relay_down
                else "will be retried",
                attempts,
                exc if isinstance(exc, PlaintextRefused) else type(exc).__name__,
                "" if mine else " (its claim had run out: left to the flush that holds it)",
            )
            return None if relay_down else 0
        if where is None:
            log.info(
                "mail %s (%s) to %s not sent: withdrawn, erased or claimed by another flush",
                row.id,
                row.template,
                _mask(row.recipient),
            )
            return 0
        async with self.db.transaction(lookup=repo.OUTBOX_SENDER) as session:
            mine = await repo.mark_sent(session, row.id, claim=row.claim, sent_at=datetime.now(UTC))
        log.info("mail %s (%s) to %s sent: %s", row.id, row.template, _mask(row.recipient), where)
        if not mine:
            async with self.db.transaction(lookup=repo.OUTBOX_SENDER) as session:
                kept = await repo.exists(session, row.id)
            if not kept:  # erased or purged while it was being sent: its file goes too
                await self.forget_files([row.id])
                return 1
            log.warning("mail %s: sent after its claim had run out (the relay was slow)", row.id)
        return 1


def _mask(address: str) -> str:
    """``a***@example.com``: enough to tell messages apart in a log, not the address itself."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


async def flush_job(ctx: dict[str, Any]) -> int:
    """The background job: deliver the outbox."""
    mailer: Mailer = ctx[MAILER_KEY]
    return await mailer.flush()


JOBS = {FLUSH_JOB: flush_job}
