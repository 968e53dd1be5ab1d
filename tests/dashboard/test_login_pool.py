"""The dashboard's sign-in needs one pooled connection at a time: it held the request's
transaction (a connection) while the password check opened a second one, so with a pool of one
an owner could not sign in (503 "try again shortly"), and as many sign-ins at once as the pool
holds waited for each other."""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from core.db import Database
from tests.conftest import client_for, make_runtime, make_settings
from tests.dashboard.conftest import PASSWORD, web_login, web_signup
from tests.test_db_pool_busy import one_connection

FIXTURES = (one_connection,)
"""A database of one pooled connection (tests/test_db_pool_busy.py's)."""


async def test_signing_in_on_a_pool_of_one_connection(
    one_connection: Database, db: Database, redis_client: Redis
) -> None:
    async with make_runtime(make_settings(), db, redis_client) as runtime, client_for(runtime) as c:
        web = await web_signup(c, f"Login pool {uuid.uuid4().hex[:6]}")
    settings = make_settings(db_pool_size=1, db_max_overflow=0)
    async with (
        make_runtime(settings, one_connection, redis_client) as runtime,
        client_for(runtime) as client,
    ):
        wrong = await web_login(client, web.email, "not the password")
        assert wrong.status_code == 401, wrong.text
        assert "Try again shortly" not in wrong.text
        signed_in = await web_login(client, web.email, PASSWORD)
        assert signed_in.status_code == 303, signed_in.text
        home = await client.get(signed_in.headers["location"], follow_redirects=True)
        assert home.status_code == 200, home.text
        assert web.workspace_id in str(home.url)
