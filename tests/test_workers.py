"""Each pytest-xdist worker gets its own Redis database, so one worker's flush never empties
another's queues and rate limits."""

from __future__ import annotations

import pytest

from tests.conftest import worker_redis_url


@pytest.mark.parametrize(
    ("base", "worker", "expected"),
    [
        ("redis://127.0.0.1:6379/15", "", "redis://127.0.0.1:6379/15"),
        ("redis://127.0.0.1:6379/15", "gw0", "redis://127.0.0.1:6379/15"),
        ("redis://127.0.0.1:6379/15", "gw1", "redis://127.0.0.1:6379/14"),
        ("redis://127.0.0.1:6379/0", "gw1", "redis://127.0.0.1:6379/15"),
        ("redis://127.0.0.1:6379", "gw1", "redis://127.0.0.1:6379/15"),
        ("redis://127.0.0.1:6379/", "gw0", "redis://127.0.0.1:6379/0"),
    ],
)
def test_workers_use_distinct_databases(base: str, worker: str, expected: str) -> None:
    assert worker_redis_url(base, worker) == expected


def test_two_workers_never_share_a_database() -> None:
    for number in range(16):
        base = f"redis://127.0.0.1:6379/{number}"
        assert worker_redis_url(base, "gw0") != worker_redis_url(base, "gw1")
