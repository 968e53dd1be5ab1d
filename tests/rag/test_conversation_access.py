"""Who may read a visitor's conversation and change its status (workspaces/permissions.py:
``conversations.read``, ``conversation.update``). Members work support: they read transcripts
and open, hand off or close conversations, each change audited. An API key reads (an
integration syncs transcripts) but changes nothing: its PATCH was a 200 that left no trace."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from api.runtime import Runtime
from core.errors import Forbidden
from rag.chat import conversations
from tests.conftest import Owner, join, signup
from workspaces import repository as ws_repo
from workspaces.service import Principal, WorkspaceAccess


async def _visitor_conversation(client: httpx.AsyncClient, owner: Owner) -> str:
    """A visitor's chat through the widget; the conversation's id."""
    response = await client.post(
        "/api/v1/chat",
        json={"message": "Do you deliver on Sundays?", "session_id": f"v-{uuid.uuid4().hex}"},
        headers={"X-Widget-Key": owner.workspace["public_key"]},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["conversation_id"])


async def _audit(client: httpx.AsyncClient, owner: Owner, action: str) -> list[dict[str, Any]]:
    response = await client.get(
        owner.url("/audit"), params={"action": action}, headers=owner.headers
    )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_an_api_key_reads_conversations_but_cannot_change_their_status(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    conversation_id = await _visitor_conversation(client, owner)
    made = await client.post(
        owner.url("/api-keys"), json={"name": "helpdesk sync"}, headers=owner.headers
    )
    assert made.status_code == 201, made.text
    key = {"Authorization": f"Bearer {made.json()['key']}"}

    listing = await client.get(owner.url("/conversations"), headers=key)
    assert listing.status_code == 200, listing.text
    assert [c["id"] for c in listing.json()["items"]] == [conversation_id]
    read = await client.get(owner.url(f"/conversations/{conversation_id}"), headers=key)
    assert read.status_code == 200, read.text
    assert read.json()["messages"][0]["text"] == "Do you deliver on Sundays?"

    refused = await client.patch(
        owner.url(f"/conversations/{conversation_id}"), json={"status": "closed"}, headers=key
    )
    assert refused.status_code == 403, refused.text
    error = refused.json()["error"]
    assert error["code"] == "insufficient_role"
    assert error["details"]["action"] == "conversation.update"
    kept = await client.get(owner.url(f"/conversations/{conversation_id}"), headers=owner.headers)
    assert kept.json()["conversation"]["status"] == "open"
    assert await _audit(client, owner, "conversation.updated") == []


async def test_a_members_status_change_is_audited_with_the_status_before_and_after(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    conversation_id = await _visitor_conversation(client, owner)
    member = await signup(client, "Support desk")
    await join(client, owner, member, "member")

    read = await client.get(owner.url(f"/conversations/{conversation_id}"), headers=member.headers)
    assert read.status_code == 200, read.text
    changed = await client.patch(
        owner.url(f"/conversations/{conversation_id}"),
        json={"status": "handoff"},
        headers=member.headers | {"User-Agent": "support-desk/1"},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["status"] == "handoff"

    [entry] = await _audit(client, owner, "conversation.updated")
    assert entry["actor_user_id"] == member.user_id
    assert entry["actor_api_key_id"] is None
    assert (entry["target_type"], entry["target_id"]) == ("conversation", conversation_id)
    assert entry["details"] == {"status": {"from": "open", "to": "handoff"}}
    assert entry["user_agent"] == "support-desk/1"


async def test_an_unknown_conversation_is_404_and_leaves_no_entry(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    missing = await client.patch(
        owner.url(f"/conversations/{uuid.uuid4()}"),
        json={"status": "closed"},
        headers=owner.headers,
    )
    assert missing.status_code == 404, missing.text
    assert missing.json()["error"]["code"] == "not_found"
    assert await _audit(client, owner, "conversation.updated") == []


async def test_the_service_itself_refuses_an_api_keys_status_change(
    client: httpx.AsyncClient, owner: Owner, runtime: Runtime
) -> None:
    """No router in between: ``set_status`` checks the table."""
    conversation_id = uuid.UUID(await _visitor_conversation(client, owner))
    workspace_id = uuid.UUID(owner.workspace_id)
    async with runtime.db.transaction(workspace_id=workspace_id) as session:
        workspace = await ws_repo.get_workspace(session, workspace_id)
        assert workspace is not None
        key = Principal(api_key_id=uuid.uuid4(), api_key_workspace_id=workspace_id)
        access = WorkspaceAccess(workspace, role="admin", principal=key)
        with pytest.raises(Forbidden) as refused:
            await conversations.set_status(
                session, access, conversation_id=conversation_id, status="closed"
            )
    assert refused.value.details["action"] == "conversation.update"
