"""API keys: at most MAX_LIVE_API_KEYS live ones per workspace (409 too_many_api_keys past
it), listed live only by default (``revoked=true``: the revoked ones), newest first, in pages
that a cursor header continues."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text

from core.db import Database
from tests.conftest import Owner
from workspaces.team import MAX_LIVE_API_KEYS


async def insert_keys(owner_db: Database, owner: Owner, count: int) -> list[str]:
    """``count`` live keys written straight to the table (one second apart, newest last)."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ids = [str(uuid.uuid4()) for _ in range(count)]
    async with owner_db.transaction() as session:
        for n, key_id in enumerate(ids):
            await session.execute(
                text(
                    "INSERT INTO api_keys (id, workspace_id, name, prefix, key_hash, created_at)"
                    " VALUES (:id, :w, :name, :prefix, 'x', :at)"
                ),
                {
                    "id": key_id,
                    "w": owner.workspace_id,
                    "name": f"bulk {n}",
                    "prefix": uuid.uuid4().hex[:16],
                    "at": start + timedelta(seconds=n),
                },
            )
    return ids


async def test_live_keys_are_capped_and_a_revoked_one_frees_a_place(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    ids = await insert_keys(owner_db, owner, MAX_LIVE_API_KEYS)
    refused = await client.post(
        owner.url("/api-keys"), json={"name": "one more"}, headers=owner.headers
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "too_many_api_keys"
    assert refused.json()["error"]["details"] == [{"limit": MAX_LIVE_API_KEYS}]

    revoked = await client.delete(owner.url(f"/api-keys/{ids[0]}"), headers=owner.headers)
    assert revoked.status_code == 204, revoked.text
    made = await client.post(
        owner.url("/api-keys"), json={"name": "one more"}, headers=owner.headers
    )
    assert made.status_code == 201, made.text


async def test_the_list_is_live_keys_in_pages_and_revoked_ones_on_request(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    ids = await insert_keys(owner_db, owner, 7)
    gone = await client.delete(owner.url(f"/api-keys/{ids[2]}"), headers=owner.headers)
    assert gone.status_code == 204, gone.text

    whole = await client.get(owner.url("/api-keys"), headers=owner.headers)
    assert whole.status_code == 200, whole.text
    live = [i for i in ids if i != ids[2]][::-1]
    assert [k["id"] for k in whole.json()] == live
    assert "x-next-cursor" not in whole.headers

    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 4}
    while True:
        page = await client.get(owner.url("/api-keys"), params=params, headers=owner.headers)
        assert page.status_code == 200, page.text
        seen += [k["id"] for k in page.json()]
        if "x-next-cursor" not in page.headers:
            break
        assert page.headers["link"].endswith('rel="next"')
        params = {"limit": 4, "cursor": page.headers["x-next-cursor"]}
    assert seen == live

    old = await client.get(
        owner.url("/api-keys"), params={"revoked": "true"}, headers=owner.headers
    )
    assert [k["id"] for k in old.json()] == [ids[2]]
    assert old.json()[0]["revoked_at"] is not None


async def test_a_keys_name_is_read_as_the_team_page_reads_it(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """The Team page's form trims a key's name and refuses a blank one; the API stored " " (a
    key listed with no name) and line breaks as they came. Now both trim, drop control
    characters and refuse what leaves nothing to read (422)."""
    for blank in (" ", "\u200b\t", "\n"):
        refused = await client.post(
            owner.url("/api-keys"), json={"name": blank}, headers=owner.headers
        )
        assert refused.status_code == 422, (blank, refused.text)
    made = await client.post(
        owner.url("/api-keys"), json={"name": "  CRM\nsync  "}, headers=owner.headers
    )
    assert made.status_code == 201, made.text
    assert made.json()["name"] == "CRMsync"
