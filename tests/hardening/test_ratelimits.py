"""Rate limits and login lockouts as a client sees them: 429s with Retry-After and RateLimit-*."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from redis.asyncio import Redis
from sqlalchemy import event

from api.client_address import client_ip, rate_key_address
from api.deps import WorkspaceDep
from api.ingest_limit import DocumentWriteLimit
from api.throttling import rate_limit_chat
from core.db import Database
from core.limiter import Decision, RateLimiter, most_restrictive
from core.redis import create_redis
from tests.conftest import Owner, signup
from tests.hardening.conftest import ClientFactory, fresh_ip

DEAD_REDIS = "redis://127.0.0.1:1/0"


def _assert_429(response: httpx.Response, code: str = "rate_limited") -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == code
    assert int(response.headers["retry-after"]) >= 1


async def _login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


async def test_auth_limit_answers_429_with_retry_after_and_ratelimit_headers(
    app_client: ClientFactory,
) -> None:
    async with app_client(rate_limits="on", rate_limit_auth="3/minute") as client:
        answers = [
            await _login(client, f"nobody-{i}@example.com", "wrong password 1") for i in range(4)
        ]
    assert [r.status_code for r in answers] == [401, 401, 401, 429]
    first, refused = answers[0], answers[3]
    assert first.headers["ratelimit-limit"] == "3"
    assert first.headers["ratelimit-remaining"] == "2"
    assert 0 < int(first.headers["ratelimit-reset"]) <= 60
    _assert_429(refused)
    assert refused.headers["ratelimit-limit"] == "3"
    assert refused.headers["ratelimit-remaining"] == "0"
    assert int(refused.headers["retry-after"]) <= 60


async def test_password_guesses_through_account_deletion_are_limited(
    app_client: ClientFactory,
) -> None:
    """DELETE /me checks the password: a stolen access token must not guess it without limit
    (the sign-in limit counts these guesses as it counts logins)."""
    async with app_client(rate_limits="on", rate_limit_auth="6/minute") as client:
        owner = await signup(client, "Guessed")
        answers = [
            await client.request(
                "DELETE", "/api/v1/me", json={"password": f"guess {i:04d}"}, headers=owner.headers
            )
            for i in range(7)
        ]
    codes = [r.status_code for r in answers]
    assert 429 in codes, codes
    refused = codes.index(429)
    assert codes[:refused] == [403] * refused
    assert {r.json()["error"]["code"] for r in answers[:refused]} == {"wrong_password"}
    _assert_429(answers[refused])


async def test_limits_are_per_client_ip(app_client: ClientFactory) -> None:
    async with app_client(rate_limits="on", rate_limit_auth="1/minute") as one:
        assert (await _login(one, "a@example.com", "x" * 12)).status_code == 401
        _assert_429(await _login(one, "a@example.com", "x" * 12))
    async with app_client(rate_limits="on", rate_limit_auth="1/minute") as another:
        assert (await _login(another, "a@example.com", "x" * 12)).status_code == 401


async def test_every_api_route_is_limited_per_ip_but_not_the_payment_webhook(
    app_client: ClientFactory,
) -> None:
    async with app_client(rate_limits="on", rate_limit_ip="2/minute") as client:
        statuses = [(await client.get("/api/v1/me")).status_code for _ in range(3)]
        assert statuses == [401, 401, 429]
        spoofed = await client.get("/api/v1/me", headers={"X-Forwarded-For": fresh_ip()})
        _assert_429(spoofed)  # X-Forwarded-For from an untrusted peer changes nothing
        webhook = await client.post("/api/v1/billing/webhooks/razorpay", content=b"{}")
        assert webhook.status_code != 429
        assert (await client.get("/healthz")).status_code == 200


async def test_forwarded_for_counts_only_behind_a_trusted_proxy(
    app_client: ClientFactory,
) -> None:
    proxy = fresh_ip()
    async with app_client(
        ip=proxy, rate_limits="on", rate_limit_ip="1/minute", trusted_proxies=f"{proxy}/32"
    ) as client:
        first, second = fresh_ip(), fresh_ip()
        assert (
            await client.get("/api/v1/me", headers={"X-Forwarded-For": first})
        ).status_code == 401
        assert (
            await client.get("/api/v1/me", headers={"X-Forwarded-For": second})
        ).status_code == 401
        _assert_429(await client.get("/api/v1/me", headers={"X-Forwarded-For": first}))


def test_client_ip_takes_the_rightmost_untrusted_hop() -> None:
    assert client_ip("10.0.0.5", "203.0.113.9", "") == "10.0.0.5"
    assert client_ip("10.0.0.5", "198.51.100.1, 203.0.113.9", "10.0.0.0/8") == "203.0.113.9"
    assert client_ip("10.0.0.5", "203.0.113.9, 10.0.0.7", "10.0.0.0/8") == "203.0.113.9"
    assert client_ip("10.0.0.5", "not-an-ip", "10.0.0.0/8") == "10.0.0.5"
    assert client_ip("192.0.2.1", "203.0.113.9", "*") == "203.0.113.9"


async def test_api_keys_have_their_own_limit(
    app_client: ClientFactory, client: httpx.AsyncClient, owner: Owner
) -> None:
    created = await client.post(owner.url("/api-keys"), json={"name": "ci"}, headers=owner.headers)
    key = created.json()["key"]
    async with app_client(rate_limits="on", rate_limit_api_key="2/minute") as limited:
        headers = {"Authorization": f"Bearer {key}"}
        statuses = [(await limited.get(owner.url(), headers=headers)).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        # The same client with the owner's own token is not held back by the key's limit.
        assert (await limited.get(owner.url(), headers=owner.headers)).status_code == 200


def _with_test_routes(app: FastAPI) -> None:
    @app.post("/api/v1/_test/chat/{workspace_id}/{session_id}")
    async def chat(request: Request, workspace_id: uuid.UUID, session_id: str) -> dict[str, bool]:
        await rate_limit_chat(request, workspace_id, session_id)
        return {"ok": True}

    @app.post("/api/v1/workspaces/{workspace_id}/_test/ingest", dependencies=[DocumentWriteLimit])
    async def ingest(access: WorkspaceDep) -> dict[str, bool]:
        return {"ok": True}


async def test_chat_limits_per_visitor_and_per_workspace(app_client: ClientFactory) -> None:
    workspace = uuid.uuid4()
    async with app_client(
        rate_limits="on",
        rate_limit_chat_visitor="2/minute",
        rate_limit_chat_ip="100/minute",
        rate_limit_chat_workspace="3/minute",
    ) as client:
        _with_test_routes(client.app)  # type: ignore[attr-defined]
        url = f"/api/v1/_test/chat/{workspace}"
        alice = [(await client.post(f"{url}/alice")).status_code for _ in range(3)]
        assert alice == [200, 200, 429]
        # Another visitor still gets through until the workspace as a whole is over its limit.
        bob = [(await client.post(f"{url}/bob")).status_code for _ in range(2)]
        assert bob == [200, 429]
        refused = await client.post(f"{url}/carol")
        _assert_429(refused)
        assert refused.headers["ratelimit-limit"] == "3"


async def test_a_visitors_flood_is_refused_by_its_address_before_the_database_is_asked(
    app_client: ClientFactory, owner: Owner, db: Database
) -> None:
    """A visitor over RATE_LIMIT_CHAT_VISITOR sending new messages, a new client_message_id
    each: every one was looked up in the database (another try of a recorded message?) before
    the address's limit, which these refusals never reached, so a flood from one address cost a
    database transaction per request without end. The address's limit now comes first."""
    looked_up: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "client_message_id = " in statement:  # the lookup, not a row read whole
            looked_up.append(statement)

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        async with app_client(
            rate_limits="on", rate_limit_chat_visitor="1/minute", rate_limit_chat_ip="3/minute"
        ) as client:

            async def send(n: int) -> httpx.Response:
                cid = str(uuid.uuid4())
                body = {"message": f"Message {n}", "session_id": "flood", "client_message_id": cid}
                headers = {"X-Widget-Key": owner.workspace["public_key"]}
                return await client.post("/api/v1/chat", json=body, headers=headers)

            first = await send(0)
            looked_up.clear()
            flood = [await send(n) for n in range(1, 11)]
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert first.status_code == 200, first.text
    for refused in flood:
        _assert_429(refused)
    assert len(looked_up) <= 2, looked_up  # the address's budget the first message left


async def test_ingest_limit_is_per_workspace(
    app_client: ClientFactory, owner: Owner, other: Owner
) -> None:
    async with app_client(rate_limits="on", rate_limit_ingest="1/minute") as client:
        _with_test_routes(client.app)  # type: ignore[attr-defined]
        ok = await client.post(owner.url("/_test/ingest"), headers=owner.headers)
        assert ok.status_code == 200
        _assert_429(await client.post(owner.url("/_test/ingest"), headers=owner.headers))
        assert (
            await client.post(other.url("/_test/ingest"), headers=other.headers)
        ).status_code == 200


async def test_a_successful_login_resets_the_account_counter(
    app_client: ClientFactory, client: httpx.AsyncClient
) -> None:
    user = await signup(client, "Forgetful")
    async with app_client(rate_limits="on", login_max_failures=3) as c:
        for _ in range(2):
            assert (await _login(c, user.email, "wrong password!")).status_code == 401
        assert (await _login(c, user.email, user.password)).status_code == 200
        for _ in range(2):
            assert (await _login(c, user.email, "wrong password!")).status_code == 401
        assert (await _login(c, user.email, user.password)).status_code == 200


async def test_many_failures_from_one_ip_lock_that_ip(
    app_client: ClientFactory, client: httpx.AsyncClient
) -> None:
    user = await signup(client, "Bystander")
    ip = fresh_ip()
    async with app_client(
        ip=ip, rate_limits="on", login_max_failures=50, login_ip_max_failures=3
    ) as stuffing:
        for i in range(2):
            assert (await _login(stuffing, f"u{i}@example.com", "guess guess")).status_code == 401
        _assert_429(await _login(stuffing, "u9@example.com", "guess guess"), "login_locked")
        _assert_429(await _login(stuffing, user.email, user.password), "login_locked")
    async with app_client(rate_limits="on", login_ip_max_failures=3) as elsewhere:
        assert (await _login(elsewhere, user.email, user.password)).status_code == 200


async def test_redis_down_limits_fall_back_to_memory_without_errors(
    app_client: ClientFactory, client: httpx.AsyncClient, owner: Owner
) -> None:
    dead = create_redis(DEAD_REDIS)
    try:
        async with app_client(redis=dead, rate_limits="on", rate_limit_ip="3/minute") as c:
            statuses = [
                (await c.get(owner.url(), headers=owner.headers)).status_code for _ in range(4)
            ]
            assert statuses == [200, 200, 200, 429]
            refused = await c.get(owner.url(), headers=owner.headers)
            _assert_429(refused)
            assert refused.headers["ratelimit-limit"] == "3"
            login = await _login(c, owner.email, owner.password)
            assert login.status_code in (200, 429)  # answered, never a 500
            # Still ready, and says what it runs on: every process loses Redis at once, and a
            # 503 here took all of them out of the balancer while they served.
            ready = await c.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["status"] == "degraded"
            assert ready.json()["checks"]["redis"].startswith("unavailable")
    finally:
        await dead.aclose()


async def test_limiter_returns_to_redis_after_an_outage(redis_client: Redis) -> None:
    limiter = RateLimiter(redis_client, retry_redis_after=0.0)
    key = f"probe-{uuid.uuid4()}"
    assert limiter.backend == "redis"
    first = await limiter.hit("api", key, limit="2/minute")
    second = await limiter.hit("api", key, limit="2/minute")
    assert (first.remaining, second.remaining) == (1, 0)
    other = RateLimiter(redis_client)  # another replica shares the same counts
    assert not (await other.hit("api", key, limit="2/minute")).allowed


async def test_a_redis_hit_is_one_round_trip_on_limits_own_window(
    redis_client: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hit in Redis costs one command (the combined script), and it counts in the same window
    as limits' own ``hit`` + ``get_window_stats``: a replica on either code sees the other's
    entries, and the decisions (allowed, remaining, reset) agree."""
    from limits.aio.storage import RedisStorage
    from limits.aio.strategies import MovingWindowRateLimiter

    from core.limiter import HIT_SCRIPT, KEY_PREFIX, parse_limit

    commands: list[str] = []
    real = redis_client.execute_command

    async def counting(*args: Any, **options: Any) -> Any:
        commands.append(str(args[0]))
        return await real(*args, **options)

    limiter = RateLimiter(redis_client)
    key = f"probe-{uuid.uuid4()}"
    await redis_client.script_load(HIT_SCRIPT)  # as after a first hit (redis-py loads it once)
    monkeypatch.setattr(redis_client, "execute_command", counting)
    first = await limiter.hit("chat", key, limit="3/minute")
    assert commands == ["EVALSHA"]
    monkeypatch.setattr(redis_client, "execute_command", real)
    assert (first.allowed, first.remaining) == (True, 2)
    assert time.time() + 58 < first.reset_at <= time.time() + 60

    # limits' own path on the same key sees that entry and adds one
    item = parse_limit("3/minute")
    storage = RedisStorage(
        "async+redis://",
        implementation="redispy",
        key_prefix=KEY_PREFIX,
        connection_pool=redis_client.connection_pool,  # type: ignore[arg-type]
    )
    theirs = MovingWindowRateLimiter(storage)
    assert await theirs.hit(item, "chat", key)
    stats = await theirs.get_window_stats(item, "chat", key)
    assert stats.remaining == 1
    assert stats.reset_time == pytest.approx(first.reset_at, abs=0.01)  # the oldest entry's

    await asyncio.sleep(0.05)  # later hits must still report the oldest entry's reset
    third = await limiter.hit("chat", key, limit="3/minute")
    refused = await limiter.hit("chat", key, limit="3/minute")
    assert (third.allowed, third.remaining) == (True, 0)
    assert (refused.allowed, refused.remaining) == (False, 0)
    assert refused.reset_at == pytest.approx(first.reset_at, abs=0.01)
    assert 1 <= refused.retry_after <= 60
    assert not await theirs.hit(item, "chat", key)
    # a cost larger than the limit is refused without touching the window
    big = await limiter.hit("chat", f"{key}-big", limit="3/minute", cost=4)
    assert (big.allowed, big.remaining) == (False, 3)


def test_most_restrictive_decision_prefers_a_refusal_then_fewest_remaining() -> None:
    ok_many = Decision(True, 100, 90, 0.0, 0, "api")
    ok_few = Decision(True, 5, 1, 0.0, 0, "auth")
    refused = Decision(False, 300, 0, 0.0, 30, "api")
    assert most_restrictive([ok_many, ok_few]) is ok_few
    assert most_restrictive([ok_many, refused, ok_few]) is refused
    assert most_restrictive([]) is None


async def test_without_redis_windows_and_counters_live_in_process_memory() -> None:
    limiter = RateLimiter(None)
    assert limiter.backend == "memory"
    key = f"probe-{uuid.uuid4()}"
    decisions = [await limiter.hit("api", key, limit="2/minute") for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]
    assert [d.remaining for d in decisions] == [1, 0, 0]
    assert 1 <= decisions[2].retry_after <= 60
    assert (await limiter.hit("api", key + "-other", limit="2/minute")).allowed
    # The login guard's expiring counters.
    assert await limiter.counter("fails") == (0, pytest.approx(time.time(), abs=5))
    assert [await limiter.incr("fails", expiry_seconds=60) for _ in range(3)] == [1, 2, 3]
    value, expires = await limiter.counter("fails")
    assert value == 3
    assert time.time() < expires <= time.time() + 60
    await limiter.clear("fails")
    assert (await limiter.counter("fails"))[0] == 0


async def test_memory_windows_expire_without_a_thread_hop_per_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In memory, many keys cost no worker-thread hops and at most one sweep per second; once
    their window has passed the entries are freed, and the limit applies afresh."""
    hops = 0
    real_to_thread = asyncio.to_thread

    async def counting_to_thread(*args: Any, **kwargs: Any) -> Any:
        nonlocal hops
        hops += 1
        return await real_to_thread(*args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", counting_to_thread)
    limiter = RateLimiter(None)
    storage = limiter._memory_storage
    keys = [f"visitor-{uuid.uuid4()}" for _ in range(100)]
    for key in keys:
        assert [(await limiter.hit("chat", key, limit="2/second")).allowed for _ in range(3)] == [
            True,
            True,
            False,
        ]
    assert hops == 0
    assert storage.sweeps <= 1  # 300 hits, at most one sweep (this test may cross one second)
    assert len(storage.events) == 100
    await asyncio.sleep(1.1)  # every entry's window is over
    storage._last_sweep = 0.0  # the next hit sweeps
    assert (await limiter.hit("chat", keys[0], limit="2/second")).allowed
    assert list(storage.events) == [next(iter(storage.events))]  # only the new entry is kept
    assert len(storage.events[next(iter(storage.events))]) == 1
    assert hops == 0


def _fresh_64() -> str:
    """An IPv6 /64 no other test uses (without its ``::host`` part)."""
    n = uuid.uuid4().int
    return f"2001:db8:{(n >> 16) & 0xFFFF:x}:{n & 0xFFFF:x}"


async def test_an_ipv6_client_counts_as_one_across_its_64(app_client: ClientFactory) -> None:
    """A client rotating addresses inside its own /64 was a new client at every address: 10
    lead forms an hour each, every one a "New lead" mail to every member."""
    proxy, prefix = fresh_ip(), _fresh_64()
    async with app_client(
        ip=proxy, rate_limits="on", trusted_proxies=f"{proxy}/32", rate_limit_widget_leads="3/hour"
    ) as client:
        owner = await signup(client, "Acme")

        async def lead(address: str) -> int:
            response = await client.post(
                "/api/v1/widget/leads",
                json={"email": f"lead-{uuid.uuid4().hex[:10]}@example.com", "name": "Vee"},
                headers={
                    "X-Widget-Key": owner.workspace["public_key"],
                    "X-Forwarded-For": address,
                },
            )
            return response.status_code

        rotating = [await lead(f"{prefix}::{host:x}") for host in range(1, 6)]
        elsewhere = await lead(f"{_fresh_64()}::1")
    assert rotating == [202, 202, 202, 429, 429]
    assert elsewhere == 202


async def test_the_per_ip_limit_counts_an_ipv6_64_as_one_client(app_client: ClientFactory) -> None:
    proxy, prefix = fresh_ip(), _fresh_64()
    async with app_client(
        ip=proxy, rate_limits="on", trusted_proxies=f"{proxy}/32", rate_limit_ip="2/minute"
    ) as client:
        statuses = [
            (
                await client.get("/api/v1/me", headers={"X-Forwarded-For": f"{prefix}::{h:x}"})
            ).status_code
            for h in (1, 0xBEEF, 0xFFFF)
        ]
    assert statuses == [401, 401, 429]


def test_rate_key_address_groups_ipv6_by_64_only() -> None:
    assert rate_key_address("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert rate_key_address("2001:db8:1:3::1") == "2001:db8:1:3::/64"
    assert rate_key_address("::ffff:192.0.2.7") == "192.0.2.7"
    assert rate_key_address("192.0.2.7") == "192.0.2.7"
    assert rate_key_address("unknown") == "unknown"
