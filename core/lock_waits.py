"""An advisory lock waited for however long its holder runs: ``core.db.lock_workspace``'s wait
is one statement, which the connections' statement timeout (DB_STATEMENT_TIMEOUT_MS) cancels;
``wait_out`` waits again, the request's own timeout its bound."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import lock_workspace
from core.db_reach import QUERY_CANCELED, sqlstate


async def wait_out(
    session: AsyncSession, purpose: str, workspace_id: uuid.UUID, *, shared: bool = False
) -> None:
    """``lock_workspace`` however long its holder keeps it: a wait the statement timeout
    cancels is rolled back to its savepoint and waited again; the transaction keeps its tenant
    context and what it did before. Taken at once when free (no savepoint)."""
    if await lock_workspace(session, purpose, workspace_id, shared=shared, wait=False):
        return
    while True:
        try:
            async with session.begin_nested():
                await lock_workspace(session, purpose, workspace_id, shared=shared)
            return
        except DBAPIError as exc:
            if sqlstate(exc) != QUERY_CANCELED:
                raise
