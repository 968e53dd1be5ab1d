"""Keyset pages: documents and FAQs neither repeat nor skip a row added or deleted between two
reads (and still take the deprecated offset), conversations in ``order=started`` miss none that
gets a message meanwhile, a cursor works only on the list and workspace that handed it out."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import Owner


async def walk(
    client: httpx.AsyncClient, owner: Owner, path: str, between: Any = None, **params: Any
) -> list[str]:
    """Every id of a cursor-paged list, two a page; ``between()`` runs after the first page."""
    seen: list[str] = []
    query: dict[str, Any] = {"limit": 2, **params}
    while True:
        response = await client.get(owner.url(path), params=query, headers=owner.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [item["id"] for item in page["items"]]
        if between is not None and len(seen) == len(page["items"]):
            await between()
        if page["next_cursor"] is None:
            return seen
        query = {**query, "cursor": page["next_cursor"]}


async def made(client: httpx.AsyncClient, owner: Owner, path: str, body: Any) -> str:
    """The id of a row made through the API (202 for a document, 201 otherwise)."""
    response = await client.post(owner.url(path), json=body, headers=owner.headers)
    assert response.status_code in (201, 202), response.text
    return str(response.json()["id"])


async def add_document(client: httpx.AsyncClient, owner: Owner, n: str) -> str:
    return await made(client, owner, "/documents", {"title": f"doc {n}", "text": f"body {n}"})


async def add_faq(client: httpx.AsyncClient, owner: Owner, n: str) -> str:
    body = {"question": f"What is policy number {n}?", "answer": f"Policy {n} applies."}
    return await made(client, owner, "/faqs", body)


async def test_documents_pages_neither_repeat_nor_skip_on_insert_and_delete(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    ids = [await add_document(client, owner, f"{uuid.uuid4().hex[:6]}-{i}") for i in range(5)]
    added: list[str] = []

    async def meanwhile() -> None:
        added.append(await add_document(client, owner, uuid.uuid4().hex[:6]))  # above page 1
        # ids[0] is the oldest, on the last page: its deletion shifted an offset page by one.
        gone = await client.delete(owner.url(f"/documents/{ids[1]}"), headers=owner.headers)
        assert gone.status_code == 204, gone.text

    seen = await walk(client, owner, "/documents", meanwhile)
    assert len(seen) == len(set(seen))
    assert set(seen) == set(ids) - {ids[1]}


async def test_faq_pages_neither_repeat_nor_skip_on_insert(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    ids = [await add_faq(client, owner, f"{uuid.uuid4().hex[:6]}-{i}") for i in range(5)]

    async def meanwhile() -> None:
        await add_faq(client, owner, uuid.uuid4().hex[:6])

    seen = await walk(client, owner, "/faqs", meanwhile)
    assert len(seen) == len(set(seen)) == 5
    assert set(seen) == set(ids)


async def test_offset_still_pages_and_hands_over_to_the_cursor(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """A client of the deprecated offset keeps working; its page's next_cursor continues it."""
    ids = [await add_document(client, owner, f"{uuid.uuid4().hex[:6]}-{i}") for i in range(4)]
    newest_first = ids[::-1]
    page = (
        await client.get(
            owner.url("/documents"), params={"limit": 2, "offset": 1}, headers=owner.headers
        )
    ).json()
    assert [d["id"] for d in page["items"]] == newest_first[1:3]
    assert page["offset"] == 1
    assert page["total"] == 4
    rest = (
        await client.get(
            owner.url("/documents"),
            params={"limit": 2, "cursor": page["next_cursor"]},
            headers=owner.headers,
        )
    ).json()
    assert [d["id"] for d in rest["items"]] == newest_first[3:]
    assert rest["next_cursor"] is None
    both = await client.get(
        owner.url("/faqs"),
        params={"offset": 1, "cursor": page["next_cursor"]},
        headers=owner.headers,
    )
    assert both.status_code == 422, both.text
    assert both.json()["error"]["details"][0]["field"] == "offset"


async def test_conversations_started_order_misses_none_that_gets_a_message(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    ids = []
    for i in range(4):
        response = await client.post(
            owner.url("/chat"), json={"message": f"hello number {i}"}, headers=owner.headers
        )
        assert response.status_code == 200, response.text
        ids.append(response.json()["conversation_id"])

    async def meanwhile() -> None:
        # The oldest, not reached yet: in latest-activity order it jumps above the cursor.
        again = await client.post(
            owner.url("/chat"),
            json={"message": "one more question", "conversation_id": ids[0]},
            headers=owner.headers,
        )
        assert again.status_code == 200, again.text

    seen = await walk(client, owner, "/conversations", meanwhile, order="started")
    assert seen == ids[::-1]
    # The default order is still latest activity (existing clients), by cursor too.
    recent = await walk(client, owner, "/conversations")
    assert recent[0] == ids[0]
    assert sorted(recent) == sorted(ids)


async def test_a_cursor_works_only_on_its_list_and_workspace(
    client: httpx.AsyncClient, owner: Owner, other: Owner
) -> None:
    for i in range(2):
        lead = await client.post(
            owner.url("/leads"),
            json={"email": f"c{i}-{uuid.uuid4().hex[:8]}@example.com"},
            headers=owner.headers,
        )
        assert lead.status_code == 201, lead.text
    cursor = (
        await client.get(owner.url("/leads"), params={"limit": 1}, headers=owner.headers)
    ).json()["next_cursor"]
    assert cursor
    ok = await client.get(owner.url("/leads"), params={"cursor": cursor}, headers=owner.headers)
    assert ok.status_code == 200, ok.text
    refusals = [
        (owner, "/audit"),
        (owner, "/documents"),
        (owner, "/faqs"),
        (owner, "/conversations"),
        (owner, "/api-keys"),
        (other, "/leads"),
    ]
    for who, path in refusals:
        response = await client.get(who.url(path), params={"cursor": cursor}, headers=who.headers)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["error"]["code"] == "invalid_cursor", path
    # A conversation cursor is bound to its order too.
    for i in range(2):
        await client.post(owner.url("/chat"), json={"message": f"hi {i}"}, headers=owner.headers)
    started = (
        await client.get(
            owner.url("/conversations"),
            params={"limit": 1, "order": "started"},
            headers=owner.headers,
        )
    ).json()["next_cursor"]
    mixed = await client.get(
        owner.url("/conversations"), params={"cursor": started}, headers=owner.headers
    )
    assert mixed.status_code == 422
    assert mixed.json()["error"]["code"] == "invalid_cursor"
