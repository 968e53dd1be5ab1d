"""SIGTERM for a one-off command (`trulybot migrate`, `trulybot reindex`): the command's
coroutine cancelled, as asyncio.run does on SIGINT, so that its statement under way is
cancelled in the server, its transaction rolled back and its locks released before the process
ends. Python's default for SIGTERM ended the process at once: its backends stayed in the
server, running (or waiting for a lock) with their locks held, for as long as their statement
took."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class StoppedBySignal(Exception):
    """The command's coroutine was cancelled by SIGTERM, and has unwound."""


def run_stoppable(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, with SIGTERM cancelling ``main`` (then ``StoppedBySignal``).
    Off the main thread (signals go to it alone) it is ``asyncio.run``."""
    if threading.current_thread() is not threading.main_thread():
        return asyncio.run(main)
    return asyncio.run(_stoppable(main))


async def _stoppable(main: Coroutine[Any, Any, T]) -> T:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    stopped: list[int] = []

    def stop() -> None:
        stopped.append(signal.SIGTERM)
        task.cancel()

    loop.add_signal_handler(signal.SIGTERM, stop)
    try:
        return await main
    except asyncio.CancelledError:
        if not stopped:
            raise
        task.uncancel()
        raise StoppedBySignal from None
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
