"""Which account an address names, and which links still work after a password changes.

Addresses are compared as the database's unique index compares them (PostgreSQL's ``lower`` on
both sides): Python's ``str.lower`` differs outside ASCII (a Greek final sigma, a Turkish dotted
capital I) and ``casefold`` even more (``straße`` and ``strasse`` are two mailboxes). A reset
link mailed before a password change stops working with the change; a forged reset link costs no
argon2. Lifetimes too large for a date are refused by the settings, not by every login.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from core.config import Settings
from tests.conftest import (
    Owner,
    client_for,
    login,
    mail_token,
    make_runtime,
    make_settings,
    signup,
)
from tests.dashboard.conftest import web_login
from workspaces import security

PASSWORD = "correct horse battery"


@pytest.fixture
def settings() -> Settings:
    """Room for several members, so only the addresses (not the plan's quota) decide."""
    return make_settings(default_plan="unlimited")


async def _signup(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/signup",
        json={"email": email, "password": PASSWORD, "workspace_name": "Addresses"},
    )


def _tag() -> str:
    return uuid.uuid4().hex[:8]


# --- addresses as the database identifies them --------------------------------------------------


@pytest.mark.parametrize("local", ["ΝΙΚΟΣ", "İNCİ"], ids=["final-sigma", "dotted-capital-i"])
async def test_an_address_python_lowers_otherwise_signs_in_and_resets(
    client: httpx.AsyncClient, local: str
) -> None:
    email = f"n{_tag()}{local}@example.com"
    assert (await _signup(client, email)).status_code == 202
    await login(client, email, PASSWORD)  # 200, with the address as typed at sign-up
    asked = await client.post("/api/v1/auth/password-reset", json={"email": email})
    assert asked.status_code == 202
    token = await mail_token(client, email, "password_reset")
    done = await client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": token, "password": "another horse battery"},
    )
    assert done.status_code == 200, done.text


async def test_an_address_typed_decomposed_signs_in_as_at_sign_up(
    client: httpx.AsyncClient,
) -> None:
    """Sign-up, the reset request and invitations store and look up an address composed (NFC,
    as the address checker writes it): "José" typed as "e" and a combining accent is stored
    as "é". The sign-in looked it up as typed, so the same keystrokes that signed up were
    refused (401) on the sign-in form and the API alike."""
    tag = _tag()
    typed = f"jose\u0301{tag}@example.com"
    assert (await _signup(client, typed)).status_code == 202
    await mail_token(client, f"jos\u00e9{tag}@example.com", "verify_email")  # stored composed
    await login(client, typed, PASSWORD)  # 200, with the address as typed at sign-up
    signed_in = await web_login(client, typed, PASSWORD)
    assert signed_in.status_code == 303, signed_in.text


async def test_signing_up_again_in_another_case_is_the_same_answer_never_a_500(
    client: httpx.AsyncClient,
) -> None:
    tag = _tag()
    first = f"n{tag}νικοσ@example.com"
    assert (await _signup(client, first)).status_code == 202
    again = await _signup(client, f"n{tag}ΝΙΚΟΣ@example.com")
    assert again.status_code == 202, again.text
    # The account's owner is told, with a reset link, as for any address already taken.
    await mail_token(client, first, "signup_existing")


async def _accept_signed_in(
    client: httpx.AsyncClient, owner: Owner, signed_up: str, invited: str, role: str
) -> tuple[str, httpx.Response]:
    """``signed_up`` has an account and signs in; ``owner`` invites ``invited`` as ``role``;
    the signed-in account accepts the mailed link: the link and the answer."""
    assert (await _signup(client, signed_up)).status_code == 202
    tokens = await login(client, signed_up, PASSWORD)
    sent = await client.post(
        owner.url("/members"), json={"email": invited, "role": role}, headers=owner.headers
    )
    assert sent.status_code == 202, sent.text
    token = await mail_token(client, invited, "invitation")
    accepted = await client.post(
        "/api/v1/invitations/accept",
        json={"token": token},
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    return token, accepted


async def test_an_invitation_is_accepted_only_by_the_invited_addresss_account(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """``straße…`` and ``strasse…`` case-fold alike but are two mailboxes and two accounts: the
    link mailed to one does not let the other in (nor verify their address)."""
    tag = _tag()
    invited, other = f"strasse{tag}@example.com", f"straße{tag}@example.com"
    token, accepted = await _accept_signed_in(client, owner, other, invited, "admin")
    assert accepted.status_code == 403, accepted.text
    assert accepted.json()["error"]["code"] == "invitation_email_mismatch"
    # The invited address still accepts: a new account with a password.
    created = await client.post(
        "/api/v1/invitations/accept", json={"token": token, "password": "invited horse battery"}
    )
    assert created.status_code == 200, created.text


async def test_an_invitation_is_accepted_by_its_account_in_another_case(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """PostgreSQL lowers ``İNCİ`` to ``inci``: the invitation to ``inci…`` names the account
    signed up as ``İNCİ…`` (sign-up's unique index says so), though ``casefold`` keeps a
    combining dot and would refuse it."""
    tag = _tag()
    email, invited = f"n{tag}İNCİ@example.com", f"n{tag}inci@example.com"
    _token, accepted = await _accept_signed_in(client, owner, email, invited, "member")
    assert accepted.status_code == 200, accepted.text


# --- reset links and password changes -----------------------------------------------------------


@pytest.mark.parametrize("template", ["password_reset", "signup_existing"])
async def test_a_reset_link_mailed_before_a_password_change_stops_working(
    client: httpx.AsyncClient, owner: Owner, template: str
) -> None:
    if template == "password_reset":
        asked = await client.post("/api/v1/auth/password-reset", json={"email": owner.email})
    else:  # anyone signing up with the address mails its owner a reset link
        asked = await _signup(client, owner.email)
    assert asked.status_code == 202
    token = await mail_token(client, owner.email, template)
    changed = await client.post(
        "/api/v1/auth/password",
        headers=owner.headers,
        json={"current_password": owner.password, "new_password": "another horse battery"},
    )
    assert changed.status_code == 200, changed.text
    reset = await client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": token, "password": "evil horse battery"},
    )
    assert reset.status_code == 400, reset.text
    await login(client, owner.email, "another horse battery")


async def test_a_forged_reset_link_costs_no_password_hash(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = security.hash_password
    calls: list[str] = []

    async def counting(password: str) -> str:
        calls.append(password)
        return await real(password)

    monkeypatch.setattr(security, "hash_password", counting)
    refused = await client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": "forged.token", "password": PASSWORD},
    )
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == "link_invalid"
    assert calls == []


# --- lifetimes --------------------------------------------------------------------------------

TOO_LONG = {
    "refresh_token_ttl_days": 3651,
    "web_session_ttl_days": 3651,
    "session_max_days": 3651,
    "email_verification_ttl_hours": 721,
    "invitation_ttl_days": 91,
}


async def test_lifetimes_are_bounded_and_the_longest_work(db: Any, redis_client: Any) -> None:
    """Past its bound, a lifetime is refused by the settings (at start, with its name), not by
    every login after. At the bounds, sign-up and its verification, login, a refresh, a
    dashboard sign-in and an invitation all work (no expiry date overflows)."""
    for field, value in TOO_LONG.items():
        with pytest.raises(ValidationError) as refused:
            make_settings(**{field: value})
        assert field in str(refused.value)
    longest = {name: value - 1 for name, value in TOO_LONG.items()}
    settings = make_settings(default_plan="unlimited", **longest)
    async with make_runtime(settings, db, redis_client) as runtime, client_for(runtime) as client:
        owner = await signup(client, "Long")  # signs up, verifies, logs in
        tokens = await login(client, owner.email, owner.password)
        refreshed = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert refreshed.status_code == 200, refreshed.text
        assert (await web_login(client, owner.email, owner.password)).status_code == 303
        invited = await client.post(
            owner.url("/members"),
            json={"email": f"long-{_tag()}@example.com", "role": "member"},
            headers=owner.headers,
        )
        assert invited.status_code == 202, invited.text
