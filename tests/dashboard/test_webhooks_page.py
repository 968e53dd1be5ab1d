"""Settings links to the webhook's deliveries: what was sent, what failed and why, and how a
receiver checks the signature."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx

from core.db import Database
from rag.chat import notify
from tests.conftest import join, signup
from tests.dashboard.conftest import WebOwner, web_login
from tests.fakes.receiver import receiver
from workspaces import repository as ws_repo


async def _delivery(db: Database, web: WebOwner, url: str) -> uuid.UUID:
    workspace_id = uuid.UUID(web.workspace_id)
    async with db.transaction(workspace_id=workspace_id) as session:
        workspace = await ws_repo.update_workspace(
            session, workspace_id, {"webhook_url": url, "webhook_secret": "whsec_test"}
        )
        assert workspace is not None
        delivery_id = await notify.enqueue(session, workspace, "conversation.handoff", {})
    assert delivery_id is not None
    return delivery_id


async def test_an_owner_sees_failed_deliveries_and_why(web: WebOwner, db: Database) -> None:
    with receiver([503] * 10) as hook:
        delivery_id = await _delivery(db, web, hook.url("/in?key=k3y-q9z"))
        notifier = notify.Notifier(db, allow_private=True)
        assert not await notifier.attempt(uuid.UUID(web.workspace_id), delivery_id)
    settings = await web.client.get(web.url("settings"))
    assert web.url("settings/webhooks") in settings.text
    page = await web.client.get(web.url("settings/webhooks"))
    assert page.status_code == 200, page.text
    assert f'data-delivery="{delivery_id}"' in page.text
    assert 'data-status="pending"' in page.text
    assert "HTTP 503" in page.text
    assert hook.url("/in") in page.text
    assert "k3y-q9z" not in page.text
    assert "X-TrulyBot-Signature" in page.text
    failed_only = await web.client.get(web.url("settings/webhooks?status=failed"))
    assert f'data-delivery="{delivery_id}"' not in failed_only.text
    bad = await web.client.get(web.url("settings/webhooks?status=lost"))
    assert bad.status_code == 422


async def test_a_member_is_refused_the_deliveries_page(
    web: WebOwner, client: httpx.AsyncClient
) -> None:
    owner = await signup(client, "Team")
    member = await signup(client, "Member")
    await join(client, owner, member, "member")
    await client.post("/app/logout")
    client.cookies.clear()
    assert (await web_login(client, member.email, "correct horse battery")).status_code == 303
    page = await client.get(f"/app/w/{owner.workspace_id}/settings/webhooks")
    assert page.status_code == 403


async def test_an_owner_sees_a_paused_webhook_and_resumes_it(web: WebOwner, db: Database) -> None:
    """Paused because the person who set the URL left (tests/workspaces/
    test_webhook_of_removed_member.py): the page says so, and its button resumes it."""
    workspace_id = uuid.UUID(web.workspace_id)
    async with db.transaction(workspace_id=workspace_id) as session:
        await ws_repo.update_workspace(
            session,
            workspace_id,
            {
                "webhook_url": "https://hooks.example.com/in",
                "webhook_set_by": uuid.uuid4(),
                "webhook_paused_at": datetime.now(UTC),
            },
        )
    page = await web.client.get(web.url("settings/webhooks"))
    assert 'data-testid="webhook-paused"' in page.text
    assert "Resume sending to this URL" in page.text
    resumed = await web.post(web.url("settings/webhooks/confirm"))
    assert resumed.status_code == 303, resumed.text
    after = await web.client.get(resumed.headers["location"])
    assert 'data-testid="webhook-paused"' not in after.text
    assert "Webhook resumed" in after.text
