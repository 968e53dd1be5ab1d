"""Redis client when REDIS_URL is set; the in-process fallbacks live beside their users."""

from __future__ import annotations

from redis.asyncio import Redis

SOCKET_TIMEOUT = 1.0
"""Seconds a command waits for Redis' answer. Every client of Redis has one (the queue's too):
a Redis that stops answering on an open connection (a partition, a failover whose old address
still accepts) is an error after this long, not a wait until TCP gives up (minutes)."""


def create_redis(url: str) -> Redis:
    return Redis.from_url(
        url,
        decode_responses=False,
        socket_connect_timeout=1.0,
        socket_timeout=SOCKET_TIMEOUT,
        health_check_interval=30,
        retry_on_timeout=False,
    )
