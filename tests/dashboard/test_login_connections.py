"""The dashboard's sign-in holds no database connection while the password is checked.

It took the request's transaction (a pooled connection, begun at once) before the form was
read, then the password check opened a second one and argon2 ran with both held. With as
many sign-ins at once as the pool has connections, each held one and waited for another: the
pool ran dry and every request answered 503 ``database_busy`` (the JSON API's sign-in already
used short transactions around the check). A pool of one connection shows it with a single
sign-in.
"""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from core.db import Database
from tests.conftest import client_for, make_runtime, make_settings, signup
from tests.dashboard.conftest import web_login
from tests.test_db_pool_busy import one_connection

FIXTURES = (one_connection,)
"""A database of one pooled connection, shared with tests/test_db_pool_busy.py."""


async def test_a_dashboard_sign_in_needs_one_connection_at_a_time(
    one_connection: Database, redis_client: Redis
) -> None:
    settings = make_settings(db_pool_size=1, db_max_overflow=0)
    async with (
        make_runtime(settings, one_connection, redis_client) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client, f"One connection {uuid.uuid4().hex[:6]}")
        refused = await web_login(client, owner.email, "not the password")
        assert refused.status_code == 401, refused.text
        signed_in = await web_login(client, owner.email, owner.password)
        assert signed_in.status_code == 303, signed_in.text
        assert (await client.get("/app/account")).status_code == 200
