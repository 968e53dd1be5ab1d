"""A purge leaves no mail about the workspace waiting in the outbox: before, a pending
invitation's mail (it names the workspace by its invitation, not by ``about_workspace``) stayed
behind a failing relay and, once the relay was back, invited someone to a workspace that no
longer existed, with the inviter's name and the workspace's."""

from __future__ import annotations

from sqlalchemy import text

from core.db import Database
from tests.conftest import RuntimeFactory, signup
from tests.fakes.smtp import SmtpServer
from tests.workspaces.test_notifications import _widget_lead, world


async def test_after_a_purge_nothing_about_the_workspace_or_its_invitations_is_sent(
    runtime_factory: RuntimeFactory, smtp: SmtpServer, owner_db: Database
) -> None:
    settings = {"mail_retry_seconds": 0.01, "workspace_deletion_grace_hours": 0}
    async with world(runtime_factory, smtp, "pro", **settings) as w:
        owner = await signup(w.client, "Doomed Dairy")
        await w.settle()
        smtp.handler.refuse_next = 10_000  # the relay is down (451): the mails wait
        invitee = f"invitee-{owner.workspace_id[:8]}@example.com"
        invited = await w.client.post(
            owner.url("/members"), json={"email": invitee, "role": "member"}, headers=owner.headers
        )
        assert invited.status_code == 202, invited.text
        lead = await _widget_lead(w, owner)
        await w.settle()
        assert smtp.to(invitee) == []

        deleted = await w.client.request(
            "DELETE", owner.url(), json={"confirm": owner.workspace["slug"]}, headers=owner.headers
        )
        assert deleted.status_code == 202, deleted.text
        await w.settle()  # the grace period is 0 hours: the purge job runs
        async with owner_db.transaction() as s:
            gone = await s.execute(
                text("SELECT 1 FROM workspaces WHERE id = :w"), {"w": owner.workspace_id}
            )
            assert gone.first() is None

        smtp.handler.refuse_next = 0  # the relay is back; whatever waits is due at once
        async with owner_db.transaction() as s:
            await s.execute(
                text("UPDATE mail_outbox SET next_attempt_at = now() WHERE recipient = ANY(:to)"),
                {"to": [invitee, owner.email]},
            )
        await w.runtime.mailer.flush()
        await w.settle()
        async with owner_db.transaction() as s:
            left = (
                await s.execute(
                    text("SELECT count(*) FROM mail_outbox WHERE recipient = :to"), {"to": invitee}
                )
            ).scalar_one()
    assert smtp.to(invitee) == []  # no invitation to a workspace that is gone
    assert [r for r in smtp.received if lead in r.text or "Doomed Dairy" in r.text] == []
    assert left == 0
