"""The suite's clients (``client_for``): with rate limits on, each client comes from an address
of its own unless the test names one. Limits are kept per address in the session's Redis for
the whole session, so tests that signed up from the default address added up to 429s by the
order and speed the files ran in."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import RuntimeFactory, client_for, fresh_ip


async def _login(client: httpx.AsyncClient) -> int:
    email = f"nobody-{uuid.uuid4().hex[:10]}@example.com"
    body = {"email": email, "password": "not the password 1"}
    response = await client.post("/api/v1/auth/login", json=body)
    return response.status_code


async def test_rate_limited_clients_of_two_tests_do_not_share_a_budget(
    runtime_factory: RuntimeFactory,
) -> None:
    """Two tests each with limits on, one after the other: the second one's first sign-in is
    not refused for what the first one spent."""
    async with (
        runtime_factory(rate_limits="on", rate_limit_auth="1/minute") as runtime,
        client_for(runtime) as first_test,
    ):
        assert [await _login(first_test) for _ in range(2)] == [401, 429]
    async with (
        runtime_factory(rate_limits="on", rate_limit_auth="1/minute") as runtime,
        client_for(runtime) as second_test,
    ):
        assert await _login(second_test) == 401


async def test_clients_given_one_address_share_its_budget(
    runtime_factory: RuntimeFactory,
) -> None:
    ip = fresh_ip()
    async with runtime_factory(rate_limits="on", rate_limit_auth="1/minute") as runtime:
        async with client_for(runtime, ip=ip) as one:
            assert await _login(one) == 401
        async with client_for(runtime, ip=ip) as same_address:
            assert await _login(same_address) == 429
