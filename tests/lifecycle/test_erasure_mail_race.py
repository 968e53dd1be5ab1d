"""The owners' "New lead" mail written while the lead's visitor is erased.

The dispatch of notification events reads the lead (its name, address and message, which the
mail quotes) and queues the mail in one transaction; an erasure deletes the lead and the mails
about it. Neither waited for the other: a dispatch that had read the lead before the erasure
deleted it queued its mail after the erasure's delete of the lead's mails, and committed after
the erasure reported the visitor erased: the mail quoting them was kept (and sent). Now the
dispatch takes the erasure's lock (shared) first, as a widget form does: the erasure waits for
it and deletes its mail, or it reads after the erasure and finds the lead gone."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from api.runtime import Runtime
from core.db import Database
from core.jobs import JobQueue
from tests.conftest import Owner
from tests.lifecycle.test_erasure_form_message import _form
from tests.lifecycle.test_erasure_redaction_mail import _mails_quoting
from tests.lifecycle.test_erasure_session_race import _Stop
from tests.workspaces.test_signin_races import GUARD_SECONDS
from workspaces import notification_delivery, notifications


async def test_a_new_lead_mail_written_while_the_lead_is_erased_goes_with_it(
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    jobs: JobQueue,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before: the erasure (200, ``notification_mails`` 0) did not wait for the dispatch held
    after it read the lead; the mail quoting the address was queued afterwards and kept."""
    email = f"lena-{uuid.uuid4().hex[:10]}@example.com"
    stop = _Stop()
    monkeypatch.setattr(
        notification_delivery, "describe", stop.after(notification_delivery.describe)
    )
    await _form(client, owner, email=email, message="a demo for our team, please")
    await notifications.settle_kicks()
    dispatching = asyncio.create_task(jobs.drain())
    await asyncio.wait_for(stop.reached.wait(), GUARD_SECONDS)
    erasing = asyncio.create_task(
        client.post(owner.url("/erasures"), json={"email": email}, headers=owner.headers)
    )
    erased_first = await stop.ended_before_waiting(owner_db, erasing)
    stop.go.set()
    response = await erasing
    assert response.status_code == 200, response.text
    assert response.json()["erased"]["leads"] == 1
    await dispatching
    await runtime.mailer.settle()
    await jobs.drain()
    assert await _mails_quoting(runtime, owner_db, owner, email) == 0
    assert not erased_first, "the erasure did not wait for the dispatch reading the lead"
