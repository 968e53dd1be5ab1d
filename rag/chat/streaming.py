"""Streamed answers that outlive their listener.

A streamed turn's answer is written and recorded by a task of its own (``StreamedTurns.relay``):
a visitor who leaves mid-answer (the widget closed, a dropped connection) stops receiving events,
not the turn, so the transcript holds the whole answer and the model's tokens are metered. The
task starts with the first event asked for, before it leaves. ``drain`` waits for such turns at
shutdown, at most a given time, then cancels those left (each gives back its reservation).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

CANCELLED_SECONDS = 5.0
"""How long ``drain`` waits for the turns it cancelled to give back what they hold (one short
transaction each)."""

Event = tuple[str, dict[str, Any]]
Emit = Callable[[str, dict[str, Any]], None]
"""What a writer calls for each event: ``emit("delta", {"text": ...})``."""


def _log_unheard_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("a streamed answer failed after its visitor left", exc_info=exc)


class StreamedTurns:
    """The streamed turns still being written, whether their visitors still listen."""

    def __init__(self) -> None:
        self._writing: set[asyncio.Task[None]] = set()

    async def relay(
        self, first: Event, write: Callable[[Emit], Awaitable[None]]
    ) -> AsyncGenerator[Event, None]:
        """``first``, then what ``write`` emits, as it emits it; ``write`` runs in a task that
        goes on when the consumer stops listening. Its failure is raised here to a listener
        (the stream's error event), and logged when nobody listens."""
        events: asyncio.Queue[Event | None] = asyncio.Queue()

        async def run() -> None:
            try:
                await write(lambda kind, data: events.put_nowait((kind, data)))
            finally:
                events.put_nowait(None)

        task = asyncio.create_task(run())
        self._writing.add(task)
        task.add_done_callback(self._writing.discard)
        listened = False
        try:
            yield first
            while (event := await events.get()) is not None:
                yield event
            listened = True
        finally:
            if not listened:
                task.add_done_callback(_log_unheard_failure)
        await task

    async def drain(self, within_seconds: float | None = None) -> None:
        """Wait for the turns still being written, at most ``within_seconds`` (shutdown: the
        orchestrator's grace period is finite); the turns left are logged and cancelled, and
        given ``CANCELLED_SECONDS`` to give back what they hold (their reservation under the
        daily token cap, settled to what their model wrote; their claim on the message) while
        the database is still open. Left to the event loop's end they held it all day."""
        loop = asyncio.get_running_loop()
        deadline = None if within_seconds is None else loop.time() + within_seconds
        while self._writing:
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                log.warning("shutdown: %d streamed answers not recorded", len(self._writing))
                await asyncio.sleep(0)  # a turn whose task has not run yet starts first
                left_over = list(self._writing)
                for task in left_over:
                    task.cancel()
                await asyncio.wait(left_over, timeout=CANCELLED_SECONDS)
                return
            await asyncio.wait(list(self._writing), timeout=left)
