"""A visitor's session lock (``rag.chat.session_locks``) and the workspace's other advisory
locks: the session's was keyed by 32-bit hashes, ``hashtext`` of ``visitor_session:<id>`` and
of the workspace, the very key ``lock_workspace`` gives any purpose of the workspace. A session
id (the visitor's to choose) whose hash met a document title's (``lock_document_source``)
was turned back while an ingestion held that title, as if an erasure held the session; no
erasure of the workspace to wait for, the turn started again and again until the ingestion
committed, or its request timed out. Now the session's lock has a 64-bit key of its own."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from api.runtime import Runtime
from core.db import Database
from rag.chat import session_locks
from rag.knowledge.repository import documents as document_repo
from tests.conftest import Owner

# A 32-bit collision, found by the search the first test describes.
SESSION_ID, TITLE = "v110794", "Title 224154"


async def test_the_pair_of_keys_collides_in_32_bits(owner_db: Database) -> None:
    """What the next test stands on (the search: a join of ``hashtext`` of 'visitor_session:v'
    || i and of 'document_source:text:Title ' || i, i up to 300,000)."""
    async with owner_db.transaction() as session:
        same = await session.scalar(
            text("SELECT hashtext(:a) = hashtext(:b)"),
            {"a": f"visitor_session:{SESSION_ID}", "b": f"document_source:text:{TITLE}"},
        )
    assert same is True


async def test_a_session_whose_hash_meets_a_held_title_is_not_taken_for_erased(
    runtime: Runtime, owner: Owner
) -> None:
    ws = uuid.UUID(owner.workspace_id)
    async with runtime.db.transaction(workspace_id=ws) as ingesting:
        await document_repo.lock_document_source(ingesting, ws, "text", TITLE)
        async with runtime.db.transaction(workspace_id=ws) as turn:
            # Was False: the turn raised ErasureRunning, and spun while the title was held.
            assert await session_locks.no_erasure_of(turn, ws, SESSION_ID)


async def test_an_erasure_of_the_session_still_turns_a_new_conversation_back(
    runtime: Runtime, owner: Owner
) -> None:
    ws, session_id = uuid.UUID(owner.workspace_id), f"s-{uuid.uuid4().hex}"
    async with runtime.db.transaction(workspace_id=ws) as erasing:
        await session_locks.lock_for_erasure(erasing, ws, [session_id])
        async with runtime.db.transaction(workspace_id=ws) as turn:
            assert not await session_locks.no_erasure_of(turn, ws, session_id)
            assert await session_locks.no_erasure_of(turn, ws, f"s-{uuid.uuid4().hex}")
    async with runtime.db.transaction(workspace_id=ws) as turn:  # the erasure committed
        assert await session_locks.no_erasure_of(turn, ws, session_id)


async def test_an_erasure_of_a_session_id_leaves_another_workspace_s_same_id_alone(
    runtime: Runtime, owner: Owner, other: Owner
) -> None:
    """The key holds the workspace: an erasure in one workspace does not turn back a visitor
    of another using the same session id (which the visitor chooses). Keyed by the session id
    alone, that visitor was turned back, and, no erasure of their workspace running, started
    again and again until the erasure committed."""
    ws, theirs = uuid.UUID(owner.workspace_id), uuid.UUID(other.workspace_id)
    session_id = f"s-{uuid.uuid4().hex}"
    async with runtime.db.transaction(workspace_id=ws) as erasing:
        await session_locks.lock_for_erasure(erasing, ws, [session_id])
        async with runtime.db.transaction(workspace_id=theirs) as turn:
            assert await session_locks.no_erasure_of(turn, theirs, session_id)
