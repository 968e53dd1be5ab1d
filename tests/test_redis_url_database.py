"""The database a REDIS_URL names: a number, once. Serve reads the URL with redis-py, the worker
with arq, and they read a path that is no number differently: ``/abc`` was database 0 to serve
and a ValueError traceback to the worker, ``/1/2`` database 12 to serve; ``redis://host:6379/``
database 0 to serve and a traceback to the worker. Refused at start by name now (a lone ``/``
is read as no database by both)."""

from __future__ import annotations

import pytest
from redis.connection import SSLConnection, UnixDomainSocketConnection, parse_url

from core.config import Settings
from core.redis import arq_redis_settings
from tests.cli_process import refusal
from tests.test_cli_settings import _fresh_settings  # noqa: F401 - the autouse fixture


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/abc", "the database after the host must be a number"),
        ("/1/2", "the database after the host must be a number"),
        ("/-1", "the database after the host must be a number"),
        ("/%33", "the database after the host must be a number"),
        ("/0?db=x", "db= must be a number"),
        ("?db=-2", "db= must be a number"),
        ("/3?db=2", "the database is given twice"),
    ],
)
def test_a_redis_url_naming_no_database_number_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, path: str, says: str
) -> None:
    monkeypatch.setenv("REDIS_URL", f"redis://:hunter2pw@redis.internal:6379{path}")
    said = refusal(["worker"])
    assert said.startswith("trulybot worker: the settings are not valid"), said
    assert f"REDIS_URL: {says}" in said, said
    assert "hunter2pw" not in said


@pytest.mark.parametrize("typed", ["s3cr/et", "s3cr#et", "s3cr?et", "s3cr@et/x"])
def test_a_password_with_a_reserved_character_unescaped_is_refused_as_such(
    monkeypatch: pytest.MonkeyPatch, typed: str
) -> None:
    """A password typed with ``/``, ``?`` or ``#`` as is ends the URL's host part there: the
    refusal said "the port must be a number from 1 to 65535" of a URL whose port was 6379."""
    monkeypatch.setenv("REDIS_URL", f"redis://:{typed}@redis.internal:6379/0")
    said = refusal(["worker"])
    assert "REDIS_URL: the password" in said, said
    assert "%2F" in said, said
    assert "port" not in said, said
    assert typed not in said


def test_a_socket_s_database_is_a_number_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "unix:///run/redis/redis.sock?db=two")
    assert "REDIS_URL: db= must be a number" in refusal(["worker"])


@pytest.mark.parametrize(
    ("url", "database"),
    [
        ("redis://redis.internal:6379", 0),
        ("redis://redis.internal:6379/", 0),
        ("rediss://:pw@redis.internal:6380/", 0),
        ("redis://redis.internal:6379/3", 3),
        ("redis://redis.internal:6379/?db=2", 2),
        ("redis://redis.internal?db=2", 2),
        ("unix:///run/redis/redis.sock?db=4", 4),
    ],
)
def test_serve_and_the_worker_read_one_database_from_an_accepted_url(
    url: str, database: int
) -> None:
    kept = Settings(_env_file=None, redis_url=url).redis_url  # type: ignore[call-arg]
    assert kept is not None
    assert parse_url(kept).get("db", 0) == database  # serve (redis-py)
    assert arq_redis_settings(kept).database == database  # the worker (arq)


@pytest.mark.parametrize(
    "url",
    [
        "redis://:p%40ss%2Fw%23rd@redis.internal:6379/1",
        "redis://jo%40ops:s%3Acret@redis.internal/2",
        "rediss://:pw@redis.internal:6380/3?ssl_cert_reqs=none",
        "unix:///run/redis/redis.sock?db=4&password=s%26cret",
        "redis://[fe80::1%25eth0]:6379/5",
        "REDIS://Redis.Internal:6379/6",
    ],
)
def test_serve_and_the_worker_read_one_redis_from_an_accepted_url(url: str) -> None:
    """Not the database only: the worker read an escaped password (``%40``), a username or an
    IPv6 zone as typed, where serve unescapes them (refused by a Redis with that password), and
    left out a socket's ``?password=`` and a TLS URL's ``?ssl_cert_reqs=``; serve refused an
    upper-case scheme (a traceback of its start-up) that the worker took."""
    kept = Settings(_env_file=None, redis_url=url).redis_url  # type: ignore[call-arg]
    assert kept is not None
    serve = parse_url(kept)  # what create_redis and the API's queue connect to
    worker = arq_redis_settings(kept)
    kind = serve.get("connection_class")
    assert worker.ssl == (kind is SSLConnection)
    if kind is UnixDomainSocketConnection:
        assert worker.unix_socket_path == serve["path"]
    else:
        assert (worker.host, worker.port) == (serve["host"], serve.get("port", 6379))
    assert worker.database == serve.get("db", 0)
    assert (worker.username, worker.password) == (serve.get("username"), serve.get("password"))
    assert worker.ssl_cert_reqs == serve.get("ssl_cert_reqs", "required")
