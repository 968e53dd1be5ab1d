"""``PATCH /api/v1/me`` changes the account's display name as the dashboard's account page
does: trimmed, at most 200 characters, one line of plain text, null or blank removing it; the
refusals carry stable codes (``validation_error``, ``invalid_text``)."""

from __future__ import annotations

import httpx

from tests.conftest import Owner


async def _patch(client: httpx.AsyncClient, owner: Owner, body: object) -> httpx.Response:
    return await client.patch("/api/v1/me", json=body, headers=owner.headers)


async def test_the_api_sets_and_removes_the_display_name(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    saved = await _patch(client, owner, {"name": "  Ada Lovelace \u200b"})
    assert saved.status_code == 200, saved.text
    assert saved.json()["name"] == "Ada Lovelace"
    me = await client.get("/api/v1/me", headers=owner.headers)
    assert me.json()["user"]["name"] == "Ada Lovelace"
    removed = await _patch(client, owner, {"name": None})
    assert removed.status_code == 200, removed.text
    assert removed.json()["name"] is None


async def test_a_refused_name_has_a_stable_code_and_changes_nothing(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    assert (await _patch(client, owner, {"name": "Grace"})).status_code == 200
    for body, code in (
        ({"name": "x" * 201}, "validation_error"),
        ({"name": "Grace\nHopper"}, "invalid_text"),
        ({"name": "Grace \u202eHopper"}, "invalid_text"),
        ({"nickname": "G"}, "validation_error"),
    ):
        refused = await _patch(client, owner, body)
        assert refused.status_code == 422, (body, refused.text)
        error = refused.json()["error"]
        assert error["code"] == code, (body, error)
    assert refused.json()["error"]["details"]
    me = await client.get("/api/v1/me", headers=owner.headers)
    assert me.json()["user"]["name"] == "Grace"
    assert (await client.patch("/api/v1/me", json={"name": "X"})).status_code == 401
