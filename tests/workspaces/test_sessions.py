"""Sessions: short access tokens, rotating refresh tokens, revocation that takes effect at once."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from sqlalchemy import text

from core.db import Database
from tests.conftest import Owner, signup
from workspaces import sessions
from workspaces.service import ClientInfo


async def _login(client: httpx.AsyncClient, owner: Owner, agent: str = "pytest") -> dict:
    response = await client.post(
        "/api/v1/auth/login",
        json={"email": owner.email, "password": owner.password},
        headers={"User-Agent": agent},
    )
    assert response.status_code == 200, response.text
    return response.json()


def _bearer(tokens: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def _refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})


async def test_login_gives_a_short_access_token_and_a_refresh_token(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    tokens = await _login(client, owner)
    assert tokens["expires_in"] == 15 * 60
    assert tokens["refresh_token"].startswith("rt_")
    assert (await client.get("/api/v1/me", headers=_bearer(tokens))).status_code == 200


async def test_refresh_rotates_and_the_old_refresh_token_stops_working(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    first = await _login(client, owner)
    second = (await _refresh(client, first["refresh_token"])).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["session_id"] == first["session_id"]
    assert (await client.get("/api/v1/me", headers=_bearer(second))).status_code == 200
    third = await _refresh(client, second["refresh_token"])
    assert third.status_code == 200
    assert (await client.get("/api/v1/me", headers=_bearer(third.json()))).status_code == 200


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    first = await _login(client, owner)
    other_session = await _login(client, owner, agent="another device")
    stolen_then_used = (await _refresh(client, first["refresh_token"])).json()
    # The old token comes back (a thief replaying it, or the victim after the thief used it).
    replay = await _refresh(client, first["refresh_token"])
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "refresh_token_reused"
    # Every token of that family is dead: the newest refresh token and its access token.
    after = await _refresh(client, stolen_then_used["refresh_token"])
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "session_revoked"
    me = await client.get("/api/v1/me", headers=_bearer(stolen_then_used))
    assert me.status_code == 401
    assert me.json()["error"]["code"] == "session_revoked"
    # Another session of the same person is untouched.
    assert (await client.get("/api/v1/me", headers=_bearer(other_session))).status_code == 200


async def test_unknown_or_malformed_refresh_tokens_are_401(client: httpx.AsyncClient) -> None:
    for token in ("rt_" + "x" * 43, "nonsense", "ws_" + "y" * 43):
        response = await _refresh(client, token)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_refresh_token"


async def test_logout_revokes_the_access_and_refresh_tokens_at_once(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    tokens = await _login(client, owner)
    assert (await client.post("/api/v1/auth/logout", headers=_bearer(tokens))).status_code == 204
    me = await client.get("/api/v1/me", headers=_bearer(tokens))
    assert me.status_code == 401
    assert me.json()["error"]["code"] == "session_revoked"
    again = await _refresh(client, tokens["refresh_token"])
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "session_revoked"
    # The signup's own session is another one and still works.
    assert (await client.get("/api/v1/me", headers=owner.headers)).status_code == 200


async def test_list_and_revoke_my_sessions(client: httpx.AsyncClient, owner: Owner) -> None:
    laptop = await _login(client, owner, agent="laptop browser")
    phone = await _login(client, owner, agent="phone app")
    listed = await client.get("/api/v1/auth/sessions", headers=_bearer(laptop))
    assert listed.status_code == 200
    by_id = {s["id"]: s for s in listed.json()}
    assert by_id[laptop["session_id"]]["current"] is True
    assert by_id[laptop["session_id"]]["user_agent"] == "laptop browser"
    assert by_id[phone["session_id"]]["current"] is False
    assert [s["current"] for s in listed.json()].count(True) == 1
    assert "refresh_token" not in str(listed.json())
    assert phone["refresh_token"] not in listed.text

    gone = await client.delete(
        f"/api/v1/auth/sessions/{phone['session_id']}", headers=_bearer(laptop)
    )
    assert gone.status_code == 204
    refused = await client.get("/api/v1/me", headers=_bearer(phone))
    assert refused.json()["error"]["code"] == "session_revoked"
    listed = (await client.get("/api/v1/auth/sessions", headers=_bearer(laptop))).json()
    assert phone["session_id"] not in {s["id"] for s in listed}
    assert (await client.get("/api/v1/me", headers=_bearer(laptop))).status_code == 200


async def test_someone_elses_session_is_404_and_stays_alive(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    stranger = await signup(client, "Stranger")
    victim = await _login(client, owner)
    attempt = await client.delete(
        f"/api/v1/auth/sessions/{victim['session_id']}", headers=stranger.headers
    )
    assert attempt.status_code == 404
    assert attempt.json()["error"]["code"] == "session_not_found"
    unknown = await client.delete(f"/api/v1/auth/sessions/{uuid.uuid4()}", headers=stranger.headers)
    assert unknown.status_code == 404
    assert (await client.get("/api/v1/me", headers=_bearer(victim))).status_code == 200
    theirs = (await client.get("/api/v1/auth/sessions", headers=stranger.headers)).json()
    assert victim["session_id"] not in {s["id"] for s in theirs}


async def test_api_keys_are_not_sessions(client: httpx.AsyncClient, owner: Owner) -> None:
    key = (
        await client.post(owner.url("/api-keys"), json={"name": "ci"}, headers=owner.headers)
    ).json()["key"]
    await client.post("/api/v1/auth/logout", headers=owner.headers)
    listed = await client.get(owner.url("/leads"), headers={"Authorization": f"Bearer {key}"})
    assert listed.status_code == 200
    sessions_by_key = await client.get(
        "/api/v1/auth/sessions", headers={"Authorization": f"Bearer {key}"}
    )
    assert sessions_by_key.status_code == 401


async def test_web_sessions_for_the_dashboard(db: Database, client: httpx.AsyncClient) -> None:
    owner = await signup(client, "Web")
    user_id = uuid.UUID(owner.user_id)
    async with db.transaction() as s:
        started = await sessions.start(
            s, user_id, kind="web", client=ClientInfo(ip="10.1.2.3", user_agent="Firefox")
        )
    assert started.secret.startswith("ws_")
    async with db.transaction() as s:
        principal = await sessions.authenticate(s, started.secret)
    assert principal is not None
    assert principal.user_id == user_id
    assert principal.session_id == started.session_id
    async with db.transaction() as s:
        assert await sessions.authenticate(s, started.secret + "x") is None
        assert await sessions.authenticate(s, "ws_" + "z" * 43) is None
        infos = await sessions.list_sessions(s, user_id, current=started.session_id)
    web = [i for i in infos if i.id == started.session_id]
    assert web
    assert web[0].kind == "web"
    assert web[0].current
    assert web[0].ip == "10.1.2.3"
    # A web cookie is not a refresh token, and a refresh token is not a cookie.
    assert (await _refresh(client, started.secret)).status_code == 401
    tokens = await _login(client, owner)
    async with db.transaction() as s:
        assert await sessions.authenticate(s, tokens["refresh_token"]) is None
        assert await sessions.revoke(s, user_id, started.session_id)
    async with db.transaction() as s:
        assert await sessions.authenticate(s, started.secret) is None
        assert not await sessions.revoke(s, user_id, started.session_id)


async def _age_then_use(
    db: Database,
    owner_db: Database,
    started: sessions.Started,
    policy: sessions.SessionPolicy,
    *,
    signed_in: timedelta,
    used: timedelta,
) -> timedelta:
    """Move the session's sign-in and last use back, use it, and return the time left before
    it expires."""
    async with owner_db.transaction() as s:
        await s.execute(
            text(
                "UPDATE user_sessions SET created_at = now() - CAST(:signed AS interval),"
                " last_used_at = now() - CAST(:used AS interval),"
                " expires_at = now() + interval '1 day' WHERE family_id = :f"
            ),
            {"signed": signed_in, "used": used, "f": started.session_id},
        )
    async with db.transaction() as s:
        assert await sessions.authenticate(s, started.secret, policy=policy) is not None
    async with owner_db.transaction() as s:
        left: timedelta = (
            await s.execute(
                text("SELECT expires_at - now() FROM user_sessions WHERE family_id = :f"),
                {"f": started.session_id},
            )
        ).scalar_one()
    return left


async def test_web_session_expiry_slides_and_has_an_absolute_limit(
    db: Database, owner_db: Database, client: httpx.AsyncClient
) -> None:
    owner = await signup(client, "Slide")
    policy = sessions.SessionPolicy(web_ttl=timedelta(days=7), max_age=timedelta(days=90))
    async with db.transaction() as s:
        started = await sessions.start(s, uuid.UUID(owner.user_id), kind="web", policy=policy)
    # Used six days ago, expiring tomorrow: a use now pushes the expiry a week out.
    left = await _age_then_use(
        db, owner_db, started, policy, signed_in=timedelta(days=6), used=timedelta(days=6)
    )
    assert left > timedelta(days=6)
    # Signed in 89.5 days ago: the expiry stops at 90 days whatever the use.
    left = await _age_then_use(
        db,
        owner_db,
        started,
        policy,
        signed_in=timedelta(days=89, hours=12),
        used=timedelta(minutes=2),
    )
    assert timedelta(hours=11) < left <= timedelta(hours=12)


async def test_rls_hides_other_users_sessions(db: Database, client: httpx.AsyncClient) -> None:
    a = await signup(client, "A")
    b = await signup(client, "B")
    async with db.transaction(user_id=a.user_id) as s:
        rows = (await s.execute(text("SELECT DISTINCT user_id::text FROM user_sessions"))).all()
    assert {r[0] for r in rows} == {a.user_id}
    async with db.transaction() as s:
        assert (await s.execute(text("SELECT count(*) FROM user_sessions"))).scalar_one() == 0
    assert b.user_id != a.user_id
