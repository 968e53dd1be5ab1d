"""A list's cursor belongs to the filter it was handed out with: the documents' ``status``, the
audit log's ``action``, the leads' ``status``, ``q`` and dates (API and dashboard). Sent with
another filter it gave that filter's rows older than the cursor's row, silently skipping the
newer ones; now it is 422 ``invalid_cursor``, and the same filter's cursor still pages on."""

from __future__ import annotations

import uuid
from datetime import timedelta, timezone
from typing import Any

import httpx
from sqlalchemy import text

from core.db import Database
from core.models import utcnow
from tests.conftest import Owner
from tests.dashboard.conftest import web_login


async def _page(
    client: httpx.AsyncClient, owner: Owner, path: str, **params: Any
) -> httpx.Response:
    return await client.get(owner.url(path), params=params, headers=owner.headers)


def _ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def _refused(client: httpx.AsyncClient, owner: Owner, path: str, **params: Any) -> None:
    response = await _page(client, owner, path, **params)
    assert response.status_code == 422, (params, response.text)
    assert response.json()["error"]["code"] == "invalid_cursor", params


async def _documents(owner_db: Database, owner: Owner, statuses: list[str]) -> list[str]:
    """Documents in these statuses, oldest first (a minute apart), made as the owner; their
    ids."""
    ids: list[str] = []
    start = utcnow() - timedelta(hours=1)
    async with owner_db.transaction() as session:
        for i, status in enumerate(statuses):
            document_id = uuid.uuid4()
            await session.execute(
                text(
                    "INSERT INTO documents (id, workspace_id, title, source_type, source, status,"
                    " created_at) VALUES (:d, :w, :t, 'text', :src, :s, :c)"
                ),
                {
                    "d": document_id,
                    "w": owner.workspace_id,
                    "t": f"doc {document_id.hex[:8]}",
                    "src": f"doc {document_id.hex[:8]}",
                    "s": status,
                    "c": start + timedelta(minutes=i),
                },
            )
            ids.append(str(document_id))
    return ids


async def test_a_documents_cursor_belongs_to_its_status_filter(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    old_ready, old_failed, ready, failed = await _documents(
        owner_db, owner, ["ready", "failed", "ready", "failed"]
    )
    every = await _page(client, owner, "/documents", limit=2)
    assert _ids(every) == [failed, ready]
    only_ready = await _page(client, owner, "/documents", limit=1, status="ready")
    assert _ids(only_ready) == [ready]
    await _refused(client, owner, "/documents", status="ready", cursor=every.json()["next_cursor"])
    await _refused(client, owner, "/documents", cursor=only_ready.json()["next_cursor"])
    await _refused(
        client, owner, "/documents", status="failed", cursor=only_ready.json()["next_cursor"]
    )
    # Each cursor still pages the filter it came from.
    rest = await _page(
        client, owner, "/documents", status="ready", cursor=only_ready.json()["next_cursor"]
    )
    assert _ids(rest) == [old_ready]
    assert _ids(await _page(client, owner, "/documents", cursor=every.json()["next_cursor"])) == [
        old_failed,
        old_ready,
    ]


async def test_an_audit_cursor_belongs_to_its_action_filter(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    for i in range(3):
        made = await client.post(
            owner.url("/faqs"),
            json={"question": f"Cursor question {i} {uuid.uuid4().hex[:6]}?", "answer": "Yes."},
            headers=owner.headers,
        )
        assert made.status_code == 201, made.text
        if i == 1:  # another action between the FAQs
            key = await client.post(
                owner.url("/api-keys"), json={"name": "cursor"}, headers=owner.headers
            )
            assert key.status_code == 201, key.text
    every = await _page(client, owner, "/audit", limit=1)
    faqs = await _page(client, owner, "/audit", limit=1, action="faq.created")
    assert every.json()["next_cursor"]
    assert faqs.json()["next_cursor"]
    await _refused(
        client, owner, "/audit", action="faq.created", cursor=every.json()["next_cursor"]
    )
    await _refused(client, owner, "/audit", cursor=faqs.json()["next_cursor"])
    await _refused(client, owner, "/audit", action="x.y", cursor=faqs.json()["next_cursor"])
    walked = _ids(faqs)
    cursor = faqs.json()["next_cursor"]
    while cursor:
        page = await _page(client, owner, "/audit", limit=1, action="faq.created", cursor=cursor)
        walked += _ids(page)
        cursor = page.json()["next_cursor"]
    assert len(walked) == 3


async def _leads(client: httpx.AsyncClient, owner: Owner) -> dict[str, str]:
    """Leads oldest first: two of them "won"; by name, their ids."""
    tag = uuid.uuid4().hex[:8]
    ids: dict[str, str] = {}
    for name in ("old-won", "new-a", "won", "new-b"):
        lead = await client.post(
            owner.url("/leads"),
            json={"email": f"{name}-{tag}@example.com", "name": name},
            headers=owner.headers,
        )
        assert lead.status_code == 201, lead.text
        ids[name] = lead.json()["id"]
        if "won" in name:
            worked = await client.patch(
                owner.url(f"/leads/{ids[name]}"), json={"status": "won"}, headers=owner.headers
            )
            assert worked.status_code == 200, worked.text
    return ids


async def test_a_leads_cursor_belongs_to_its_filters(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    ids = await _leads(client, owner)
    every = await _page(client, owner, "/leads", limit=2)
    assert _ids(every) == [ids["new-b"], ids["won"]]
    cursor = every.json()["next_cursor"]
    for params in (
        {"status": "won"},
        {"q": "won"},
        {"created_after": (utcnow() - timedelta(days=1)).isoformat()},
        {"created_before": (utcnow() + timedelta(days=1)).isoformat()},
    ):
        await _refused(client, owner, "/leads", cursor=cursor, **params)
    won = await _page(client, owner, "/leads", limit=1, status="won")
    assert _ids(won) == [ids["won"]]
    await _refused(client, owner, "/leads", cursor=won.json()["next_cursor"])
    await _refused(client, owner, "/leads", status="won", q="x", cursor=won.json()["next_cursor"])
    rest = await _page(client, owner, "/leads", status="won", cursor=won.json()["next_cursor"])
    assert _ids(rest) == [ids["old-won"]]
    # The same instant written with another offset is the same filter.
    since = utcnow() - timedelta(days=1)
    dated = await _page(client, owner, "/leads", limit=3, created_after=since.isoformat())
    assert _ids(dated) == [ids["new-b"], ids["won"], ids["new-a"]]
    india = since.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat()
    last = await _page(
        client, owner, "/leads", created_after=india, cursor=dated.json()["next_cursor"]
    )
    assert _ids(last) == [ids["old-won"]]
    # The same search, written the same way, continues.
    found = await _page(client, owner, "/leads", limit=1, q="new-")
    assert _ids(found) == [ids["new-b"]]
    more = await _page(client, owner, "/leads", q="new-", cursor=found.json()["next_cursor"])
    assert _ids(more) == [ids["new-a"]]


async def test_the_dashboard_leads_page_refuses_another_filters_cursor(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    ids = await _leads(client, owner)
    assert (await web_login(client, owner.email, owner.password)).status_code == 303
    url = f"/app/w/{owner.workspace_id}/leads"
    first = await client.get(url, params={"status": "won"})
    assert first.status_code == 200, first.text
    every = await _page(client, owner, "/leads", limit=1)
    cursor = every.json()["next_cursor"]
    # The API's cursor of the unfiltered list is the dashboard's too (same list, same scope).
    unfiltered = await client.get(url, params={"cursor": cursor})
    assert unfiltered.status_code == 200, unfiltered.text
    assert ids["won"] in unfiltered.text
    refused = await client.get(url, params={"status": "won", "cursor": cursor})
    assert refused.status_code == 422, refused.text
    assert "another list" in refused.text
    searched = await client.get(url, params={"q": "won", "cursor": cursor})
    assert searched.status_code == 422, searched.text


async def _conversations(
    owner_db: Database, owner: Owner, statuses: list[str], hours_ago: int
) -> list[str]:
    """Conversations in these statuses, oldest first (started and last active a minute apart,
    from ``hours_ago``); their ids."""
    ids: list[str] = []
    start = utcnow() - timedelta(hours=hours_ago)
    async with owner_db.transaction() as session:
        for i, status in enumerate(statuses):
            conversation_id = uuid.uuid4()
            await session.execute(
                text(
                    "INSERT INTO conversations (id, workspace_id, session_id, channel, status,"
                    " created_at, last_message_at) VALUES (:c, :w, :s, 'widget', :st, :t, :t)"
                ),
                {
                    "c": conversation_id,
                    "w": owner.workspace_id,
                    "s": f"cursor-{conversation_id.hex[:12]}",
                    "st": status,
                    "t": start + timedelta(minutes=i),
                },
            )
            ids.append(str(conversation_id))
    return ids


async def test_a_conversations_cursor_belongs_to_its_status_filter(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    for hours_ago, order in ((10, "recent"), (9, "started")):  # each round's are the newest
        old_open, old_closed, open_, closed = await _conversations(
            owner_db, owner, ["open", "closed", "open", "closed"], hours_ago
        )
        every = await _page(client, owner, "/conversations", limit=2, order=order)
        assert _ids(every) == [closed, open_]
        only_open = await _page(
            client, owner, "/conversations", limit=1, status="open", order=order
        )
        assert _ids(only_open) == [open_]
        await _refused(
            client,
            owner,
            "/conversations",
            status="open",
            order=order,
            cursor=every.json()["next_cursor"],
        )
        await _refused(
            client, owner, "/conversations", order=order, cursor=only_open.json()["next_cursor"]
        )
        rest = await _page(
            client,
            owner,
            "/conversations",
            status="open",
            order=order,
            limit=1,
            cursor=only_open.json()["next_cursor"],
        )
        assert _ids(rest) == [old_open]
        assert old_closed in _ids(
            await _page(
                client, owner, "/conversations", order=order, cursor=every.json()["next_cursor"]
            )
        )


async def test_the_api_searches_conversations_and_a_cursor_keeps_its_search(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    """``q`` on the API's conversations, as on the dashboard's: those with a message containing
    it, ignoring case; a cursor belongs to its search; a NUL or more than 200 characters is a
    422 with its code."""
    older, newer, other = await _conversations(owner_db, owner, ["open", "open", "open"], 8)
    marker = uuid.uuid4().hex[:8]
    async with owner_db.transaction() as session:
        for conversation_id, words in (
            (older, f"Can I get a REFUND {marker}?"),
            (newer, f"refund {marker} please"),
            (other, "opening hours"),
        ):
            await session.execute(
                text(
                    "INSERT INTO messages (id, workspace_id, conversation_id, role, text)"
                    " VALUES (gen_random_uuid(), :w, :c, 'user', :t)"
                ),
                {"w": owner.workspace_id, "c": conversation_id, "t": words},
            )
    for order in ("recent", "started"):
        found = await _page(client, owner, "/conversations", q=f"refund {marker}", order=order)
        assert _ids(found) == [newer, older]
        first = await _page(
            client, owner, "/conversations", q=f"refund {marker}", order=order, limit=1
        )
        assert _ids(first) == [newer]
        cursor = first.json()["next_cursor"]
        await _refused(client, owner, "/conversations", order=order, cursor=cursor)
        rest = await _page(
            client, owner, "/conversations", q=f"refund {marker}", order=order, cursor=cursor
        )
        assert _ids(rest) == [older]
    for q, code in (("a\x00b", "invalid_text"), ("x" * 201, "validation_error")):
        refused = await _page(client, owner, "/conversations", q=q)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == code
