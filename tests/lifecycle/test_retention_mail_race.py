"""The owners' handoff summary written while the retention sweep deletes a conversation it quotes.

A handoff summary (the mail of the handoff requests held past the hourly cap) quotes the latest
visitors' first words and names their conversations (``about_conversations``), so that the
sweep deleting a conversation deletes the mails quoting it. The summary read the words (the
conversation still there: the sweep had not committed), the sweep deleted the conversation and
the mails about it, and the summary queued its mail after that delete and committed: the
visitor's words outlived the retention in a mail kept and sent."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database
from core.models import utcnow
from lifecycle.retention import purge_old_conversations
from tests.conftest import RuntimeFactory
from tests.fakes.smtp import SmtpServer
from tests.lifecycle.test_erasure_session_race import _Stop
from tests.lifecycle.test_retention_races import RETENTION, _backdate
from tests.workspaces.test_handoff_mail_cap import _acme, _dispatch_in_past_hour, _handoff
from tests.workspaces.test_signin_races import GUARD_SECONDS
from workspaces import notification_delivery


async def test_a_summary_quoting_a_conversation_the_sweep_deletes_goes_with_it(
    runtime_factory: RuntimeFactory,
    smtp: SmtpServer,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The summary is held once it has read the held visitors' first words; the sweep of
    conversations past the retention runs meanwhile. It must wait for the summary, and no mail
    quoting the deleted conversation is left once both committed. Before, the sweep did not
    wait (it ended first) and the summary's mail quoting the deleted visitor was kept."""
    async with _acme(runtime_factory, smtp, notification_handoff_mails_per_hour=1) as (w, owner):
        workspace_id = uuid.UUID(owner.workspace_id)
        tag = uuid.uuid4().hex[:8]
        conversations = [
            await _handoff(w, owner, f"Mailed {tag}"),
            await _handoff(w, owner, f"Quoted {tag}"),
        ]
        hour = await _dispatch_in_past_hour(w, owner_db, owner)
        for conversation in conversations:
            await _backdate(owner_db, conversation)

        deps = w.runtime.notifications
        read = deps.first_messages
        assert read is not None
        stop = _Stop()

        async def held(
            session: AsyncSession, ws: uuid.UUID, ids: Sequence[uuid.UUID]
        ) -> Mapping[uuid.UUID, str]:
            words = await read(session, ws, ids)
            if ws == workspace_id:  # another test's workspace's summary goes straight on
                await stop(session)
            return words

        monkeypatch.setattr(deps, "first_messages", held)
        summing_up = asyncio.create_task(
            notification_delivery.send_summaries(deps, hour + timedelta(hours=1))
        )
        await asyncio.wait_for(stop.reached.wait(), GUARD_SECONDS)
        sweep = asyncio.create_task(
            purge_old_conversations(
                w.runtime.db,
                workspace_id=workspace_id,
                before=utcnow() - RETENTION,
                mailer=w.runtime.mailer,
            )
        )
        ended_first = await stop.ended_before_waiting(owner_db, sweep)
        stop.go.set()
        await summing_up
        assert await sweep == 2
        await w.settle()

        async with owner_db.transaction() as session:
            kept = await session.execute(
                text(
                    "SELECT count(*) FROM mail_outbox WHERE about_workspace = :ws"
                    " AND text_body LIKE :words"
                ),
                {"ws": workspace_id, "words": f"%Quoted {tag}%"},
            )
        assert kept.scalar_one() == 0
        assert not ended_first, "the sweep did not wait for the summary quoting its conversation"
