"""A visitor's browser session between a chat turn opening a conversation in it and an erasure
taking its conversations (by session id; by email or phone, the other conversations of the
sessions the visitor's conversations were in).

The erasure read the session's conversations, then locked them: one a turn opened after that,
before the erasure committed, took nothing the erasure held and committed first (READ
COMMITTED), so it outlived the erasure that reported the session erased. Now each holds the
session's advisory lock until its commit: the erasure exclusive, taken before it reads the
session's conversations; a turn opening a conversation shared (turns never wait for one
another), first in its transaction and without waiting (``shortcuts.wait_for_erasure``: while
an erasure holds it, the turn waits for the erasure out of its gate slot, then opens its
conversation after it). A turn in a conversation it already has needs none: the erasure locks
that conversation's row.

The session's lock is keyed by a 64-bit hash of the workspace and the session id
(``core.advisory.lock_key``). It was ``lock_workspace``'s pair of 32-bit hashes: a session id (the
visitor's to choose) whose hash met another purpose's (a document title an ingestion held,
the FAQ lock) was turned back while that was held, as if erased, and, no erasure of the
workspace to wait for, started again and again until it was let go or the request timed out."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from core.advisory import lock_key

SESSION_LOCK = "visitor_session"


def _key(workspace_id: uuid.UUID, session_id: str) -> str:
    return f"{SESSION_LOCK}:{workspace_id}:{session_id}"


async def lock_for_erasure(
    session: AsyncSession, workspace_id: uuid.UUID, session_ids: Iterable[str]
) -> None:
    """Hold these sessions (exclusive) until the erasure commits: waits for the turns opening
    a conversation in one, and makes the next ones wait. In one order (two erasures of a
    workspace never run at once: they hold ``leads.ERASURE_LOCK`` first)."""
    for session_id in sorted(set(session_ids)):
        await lock_key(session, _key(workspace_id, session_id))


async def no_erasure_of(session: AsyncSession, workspace_id: uuid.UUID, session_id: str) -> bool:
    """A turn opening a conversation in ``session_id``: whether no erasure holds the session
    (the lock then held, shared, until the turn's transaction ends). Never waits."""
    return await lock_key(session, _key(workspace_id, session_id), shared=True, wait=False)
