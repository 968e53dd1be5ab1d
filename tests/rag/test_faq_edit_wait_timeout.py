"""An owner's FAQ edit or delete waits for a CSV import of the workspace however long the
import runs (a 500-row file embedded by a remote provider, up to the request timeout): every
FAQ write takes the FAQ lock first (``faq_repo.lock_faq_quota``), and a wait outlasting the
connections' statement timeout (DB_STATEMENT_TIMEOUT_MS, 15 s by default) is waited again.
Before, the wait was cancelled at the statement timeout: the owner got 500 ``internal_error``
(the edit lost, to be typed again) while the import ran."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from core.db import Database, lock_workspace
from tests.conftest import Owner
from tests.lifecycle.test_erasure_wait_timeout import _waited_again, db
from tests.rag.test_chat import add_faq

__all__ = ["db"]  # the app's database with a short statement timeout (this module's tests)


async def _sent_while_an_import_holds_the_faq_lock(
    owner: Owner, owner_db: Database, request: Coroutine[Any, Any, httpx.Response]
) -> httpx.Response:
    """``request`` sent while another transaction holds the workspace's FAQ lock (as an
    import does), let go once a second statement of it has waited (its first cancelled at the
    statement timeout) or it ended; its answer."""
    async with owner_db.transaction() as session:
        await lock_workspace(session, "faq_quota", uuid.UUID(owner.workspace_id))
        holder = int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())
        send = asyncio.create_task(request)
        await _waited_again(owner_db, holder, send)
    return await send


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_an_faq_edit_waits_for_an_import_longer_than_the_statement_timeout(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database, method: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    faq = await add_faq(client, owner, f"Do you deliver on Sundays {tag}?", "No.")
    body = {"answer": f"Yes, since June {tag}."} if method == "PATCH" else None
    request = client.request(method, owner.url(f"/faqs/{faq}"), json=body, headers=owner.headers)
    answered = await _sent_while_an_import_holds_the_faq_lock(owner, owner_db, request)
    assert answered.status_code == (200 if method == "PATCH" else 204), answered.text
    listing = (await client.get(owner.url("/faqs"), headers=owner.headers)).json()["items"]
    answers = [f["answer"] for f in listing if f["id"] == faq]
    assert answers == ([f"Yes, since June {tag}."] if method == "PATCH" else []), listing
