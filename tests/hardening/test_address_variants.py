"""An account's limits are counted by the account, however its address is written.

PostgreSQL identifies an account by ``lower(email)`` (the unique index, every lookup), and its
``lower`` makes the Turkish dotted capital ``İ`` (U+0130) a plain ``i``; Python's ``casefold``
makes it ``i`` plus a combining dot. The limits keyed by the address (the sign-in slowdown of an
account, the mails with an account link per address) were keyed by ``casefold``: every ``i`` of
an address written as ``İ`` reached the same account under a key of its own, so an address with
two ``i``s had four budgets of guesses, four of reset mails."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
from redis.asyncio import Redis
from sqlalchemy import text

from core.db import Database
from tests.conftest import RuntimeFactory, client_for, fresh_ip, make_runtime, make_settings
from tests.hardening.test_login_guard import GUARD, WRONG
from tests.workspaces.test_account_abuse import PASSWORD, _mails, _signup_body


def _dotted(email: str) -> str:
    """``email`` with every ``i`` of its local part written as ``İ``: the same account."""
    local, _, domain = email.partition("@")
    return local.replace("i", "\u0130") + "@" + domain


@asynccontextmanager
async def _clients(
    db: Database, redis_client: Redis, count: int, **overrides: Any
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """One app with the login guard's settings; ``count`` clients, each from its own address
    (an attacker with many addresses: no source is locked before the account slows down)."""
    settings = make_settings(**(GUARD | overrides))
    async with AsyncExitStack() as stack:
        runtime = await stack.enter_async_context(make_runtime(settings, db, redis_client))
        yield [
            await stack.enter_async_context(client_for(runtime, ip=fresh_ip()))
            for _ in range(count)
        ]


async def _login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


async def test_a_dotted_capital_i_does_not_escape_the_account_slowdown(
    db: Database, redis_client: Redis
) -> None:
    victim = f"victim-{uuid.uuid4().hex[:10]}@example.com"
    slow = {"login_slowdown_seconds": 60, "login_slowdown_max_seconds": 60}
    async with _clients(db, redis_client, 3, **slow) as (first, second, third):
        assert (await first.post("/api/v1/auth/signup", json=_signup_body(victim))).status_code == (
            202
        )
        # The dotted form is the victim's account: its password signs in to it.
        signed_in = await _login(first, _dotted(victim), PASSWORD)
        assert signed_in.status_code == 200, signed_in.text
        # Three free wrong guesses and the slot's one, then the account slows down ...
        codes = [(await _login(second, victim, WRONG)).status_code for _ in range(5)]
        assert codes == [401, 401, 401, 401, 429]
        # ... for its address however it is written.
        dotted = await _login(third, _dotted(victim), WRONG)
    assert dotted.status_code == 429, dotted.text
    assert dotted.json()["error"]["code"] == "login_throttled"


async def test_a_dotted_capital_i_does_not_escape_the_address_mail_budget(
    runtime_factory: RuntimeFactory,
) -> None:
    async with runtime_factory(
        rate_limits="on", rate_limit_auth="1000/minute", rate_limit_password_reset_email="3/hour"
    ) as runtime:
        # The sign-up's verification mail is one of the address's three mails.
        victim = f"victim-{uuid.uuid4().hex[:10]}@example.com"
        async with client_for(runtime, ip=fresh_ip()) as owner:
            assert (await owner.post("/api/v1/auth/signup", json=_signup_body(victim))).is_success
        statuses = []
        for address in [victim, victim, _dotted(victim), _dotted(victim).upper()]:
            async with client_for(runtime, ip=fresh_ip()) as stranger:
                reset = await stranger.post("/api/v1/auth/password-reset", json={"email": address})
                statuses.append(reset.status_code)
        async with client_for(runtime, ip=fresh_ip()) as reader:
            sent = await _mails(reader, victim)
    assert statuses == [202, 202, 429, 429]
    assert sent == {"verify_email": 1, "password_reset": 2}


async def test_lowering_and_the_key_agree_with_postgresql_lower(db: Database) -> None:
    """Every code point (surrogates have none) lowered by this database's ``lower`` (which the
    unique index, every lookup and the searches use): ``lowered_as_postgres`` lowers it the
    same, and ``address_key`` gives it the key its lowered form gets, so no two writings of one
    account's address are counted apart. One query over all of them."""
    from core.limiter import address_key
    from core.text import lowered_as_postgres

    async with db.transaction() as session:
        changed = await session.execute(
            text(
                "SELECT n, lower(chr(n)) FROM generate_series(1, 1114111) AS n"
                " WHERE n NOT BETWEEN 55296 AND 57343 AND lower(chr(n)) <> chr(n)"
            )
        )
        lowered: dict[int, str] = dict(changed.all())
    # The code points either side changes (Python's lower: a pass over all of them here).
    points = lowered.keys() | {
        n for n in range(1, 0x110000) if not 0xD800 <= n <= 0xDFFF and chr(n).lower() != chr(n)
    }
    pairs = [(n, lowered.get(n, chr(n))) for n in sorted(points)]
    lowered_otherwise = [f"U+{n:04X}" for n, low in pairs if lowered_as_postgres(chr(n)) != low]
    keyed_apart = [f"U+{n:04X}" for n, low in pairs if address_key(chr(n)) != address_key(low)]
    assert (lowered_otherwise, keyed_apart) == ([], [])
    # A word's end is where Python lowers a capital sigma otherwise: not here.
    assert lowered_as_postgres("\u039f\u0394\u039f\u03a3") == "\u03bf\u03b4\u03bf\u03c3"
