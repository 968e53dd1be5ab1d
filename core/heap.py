"""The cyclic garbage collector in a server process: start-up objects frozen, pauses measured.

A collection of the oldest generation walks every object the collector tracks, on whichever thread
triggered it: in the server, the event loop's, so every request in flight waits. After start-up a
server holds about 270,000 such objects (FastAPI, SQLAlchemy, pydantic, the OpenAI client and the
app's own routes and models), none of which will ever be garbage; each full collection took
150-310 ms of CPU on them under load (docs/benchmarks.md, sixth round), which showed as event-loop
stalls of the same length (``trulybot_event_loop_lag_max_seconds``).

``freeze_startup_heap`` moves everything alive at the end of start-up into the permanent
generation (``gc.freeze``), which collections skip: later full collections walk only what was made
since (answers in the cache, conversations in flight). ``install_pause_metrics`` times every
collection; ``drain_pauses`` moves the times into ``trulybot_gc_pause_seconds`` by generation.

The callback itself takes no lock: a collection can start on a thread that holds a metric's lock
(prometheus-client's locks are not reentrant), so it only appends to a deque, and the histogram is
fed outside any collection (the loop-lag monitor's tick, and /metrics before it renders).
"""

from __future__ import annotations

import gc
import time
from collections import deque
from typing import Any

from core import metrics

# The youngest generation's threshold once start-up is frozen (CPython's default is 700): a rag
# turn allocates thousands of container objects (rows, ORM state, pydantic models, dicts), so at
# 700 a served turn paid about 0.3 ms of gen-0/gen-1 collections, one every ~3 turns; at 10,000
# about 0.03 ms (docs/benchmarks.md, seventh round). The older generations keep their thresholds.
GEN0_THRESHOLD = 10_000

_started: float | None = None
# (generation, seconds) of collections not yet in the histogram; bounded if nothing drains it.
_pauses: deque[tuple[int, float]] = deque(maxlen=100_000)


def freeze_startup_heap() -> int:
    """Collect once, then move every surviving object into the permanent generation and raise
    the youngest generation's threshold to ``GEN0_THRESHOLD``; returns how many objects are
    frozen (also ``trulybot_gc_frozen_objects``). Call once the process is ready to serve:
    objects frozen are never freed, even if they later become garbage."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, older, oldest)
    count = gc.get_freeze_count()
    metrics.set_gc_frozen(count)
    return count


def _on_collection(phase: str, info: dict[str, Any]) -> None:
    global _started
    if phase == "start":
        _started = time.perf_counter()
    elif _started is not None:
        _pauses.append((int(info["generation"]), time.perf_counter() - _started))
        _started = None


def install_pause_metrics() -> None:
    """Time every collection of this process (once per process; later calls do nothing)."""
    if _on_collection not in gc.callbacks:
        gc.callbacks.append(_on_collection)


def drain_pauses() -> int:
    """Move the collections timed since the last call into ``trulybot_gc_pause_seconds``;
    returns how many. Never call it from a ``gc`` callback."""
    moved = 0
    while True:
        try:
            generation, seconds = _pauses.popleft()
        except IndexError:
            return moved
        metrics.observe_gc_pause(generation, seconds)
        moved += 1


__all__ = ["GEN0_THRESHOLD", "drain_pauses", "freeze_startup_heap", "install_pause_metrics"]
