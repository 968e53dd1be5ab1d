"""Redis client when REDIS_URL is set; the in-process fallbacks live beside their users."""

from __future__ import annotations

from typing import TYPE_CHECKING

from redis.asyncio import Redis

if TYPE_CHECKING:
    from arq.connections import RedisSettings

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


_ARQ_SSL_OPTIONS = ("ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile")
"""Options of a ``rediss://`` URL's query that arq's settings take too (``?ssl_cert_reqs=none``
for a managed Redis whose certificate is its own)."""


def arq_redis_settings(url: str) -> RedisSettings:
    """arq's settings (`trulybot worker`, ``ArqQueue.connect``) for REDIS_URL as serve's
    clients (redis-py) read it: one reading of the URL. arq's own (``RedisSettings.from_dsn``)
    kept an escaped password as typed (``p%40ss`` for ``p@ss``: every connection of the
    worker's was refused while serve's were not), as it did a username and an IPv6 zone, and
    left out a socket's ``?password=`` and a TLS URL's ``?ssl_cert_reqs=``."""
    from arq.connections import RedisSettings
    from redis.connection import SSLConnection, UnixDomainSocketConnection, parse_url

    read = parse_url(url)
    kind = read.get("connection_class")
    ssl = {name: read[name] for name in _ARQ_SSL_OPTIONS if name in read}
    return RedisSettings(
        host=read.get("host", "localhost"),
        port=read.get("port", 6379),
        unix_socket_path=read.get("path") if kind is UnixDomainSocketConnection else None,
        database=read.get("db", 0),
        username=read.get("username"),
        password=read.get("password"),
        ssl=kind is SSLConnection,
        **ssl,
    )
