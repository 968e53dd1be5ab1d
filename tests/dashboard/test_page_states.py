"""What a page says about what it does not show: a lead's earlier submissions, a search or a
page past the end that matches nothing; and the no-script playground answering its question
with a redirect, so a reload asks nothing again."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import httpx

from api.runtime import Runtime
from core.db import Database
from core.pagination import cursor_scope, encode_key
from tests.conftest import insert_document
from tests.dashboard.conftest import WebOwner
from workspaces import leads, usage_repository
from workspaces import repository as ws_repo
from workspaces.usage import month_key


async def _submissions(runtime: Runtime, web: WebOwner, count: int) -> str:
    """``count`` widget submissions from one visitor, the first message "first of all"."""
    workspace_id = uuid.UUID(web.workspace_id)
    email = f"visitor-{uuid.uuid4().hex[:10]}@example.com"
    lead_id = None
    for i in range(count):
        message = "first of all" if i == 0 else f"message number {i}"
        async with runtime.db.transaction(workspace_id=workspace_id) as session:
            lead_id = await leads.submit_from_visitor(
                session,
                workspace_id=workspace_id,
                values={"email": email, "message": message},
                conversation_id=None,
            )
    return str(lead_id)


def _what_they_sent(page: str) -> str:
    """The lead page's section of submissions."""
    assert "<h2>What they sent</h2>" in page
    return page.split("<h2>What they sent</h2>", 1)[1]


async def test_a_leads_earlier_submissions_are_counted_and_reachable(
    runtime: Runtime, web: WebOwner
) -> None:
    """The page showed the 20 newest submissions and said nothing of the rest."""
    lead_id = await _submissions(runtime, web, 25)
    page = await web.client.get(web.url(f"leads/{lead_id}"))
    assert page.status_code == 200
    sent = _what_they_sent(page.text)
    assert sent.count("message number") == 20
    assert "first of all" not in sent
    assert "20 of 25 shown" in sent
    earlier = re.search(r'href="\?before=([^"]+)" data-testid="earlier-submissions"', page.text)
    assert earlier is not None
    older = await web.client.get(web.url(f"leads/{lead_id}") + "?before=" + earlier.group(1))
    assert older.status_code == 200
    assert "first of all" in _what_they_sent(older.text)
    assert _what_they_sent(older.text).count("message number") == 4
    assert "5 of 25 shown (earlier ones)" in older.text
    assert 'data-testid="earlier-submissions"' not in older.text
    assert f'href="{web.url(f"leads/{lead_id}")}">Newest submissions' in older.text


async def test_empty_pages_say_why_they_are_empty(
    runtime: Runtime, web: WebOwner, owner_db: Database
) -> None:
    """ "No leads yet" showed under a search that matched nothing, and "No documents yet" past
    the last page of documents, beside "1 document"."""
    await _submissions(runtime, web, 1)
    searched = await web.client.get(web.url("leads"), params={"q": "nomatchxyz"})
    assert "No leads yet" not in searched.text
    assert "No leads match this search." in searched.text
    filtered = await web.client.get(web.url("leads"), params={"status": "won"})
    assert "No leads match this search." in filtered.text
    await insert_document(owner_db, uuid.UUID(web.workspace_id), "Price list")
    # A page after the oldest document (its cursor handed out before the rest were deleted).
    scope = cursor_scope("documents", uuid.UUID(web.workspace_id))
    after_all = encode_key(datetime(2000, 1, 1, tzinfo=UTC), uuid.uuid4(), scope=scope)
    past = await web.client.get(web.url("knowledge"), params={"cursor": after_all})
    assert "No documents yet" not in past.text
    assert "No documents on this page." in past.text
    assert f'href="{web.url("knowledge")}">Back to the first' in past.text


async def test_a_workspace_with_no_leads_says_so(client: httpx.AsyncClient, web: WebOwner) -> None:
    page = await web.client.get(web.url("leads"))
    assert "No leads yet." in page.text


async def test_the_no_script_playground_redirects_so_a_reload_asks_nothing_again(
    runtime: Runtime, client: httpx.AsyncClient, web: WebOwner
) -> None:
    """The page answered the POST itself: a reload asked the question again and counted it
    again. Now the POST redirects to the conversation's page, which a reload only reads."""
    asked = await web.post(web.url("playground"), {"message": "hello there"})
    assert asked.status_code == 303, asked.text
    shown_at = asked.headers["location"]
    assert shown_at.startswith(web.url("playground") + "?conversation=")
    first = await web.client.get(shown_at)
    again = await web.client.get(shown_at)  # the reload
    for page in (first, again):
        assert page.status_code == 200
        assert 'data-testid="stage">small talk' in page.text
        assert "hello there" in page.text
    conversation = re.search(
        r'id="conversation-id" name="conversation_id" value="([^"]+)"', first.text
    )
    assert conversation is not None
    followed = await web.post(
        web.url("playground"), {"message": "thanks", "conversation_id": conversation.group(1)}
    )
    assert followed.headers["location"] == shown_at
    both = await web.client.get(shown_at)
    assert both.text.count('data-testid="playground-answer"') == 2
    workspace_id = uuid.UUID(web.workspace_id)
    async with runtime.db.transaction(workspace_id=workspace_id) as session:
        used = await usage_repository.get_usage(
            session, workspace_id=workspace_id, month=month_key()
        )
    assert (used.conversations, used.messages) == (1, 2)  # the reloads asked nothing
    # A visitor's conversation in this workspace is no playground conversation to go on with.
    async with runtime.db.transaction(workspace_id=workspace_id) as session:
        workspace = await ws_repo.get_workspace(session, workspace_id)
        assert workspace is not None
    visitor = await client.post(
        "/api/v1/chat",
        json={"message": "hello", "session_id": f"visitor-{uuid.uuid4().hex[:8]}"},
        headers={"X-Widget-Key": workspace.public_key},
    )
    assert visitor.status_code == 200, visitor.text
    foreign = await web.client.get(
        web.url("playground"), params={"conversation": visitor.json()["conversation_id"]}
    )
    assert foreign.status_code == 404
