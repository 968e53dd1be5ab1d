"""Mail through a relay that is down for longer than the retries last: the mail waits for it
(one probe per flush, not every message tried), and goes out once it is back."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from core.db import Database
from tests.conftest import RuntimeFactory
from tests.fakes.smtp import smtp_server
from tests.ports import free_port as _free_port


async def _rows(owner_db: Database, tos: list[str]) -> dict[str, dict]:
    async with owner_db.transaction() as s:
        rows = await s.execute(
            text("SELECT * FROM mail_outbox WHERE recipient = ANY(:tos)"), {"tos": tos}
        )
        return {row.recipient: dict(row._mapping) for row in rows}


async def _make_due(owner_db: Database, tos: list[str]) -> None:
    async with owner_db.transaction() as s:
        await s.execute(
            text(
                "UPDATE mail_outbox SET next_attempt_at = now() - interval '1 second'"
                " WHERE recipient = ANY(:tos) AND sent_at IS NULL AND failed_at IS NULL"
            ),
            {"tos": tos},
        )


async def test_mail_waits_through_a_relay_outage_and_goes_out_when_it_is_back(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    """The relay unreachable for longer than MAIL_MAX_ATTEMPTS flushes (about 4 hours by
    default): every message waiting was marked failed for good (a password reset, an invitation,
    a new lead: never sent), and each flush tried every waiting message 3 times, holding a
    worker for as long as the outbox was long."""
    port = _free_port()  # nothing listens there: the relay is down
    tos = [f"outage-{uuid.uuid4().hex[:12]}@example.com" for _ in range(3)]
    async with runtime_factory(
        smtp_url=f"smtp://127.0.0.1:{port}",
        smtp_starttls="off",
        mail_retry_seconds=0.01,
        mail_max_attempts=2,
    ) as runtime:
        runtime.mailer.bind_jobs(None)  # type: ignore[arg-type]  # we run the flushes
        async with runtime.db.transaction() as session:
            for to in tos:
                await runtime.mailer.enqueue(session, to=to, template="password_changed", email=to)
        await runtime.mailer.flush()
        tried = [r for r in (await _rows(owner_db, tos)).values() if r["last_error"]]
        assert len(tried) <= 1  # the flush stopped at the relay's failure
        for _ in range(4):  # more flushes than MAIL_MAX_ATTEMPTS
            await _make_due(owner_db, tos)
            await runtime.mailer.flush()
        rows = await _rows(owner_db, tos)
        assert [r["failed_at"] for r in rows.values()] == [None] * 3
        assert all(r["sent_at"] is None for r in rows.values())

        with smtp_server(port) as smtp:  # the relay is back
            await _make_due(owner_db, tos)
            await runtime.mailer.flush()
            assert {to: len(smtp.to(to)) for to in tos} == dict.fromkeys(tos, 1)
    rows = await _rows(owner_db, tos)
    assert all(r["sent_at"] is not None for r in rows.values())


async def test_a_message_waits_for_a_down_relay_for_days_not_for_ever(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    port = _free_port()
    to = f"outage-{uuid.uuid4().hex[:12]}@example.com"
    async with runtime_factory(
        smtp_url=f"smtp://127.0.0.1:{port}", smtp_starttls="off", mail_retry_seconds=0.01
    ) as runtime:
        runtime.mailer.bind_jobs(None)  # type: ignore[arg-type]
        async with runtime.db.transaction() as session:
            await runtime.mailer.enqueue(session, to=to, template="password_changed", email=to)
        async with owner_db.transaction() as s:
            await s.execute(
                text(
                    "UPDATE mail_outbox SET created_at = now() - interval '4 days'"
                    " WHERE recipient = :to"
                ),
                {"to": to},
            )
        for _ in range(50):  # other tests' mail still due may be probed first
            await _make_due(owner_db, [to])
            await runtime.mailer.flush()
            if (await _rows(owner_db, [to]))[to]["last_error"]:
                break
    row = (await _rows(owner_db, [to]))[to]
    assert row["failed_at"] is not None
    assert row["sent_at"] is None
