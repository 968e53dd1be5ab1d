"""A notification that waited in the outbox (the relay failing) goes out only if its recipient
still receives that kind when it is sent: not after a demotion took the right to see it away,
nor after they turned the kind off."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from core.db import Database
from tests.conftest import RuntimeFactory, signup
from tests.fakes.smtp import SmtpServer
from tests.workspaces.test_notifications import _member_of, _put, _widget_lead, world
from workspaces import notifications


async def test_a_waiting_mail_follows_the_recipients_role_and_preferences(
    runtime_factory: RuntimeFactory, smtp: SmtpServer, owner_db: Database
) -> None:
    async with world(runtime_factory, smtp, "pro", mail_retry_seconds=0.01) as w:
        owner = await signup(w.client, "Acme")
        co_owner = await _member_of(w, owner, "owner")
        member = await _member_of(w, owner, "member")
        await w.settle()
        smtp.handler.refuse_next = 10_000  # the relay refuses (451): the mails wait
        payment = f"pay_{uuid.uuid4().hex[:14]}"
        async with w.runtime.db.transaction(workspace_id=uuid.UUID(owner.workspace_id)) as s:
            await notifications.emit(
                s,
                uuid.UUID(owner.workspace_id),
                "payment.captured",
                payment,
                {"amount": 250000, "currency": "INR", "plan": "pro", "payment_id": payment},
            )
        lead = await _widget_lead(w, owner)
        await w.settle()
        # Meanwhile the co-owner is made an admin (payments are owners' only) and the member
        # turns new-lead mails off.
        demoted = await w.client.patch(
            owner.url(f"/members/{co_owner.user_id}"), json={"role": "admin"}, headers=owner.headers
        )
        assert demoted.status_code == 200, demoted.text
        assert (await _put(w, member, {"lead.created": "off"}, owner)).status_code == 200

        smtp.handler.refuse_next = 0  # the relay is back
        async with owner_db.transaction() as s:
            await s.execute(
                text(
                    "UPDATE mail_outbox SET next_attempt_at = now()"
                    " WHERE sent_at IS NULL AND recipient = ANY(:to)"
                ),
                {"to": [owner.email, co_owner.email, member.email]},
            )
        await w.runtime.mailer.flush()
        await w.settle()

    def got(person_email: str, needle: str) -> int:
        return len([r for r in smtp.to(person_email) if needle in r.text])

    assert got(owner.email, payment) == 1
    assert got(owner.email, lead) == 1
    assert got(co_owner.email, payment) == 0  # no longer allowed to see payments
    assert got(co_owner.email, lead) == 1  # still receives new leads
    assert got(member.email, lead) == 0  # turned them off while the mail waited
