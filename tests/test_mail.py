"""Outgoing mail through a real SMTP server (aiosmtpd in this process), from the outbox."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from pydantic import ValidationError
from sqlalchemy import text

from core import mail_repository
from core.config import Settings
from core.db import Database
from core.mail_message import deliverable_address
from tests.conftest import RuntimeFactory
from tests.fakes.smtp import SmtpServer, smtp_server
from tests.lifecycle.data import tick_due
from tests.ports import free_port as _free_port


def _address() -> str:
    return f"mail-{uuid.uuid4().hex[:12]}@example.com"


async def _enqueue(runtime, to: str) -> uuid.UUID:  # type: ignore[no-untyped-def]
    async with runtime.db.transaction() as session:
        return await runtime.mailer.enqueue(
            session,
            to=to,
            template="verify_email",
            name="Ann <b>",
            email=to,
            link=f"https://bot.example.com/api/v1/auth/verify-email?token=tok-{to}",
            hours=48,
        )


async def _settle(runtime) -> None:  # type: ignore[no-untyped-def]
    await runtime.mailer.settle()
    await runtime.jobs.drain()


async def _row(owner_db: Database, mail_id: uuid.UUID) -> dict:
    async with owner_db.transaction() as s:
        row = (
            await s.execute(text("SELECT * FROM mail_outbox WHERE id = :id"), {"id": mail_id})
        ).one()
    return dict(row._mapping)


async def test_a_committed_message_arrives_with_text_and_html(
    runtime_factory: RuntimeFactory, smtp: SmtpServer
) -> None:
    to = _address()
    async with runtime_factory(
        smtp_url=smtp.url,
        smtp_starttls="off",
        mail_from="Acme Bot <bot@acme.test>",
        mail_reply_to="help@acme.test",
    ) as runtime:
        await _enqueue(runtime, to)
        await _settle(runtime)
    [got] = smtp.to(to)
    assert got.message["From"] == "Acme Bot <bot@acme.test>"
    assert got.message["Reply-To"] == "help@acme.test"
    assert got.message["Subject"] == "Confirm your email address for TrulyBot"
    assert (
        got.link("verify-email")
        == f"https://bot.example.com/api/v1/auth/verify-email?token=tok-{to}"
    )
    assert got.html is not None
    assert f"token=tok-{to}" in got.html
    assert "Ann &lt;b&gt;" in got.html  # HTML is escaped, text is not
    assert "Ann <b>" in got.text


async def test_a_rolled_back_action_sends_nothing(
    runtime_factory: RuntimeFactory, smtp: SmtpServer, owner_db: Database
) -> None:
    to = _address()

    async def failing_action(runtime) -> None:  # type: ignore[no-untyped-def]
        async with runtime.db.transaction() as session:
            await runtime.mailer.enqueue(session, to=to, template="password_changed", email=to)
            raise RuntimeError("the action failed")

    async with runtime_factory(smtp_url=smtp.url) as runtime:
        with pytest.raises(RuntimeError):
            await failing_action(runtime)
        await runtime.mailer.kick()
        await _settle(runtime)
    assert smtp.to(to) == []
    async with owner_db.transaction() as s:
        count = (
            await s.execute(
                text("SELECT count(*) FROM mail_outbox WHERE recipient = :r"), {"r": to}
            )
        ).scalar_one()
    assert count == 0


async def test_a_refused_delivery_is_retried(
    runtime_factory: RuntimeFactory, smtp: SmtpServer, owner_db: Database
) -> None:
    to = _address()
    smtp.handler.refuse_next = 1
    async with runtime_factory(smtp_url=smtp.url, mail_retry_seconds=0.01) as runtime:
        mail_id = await _enqueue(runtime, to)
        await _settle(runtime)
    assert smtp.handler.refused == 1
    assert len(smtp.to(to)) == 1
    row = await _row(owner_db, mail_id)
    assert row["sent_at"] is not None
    assert row["failed_at"] is None


async def test_a_message_that_keeps_failing_waits_then_is_marked_failed(
    runtime_factory: RuntimeFactory, smtp: SmtpServer, owner_db: Database
) -> None:
    to = _address()
    smtp.handler.refuse_next = 1000
    async with runtime_factory(
        smtp_url=smtp.url, mail_retry_seconds=0.01, mail_max_attempts=2
    ) as runtime:
        mail_id = await _enqueue(runtime, to)
        await _settle(runtime)
        first = await _row(owner_db, mail_id)
        assert first["sent_at"] is None
        assert first["failed_at"] is None
        assert first["attempts"] == 1
        assert "451" in first["last_error"]
        assert first["next_attempt_at"] > first["created_at"]
        # Not due yet: a flush leaves it alone.
        await runtime.mailer.flush()
        assert (await _row(owner_db, mail_id))["attempts"] == 1
        async with owner_db.transaction() as s:
            await s.execute(
                text("UPDATE mail_outbox SET next_attempt_at = now() WHERE id = :id"),
                {"id": mail_id},
            )
        await runtime.mailer.flush()
    last = await _row(owner_db, mail_id)
    assert last["attempts"] == 2
    assert last["failed_at"] is not None
    assert smtp.to(to) == []


async def test_without_smtp_url_each_message_is_an_eml_file_named_in_the_log(
    runtime_factory: RuntimeFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    to = _address()
    caplog.set_level(logging.INFO, logger="trulybot.mail")
    async with runtime_factory(smtp_url=None, data_dir=tmp_path) as runtime:
        mail_id = await _enqueue(runtime, to)
        await _settle(runtime)
    [path] = sorted((tmp_path / "outbox").glob(f"*-{mail_id}.eml"))
    content = path.read_text()
    assert f"To: {to}" in content
    assert f"token=tok-{to}" in content
    lines = [r.getMessage() for r in caplog.records if str(mail_id) in r.getMessage()]
    assert len(lines) == 1
    assert str(path) in lines[0]
    assert to not in lines[0]  # the log masks the address


async def test_international_addresses_are_written_as_mail_systems_read_them(
    runtime_factory: RuntimeFactory, smtp: SmtpServer, tmp_path: Path
) -> None:
    """A domain in another script goes out in its ASCII form (every server takes it); a local
    part in another script is a UTF-8 header (RFC 6531), never =?utf-8?...?= inside an address,
    which no mail system reads as one."""
    marker = uuid.uuid4().hex[:8]
    idn = f"jose-{marker}@exämple.com"
    async with runtime_factory(smtp_url=smtp.url, smtp_starttls="off") as runtime:
        await _enqueue(runtime, idn)
        await _settle(runtime)
    [got] = smtp.to(f"jose-{marker}@xn--exmple-cua.com")
    assert got.message["To"] == f"jose-{marker}@xn--exmple-cua.com"
    # IDNA 2008, as the address was checked: fußball.de is xn--fuball-cta.de, not fussball.de
    # (IDNA 2003's mapping, another domain whose owner would get this person's links).
    assert deliverable_address("reset@fußball.de") == "reset@xn--fuball-cta.de"

    local = f"jösé-{marker}@exämple.com"
    async with runtime_factory(smtp_url=None, data_dir=tmp_path) as runtime:
        mail_id = await _enqueue(runtime, local)
        await _settle(runtime)
    [path] = sorted((tmp_path / "outbox").glob(f"*-{mail_id}.eml"))
    content = path.read_bytes().decode("utf-8")
    to_line = next(line for line in content.splitlines() if line.startswith("To:"))
    assert to_line == f"To: jösé-{marker}@xn--exmple-cua.com"


async def test_settled_mail_leaves_the_outbox_after_a_week(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    """Notification mails quote visitors (a lead's email and message); the outbox has no
    workspace, so neither an erasure nor a purge finds them there: the daily
    mail_outbox_cleanup deletes what was sent or given up on more than KEEP_SETTLED ago, and
    nothing still waiting to go."""
    marker = uuid.uuid4().hex[:10]
    now = datetime.now(UTC)
    ages = {"sent-old": 8, "failed-old": 8, "sent-new": 6, "waiting": 30}
    ids = {}
    async with owner_db.transaction() as s:
        for name, days in ages.items():
            ids[name] = uuid.uuid4()
            at = now - timedelta(days=days)
            await s.execute(
                text(
                    "INSERT INTO mail_outbox (id, recipient, subject, text_body, template,"
                    " created_at, sent_at, failed_at)"
                    " VALUES (:id, :to, 'New lead', 'alice@example.com', 'lead', :at,"
                    " :sent, :failed)"
                ),
                {
                    "id": ids[name],
                    "to": f"{name}-{marker}@example.com",
                    "at": at,
                    "sent": at if name.startswith("sent") else None,
                    "failed": at if name.startswith("failed") else None,
                },
            )
    try:
        async with runtime_factory() as runtime:
            assert "mail_outbox_cleanup" in await tick_due(runtime, "mail_outbox_cleanup", now)
        async with owner_db.transaction() as s:
            left = set(
                (
                    await s.execute(
                        text("SELECT id FROM mail_outbox WHERE id = ANY(:ids)"),
                        {"ids": list(ids.values())},
                    )
                ).scalars()
            )
        assert {name for name, mail_id in ids.items() if mail_id in left} == {
            "sent-new",
            "waiting",
        }
    finally:  # this test's rows only (a flush would try to send the waiting one)
        async with owner_db.transaction() as s:
            await s.execute(
                text("DELETE FROM mail_outbox WHERE id = ANY(:ids)"), {"ids": list(ids.values())}
            )


async def test_mail_that_failed_is_sent_by_the_scheduled_flush_once_due(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    """The SMTP server was down when the message was written: the message waited for the next
    mail written or the next start, however long. The scheduled ``mail_flush`` sends it."""
    to = _address()
    port = _free_port()  # nothing listens there yet
    async with runtime_factory(
        smtp_url=f"smtp://127.0.0.1:{port}", smtp_starttls="off", mail_retry_seconds=0.01
    ) as runtime:
        mail_id = await _enqueue(runtime, to)
        await _settle(runtime)
        failed = await _row(owner_db, mail_id)
        # The relay down is not the message's failure: it does not count towards
        # MAIL_MAX_ATTEMPTS (tests/test_mail_outage.py).
        assert (failed["attempts"], failed["sent_at"]) == (0, None)
        [job] = [j for j in runtime.scheduler.jobs if j.name == "mail_flush"]
        with smtp_server(port) as smtp:
            async with owner_db.transaction() as s:
                await s.execute(
                    text("UPDATE mail_outbox SET next_attempt_at = now() WHERE id = :id"),
                    {"id": mail_id},
                )
            await job.run(datetime.now(UTC))  # once it is due, and the server up
            await _settle(runtime)
            assert len(smtp.to(to)) == 1
    sent = await _row(owner_db, mail_id)
    assert sent["sent_at"] is not None
    assert sent["attempts"] == 1


# --- refusals, claims, the sender's name --------------------------------------------------------


class _Recorder:
    """An aiosmtpd handler that records every RCPT and delivery; ``refuse_rcpt``: RCPT answers
    550 (no such user); ``hold``: the first DATA waits until ``release`` is set."""

    def __init__(self, *, refuse_rcpt: bool = False, hold: bool = False) -> None:
        self.refuse_rcpt = refuse_rcpt
        self.hold = hold
        self.rcpts: list[str] = []
        self.delivered: list[str] = []
        self.held: list[str] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
        with self.lock:
            self.rcpts.append(address)
        if self.refuse_rcpt:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        with self.lock:
            first = self.hold and not self.held
            if first:
                self.held.extend(envelope.rcpt_tos)
        if first:
            self.entered.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 30)
        with self.lock:
            self.delivered.extend(envelope.rcpt_tos)
        return "250 OK"

    def count(self, address: str) -> int:
        with self.lock:
            return self.delivered.count(address)


@contextmanager
def _recording(handler: _Recorder, *, smtputf8: bool = True) -> Iterator[str]:
    controller = Controller(
        handler, hostname="127.0.0.1", port=_free_port(), enable_SMTPUTF8=smtputf8
    )
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{controller.port}"
    finally:
        handler.release.set()
        controller.stop()


async def test_a_permanent_refusal_fails_at_once_without_retries(
    runtime_factory: RuntimeFactory, owner_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """550 "no such user" was asked again 3 times per flush over 8 flushes (about 4 hours),
    which hurts the sender's standing with the relay; a 4xx is still retried (above)."""
    handler = _Recorder(refuse_rcpt=True)
    to = _address()
    with _recording(handler) as url, caplog.at_level(logging.WARNING, "trulybot.mail"):
        async with runtime_factory(
            smtp_url=url, smtp_starttls="off", mail_retry_seconds=0.01
        ) as runtime:
            mail_id = await _enqueue(runtime, to)
            await _settle(runtime)
    row = await _row(owner_db, mail_id)
    assert handler.rcpts.count(to) == 1
    assert row["failed_at"] is not None
    assert row["sent_at"] is None
    assert "550" in row["last_error"]
    assert any("refused for good" in r.getMessage() for r in caplog.records)


async def test_a_non_ascii_sender_name_does_not_need_smtputf8(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    """The name is written as an encoded word; asking for SMTPUTF8 because of it failed every
    mail on a relay that does not offer it."""
    handler = _Recorder()
    to = _address()
    with _recording(handler, smtputf8=False) as url:
        async with runtime_factory(
            smtp_url=url,
            smtp_starttls="off",
            mail_from="Société Générale Bot <bot@acme.test>",
            mail_retry_seconds=0.01,
        ) as runtime:
            mail_id = await _enqueue(runtime, to)
            await _settle(runtime)
    row = await _row(owner_db, mail_id)
    assert handler.count(to) == 1, row["last_error"]


@pytest.mark.parametrize(
    "value", ["Acme, Inc <no-reply@acme.test>", "no-reply", "a@acme.test, b@acme.test"]
)
def test_mail_from_that_is_not_one_address_is_refused_at_start(value: str) -> None:
    """``Acme, Inc <...>`` parsed as two addresses, and ``Acme`` became the envelope sender."""
    with pytest.raises(ValidationError, match="must be one address"):
        Settings(mail_from=value)
    with pytest.raises(ValidationError, match="must be one address"):
        Settings(mail_reply_to=value)
    assert Settings(mail_from='"Acme, Inc" <no-reply@acme.test>').mail_from


async def test_a_flush_behind_a_slow_relay_never_sends_a_message_twice(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    """A flush claimed its whole batch at once and sent it one by one: behind a slow relay the
    claim of the rest of the batch ran out, the next flush (a minute later) claimed and sent
    them, and the first flush sent them again. Here the first flush is held on its first
    message while the claims of the others are made to run out; the second flush sends them,
    and the first, released, must not send them again."""
    handler = _Recorder(hold=True)
    tos = [_address() for _ in range(4)]
    with _recording(handler) as url:
        async with runtime_factory(smtp_url=url, smtp_starttls="off") as runtime:
            runtime.mailer.bind_jobs(None)  # type: ignore[arg-type]  # we run the flushes
            async with runtime.db.transaction() as session:
                for to in tos:
                    await runtime.mailer.enqueue(
                        session, to=to, template="password_changed", email=to
                    )
            first = asyncio.ensure_future(runtime.mailer.flush())
            assert await asyncio.to_thread(handler.entered.wait, 30)
            async with owner_db.transaction() as s:  # the time their claim lasts has passed
                await s.execute(
                    text(
                        "UPDATE mail_outbox SET locked_until = now() - interval '1 second'"
                        " WHERE recipient = ANY(:tos) AND recipient <> :held"
                        " AND locked_until IS NOT NULL"
                    ),
                    {"tos": tos, "held": handler.held[0]},
                )
            second = await runtime.mailer.flush()
            handler.release.set()
            await first
    assert {to: handler.count(to) for to in tos} == dict.fromkeys(tos, 1)
    assert second >= 3


async def test_only_the_flush_holding_a_claim_records_the_outcome(owner_db: Database) -> None:
    """A flush whose claim ran out (another flush claimed the message since) changes nothing."""
    mail_id = uuid.uuid4()
    to = _address()
    now = datetime.now(UTC)
    async with owner_db.transaction() as s:
        await s.execute(
            text(
                "INSERT INTO mail_outbox (id, recipient, subject, text_body, template,"
                " next_attempt_at, created_at) VALUES (:id, :to, 's', 't', 'test',"
                " '1970-01-01', '1970-01-01')"
            ),
            {"id": mail_id, "to": to},
        )
        stale = await mail_repository.claim_next(s, now=now, until=now + timedelta(seconds=1))
        assert stale is not None
        assert stale.id == mail_id
        later = now + timedelta(seconds=2)
        fresh = await mail_repository.claim_next(s, now=later, until=later + timedelta(minutes=5))
        assert fresh is not None
        assert fresh.id == mail_id
        failed = await mail_repository.mark_failed_attempt(
            s,
            mail_id,
            claim=stale.claim,
            attempts=1,
            error="late",
            next_attempt_at=now,
            give_up=True,
        )
        sent = await mail_repository.mark_sent(s, mail_id, claim=fresh.claim, sent_at=later)
        row = (
            await s.execute(text("SELECT * FROM mail_outbox WHERE id = :id"), {"id": mail_id})
        ).one()
        await s.execute(text("DELETE FROM mail_outbox WHERE id = :id"), {"id": mail_id})
    assert (failed, sent) == (False, True)
    assert (row.failed_at, row.last_error, row.sent_at) == (None, None, later)
