"""api/stop_signal.py on its own: what a one-off command's SIGTERM and SIGINT do to the process
around the command (tests/test_operator_stop.py has what they do to the database)."""

from __future__ import annotations

import asyncio
import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from types import FrameType

import pytest

from api.stop_signal import StoppedBySignal, run_stoppable
from tests.conftest import ROOT

GUARD = 120  # seconds: a guard against hanging, never an assertion on time


@pytest.fixture
def handlers() -> Iterator[None]:
    """The test process's own handlers, put back whatever a test leaves."""
    kept = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in kept.items():
        signal.signal(signum, handler)


async def _signalled(signum: signal.Signals) -> str:
    """Sends itself ``signum``, then SIGUSR1, and returns once SIGUSR1's handler ran: the loop
    has handled ``signum`` by then (delivered first, its callback queued first)."""
    loop = asyncio.get_running_loop()
    seen = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, seen.set)
    try:
        os.kill(os.getpid(), signum)
        os.kill(os.getpid(), signal.SIGUSR1)
        await seen.wait()
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
    return "finished"


def _mine(signum: int, frame: FrameType | None) -> None:
    """A handler of the caller's own."""


@pytest.mark.usefixtures("handlers")
def test_a_signal_ignored_at_the_start_stays_ignored() -> None:
    """A script's background job starts with SIGINT ignored (so that Ctrl-C stops the script,
    not its jobs); Python and asyncio leave it so. run_stoppable took it over: Ctrl-C on the
    script stopped a `trulybot migrate &` too, and left SIGINT handled after the command."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    assert run_stoppable(_signalled(signal.SIGINT)) == "finished"
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN


@pytest.mark.usefixtures("handlers")
def test_the_handlers_before_the_command_are_back_after_it() -> None:
    """Each signal's handler is the caller's again once the command is over, stopped or not
    (it was SIG_DFL for SIGTERM whatever it had been)."""
    signal.signal(signal.SIGTERM, _mine)
    sigint = signal.getsignal(signal.SIGINT)
    assert run_stoppable(asyncio.sleep(0, result=7)) == 7
    assert signal.getsignal(signal.SIGTERM) is _mine
    with pytest.raises(StoppedBySignal) as stopped:
        run_stoppable(_signalled(signal.SIGTERM))
    assert stopped.value.signal_name == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is _mine
    assert signal.getsignal(signal.SIGINT) is sigint


HANGS_AS_IT_STOPS = """
import asyncio, signal
from api.stop_signal import run_stoppable

signal.signal(signal.SIGINT, signal.default_int_handler)  # as started at a terminal

async def main():
    try:
        print("running", flush=True)
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        print("rolling back", flush=True)
        await asyncio.Event().wait()  # a rollback on a connection that went away

run_stoppable(main())
"""


def _line(process: subprocess.Popen[str]) -> str:
    """The child's next line, or a failure if none comes (never a hanging test)."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], GUARD)
    assert ready, "no line from the child"
    return process.stdout.readline()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_second_signal_ends_a_stop_that_hangs(signum: signal.Signals) -> None:
    """The first signal cancels the command; its rollback waits on a server that does not
    answer. The second signal ended nothing (before run_stoppable, Ctrl-C twice did): the
    operator had only SIGKILL. Now it ends the process as the signal does by default."""
    process = subprocess.Popen(
        [sys.executable, "-c", HANGS_AS_IT_STOPS],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert _line(process) == "running\n"
        process.send_signal(signum)
        assert _line(process) == "rolling back\n"
        process.send_signal(signum)
        code = process.wait(GUARD)
    finally:
        process.kill()
        process.wait()
    assert code == -signum
