"""Which `trulybot worker` processes take jobs from an arq queue: each notes itself in one sorted
set per queue as it polls (at most every ``BEAT_SECONDS``), scored by Redis' clock, and leaves
it when it stops; ``/readyz`` counts the workers seen within ``SEEN_SECONDS``. Without a
worker, uploads stayed ``queued``, no mail went out and no periodic job ran while every check
said ready."""

from __future__ import annotations

import os
import socket
import time
import uuid
from typing import Any

BEAT_SECONDS = 10.0
"""How often a worker notes itself (from arq's poll loop, so a worker whose loop is stuck
stops being seen)."""

SEEN_SECONDS = 30
"""A worker not noted for this long counts as gone (three beats missed)."""

# KEYS[1] the queue's set; ARGV: member, SEEN_SECONDS. Scored by Redis' clock, so the API's and
# the workers' clocks never need to agree; members gone for longer are dropped.
_BEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])))
return 1
"""

_SEEN = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
return redis.call('ZCOUNT', KEYS[1], now - tonumber(ARGV[1]), '+inf')
"""


def presence_key(queue_name: str | None) -> str:
    from arq.constants import default_queue_name

    return f"{queue_name or default_queue_name}:trulybot-workers"


class Presence:
    """One worker's entry in its queue's set."""

    def __init__(self, redis: Any, queue_name: str | None = None) -> None:
        self.redis = redis
        self.key = presence_key(queue_name)
        self.member = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._last = float("-inf")

    async def beat(self) -> None:
        now = time.monotonic()
        if now - self._last < BEAT_SECONDS:
            return
        await self.redis.eval(_BEAT, 1, self.key, self.member, SEEN_SECONDS)
        self._last = now

    async def leave(self) -> None:
        await self.redis.zrem(self.key, self.member)


async def workers_seen(redis: Any, jobs: object) -> int | None:
    """How many workers of the queue ``jobs`` enqueues to polled within ``SEEN_SECONDS``; None
    when ``jobs`` is no arq queue (jobs run in this process)."""
    from core.jobs import ArqQueue

    if not isinstance(jobs, ArqQueue):
        return None
    return int(await redis.eval(_SEEN, 1, presence_key(jobs.queue_name), SEEN_SECONDS))
