"""Owners and admins see what their webhook's deliveries became: a paged list with the status,
attempts and last answer or error (no payloads, URLs without their query)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from core.db import Database
from rag.chat import notify
from tests.conftest import Owner, join, signup
from tests.fakes.receiver import receiver
from tests.rag.test_notify import _setup


async def test_owners_page_through_their_webhook_deliveries(
    client: httpx.AsyncClient, owner: Owner, db: Database
) -> None:
    workspace_id = uuid.UUID(owner.workspace_id)
    notifier = notify.Notifier(db, allow_private=True)
    with receiver([404]) as hook:
        url = hook.url("/in?token=s3cret")
        failed_id, _ = await _setup(db, owner, url)
        assert not await notifier.attempt(workspace_id, failed_id)  # 404: tried again later
        delivered_id, _ = await _setup(db, owner, url)
        assert await notifier.attempt(workspace_id, delivered_id)

    response = await client.get(owner.url("/webhook/deliveries"), headers=owner.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [item["id"] for item in body["items"]] == [str(delivered_id), str(failed_id)]
    newest, oldest = body["items"]
    assert (newest["status"], newest["attempts"], newest["last_status_code"]) == (
        "delivered",
        1,
        200,
    )
    assert newest["delivered_at"] is not None
    assert newest["next_attempt_at"] is None
    assert (oldest["status"], oldest["attempts"], oldest["last_status_code"]) == ("pending", 1, 404)
    assert oldest["next_attempt_at"] is not None
    assert oldest["event"] == "conversation.handoff"
    assert uuid.UUID(oldest["event_id"])
    assert oldest["url"] == hook.url("/in")  # the receiver's token is not shown
    assert "s3cret" not in response.text
    assert "payload" not in oldest
    assert "conversation_id" not in response.text  # what the event said

    first = await client.get(owner.url("/webhook/deliveries?limit=1"), headers=owner.headers)
    [item] = first.json()["items"]
    assert item["id"] == str(delivered_id)
    cursor = first.json()["next_cursor"]
    second = await client.get(
        owner.url("/webhook/deliveries"),
        params={"limit": 1, "cursor": cursor},
        headers=owner.headers,
    )
    assert [i["id"] for i in second.json()["items"]] == [str(failed_id)]
    assert second.json()["next_cursor"] is None

    pending = await client.get(
        owner.url("/webhook/deliveries?status=pending"), headers=owner.headers
    )
    assert [i["id"] for i in pending.json()["items"]] == [str(failed_id)]


async def test_bad_parameters_get_a_stable_422(client: httpx.AsyncClient, owner: Owner) -> None:
    for query, code in (
        ("status=lost", "validation_error"),
        ("limit=0", "validation_error"),
        ("limit=100000", "validation_error"),
        ("cursor=not-a-cursor", "invalid_cursor"),
    ):
        response = await client.get(
            owner.url(f"/webhook/deliveries?{query}"), headers=owner.headers
        )
        assert response.status_code == 422, (query, response.text)
        assert response.json()["error"]["code"] == code, query


@pytest.mark.parametrize(("role", "status"), [("member", 403), ("admin", 200), (None, 404)])
async def test_admins_see_the_deliveries_and_members_or_strangers_do_not(
    client: httpx.AsyncClient, owner: Owner, db: Database, role: str | None, status: int
) -> None:
    with receiver() as hook:
        await _setup(db, owner, hook.url())
    person = await signup(client, "Someone")
    if role is not None:
        await join(client, owner, person, role)
    response = await client.get(owner.url("/webhook/deliveries"), headers=person.headers)
    assert response.status_code == status, response.text
    if status == 200:
        assert len(response.json()["items"]) == 1


async def test_a_cursor_is_bound_to_the_status_filter_it_was_handed_out_with(
    client: httpx.AsyncClient, owner: Owner, db: Database
) -> None:
    """A cursor of the unfiltered list, sent with ``status=pending``, gave the pending
    deliveries older than the cursor's row: the newer pending ones were silently skipped (and
    the other way round). A cursor now pages the filter it came from; with another it is 422."""
    workspace_id = uuid.UUID(owner.workspace_id)
    notifier = notify.Notifier(db, allow_private=True)
    with receiver([404, 404, 200]) as hook:
        older_pending, _ = await _setup(db, owner, hook.url())
        assert not await notifier.attempt(workspace_id, older_pending)
        newer_pending, _ = await _setup(db, owner, hook.url())
        assert not await notifier.attempt(workspace_id, newer_pending)
        delivered, _ = await _setup(db, owner, hook.url())
        assert await notifier.attempt(workspace_id, delivered)

    async def page(**params: object) -> httpx.Response:
        return await client.get(
            owner.url("/webhook/deliveries"), params=params, headers=owner.headers
        )

    unfiltered = (await page(limit=2)).json()
    assert [i["id"] for i in unfiltered["items"]] == [str(delivered), str(newer_pending)]
    pending = (await page(limit=1, status="pending")).json()
    assert [i["id"] for i in pending["items"]] == [str(newer_pending)]
    for params in (
        {"status": "pending", "cursor": unfiltered["next_cursor"]},
        {"status": "delivered", "cursor": pending["next_cursor"]},
        {"cursor": pending["next_cursor"]},
    ):
        refused = await page(limit=1, **params)
        assert refused.status_code == 422, (params, refused.text)
        assert refused.json()["error"]["code"] == "invalid_cursor", params
    rest = (await page(limit=1, status="pending", cursor=pending["next_cursor"])).json()
    assert [i["id"] for i in rest["items"]] == [str(older_pending)]
    assert (await page(limit=2, cursor=unfiltered["next_cursor"])).json()["items"][0]["id"] == (
        str(older_pending)
    )
