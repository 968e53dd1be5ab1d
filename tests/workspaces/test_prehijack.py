"""Account pre-hijacking (Sudhodanan & Paverd, 2022): someone signs up first with another
person's address and their own password. The verification mail reaches the address's owner;
using its link must not hand the signer-up a verified account (API keys, webhooks,
invitations, billing outlast a later reset). The link verifies only for whoever knows the
account's password: signed in as that account, or typing it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from tests.conftest import RuntimeFactory, client_for, fresh_ip, login
from tests.dashboard.conftest import csrf_of, web_login
from tests.fakes.smtp import SmtpServer
from tests.hardening.test_login_guard import GUARD, WRONG
from tests.workspaces.test_accounts import Site, _site

ATTACKER_PASSWORD = "attacker chosen pw 42"
OWNER_PASSWORD = "the real owner's own pw"


@pytest.fixture
async def site(runtime_factory: RuntimeFactory, smtp: SmtpServer) -> AsyncIterator[Site]:
    async with _site(runtime_factory, smtp, **GUARD) as it:
        yield it


async def _attacker_signs_up(site: Site) -> tuple[str, dict[str, str], str, str]:
    """The victim's address, the attacker's bearer headers, the mailed verification link and
    its token."""
    victim = f"victim-{uuid.uuid4().hex[:10]}@example.com"
    body = {"email": victim, "password": ATTACKER_PASSWORD, "workspace_name": "Theirs"}
    assert (await site.client.post("/api/v1/auth/signup", json=body)).status_code == 202
    tokens = await login(site.client, victim, ATTACKER_PASSWORD)
    link = (await site.last_mail(victim, "Confirm")).link("/app/verify-email")
    token = parse_qs(urlsplit(link).query)["token"][0]
    return victim, {"Authorization": f"Bearer {tokens['access_token']}"}, link, token


async def _verified(site: Site, headers: dict[str, str]) -> bool:
    me = await site.client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200, me.text
    return me.json()["user"]["email_verified_at"] is not None


async def _make_key(site: Site, headers: dict[str, str]) -> httpx.Response:
    me = (await site.client.get("/api/v1/me", headers=headers)).json()
    url = f"/api/v1/workspaces/{me['workspaces'][0]['id']}/api-keys"
    return await site.client.post(url, json={"name": "k"}, headers=headers)


async def test_the_address_owner_pressing_confirm_does_not_verify_the_attackers_account(
    site: Site,
) -> None:
    victim, attacker, link, token = await _attacker_signs_up(site)
    async with client_for(site.runtime, ip=fresh_ip()) as owner_browser:
        page = await owner_browser.get(link)
        assert page.status_code == 200, page.text
        # The owner presses "Confirm my address" in good faith: the account, still bearing
        # the attacker's password, must not become verified.
        pressed = await owner_browser.post(
            urljoin(link, "/app/verify-email"),
            data={"csrf_token": csrf_of(page.text), "token": token},
        )
        assert "Email confirmed" not in pressed.text
        assert not await _verified(site, attacker)
        assert pressed.status_code == 422
        # The page asks for the account's password and points to "forgot password".
        assert 'name="password"' in page.text
        assert "forgot-password" in page.text
        guessed = await owner_browser.post(
            urljoin(link, "/app/verify-email"),
            data={"csrf_token": csrf_of(page.text), "token": token, "password": WRONG},
        )
        assert guessed.status_code == 403
        assert "Email confirmed" not in guessed.text
        # The API's way: a token without a session of the account, or a password.
        bare = await owner_browser.post("/api/v1/auth/verify-email", json={"token": token})
        assert bare.status_code == 422
        assert bare.json()["error"]["code"] == "password_required"
        wrong = await owner_browser.post(
            "/api/v1/auth/verify-email", json={"token": token, "password": WRONG}
        )
        assert wrong.status_code == 403
        assert wrong.json()["error"]["code"] == "wrong_password"
    assert not await _verified(site, attacker)
    refused = await _make_key(site, attacker)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "email_unverified"

    # The owner takes the account back with "forgot password": verified, their password, the
    # attacker's sessions ended.
    assert (
        await site.client.post("/api/v1/auth/password-reset", json={"email": victim})
    ).status_code == 202
    reset_token = await site.token(victim, "Reset", "/reset-password")
    reset = await site.client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": reset_token, "password": OWNER_PASSWORD},
    )
    assert reset.status_code == 200, reset.text
    assert (await site.client.get("/api/v1/me", headers=attacker)).status_code == 401
    owner_tokens = await login(site.client, victim, OWNER_PASSWORD)
    assert await _verified(site, {"Authorization": f"Bearer {owner_tokens['access_token']}"})
    gone = await site.client.post(
        "/api/v1/auth/login", json={"email": victim, "password": ATTACKER_PASSWORD}
    )
    assert gone.status_code == 401


async def test_the_link_verifies_for_whoever_knows_the_accounts_password(site: Site) -> None:
    # The API: a bearer token of the account.
    _, own, _, token = await _attacker_signs_up(site)
    ok = await site.client.post("/api/v1/auth/verify-email", json={"token": token}, headers=own)
    assert ok.status_code == 200, ok.text
    assert await _verified(site, own)
    assert (await _make_key(site, own)).status_code == 201

    # The API: another account's bearer is no proof; the account's password is.
    _, other, _, token = await _attacker_signs_up(site)
    refused = await site.client.post(
        "/api/v1/auth/verify-email", json={"token": token}, headers=own
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "password_required"
    typed = await site.client.post(
        "/api/v1/auth/verify-email", json={"token": token, "password": ATTACKER_PASSWORD}
    )
    assert typed.status_code == 200, typed.text
    assert await _verified(site, other)

    # The dashboard: signed in as the account, the button alone.
    email, headers, _, token = await _attacker_signs_up(site)
    async with client_for(site.runtime, ip=fresh_ip()) as browser:
        signed_in = await web_login(browser, email, ATTACKER_PASSWORD)
        assert signed_in.status_code == 303, signed_in.text
        page = await browser.get(f"/app/verify-email?token={token}")  # the cookie's host
        assert page.status_code == 200, page.text
        assert 'name="password"' not in page.text
        pressed = await browser.post(
            "/app/verify-email",
            data={"csrf_token": csrf_of(page.text), "token": token},
        )
        assert pressed.status_code == 200, pressed.text
        assert "Email confirmed" in pressed.text
    assert await _verified(site, headers)


async def test_password_guesses_on_a_verification_link_count_as_failed_sign_ins(
    site: Site,
) -> None:
    _, attacker, _, token = await _attacker_signs_up(site)
    async with client_for(site.runtime, ip=fresh_ip()) as guesser:
        codes = []
        for _ in range(8):
            response = await guesser.post(
                "/api/v1/auth/verify-email", json={"token": token, "password": WRONG}
            )
            codes.append(response.json()["error"]["code"])
        assert codes[:3] == ["wrong_password"] * 3
        assert codes[-1] == "login_locked"
        locked = await guesser.post(
            "/api/v1/auth/verify-email", json={"token": token, "password": ATTACKER_PASSWORD}
        )
        assert locked.status_code == 429
    assert not await _verified(site, attacker)


async def test_a_browser_signed_in_as_another_account_is_asked_for_the_password(
    site: Site,
) -> None:
    """Signed in to the dashboard as one account, the link of another (a second account, a
    colleague's mail opened on a shared computer): the page showed the button alone, as to
    the link's own account, and pressing it answered 422 "enter the account's password". It
    asks for the password at once, and the password confirms."""
    own_email, _, _, _ = await _attacker_signs_up(site)
    _, other, _, token = await _attacker_signs_up(site)
    async with client_for(site.runtime, ip=fresh_ip()) as browser:
        signed_in = await web_login(browser, own_email, ATTACKER_PASSWORD)
        assert signed_in.status_code == 303, signed_in.text
        page = await browser.get(f"/app/verify-email?token={token}")
        assert page.status_code == 200, page.text
        assert 'name="password"' in page.text
        pressed = await browser.post(
            "/app/verify-email",
            data={"csrf_token": csrf_of(page.text), "token": token, "password": ATTACKER_PASSWORD},
        )
        assert pressed.status_code == 200, pressed.text
        assert "Email confirmed" in pressed.text
    assert await _verified(site, other)
