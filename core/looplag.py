"""Event-loop lag: how late the loop runs a periodic timer.

A stall (CPU work or a blocking call on the loop's thread) delays every request of the process at
once; the timer's lateness measures it. ``LoopLagMonitor`` wakes every ``interval`` seconds and
reports the delay past the due time to ``trulybot_event_loop_lag_seconds`` (a histogram) and the
largest delay of the last one to two ``window``s to ``trulybot_event_loop_lag_max_seconds``. Each
tick also moves the garbage collector's timed pauses into their histogram (``core.heap``), and
each new window calls the ``reports`` (the database pool's gauges: with several server processes
a scrape shows every process's last report, not only the state of the one that took it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from core import heap, metrics

log = logging.getLogger(__name__)


class LoopLagMonitor:
    def __init__(self, *, interval: float = 0.25, window: float = 10.0) -> None:
        if interval <= 0 or window < interval:
            raise ValueError("interval must be positive and window at least one interval")
        self.interval = interval
        self.window = window
        self.samples = 0
        self.max_lag = 0.0
        """The largest lag of this window and the one before, in seconds."""
        self._task: asyncio.Task[None] | None = None
        self.reports: list[Callable[[], None]] = []
        """Called at the start of every window (state read into gauges)."""

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        window_started = loop.time()
        window_max = previous_max = 0.0
        while True:
            due = loop.time() + self.interval
            await asyncio.sleep(self.interval)
            now = loop.time()
            lag = max(0.0, now - due)
            self.samples += 1
            metrics.observe_loop_lag(lag)
            if now - window_started >= self.window:  # a new window starts with this sample
                window_started, previous_max, window_max = now, window_max, lag
                self._report()
            else:
                window_max = max(window_max, lag)
            # the current window and the one before: a fresh window never hides a recent stall
            self.max_lag = max(previous_max, window_max)
            metrics.set_loop_lag_max(self.max_lag)
            heap.drain_pauses()  # the collector's pauses, outside any collection (core.heap)

    def _report(self) -> None:
        for report in self.reports:
            try:
                report()
            except Exception:  # a gauge left as it was, never the monitor stopped
                log.exception("metrics report failed")


__all__ = ["LoopLagMonitor"]
