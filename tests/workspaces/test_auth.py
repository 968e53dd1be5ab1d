from __future__ import annotations

import httpx

from tests.conftest import Owner, signup


async def test_signup_returns_token_user_and_workspace(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/signup",
        json={
            "email": "New.Person@Example.com",
            "password": "a long passphrase",
            "workspace_name": "Shop",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["user"]["email"] == "New.Person@example.com"
    assert body["workspace"]["name"] == "Shop"
    assert body["workspace"]["plan"] == "free"
    assert body["workspace"]["public_key"].startswith("pk_")
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert [w["role"] for w in me.json()["workspaces"]] == ["owner"]


async def test_duplicate_email_is_409_case_insensitively(
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
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "email_taken"


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


async def test_login_same_answer_for_unknown_email_and_wrong_password(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    ok = await client.post(
        "/api/v1/auth/login", json={"email": owner.email, "password": owner.password}
    )
    assert ok.status_code == 200
    assert ok.json()["access_token"]
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
    import uuid

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
    added = await client.post(
        other.url("/members"), json={"email": owner.email, "role": "member"}, headers=other.headers
    )
    assert added.status_code == 201
    me = (await client.get("/api/v1/me", headers=owner.headers)).json()
    roles = {w["name"]: w["role"] for w in me["workspaces"]}
    assert roles == {"Acme": "owner", "Second": "owner", "Elsewhere": "member"}
