"""Chat turns waiting for a running erasure of their workspace, one pooled connection per
workspace.

A turn whose message may hold an address or a number, or that opens a conversation in a
session being erased, waits for the erasure out of its turn-gate slot
(``shortcuts.ErasureRunning``, ``shortcuts.after_erasure``), in a transaction of its own. Each
such turn held a pooled connection for as long as the erasure ran: a few visitors typing their
address while one workspace was erased took every connection of the process, and every other
workspace's chat got 503 ``database_busy`` (a pool of 4: an erasure and 3 such turns). Now one
turn of the workspace waits in the database and the others wait for it, in the process
(``ErasureWaits.wait``); then each starts again (and waits again for an erasure begun since).
The shared wait outlives a turn that gives up (its request timed out): the others still wait
for it, and it ends with the erasure."""

from __future__ import annotations

import asyncio
import uuid

from core.db import Database
from rag.chat.shortcuts import after_erasure


class ErasureWaits:
    """The erasures this process's turns wait for: one wait (one pooled connection) per
    workspace, however many turns wait."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._waits: dict[uuid.UUID, asyncio.Task[None]] = {}

    async def wait(self, workspace_id: uuid.UUID) -> None:
        """Until the erasure of the workspace that turned the turn back has committed (or
        rolled back): ``after_erasure``, shared by the workspace's waiting turns."""
        waiting = self._waits.get(workspace_id)
        if waiting is None:
            waiting = asyncio.create_task(after_erasure(self.db, workspace_id))
            self._waits[workspace_id] = waiting
            waiting.add_done_callback(lambda done: self._forget(workspace_id, done))
        await asyncio.shield(waiting)

    def _forget(self, workspace_id: uuid.UUID, done: asyncio.Task[None]) -> None:
        if self._waits.get(workspace_id) is done:
            del self._waits[workspace_id]
        if not done.cancelled():
            done.exception()  # retrieved: a failure is each waiting turn's, not the loop's
