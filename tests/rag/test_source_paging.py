"""Sources and a source's syncs page by keyset cursor, as documents and FAQs do: a source or a
sync added or deleted between two reads moves no other one between pages, a cursor works only
on the list (and workspace, and source) that handed it out, and the deprecated ``offset`` still
works (not with a cursor)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from core.db import Database
from rag.knowledge.repository import sources as source_repo
from tests.conftest import Owner
from tests.test_paging import walk


async def add_source(db: Database, owner: Owner) -> str:
    ws = uuid.UUID(owner.workspace_id)
    async with db.transaction(workspace_id=ws) as session:
        source = await source_repo.ensure_source(
            session, ws, url=f"https://example.com/{uuid.uuid4().hex}", kind="page"
        )
    return str(source.id)


async def add_syncs(db: Database, owner: Owner, source_id: str, count: int) -> list[str]:
    ws = uuid.UUID(owner.workspace_id)
    ids = []
    for _ in range(count):  # one transaction each: each its own started_at
        async with db.transaction(workspace_id=ws) as session:
            record = await source_repo.start_sync(
                session, ws, uuid.UUID(source_id), trigger="manual"
            )
            ids.append(str(record.id))
    return ids


async def page(client: httpx.AsyncClient, owner: Owner, path: str, **params: Any) -> httpx.Response:
    return await client.get(owner.url(path), params=params, headers=owner.headers)


async def test_sources_pages_neither_repeat_nor_skip_on_insert_and_delete(
    client: httpx.AsyncClient, owner: Owner, db: Database
) -> None:
    ids = [await add_source(db, owner) for _ in range(5)]
    added: list[str] = []

    async def meanwhile() -> None:
        added.append(await add_source(db, owner))  # above the first page
        gone = await client.delete(owner.url(f"/sources/{ids[1]}"), headers=owner.headers)
        assert gone.status_code == 204, gone.text

    seen = await walk(client, owner, "/sources", meanwhile)
    assert len(seen) == len(set(seen))
    assert set(seen) == set(ids) - {ids[1]}
    first = (await page(client, owner, "/sources", limit=100)).json()
    assert [s["id"] for s in first["items"]] == [*added, *(i for i in ids[::-1] if i != ids[1])]
    assert first["next_cursor"] is None


async def test_syncs_page_by_cursor_bound_to_their_source(
    client: httpx.AsyncClient, owner: Owner, other: Owner, db: Database
) -> None:
    source = await add_source(db, owner)
    sibling = await add_source(db, owner)
    ids = await add_syncs(db, owner, source, 5)
    await add_syncs(db, owner, sibling, 2)
    seen = await walk(client, owner, f"/sources/{source}/syncs")
    assert seen == ids[::-1]  # newest first
    cursor = (await page(client, owner, f"/sources/{source}/syncs", limit=2)).json()["next_cursor"]
    assert cursor
    for who, path in (
        (owner, f"/sources/{sibling}/syncs"),
        (owner, "/sources"),
        (owner, "/documents"),
    ):
        refused = await page(client, who, path, cursor=cursor)
        assert refused.status_code == 422, (path, refused.text)
        assert refused.json()["error"]["code"] == "invalid_cursor"
    sources_cursor = (await page(client, owner, "/sources", limit=1)).json()["next_cursor"]
    for who, path in ((other, "/sources"), (owner, f"/sources/{source}/syncs")):
        refused = await page(client, who, path, cursor=sources_cursor)
        assert refused.status_code == 422, (path, refused.text)
        assert refused.json()["error"]["code"] == "invalid_cursor"


async def test_offset_still_pages_sources_and_syncs_and_hands_over_to_the_cursor(
    client: httpx.AsyncClient, owner: Owner, db: Database
) -> None:
    source = await add_source(db, owner)
    ids = await add_syncs(db, owner, source, 4)
    newest_first = ids[::-1]
    path = f"/sources/{source}/syncs"
    old = (await page(client, owner, path, limit=2, offset=1)).json()
    assert [s["id"] for s in old["items"]] == newest_first[1:3]
    assert (old["offset"], old["total"]) == (1, 4)
    rest = (await page(client, owner, path, limit=2, cursor=old["next_cursor"])).json()
    assert [s["id"] for s in rest["items"]] == newest_first[3:]
    assert rest["next_cursor"] is None
    both = await page(client, owner, path, offset=1, cursor=old["next_cursor"])
    assert both.status_code == 422, both.text
    assert both.json()["error"]["details"][0]["field"] == "offset"
    sources = [source, *[await add_source(db, owner) for _ in range(2)]]
    listed = (await page(client, owner, "/sources", limit=1, offset=1)).json()
    assert [s["id"] for s in listed["items"]] == [sources[1]]
    assert listed["total"] == 3
    assert listed["next_cursor"]
