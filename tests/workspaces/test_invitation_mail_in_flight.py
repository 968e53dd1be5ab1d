"""An invitation withdrawn while a flush already holds its mail: the flush asks the outbox again
right before each handover to the relay, so a mail withdrawn between its claim and a try (the
relay answering 4xx, then the backoff) is never sent."""

from __future__ import annotations

import asyncio
import threading
import uuid

from sqlalchemy import text

from core.db import Database
from tests.conftest import RuntimeFactory
from tests.fakes.smtp import SmtpServer
from tests.workspaces.test_accounts import _invite, _site


async def test_an_invitation_withdrawn_while_its_mail_is_being_tried_is_not_sent(
    runtime_factory: RuntimeFactory, smtp: SmtpServer, owner_db: Database
) -> None:
    """The relay answered the invitation's first try with 451; the owner withdrew the
    invitation meanwhile (a mistyped address). The flush's next try, a moment later, still
    handed the mail to the relay: the mistyped address got the workspace's name and a link
    that answers "withdrawn"."""
    async with _site(runtime_factory, smtp, mail_retry_seconds=0.01) as site:
        owner = await site.signup("Team")
        typo = f"typo-{uuid.uuid4().hex[:8]}@example.com"
        smtp.handler.entered = threading.Event()
        smtp.handler.hold = threading.Event()
        smtp.handler.refuse_next = 1  # the try under way is answered 451; the next would pass
        invitation = (await _invite(site, owner, typo)).json()
        # the flush that invitation started is in the middle of handing its mail over
        assert await asyncio.to_thread(smtp.handler.entered.wait, 60)
        gone = await site.client.delete(
            owner.url(f"/invitations/{invitation['id']}"), headers=owner.headers
        )
        assert gone.status_code == 204, gone.text
        smtp.handler.release()
        assert await site.inbox(typo) == []
        assert smtp.handler.refused == 1
        async with owner_db.transaction() as s:
            left = (
                await s.execute(
                    text("SELECT count(*) FROM mail_outbox WHERE recipient = :r"), {"r": typo}
                )
            ).scalar_one()
        assert left == 0
        # The next mail goes out as usual: the check stops only what was withdrawn.
        other = f"other-{uuid.uuid4().hex[:8]}@example.com"
        assert (await _invite(site, owner, other)).status_code == 202
        assert len(await site.inbox(other)) == 1
