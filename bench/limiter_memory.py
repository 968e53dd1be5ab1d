"""The in-process rate-limit store: the hand-written one against ``limits``' own, side by side.

``python -m bench.limiter_memory [--hits N] [--quick] [--no-write]``

When ``REDIS_URL`` is unset (the embedded default) or Redis is down, every rate limit is counted
in process memory. TrulyBot used to do that with a hand-written store (``MemoryWindows``, kept
below as the baseline so this comparison can be re-run); it now uses ``limits``'
``limits.aio.storage.MemoryStorage`` with the same ``MovingWindowRateLimiter`` that runs on
Redis. Both are driven the way ``core.limiter.RateLimiter`` drives them: per request one hit and
the window's stats (for the RateLimit-* headers), on a ``300/minute`` limit (``RATE_LIMIT_IP``).

For 1, 100 and 10,000 distinct keys (one client hammering; a few clients; many clients, as a
public widget sees them), in one run and one event loop per case:

* hits/s and CPU µs per hit (process CPU, so the library's background expiry, which runs in
  worker threads, is counted too);
* the 99th percentile of one hit's wall time (µs): what one request waits on the store;
* memory the store holds after the run (tracemalloc, after a garbage collection).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time
import tracemalloc
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from bench.common import (
    add_write_options,
    package_version,
    pct,
    print_table,
    write_section,
    writes_docs,
)

LIMIT = "300/minute"
KEY_COUNTS = (1, 100, 10_000)


class HandWrittenWindows:
    """The store TrulyBot kept in core/ratelimit.py (``MemoryWindows``) until the library
    replaced it, verbatim except for the expiring counters (login guard) a hit never touches:
    each window keeps the timestamps of its counted requests, oldest first, dropped once older
    than the window; a sweep every 10 s drops idle windows."""

    def __init__(self, *, sweep_seconds: float = 10.0) -> None:
        self._windows: dict[tuple[str, str, int, int], tuple[int, deque[float]]] = {}
        self._sweep_seconds = sweep_seconds
        self._next_sweep = time.time() + sweep_seconds

    @staticmethod
    def _key(item: RateLimitItem, route_class: str, ident: str) -> tuple[str, str, int, int]:
        return (route_class, ident, int(item.amount), int(item.get_expiry()))

    def _window(self, key: tuple[str, str, int, int], now: float) -> deque[float] | None:
        entry = self._windows.get(key)
        if entry is None:
            return None
        expiry, events = entry
        cutoff = now - expiry
        while events and events[0] <= cutoff:
            events.popleft()
        return events

    def _maybe_sweep(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + self._sweep_seconds
        for key in list(self._windows):
            events = self._window(key, now)
            if not events:
                self._windows.pop(key, None)

    def _stats(
        self, item: RateLimitItem, events: deque[float] | None, now: float
    ) -> tuple[float, int]:
        expiry = int(item.get_expiry())
        if not events:
            return now + expiry, int(item.amount)
        return events[0] + expiry, int(item.amount) - len(events)

    def hit(
        self, item: RateLimitItem, route_class: str, ident: str, cost: int
    ) -> tuple[bool, float, int]:
        now = time.time()
        self._maybe_sweep(now)
        limit = int(item.amount)
        key = self._key(item, route_class, ident)
        events = self._window(key, now)
        allowed = cost <= limit and (len(events) if events else 0) + cost <= limit
        if allowed and cost > 0:
            if events is None:
                events = deque()
                self._windows[key] = (int(item.get_expiry()), events)
            events.extend([now] * cost)
        reset_at, remaining = self._stats(item, events, now)
        return allowed, reset_at, remaining


@dataclass
class Result:
    store: str
    keys: int
    hits: int
    allowed: int
    seconds: float
    cpu_seconds: float
    p99_us: float
    memory_bytes: int


Hit = Callable[[str], Awaitable[bool]]


def hand_written() -> tuple[object, Hit]:
    store = HandWrittenWindows()
    item = parse(LIMIT)

    async def hit(ident: str) -> bool:
        allowed, _reset, _remaining = store.hit(item, "api", ident, 1)
        return allowed

    return store, hit


def library() -> tuple[object, Hit]:
    storage = MemoryStorage()
    limiter = MovingWindowRateLimiter(storage)
    item = parse(LIMIT)

    async def hit(ident: str) -> bool:
        allowed = await limiter.hit(item, "api", ident)
        await limiter.get_window_stats(item, "api", ident)
        return allowed

    return storage, hit


STORES: dict[str, Callable[[], tuple[object, Hit]]] = {
    "hand-written (MemoryWindows)": hand_written,
    f"limits {package_version('limits')} MemoryStorage": library,
}


def _idents(keys: int) -> list[str]:
    return [f"ip:10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}" for i in range(keys)]


def _stop(store: object) -> None:
    timer = getattr(store, "timer", None)
    if timer is not None and not timer.done():  # the library's background expiry task
        timer.cancel()


async def timed(name: str, keys: int, hits: int) -> tuple[int, float, float, float]:
    """(allowed, wall s, CPU s, p99 µs per hit), without tracemalloc (it slows every allocation)."""
    idents = _idents(keys)
    store, hit = STORES[name]()
    allowed = 0
    durations = []
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for n in range(hits):
        started = time.perf_counter()
        allowed += await hit(idents[n % keys])
        durations.append(time.perf_counter() - started)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    _stop(store)
    return allowed, wall, cpu, pct(durations, 0.99) * 1e6


async def held(name: str, keys: int, hits: int) -> int:
    """Bytes the store still holds after the same hits (a second run, under tracemalloc)."""
    idents = _idents(keys)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    store, hit = STORES[name]()
    for n in range(hits):
        await hit(idents[n % keys])
    await asyncio.sleep(0)
    _stop(store)
    gc.collect()
    size = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    del store
    return size


def run_case(name: str, keys: int, hits: int) -> Result:
    allowed, wall, cpu, p99 = asyncio.run(timed(name, keys, hits))
    memory = asyncio.run(held(name, keys, hits))
    return Result(name, keys, hits, allowed, wall, cpu, p99, memory)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hits", type=int, default=100_000, help="hits per case")
    parser.add_argument("--quick", action="store_true", help="10,000 hits per case")
    add_write_options(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.hits = 10_000

    results = [run_case(name, keys, args.hits) for keys in KEY_COUNTS for name in STORES]
    rows = [
        (
            r.store,
            r.keys,
            f"{r.allowed:,} / {r.hits:,}",
            r.hits / r.seconds,
            r.cpu_seconds / r.hits * 1e6,
            r.p99_us,
            f"{r.memory_bytes / 1024:,.0f} KiB",
        )
        for r in results
    ]
    headers = [
        "store",
        "distinct keys",
        "allowed / hits",
        "hits/s",
        "CPU µs/hit",
        "p99 µs/hit",
        "memory held",
    ]
    table = print_table(headers, rows, title=f"In-process moving window, {LIMIT}")
    load = os.getloadavg()[0]
    print(f"load average while measuring: {load:.1f} on {os.cpu_count()} cores")
    if writes_docs(args):
        write_section(
            "limiter_memory",
            "\n".join(
                [
                    f"`python -m bench.limiter_memory --hits {args.hits}`: one hit plus the "
                    f"window's stats per request, as `core.limiter.RateLimiter` does, on a "
                    f"`{LIMIT}` limit, keys taken in turn; CPU includes the library's background "
                    "expiry threads; memory is what the store holds after the run (a second run "
                    f"under tracemalloc). Load average {load:.1f} on {os.cpu_count()} cores.",
                    "",
                    table,
                ]
            ),
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
