"""Redis client when REDIS_URL is set; the in-process fallbacks live beside their users."""

from __future__ import annotations

from redis.asyncio import Redis


def create_redis(url: str) -> Redis:
    return Redis.from_url(
        url,
        decode_responses=False,
        socket_connect_timeout=1.0,
        socket_timeout=1.0,
        health_check_interval=30,
        retry_on_timeout=False,
    )
