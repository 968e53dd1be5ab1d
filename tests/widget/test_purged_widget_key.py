"""A widget key whose workspace was purged while a process kept it in its widget-key cache
(WIDGET_KEY_CACHE_SECONDS): the turn's first statement failed on the missing workspace row and
every chat turn answered 500 internal_error until the entry expired, where the widget's other
routes already answered 401 invalid_widget_key (tenant isolation review F1). Account deletion
purges a lone workspace at once, so any visitor chatting in the next seconds hit it."""

from __future__ import annotations

import httpx

from tests.conftest import RuntimeFactory, client_for, signup


async def test_a_purged_workspaces_cached_widget_key_is_a_401_not_a_500(
    runtime_factory: RuntimeFactory,
) -> None:
    async with (
        runtime_factory(widget_key_cache_seconds=300) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client, "Soon gone")
        headers = {"X-Widget-Key": owner.workspace["public_key"]}
        first = await client.post(
            "/api/v1/chat", json={"message": "hello", "session_id": "s-one"}, headers=headers
        )
        assert first.status_code == 200, first.text  # the key is cached now
        gone = await client.request(
            "DELETE", "/api/v1/me", json={"password": owner.password}, headers=owner.headers
        )
        assert gone.status_code == 200, gone.text
        await runtime.jobs.drain()  # the lone workspace is purged at once

        async def ask(accept: str) -> httpx.Response:
            return await client.post(
                "/api/v1/chat",
                json={"message": "what are your prices", "session_id": "s-two"},
                headers={**headers, "Accept": accept},
            )

        for accept in ("application/json", "text/event-stream", "application/json"):
            answered = await ask(accept)
            assert answered.status_code == 401, (accept, answered.text)
            assert answered.json()["error"]["code"] == "invalid_widget_key"
        assert runtime.widget_keys.get(owner.workspace["public_key"]) is None
