"""The owners' "New lead" mail written while the lead's visitor is erased, or the lead deleted.

The dispatch of notification events reads the lead (its name, address and message, which the
mail quotes) and queues the mail in one transaction; an erasure (or an owner deleting the lead)
deletes the lead and the mails about it. Neither waited for the other: a dispatch that had read
the lead before the erasure deleted it queued its mail after the erasure's delete of the lead's
mails, and committed after the erasure reported the visitor erased: the mail quoting them was
kept (and sent). Now the dispatch takes the erasure's lock (shared) first, as a widget form
does, and the erasure and a lead's deletion take it (exclusive): they wait for it and delete
its mail, or it reads after them and finds the lead gone."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from api.runtime import Runtime
from core.db import Database
from core.jobs import JobQueue
from tests.conftest import Owner
from tests.lifecycle.data import first_column
from tests.lifecycle.test_erasure_form_message import _form, _leads
from tests.lifecycle.test_erasure_redaction_mail import _mails_quoting
from tests.lifecycle.test_erasure_session_race import _Stop
from tests.workspaces.test_signin_races import GUARD_SECONDS
from workspaces import notification_delivery, notifications


@pytest.mark.parametrize("gone_by", ["erasure", "deletion"])
async def test_a_new_lead_mail_written_while_the_lead_goes_goes_with_it(
    gone_by: str,
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    jobs: JobQueue,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The erasure of the lead's visitor (200), or the owner's DELETE of the lead (204), sent
    while the dispatch of its "New lead" mail is held once it has read the lead, must wait for
    the dispatch, and no mail quoting the address is left once everything settled. Before,
    neither waited (the erasure's ``notification_mails`` 0): the mail was queued afterwards,
    kept and sent."""
    email = f"lena-{uuid.uuid4().hex[:10]}@example.com"
    stop = _Stop()
    monkeypatch.setattr(
        notification_delivery, "describe", stop.after(notification_delivery.describe)
    )
    await _form(client, owner, email=email, message="a demo for our team, please")
    (lead,) = await first_column(owner_db, "SELECT id::text FROM leads WHERE email = :e", e=email)
    await notifications.settle_kicks()
    dispatching = asyncio.create_task(jobs.drain())
    await asyncio.wait_for(stop.reached.wait(), GUARD_SECONDS)
    if gone_by == "erasure":
        request = client.post(owner.url("/erasures"), json={"email": email}, headers=owner.headers)
    else:
        request = client.delete(owner.url(f"/leads/{lead}"), headers=owner.headers)
    sent = asyncio.create_task(request)
    ended_first = await stop.ended_before_waiting(owner_db, sent)
    stop.go.set()
    response = await sent
    await dispatching
    await runtime.mailer.settle()
    await jobs.drain()
    assert response.status_code == (200 if gone_by == "erasure" else 204), response.text
    if gone_by == "erasure":
        assert response.json()["erased"]["leads"] == 1
    assert await _leads(client, owner) == []
    assert await _mails_quoting(runtime, owner_db, owner, email) == 0
    assert not ended_first, f"the {gone_by} did not wait for the dispatch reading the lead"
