"""The API under settings an operator may choose in the first hour: MAX_PAGE_SIZE under the
default page of 20 made every list without ``limit`` answer 422; HOST=::1 mailed links that
were no URL (``http://::1:8000/...``)."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from core.mail_repository import OUTBOX_SENDER
from tests.conftest import RuntimeFactory, client_for, signup


async def test_max_page_size_under_the_default_page_serves_every_list(
    runtime_factory: RuntimeFactory,
) -> None:
    async with runtime_factory(max_page_size=10) as runtime, client_for(runtime) as client:
        owner = await signup(client)
        for path in ("/leads", "/documents", "/faqs", "/conversations", "/audit"):
            r = await client.get(owner.url(path), headers=owner.headers)
            assert r.status_code == 200, (path, r.status_code, r.text)
        too_many = await client.get(owner.url("/leads?limit=11"), headers=owner.headers)
        assert too_many.status_code == 422, too_many.text
        assert too_many.json()["error"]["message"] == "limit must be at most 10"
        spec = (await client.get("/openapi.json")).json()
        [limit] = [
            p["schema"]
            for p in spec["paths"]["/api/v1/workspaces/{workspace_id}/leads"]["get"]["parameters"]
            if p["name"] == "limit"
        ]
        assert (limit["type"], limit["minimum"], limit["maximum"], limit["default"]) == (
            "integer",
            1,
            10,
            10,
        )


async def test_mailed_links_bracket_an_ipv6_host(runtime_factory: RuntimeFactory) -> None:
    email = f"v6-{uuid.uuid4().hex[:10]}@example.com"
    async with runtime_factory(host="::1", port=8000) as runtime, client_for(runtime) as client:
        r = await client.post(
            "/api/v1/auth/signup",
            json={"email": email, "password": "correct horse battery", "workspace_name": "A"},
        )
        assert r.status_code == 202, r.text
        async with runtime.db.transaction(lookup=OUTBOX_SENDER) as session:
            body = (
                await session.execute(
                    text(
                        "SELECT text_body FROM mail_outbox WHERE lower(recipient) = lower(:to)"
                        " ORDER BY created_at DESC LIMIT 1"
                    ),
                    {"to": email},
                )
            ).scalar_one()
    assert "http://[::1]:8000/app/verify-email?" in body, body
