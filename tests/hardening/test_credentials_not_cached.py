"""Answers that carry a credential say ``Cache-Control: no-store`` (RFC 6749 section 5.1 asks it
of every token answer): the access and refresh tokens of a sign-in, a refresh and an accepted
invitation, an API key (shown once: a cached copy would show it again), the webhook's secret.
They said nothing, so a browser's or a proxy's cache was free to keep them."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Owner, mail_token


def _no_store(response: httpx.Response) -> None:
    assert response.status_code < 300, response.text
    assert "no-store" in response.headers.get("cache-control", ""), response.headers


async def test_answers_carrying_a_credential_are_not_stored(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    login = await client.post(
        "/api/v1/auth/login", json={"email": owner.email, "password": owner.password}
    )
    _no_store(login)
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": login.json()["refresh_token"]}
    )
    _no_store(refreshed)
    key = await client.post(owner.url("/api-keys"), json={"name": "ci"}, headers=owner.headers)
    _no_store(key)
    webhook = await client.patch(
        owner.url(), json={"webhook_url": "https://hooks.example.com/in"}, headers=owner.headers
    )
    assert webhook.status_code == 200, webhook.text
    _no_store(await client.get(owner.url("/webhook"), headers=owner.headers))
    _no_store(await client.post(owner.url("/webhook/rotate-secret"), headers=owner.headers))
    invited = f"invited-{uuid.uuid4().hex[:10]}@example.com"
    sent = await client.post(
        owner.url("/members"), json={"email": invited, "role": "member"}, headers=owner.headers
    )
    assert sent.status_code == 202, sent.text
    token = await mail_token(client, invited, "invitation")
    accepted = await client.post(
        "/api/v1/invitations/accept", json={"token": token, "password": "a new member's words"}
    )
    _no_store(accepted)
    assert accepted.json()["tokens"]["access_token"]
