"""The embed snippet owners copy into their sites never comes from the request's Host header.

Whoever controls the Host (a proxy passing it through, a DNS name pointed at the server) would
otherwise choose where every embedding site loads widget.js from: script injection on the
owner's customers' pages. PUBLIC_BASE_URL decides; without it (development only) the server's
configured host and port do.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from core.config import Settings
from tests.conftest import PRODUCTION_SERVICES, client_for, make_runtime, make_settings, signup


@asynccontextmanager
async def client_with(
    db: Any, redis_client: Any, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        make_runtime(make_settings(**overrides), db, redis_client) as runtime,
        client_for(runtime) as client,
    ):
        yield client


async def snippet(client: httpx.AsyncClient, host: str) -> str:
    owner = await signup(client)
    view = await client.get(owner.url("/widget"), headers=owner.headers | {"Host": host})
    assert view.status_code == 200, view.text
    rotated = await client.post(
        owner.url("/widget/rotate-key"), headers=owner.headers | {"Host": host}
    )
    assert (
        rotated.json()["embed_snippet"].split('data-key="')[0]
        == (view.json()["embed_snippet"].split('data-key="')[0])
    )
    return str(view.json()["embed_snippet"])


async def test_the_host_header_does_not_choose_where_widget_js_loads_from(
    db: Any, redis_client: Any
) -> None:
    async with client_with(db, redis_client, host="127.0.0.1", port=8123) as client:
        text = await snippet(client, "attacker.example")
    assert "attacker.example" not in text
    assert text.startswith('<script src="http://127.0.0.1:8123/widget.js" data-key="pk_')


async def test_public_base_url_decides_when_set(db: Any, redis_client: Any) -> None:
    async with client_with(
        db, redis_client, public_base_url="https://bot.example.com/trulybot/"
    ) as client:
        text = await snippet(client, "attacker.example")
    assert text.startswith('<script src="https://bot.example.com/trulybot/widget.js" data-key=')


@pytest.mark.parametrize(("bind", "shown"), [("0.0.0.0", "localhost"), ("::", "localhost")])
async def test_a_wildcard_bind_address_is_shown_as_localhost(
    db: Any, redis_client: Any, bind: str, shown: str
) -> None:
    async with client_with(db, redis_client, host=bind, port=8000) as client:
        text = await snippet(client, "attacker.example")
    assert text.startswith(f'<script src="http://{shown}:8000/widget.js"')


def test_production_requires_public_base_url() -> None:
    secret = secrets.token_urlsafe(32)
    with pytest.raises(ValidationError, match="PUBLIC_BASE_URL"):
        Settings(_env_file=None, environment="production", jwt_secret=secret)  # type: ignore[call-arg]
    ok = Settings(  # type: ignore[call-arg]
        _env_file=None,
        environment="production",
        jwt_secret=secret,
        public_base_url="https://bot.example.com",
        **PRODUCTION_SERVICES,
    )
    assert ok.public_base_url == "https://bot.example.com"


@pytest.mark.parametrize(
    "value",
    [
        "bot.example.com",
        "ftp://bot.example.com",
        'https://bot.example.com/"><script>',
        "https://bot.example.com/?x=1",
        "https://bot.example.com/#top",
        "https://user:pw@bot.example.com",
        "https:///path-only",
        "https://bot.example.com:99999",
    ],
)
def test_a_malformed_public_base_url_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="PUBLIC_BASE_URL"):
        Settings(_env_file=None, public_base_url=value)  # type: ignore[call-arg]
