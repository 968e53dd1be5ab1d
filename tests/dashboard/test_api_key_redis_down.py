"""The new API key's only showing with Redis gone after sign-in: the flash cannot be kept, so
the form's answer shows the secret itself (docs/deploy.md, "Security": credentials in
answers); the key made is the one shown, and the page's address opened after shows no
secret."""

from __future__ import annotations

from redis.asyncio import Redis

from tests.conftest import RuntimeFactory, client_for
from tests.dashboard.conftest import API_KEY_SHOWN as SECRET
from tests.dashboard.conftest import web_signup
from tests.rag.test_job_interruptions import OwnRedis, own_redis  # noqa: F401 (the fixture)


async def test_with_redis_down_the_forms_answer_shows_the_new_key(
    runtime_factory: RuntimeFactory,
    own_redis: OwnRedis,  # noqa: F811 (the fixture)
) -> None:
    redis = Redis.from_url(own_redis.url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        async with runtime_factory(redis=redis) as runtime, client_for(runtime) as client:
            web = await web_signup(client)
            own_redis.kill()  # Redis goes away after the owner signed in
            created = await web.post(web.url("team/api-keys"), {"name": "Redis down"})
            assert created.status_code == 200, (created.status_code, created.headers)
            found = SECRET.search(created.text)
            assert found, created.text
            assert "Redis down" in created.text
            assert created.headers["cache-control"] == "no-store"
            bare = await client.get(web.url("team/api-keys/created"))
            assert found.group(1) not in bare.text
            own_redis.start()  # back (empty), for the runtime's own shutdown
    finally:
        await redis.aclose()
