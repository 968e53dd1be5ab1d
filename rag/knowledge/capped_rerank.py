"""An owner's search reranked within the workspace's daily LLM token cap.

Chat skips a metered reranker once the owner's daily token cap is reached
(``rag.chat.pipeline``); the search API (``POST /api/v1/workspaces/{id}/search``) does the same
here: before an LLM reranker runs, its most tokens (``Reranker.token_estimate``) are reserved on
today's counter while that is below the cap; past the cap the retrieval order is kept and the
answer says ``reranker_fallback: "daily_token_cap"``. What the call spent is then counted in
place of the reservation (this month and today), or the reservation is given back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TypeVar

from core.db import Database
from rag.knowledge.rerank import Candidate, Reranked, Reranker
from workspaces import usage
from workspaces.models import Workspace

C = TypeVar("C", bound=Candidate)

CAP_REACHED = "daily_token_cap"
"""The fallback a search answers with when the cap kept the reranker from running."""


async def rerank_within_cap(
    db: Database, workspace: Workspace, reranker: Reranker, query: str, items: Sequence[C], k: int
) -> Reranked[C]:
    """``reranker.rerank(query, items, k)``; a metered reranker only with its tokens reserved
    under the daily cap (each in a short transaction of its own: none is open while the model
    runs)."""
    if not reranker.metered:
        return await reranker.rerank(query, items, k)
    async with db.transaction(workspace_id=workspace.id) as session:
        reservation = await usage.reserve_tokens(session, workspace, reranker.token_estimate)
    if reservation is None:
        return Reranked(list(items[:k]), reranker.name, fallback=CAP_REACHED)
    try:
        ranked = await reranker.rerank(query, items, k)
    except BaseException:
        await asyncio.shield(_release(db, reservation))
        raise
    async with db.transaction(workspace_id=workspace.id) as session:
        await usage.settle_tokens(session, reservation, sum(ranked.tokens))
    return ranked


async def _release(db: Database, reservation: usage.TokenReservation) -> None:
    async with db.transaction(workspace_id=reservation.workspace_id) as session:
        await usage.release_tokens(session, reservation)
