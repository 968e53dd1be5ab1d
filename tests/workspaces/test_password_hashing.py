"""Argon2 runs in worker threads, a bounded number at a time, and never stalls the event loop.

The hasher is the real argon2id ``PasswordHasher`` with a gate in front: each hash or verify
waits until the test opens the gate, so the test can look at the server while a login is in the
middle of hashing. The gate's wait has a deadline only so a regression fails instead of hanging.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from api.app import create_app
from core.db import Database
from tests.conftest import Owner, make_settings
from workspaces import security

GUARD_SECONDS = 30  # a deadlock guard, never reached when the behaviour is right


def parameters_of(like: PasswordHasher) -> dict[str, Any]:
    """The argon2 parameters of ``like``: a hasher made with them gives hashes ``like`` does
    not want to rehash."""
    return {
        "time_cost": like.time_cost,
        "memory_cost": like.memory_cost,
        "parallelism": like.parallelism,
        "hash_len": like.hash_len,
        "salt_len": like.salt_len,
        "type": like.type,
    }


class GatedHasher(PasswordHasher):
    """The real argon2id hasher, with the parameters of ``like`` (the process's hasher, so a
    login does not also rehash); every call waits for ``gate`` first."""

    def __init__(self, like: PasswordHasher) -> None:
        super().__init__(**parameters_of(like))
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.opened_in_time: list[bool] = []
        self.threads: set[int] = set()
        self.inside = 0
        self.most_inside = 0
        self._lock = threading.Lock()

    def _wait(self) -> None:
        with self._lock:
            self.threads.add(threading.get_ident())
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        self.entered.set()
        opened = self.gate.wait(timeout=GUARD_SECONDS)
        with self._lock:
            self.opened_in_time.append(opened)
            self.inside -= 1

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self._wait()
        return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self._wait()
        return super().verify(hash, password)


@pytest.fixture
def gated(monkeypatch: pytest.MonkeyPatch) -> GatedHasher:
    hasher = GatedHasher(security._hasher)
    monkeypatch.setattr(security, "_hasher", hasher)
    return hasher


async def _until(condition: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + GUARD_SECONDS
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.01)


def _login(client: httpx.AsyncClient, owner: Owner) -> asyncio.Task[httpx.Response]:
    return asyncio.create_task(
        client.post("/api/v1/auth/login", json={"email": owner.email, "password": owner.password})
    )


async def test_the_server_answers_while_a_login_is_hashing(
    client: httpx.AsyncClient, owner: Owner, gated: GatedHasher
) -> None:
    login = _login(client, owner)
    # Wait for the hash to start without blocking this loop (a thread waits on the event).
    assert await asyncio.to_thread(gated.entered.wait, GUARD_SECONDS)
    health = await client.get("/healthz")  # answered while the login is still hashing
    gated.gate.set()
    response = await login
    assert health.status_code == 200
    assert response.status_code == 200, response.text
    assert gated.opened_in_time == [True], "the hash blocked the event loop until it gave up"
    assert threading.get_ident() not in gated.threads


async def test_the_server_answers_while_a_signup_is_hashing(
    client: httpx.AsyncClient, gated: GatedHasher
) -> None:
    signup = asyncio.create_task(
        client.post(
            "/api/v1/auth/signup",
            json={
                "email": "hashing-signup@example.com",
                "password": "a long passphrase",
                "workspace_name": "Hashing",
            },
        )
    )
    assert await asyncio.to_thread(gated.entered.wait, GUARD_SECONDS)
    health = await client.get("/healthz")
    gated.gate.set()
    response = await signup
    assert health.status_code == 200
    assert response.status_code == 202, response.text
    assert gated.opened_in_time == [True], "the hash blocked the event loop until it gave up"
    assert threading.get_ident() not in gated.threads


async def test_at_most_the_configured_number_of_hashes_run_at_once(
    client: httpx.AsyncClient,
    owner: Owner,
    gated: GatedHasher,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pool = security.HashingPool(2)
    monkeypatch.setattr(security, "_pool", pool)
    try:
        logins = [_login(client, owner) for _ in range(5)]
        await _until(lambda: gated.inside + pool.waiting == 5, "all five logins reached the hasher")
        assert gated.inside == 2
        assert pool.waiting == 3
        # Waiting logins hold no database connection (a login flood cannot drain the pool).
        assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        healthy = await client.get("/healthz")
        gated.gate.set()
        responses = await asyncio.gather(*logins)
    finally:
        gated.gate.set()
        pool.close()
    assert healthy.status_code == 200
    assert [r.status_code for r in responses] == [200] * 5
    assert gated.most_inside == 2
    assert all(gated.opened_in_time)


async def test_wrong_passwords_and_unknown_emails_still_fail_the_same_way(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    wrong = await client.post(
        "/api/v1/auth/login", json={"email": owner.email, "password": "not the password"}
    )
    unknown = await client.post(
        "/api/v1/auth/login", json={"email": "nobody-hash@example.com", "password": "whatever 12"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_the_pool_size_comes_from_the_setting(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(security, "_pool", None)
    create_app(make_settings(password_hash_concurrency=3))
    assert security.hashing_pool().limit == 3
    create_app(make_settings(password_hash_concurrency=0))
    assert security.hashing_pool().limit == (os.cpu_count() or 1)  # 0: one per core
    security.hashing_pool().close()
