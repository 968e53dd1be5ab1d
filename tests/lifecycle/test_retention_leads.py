"""Leads outlive their conversations: after retention deletes a conversation, the lead and the
submissions sent from it say so instead of naming a conversation that no longer exists."""

from __future__ import annotations

from datetime import timedelta

import httpx

from api.runtime import Runtime
from core.jobs import JobQueue
from core.models import utcnow
from tests.conftest import Owner
from tests.dashboard.conftest import web_login
from tests.lifecycle.data import fill, tick_due
from tests.own_database import module_databases

# On a database of its own (tests/own_database.py), like tests/lifecycle/test_retention.py: the
# retention tick purged every other test's workspace too (6.7 s beside 1,500 of them).
own_databases, db, owner_db = module_databases()


async def test_a_lead_whose_conversation_retention_deleted_says_so(
    client: httpx.AsyncClient, owner: Owner, jobs: JobQueue, runtime: Runtime
) -> None:
    """The submission kept the deleted conversation's id: the API named it (its transcript
    404), the workspace export too, and the lead page just dropped its link with no word why."""
    filled = await fill(client, owner, jobs)
    leads = (await client.get(owner.url("/leads"), headers=owner.headers)).json()["items"]
    [lead] = [item for item in leads if item["email"] == filled.visitor_email]
    assert lead["conversation_id"] == filled.conversation_id
    assert lead["conversation_deleted_at"] is None
    week = await client.put(
        owner.url("/retention"), json={"conversation_retention_days": 7}, headers=owner.headers
    )
    assert week.status_code == 200

    await tick_due(runtime, "conversation_retention", utcnow() + timedelta(days=8))
    await jobs.drain()
    transcript = await client.get(
        owner.url(f"/conversations/{filled.conversation_id}"), headers=owner.headers
    )
    assert transcript.status_code == 404  # gone, as retention promises

    submissions = await client.get(
        owner.url(f"/leads/{lead['id']}/submissions"), headers=owner.headers
    )
    [submission] = submissions.json()["items"]
    assert submission["conversation_id"] is None
    assert submission["conversation_deleted_at"] is not None
    after = (await client.get(owner.url(f"/leads/{lead['id']}"), headers=owner.headers)).json()
    assert after["conversation_id"] is None
    assert after["conversation_deleted_at"] is not None

    assert (await web_login(client, owner.email, owner.password)).status_code == 303
    page = await client.get(f"/app/w/{owner.workspace_id}/leads/{lead['id']}")
    assert page.status_code == 200, page.text
    assert "Deleted by conversation retention" in page.text
    assert f"conversations/{filled.conversation_id}" not in page.text
    # A lead the owner typed in never had a conversation: nothing is said of one.
    typed = await client.get(f"/app/w/{owner.workspace_id}/leads/{filled.lead_id}")
    assert "conversation retention" not in typed.text
