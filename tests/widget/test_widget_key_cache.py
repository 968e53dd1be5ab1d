"""The widget-key cache (workspaces/widget_keys.py): a chat turn skips the workspace lookup, and
a workspace changed behind the cache's back (another process, or SQL) is seen by the next turn,
with nothing recorded or metered twice."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text

from api.runtime import Runtime
from core.db import Database
from tests.conftest import Owner
from workspaces.widget_keys import WidgetKeyCache


async def _chat(client: httpx.AsyncClient, key: str, message: str) -> httpx.Response:
    return await client.post(
        "/api/v1/chat",
        json={"message": message, "session_id": f"s-{uuid.uuid4().hex[:12]}"},
        headers={"X-Widget-Key": key},
    )


class _Begins:
    """Transactions the app's database opens: a session's (SQLAlchemy's "begin") and a direct
    one's (``Database.direct``: a rag turn's read, an answer's write, without a session)."""

    def __init__(self, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self.engine = runtime.db.engine.sync_engine
        event.listen(self.engine, "begin", self._begin)
        opened = runtime.db.direct

        def direct(**kwargs: Any) -> Any:
            self.count += 1
            return opened(**kwargs)

        monkeypatch.setattr(runtime.db, "direct", direct)

    def _begin(self, *_: Any) -> None:
        self.count += 1

    def close(self) -> None:
        event.remove(self.engine, "begin", self._begin)


async def _messages_counted(owner_db: Database, workspace_id: str) -> int:
    async with owner_db.transaction() as session:
        value = (
            await session.execute(
                text(
                    "SELECT coalesce(sum(messages), 0) FROM usage_counters WHERE workspace_id = :w"
                ),
                {"w": workspace_id},
            )
        ).scalar_one()
    return int(value)


async def _messages_stored(owner_db: Database, workspace_id: str) -> int:
    async with owner_db.transaction() as session:
        value = (
            await session.execute(
                text("SELECT count(*) FROM messages WHERE workspace_id = :w AND role = 'user'"),
                {"w": workspace_id},
            )
        ).scalar_one()
    return int(value)


async def test_a_cached_key_skips_the_lookup_and_a_changed_row_is_seen_at_once(
    client: httpx.AsyncClient,
    owner: Owner,
    runtime: Runtime,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = owner.workspace["public_key"]
    workspace_id = owner.workspace["id"]
    assert runtime.widget_keys.seconds > 0
    first = await _chat(client, key, "hello")
    assert first.status_code == 200, first.text
    assert runtime.widget_keys.get(key) is not None

    begins = _Begins(runtime, monkeypatch)
    try:
        second = await _chat(client, key, "hello")
        assert second.status_code == 200
        cached_turn = begins.count
        # A greeting is settled in the turn's first transaction and recorded in its last: two,
        # and no third for the widget key.
        assert cached_turn == 2

        # The row changes behind the cache's back (as another process would change it): the
        # next turn sees the new bot name, after one rolled-back attempt and a fresh lookup.
        async with owner_db.transaction() as session:
            await session.execute(
                text(
                    "UPDATE workspaces SET widget_config = coalesce(widget_config, '{}'::jsonb)"
                    ' || \'{"bot_name": "Quokka"}\'::jsonb WHERE id = :w'
                ),
                {"w": workspace_id},
            )
        begins.count = 0
        third = await _chat(client, key, "hello")
        assert third.status_code == 200
        assert "Quokka" in third.json()["answer"]
        assert begins.count == cached_turn + 2  # the rolled-back attempt's, the lookup's
        begins.count = 0
        fourth = await _chat(client, key, "hello")
        assert "Quokka" in fourth.json()["answer"]
        assert begins.count == cached_turn  # cached again, at the new version
    finally:
        begins.close()
    # Every answered turn was metered and recorded once (the rolled-back attempt left nothing).
    assert await _messages_counted(owner_db, workspace_id) == 4
    assert await _messages_stored(owner_db, workspace_id) == 4


async def test_a_key_rotated_or_a_workspace_deleted_elsewhere_stops_answering_at_once(
    client: httpx.AsyncClient, owner: Owner, other: Owner, runtime: Runtime, owner_db: Database
) -> None:
    old = owner.workspace["public_key"]
    assert (await _chat(client, old, "hello")).status_code == 200
    assert runtime.widget_keys.get(old) is not None
    async with owner_db.transaction() as session:  # rotated by another process
        await session.execute(
            text("UPDATE workspaces SET public_key = :k WHERE id = :w"),
            {"k": f"pk_{uuid.uuid4().hex}", "w": owner.workspace["id"]},
        )
    refused = await _chat(client, old, "hello")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_widget_key"
    assert runtime.widget_keys.get(old) is None
    assert await _messages_counted(owner_db, owner.workspace["id"]) == 1

    key = other.workspace["public_key"]
    assert (await _chat(client, key, "hello")).status_code == 200
    async with owner_db.transaction() as session:
        await session.execute(
            text("UPDATE workspaces SET deleted_at = now() WHERE id = :w"),
            {"w": other.workspace["id"]},
        )
    assert (await _chat(client, key, "hello")).status_code == 401
    assert await _messages_stored(owner_db, other.workspace["id"]) == 1


async def _set_origins(owner_db: Database, workspace_id: str, origins: list[str]) -> None:
    """As another process (or the dashboard on another replica) would change them."""
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "UPDATE workspaces SET widget_config = coalesce(widget_config, '{}'::jsonb)"
                " || jsonb_build_object('allowed_origins', CAST(:o AS jsonb)) WHERE id = :w"
            ),
            {"o": json.dumps(origins), "w": workspace_id},
        )


async def test_a_site_the_owner_just_allowed_is_answered_at_once(
    client: httpx.AsyncClient, owner: Owner, runtime: Runtime, owner_db: Database
) -> None:
    """A refusal is never decided on a cached row: a site added to the allowed origins is
    answered by the next request, and a site still not allowed is still refused."""
    key = owner.workspace["public_key"]
    first_site, new_site = (f"https://{uuid.uuid4().hex[:10]}.example" for _ in range(2))
    await _set_origins(owner_db, owner.workspace["id"], [first_site])
    for _ in range(3):  # the first request notes the widget installed; then it is cached
        ok = await _chat_from(client, key, first_site)
        assert ok.status_code == 200, ok.text
    cached = runtime.widget_keys.get(key)
    assert cached is not None
    assert cached.workspace.widget_config["allowed_origins"] == [first_site]

    await _set_origins(owner_db, owner.workspace["id"], [first_site, new_site])
    answered = await _chat_from(client, key, new_site)
    assert answered.status_code == 200, answered.text
    refused = await _chat_from(client, key, f"https://{uuid.uuid4().hex[:10]}.example")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "origin_not_allowed"


async def _chat_from(client: httpx.AsyncClient, key: str, origin: str) -> httpx.Response:
    return await client.post(
        "/api/v1/chat",
        json={"message": "hello", "session_id": f"s-{uuid.uuid4().hex[:12]}"},
        headers={"X-Widget-Key": key, "Origin": origin},
    )


def test_zero_seconds_caches_nothing() -> None:
    cache = WidgetKeyCache(0)
    cache.put("pk_x", object())  # type: ignore[arg-type]
    assert cache.get("pk_x") is None
    kept = WidgetKeyCache(60)
    kept.put("pk_x", entry := object())  # type: ignore[arg-type]
    assert kept.get("pk_x") is entry
    kept.forget("pk_x")
    assert kept.get("pk_x") is None
