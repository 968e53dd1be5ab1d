"""The interactive API docs and the schema: served in development, not in production by default."""

from __future__ import annotations

import secrets

import httpx
import pytest

from tests.conftest import PRODUCTION_SERVICES
from tests.hardening.conftest import ClientFactory

DOC_PATHS = ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect")


@pytest.mark.parametrize(
    ("environment", "api_docs", "served"),
    [
        ("production", "auto", False),
        ("production", "off", False),
        ("production", "on", True),
        ("development", "auto", True),
        ("development", "off", False),
        ("test", "auto", True),
    ],
)
async def test_api_docs_follow_the_setting(
    app_client: ClientFactory, environment: str, api_docs: str, served: bool
) -> None:
    async with app_client(
        environment=environment,
        api_docs=api_docs,
        jwt_secret=secrets.token_urlsafe(32),
        public_base_url="https://bot.example.com",
        # Required in production; the runtime is given the test's database and sends no mail.
        **(PRODUCTION_SERVICES if environment == "production" else {}),
    ) as client:
        answers = {path: await client.get(path) for path in DOC_PATHS}
        assert (await client.get("/healthz")).status_code == 200
        landing = await client.get("/")
    # The landing page links to the docs only where they are served (it linked to a 404).
    assert ("href='/docs'" in landing.text) is served
    assert "href='/app'" in landing.text
    for path, response in answers.items():
        assert (response.status_code == 200) is served, (path, response.status_code)
        if not served:
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "not_found"
            assert "openapi" not in response.text.lower()


async def test_the_schema_still_describes_the_api_when_served(app_client: ClientFactory) -> None:
    async with app_client(api_docs="on") as client:
        schema = (await client.get("/openapi.json")).json()
    assert "/api/v1/auth/login" in schema["paths"]


def test_an_unknown_value_is_refused() -> None:
    from pydantic import ValidationError

    from tests.conftest import make_settings

    with pytest.raises(ValidationError, match="api_docs"):
        make_settings(api_docs="maybe")


async def test_the_default_client_still_reads_the_docs(client: httpx.AsyncClient) -> None:
    assert (await client.get("/openapi.json")).status_code == 200
