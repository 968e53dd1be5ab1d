"""The leads search (email or name contains the text, ignoring case) through the trigram index
of migration 0011b1: the same answers as a plain case-insensitive substring test."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text

from core.db import Database
from tests.conftest import Owner
from workspaces import lead_repository

PEOPLE = [
    ("zoe.quartz@example.com", "Zoë Ångström"),
    ("QUARTZ-sales@example.org", None),
    ("mark@quartzite.io", "Mark Smith"),
    ("100%real@example.net", "Per Cent"),
    ("under_score@example.net", "Under Score"),
]


async def _seed(client: httpx.AsyncClient, owner: Owner) -> None:
    for email, name in PEOPLE:
        body: dict[str, Any] = {"email": email}
        if name:
            body["name"] = name
        response = await client.post(owner.url("/leads"), json=body, headers=owner.headers)
        assert response.status_code == 201, response.text


async def _found(client: httpx.AsyncClient, owner: Owner, q: str) -> set[str]:
    response = await client.get(owner.url("/leads"), params={"q": q}, headers=owner.headers)
    assert response.status_code == 200, response.text
    page = response.json()
    emails = {item["email"] for item in page["items"]}
    assert page["total"] == len(emails)
    return emails


def _expected(q: str) -> set[str]:
    """The plain substring test the index must agree with."""
    return {
        email
        for email, name in PEOPLE
        if q.lower() in email.lower() or (name is not None and q.lower() in name.lower())
    }


async def test_search_answers_like_a_case_insensitive_substring_test(
    client: httpx.AsyncClient, owner: Owner, other: Owner
) -> None:
    await _seed(client, owner)
    await _seed(client, other)  # the same people elsewhere are never listed here
    queries = [
        "quartz",  # the middle of one email, the start of two others
        "QUARTZ",
        "artz-s",
        "zoë",
        "ÅNGSTRÖM",
        "ngs",
        "smith",
        "mark smith",
        "com Zoë",  # spans email and name: matches neither
        "example",
        "qu",  # shorter than a trigram: the plain test alone
        "q",
        "%",
        "0%r",
        "r_s",
        "_",
        "nobody-here",
    ]
    for q in queries:
        assert await _found(client, owner, q) == _expected(q), q
    assert _expected("quartz") == {PEOPLE[0][0], PEOPLE[1][0], PEOPLE[2][0]}
    assert _expected("com Zoë") == set()


async def test_search_follows_edits_of_the_name(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    created = await client.post(
        owner.url("/leads"),
        json={"email": "renamed@example.com", "name": "Before Name"},
        headers=owner.headers,
    )
    lead_id = created.json()["id"]
    assert await _found(client, owner, "before") == {"renamed@example.com"}
    patched = await client.patch(
        owner.url(f"/leads/{lead_id}"), json={"name": "Afterwards"}, headers=owner.headers
    )
    assert patched.status_code == 200, patched.text
    assert await _found(client, owner, "before") == set()
    assert await _found(client, owner, "afterw") == {"renamed@example.com"}
    async with owner_db.transaction() as session:
        grams = (
            await session.execute(
                text("SELECT search_grams = tb_search_grams(email, name) FROM leads WHERE id = :i"),
                {"i": lead_id},
            )
        ).scalar_one()
    assert grams is True


async def test_the_index_function_keeps_to_the_transactions_workspace(
    client: httpx.AsyncClient, owner: Owner, other: Owner, db: Database
) -> None:
    """tb_lead_search_candidates runs as the table's owner: it must return only the leads of the
    workspace the transaction is set to (as the policies would), and none without one."""
    await _seed(client, owner)
    await _seed(client, other)
    query = {"q": "quartz", "p": "%quartz%"}
    sql = text("SELECT tb_lead_search_candidates(:q, :p)")
    ids: dict[str, set[str]] = {}
    for who in (owner, other):
        async with db.transaction(workspace_id=who.workspace_id) as session:
            ids[who.workspace_id] = {str(i) for i in (await session.execute(sql, query)).scalars()}
            listed = await session.execute(
                text("SELECT id FROM leads WHERE workspace_id = :w"), {"w": who.workspace_id}
            )
            mine = {str(i) for i in listed.scalars()}
        assert len(ids[who.workspace_id]) == 3
        async with db.transaction(workspace_id=who.workspace_id) as session:
            assert await lead_repository.search_uses_index(session, "quartz")
            assert not await lead_repository.search_uses_index(session, "qu")
        assert ids[who.workspace_id] <= mine
    assert not ids[owner.workspace_id] & ids[other.workspace_id]
    async with db.transaction() as session:  # no tenant: nothing
        assert (await session.execute(sql, query)).scalars().all() == []
