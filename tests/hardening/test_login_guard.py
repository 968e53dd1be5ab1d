"""Failed logins lock the source and slow the account; they never lock the owner out.

The attack: anyone who knows an owner's email sends a handful of wrong passwords and the owner
cannot sign in for 15 minutes (and again, and again). Now the attacking address is locked, the
account only slows down (one attempt per short, growing, capped delay, answered 429 with
Retry-After), and an address the owner signed in from before is not slowed at all.

Delays are settings; these tests use 1-second delays and read Retry-After instead of guessing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from core.db import Database
from core.limiter import slowdown_delay
from tests.conftest import Owner, client_for, fresh_ip, make_runtime, make_settings, signup

WRONG = "definitely not it"
GUARD: dict[str, Any] = {
    "rate_limits": "on",
    "rate_limit_auth": "1000/minute",  # the per-IP request limit is not what these tests are about
    "login_max_failures": 3,
    "login_ip_max_failures": 6,
    "login_slowdown_seconds": 1,
    "login_slowdown_max_seconds": 1,
}

Clients = Callable[..., Any]


@pytest.fixture
def clients(db: Database, redis_client: Redis) -> Clients:
    """``async with clients(n, **settings) as [c1, c2, ...]``: one app, each client its own IP."""

    @asynccontextmanager
    async def factory(
        count: int, backend: str = "redis", **overrides: Any
    ) -> AsyncIterator[list[httpx.AsyncClient]]:
        redis = redis_client if backend == "redis" else None  # None: counted in process memory
        if redis is None:
            overrides["redis_url"] = None
        settings = make_settings(**(GUARD | overrides))
        async with AsyncExitStack() as stack:
            runtime = await stack.enter_async_context(make_runtime(settings, db, redis))
            made = [
                await stack.enter_async_context(client_for(runtime, ip=fresh_ip()))
                for _ in range(count)
            ]
            yield made

    return factory


async def _login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


def _code(response: httpx.Response) -> str:
    if response.status_code == 401:
        return "401"
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert int(response.headers["retry-after"]) >= 1
    assert error["details"]["retry_after"] == int(response.headers["retry-after"])
    return f"{error['code']}:{error['details']['scope']}"


@pytest.mark.parametrize("backend", ["redis", "memory"])
async def test_an_attacker_locks_their_own_address_not_the_owner_out(
    client: httpx.AsyncClient, clients: Clients, backend: str
) -> None:
    victim = await signup(client, "Victim")
    # A slot longer than one password check takes on a loaded machine (argon2 can take over a
    # second there): with 1-second slots each wrong attempt could find a fresh slot, so the
    # account would never be seen slowing down before the address is locked.
    slow = {"login_slowdown_seconds": 5, "login_slowdown_max_seconds": 5}
    async with clients(2, backend, **slow) as (attacker, owner):
        codes = [_code(await _login(attacker, victim.email, WRONG)) for _ in range(15)]
        assert codes[:3] == ["401"] * 3  # a few free attempts
        assert "login_throttled:account" in codes  # then the account slows down
        assert codes[-1] == "login_locked:ip"  # and the attacking address is locked
        # The right password from the attacking address is refused too: the source is locked.
        assert _code(await _login(attacker, victim.email, victim.password)) == "login_locked:ip"

        response = await _login(owner, victim.email, victim.password)
        if response.status_code == 429:  # the account's current slot: a short wait at most
            assert _code(response) == "login_throttled:account"
            wait = int(response.headers["retry-after"])
            assert wait <= slow["login_slowdown_max_seconds"]
            await asyncio.sleep(wait)
            response = await _login(owner, victim.email, victim.password)
        assert response.status_code == 200, response.text
        assert response.json()["access_token"]


@pytest.mark.parametrize("backend", ["redis", "memory"])
async def test_a_burst_from_many_addresses_gets_one_guess_per_slot(
    client: httpx.AsyncClient, clients: Clients, backend: str
) -> None:
    victim = await signup(client, "Burst")
    slow = {"login_slowdown_seconds": 60, "login_slowdown_max_seconds": 60}
    async with clients(20, backend, **slow) as many:
        answers = await asyncio.gather(*(_login(c, victim.email, WRONG) for c in many))
    codes = sorted(_code(a) for a in answers)
    # Three free attempts and one slot: four passwords checked, whatever the concurrency.
    assert codes.count("401") == 4
    assert codes.count("login_throttled:account") == 16
    throttled = next(a for a in answers if a.status_code == 429)
    assert 1 <= int(throttled.headers["retry-after"]) <= 60


async def test_the_owner_is_not_slowed_from_an_address_they_signed_in_from(
    client: httpx.AsyncClient, clients: Clients
) -> None:
    victim = await signup(client, "Known")
    slow = {"login_slowdown_seconds": 60, "login_slowdown_max_seconds": 60}
    async with clients(5, **slow) as (home, *attackers):
        assert (await _login(home, victim.email, victim.password)).status_code == 200
        for attacker in attackers:
            for _ in range(2):
                await _login(attacker, victim.email, WRONG)
        elsewhere = [_code(await _login(a, victim.email, victim.password)) for a in attackers]
        assert set(elsewhere) == {"login_throttled:account"}  # a minute's wait for new addresses
        assert (await _login(home, victim.email, victim.password)).status_code == 200
        # A wrong password from home is still just a failure, and counts against home's address.
        assert (await _login(home, victim.email, WRONG)).status_code == 401


async def test_a_successful_login_ends_the_slowdown(
    client: httpx.AsyncClient, clients: Clients
) -> None:
    victim = await signup(client, "Forgetful")
    async with clients(1, login_max_failures=2, login_ip_max_failures=20) as (owner,):
        codes = [_code(await _login(owner, victim.email, WRONG)) for _ in range(4)]
        assert codes[:3] == ["401", "401", "401"]
        assert codes[3] == "login_throttled:account"
        await asyncio.sleep(int(GUARD["login_slowdown_max_seconds"]))
        assert (await _login(owner, victim.email, victim.password)).status_code == 200
        # Back to the free attempts.
        assert [_code(await _login(owner, victim.email, WRONG)) for _ in range(2)] == ["401"] * 2


@pytest.mark.parametrize("backend", ["redis", "memory"])
async def test_zero_failures_turns_the_address_lock_off(
    client: httpx.AsyncClient, clients: Clients, backend: str
) -> None:
    """LOGIN_IP_MAX_FAILURES=0 switches the address lock off, as 0 switches the slowdown off:
    it locked the address on its first wrong password (the same as 1)."""
    owner = await signup(client, "Typo-prone")
    overrides = {"login_ip_max_failures": 0, "login_max_failures": 100}
    async with clients(1, backend=backend, **overrides) as (browser,):
        codes = [_code(await _login(browser, owner.email, WRONG)) for _ in range(4)]
        assert codes == ["401"] * 4
        assert (await _login(browser, owner.email, owner.password)).status_code == 200


async def test_other_accounts_are_not_slowed(client: httpx.AsyncClient, clients: Clients) -> None:
    victim = await signup(client, "Target")
    bystander: Owner = await signup(client, "Bystander")
    async with clients(2) as (attacker, someone):
        for _ in range(5):
            await _login(attacker, victim.email, WRONG)
        assert (await _login(someone, bystander.email, bystander.password)).status_code == 200


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [(1, 0), (3, 0), (4, 1), (5, 2), (6, 4), (7, 8), (8, 16), (9, 30), (50, 30), (10_000, 30)],
)
def test_the_delay_grows_and_is_capped(attempts: int, expected: int) -> None:
    """Attempts since the last success -> seconds the account waits between further attempts."""
    delay = slowdown_delay(attempts, free=3, base_seconds=1, max_seconds=30)
    assert delay == expected


def test_a_zero_base_turns_the_slowdown_off() -> None:
    assert slowdown_delay(100, free=3, base_seconds=0, max_seconds=30) == 0
