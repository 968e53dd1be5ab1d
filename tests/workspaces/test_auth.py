from __future__ import annotations

import uuid

import httpx

from tests.conftest import Owner, join, login, signup


async def test_signup_answers_202_and_the_unverified_owner_can_sign_in(
    client: httpx.AsyncClient,
) -> None:
    email = f"New.Person.{uuid.uuid4().hex[:8]}@Example.com"
    response = await client.post(
        "/api/v1/auth/signup",
        json={"email": email, "password": "a long passphrase", "workspace_name": "Shop"},
    )
    assert response.status_code == 202
    assert response.json() == {"status": "check_your_email"}
    tokens = await login(client, email, "a long passphrase")
    assert tokens["token_type"] == "bearer"
    me = await client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.status_code == 200
    body = me.json()
    assert body["user"]["email"] == email.rsplit("@", 1)[0] + "@example.com"
    assert body["user"]["email_verified_at"] is None
    [workspace] = body["workspaces"]
    assert workspace["name"] == "Shop"
    assert workspace["role"] == "owner"
    assert workspace["plan"] == "free"
    assert workspace["public_key"].startswith("pk_")


async def test_signup_with_a_taken_email_answers_the_same_and_creates_nothing(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    response = await client.post(
        "/api/v1/auth/signup",
        json={
            "email": owner.email.upper(),
            "password": "another passphrase",
            "workspace_name": "X",
        },
    )
    assert response.status_code == 202
    assert response.json() == {"status": "check_your_email"}
    # The account is unchanged: the old password still works, the new one does not.
    await login(client, owner.email, owner.password)
    refused = await client.post(
        "/api/v1/auth/login", json={"email": owner.email, "password": "another passphrase"}
    )
    assert refused.status_code == 401
    me = (await client.get("/api/v1/me", headers=owner.headers)).json()
    assert [w["name"] for w in me["workspaces"]] == ["Acme"]


async def test_password_policy(client: httpx.AsyncClient) -> None:
    short = await client.post(
        "/api/v1/auth/signup",
        json={"email": "p1@example.com", "password": "short", "workspace_name": "X"},
    )
    assert short.status_code == 422
    assert short.json()["error"]["details"][0]["field"] == "password"
    same = await client.post(
        "/api/v1/auth/signup",
        json={
            "email": "samepass@example.com",
            "password": "samepass@example.com",
            "workspace_name": "X",
        },
    )
    assert same.status_code == 422
    assert same.json()["error"]["code"] == "weak_password"
    # Mail servers refuse a part before the @ longer than 64 characters: its mails would bounce.
    long_local = await client.post(
        "/api/v1/auth/signup",
        json={
            "email": "a" * 65 + "@example.com",
            "password": "x" * 12 + "yz!",
            "workspace_name": "X",
        },
    )
    assert long_local.status_code == 422
    assert long_local.json()["error"]["details"][0]["field"] == "email"
    # Among the first guesses of any attacker: digits only, a common word with digits and signs
    # around it, a run of keys.
    for guessable in ("1234567890", "password12", "Welcome2026!", "qwertyuiop"):
        refused = await client.post(
            "/api/v1/auth/signup",
            json={"email": "p2@example.com", "password": guessable, "workspace_name": "X"},
        )
        assert refused.status_code == 422, guessable
        assert refused.json()["error"]["code"] == "weak_password"


async def test_login_same_answer_for_unknown_email_and_wrong_password(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    ok = await client.post(
        "/api/v1/auth/login", json={"email": owner.email, "password": owner.password}
    )
    assert ok.status_code == 200
    assert ok.json()["access_token"]
    # Pasted with spaces around it, as sign-up took it (it stored the address trimmed).
    padded = await client.post(
        "/api/v1/auth/login", json={"email": f" {owner.email}\t", "password": owner.password}
    )
    assert padded.status_code == 200, padded.text
    wrong = await client.post(
        "/api/v1/auth/login", json={"email": owner.email, "password": "nope nope nope"}
    )
    unknown = await client.post(
        "/api/v1/auth/login", json={"email": "nobody@example.com", "password": owner.password}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"]["code"] == "invalid_credentials"


async def test_bad_or_missing_credentials_are_401(client: httpx.AsyncClient, owner: Owner) -> None:
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic abc"}):
        response = await client.get("/api/v1/me", headers=headers)
        assert response.status_code == 401, headers
        assert "code" in response.json()["error"]
    tampered = owner.token[:-3] + ("aaa" if not owner.token.endswith("aaa") else "bbb")
    assert (
        await client.get("/api/v1/me", headers={"Authorization": f"Bearer {tampered}"})
    ).status_code == 401


async def test_expired_token_is_401(client: httpx.AsyncClient, owner: Owner, settings) -> None:  # type: ignore[no-untyped-def]
    from workspaces.security import create_access_token

    login = await client.post(
        "/api/v1/auth/login", json={"email": owner.email, "password": owner.password}
    )
    token, _ = create_access_token(
        uuid.UUID(owner.user_id),
        session_id=uuid.UUID(login.json()["session_id"]),
        secret=settings.jwt_secret,
        ttl_minutes=-1,
    )
    response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"


async def test_me_lists_every_workspace_with_role(client: httpx.AsyncClient, owner: Owner) -> None:
    created = await client.post(
        "/api/v1/workspaces", json={"name": "Second"}, headers=owner.headers
    )
    assert created.status_code == 201
    other = await signup(client, "Elsewhere")
    await join(client, other, owner, "member")
    me = (await client.get("/api/v1/me", headers=owner.headers)).json()
    roles = {w["name"]: w["role"] for w in me["workspaces"]}
    assert roles == {"Acme": "owner", "Second": "owner", "Elsewhere": "member"}
