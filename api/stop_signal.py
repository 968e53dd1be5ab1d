"""SIGTERM (and Ctrl-C's SIGINT) for a one-off command (`trulybot migrate`, `reindex`,
`recount-lexical`, `ingest`, `eval`, `billing reconcile`): the command's coroutine cancelled,
so that its statement under way is cancelled in the server, its transaction rolled back and
its locks released before the process ends. Python's default for SIGTERM ended the process
at once: its backends stayed in the server, running (or waiting for a lock) with their locks
held, for as long as their statement took.

A second signal while the first one's stop runs ends the process at once, as the signal does
by default (a rollback on a connection that went away could wait minutes, and Ctrl-C again
did nothing). A signal ignored when the command started (SIGINT in a script's background
job) stays ignored, as Python and asyncio leave it, and each signal's handler is the one it
had before once the command is over."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StoppedBySignal(Exception):
    """The command's coroutine was cancelled by ``signal_name`` and has unwound; what it
    raised as it did (``core.migrate.MigrationStopped``...) is the ``__cause__``."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


def run_stoppable(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, with SIGTERM and SIGINT cancelling ``main`` (then
    ``StoppedBySignal``). Off the main thread (signals go to it alone) it is ``asyncio.run``."""
    if threading.current_thread() is not threading.main_thread():
        return asyncio.run(main)
    return asyncio.run(_stoppable(main))


def run_command(main: Coroutine[Any, Any, T], stopped: str) -> T:
    """``run_stoppable(main)`` for a command: a stop ends it with ``stopped`` (its ``{signal}``
    the signal's name: what the stop left and what to run next), exit status 1."""
    try:
        return run_stoppable(main)
    except StoppedBySignal as exc:
        raise SystemExit(stopped.format(signal=exc.signal_name)) from None


async def _stoppable(main: Coroutine[Any, Any, T]) -> T:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    before = {signum: signal.getsignal(signum) for signum in SIGNALS}
    taken = [signum for signum, handler in before.items() if handler is not signal.SIG_IGN]
    stopped: list[signal.Signals] = []

    def stop(signum: signal.Signals) -> None:
        stopped.append(signum)
        if len(stopped) == 1:
            task.cancel()
            return
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    for signum in taken:
        loop.add_signal_handler(signum, stop, signum)
    try:
        return await main
    except Exception as exc:
        if not stopped:
            raise
        raise StoppedBySignal(stopped[0].name) from exc
    except asyncio.CancelledError:
        if not stopped:
            raise
        task.uncancel()
        raise StoppedBySignal(stopped[0].name) from None
    finally:
        for signum in taken:
            loop.remove_signal_handler(signum)
            if (handler := before[signum]) is not None:  # None: set outside Python
                signal.signal(signum, handler)
