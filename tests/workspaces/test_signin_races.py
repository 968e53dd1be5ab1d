"""What happens between a password check and the session it starts, and between an admin's
access check and the API key it makes, when someone else changes things in between.

The password check runs with no transaction open (argon2 takes tens of milliseconds, more with
a queue): a reset committed meanwhile must not leave a session behind, nor be undone by storing
an upgraded hash of the old password. An API key made while its maker is being removed must not
outlive the removal. The interleavings are forced: a gate holds the sign-in after its password
check, or a transaction is held open until the other one is seen waiting for its lock.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from api.deps import free_room
from core.config import Settings
from core.db import Database
from core.errors import AppError
from dashboard.auth import SESSION_COOKIE
from tests.conftest import (
    Owner,
    client_for,
    join,
    mail_token,
    make_settings,
    runtime_of,
    signup,
)
from tests.dashboard.conftest import web_login
from workspaces import security, team
from workspaces.service import Principal, access_workspace

GUARD_SECONDS = 30  # a deadlock guard, never reached when the behaviour is right
NEW_PASSWORD = "brand new horse 42"


@pytest.fixture
def settings() -> Settings:
    """Room for several members, so only the races (not the plan's quota) decide."""
    return make_settings(default_plan="unlimited")


class HeldAfterCheck:
    """``security.verify_password`` that, on its first call, answers only once the test lets
    it: the sign-in is then between its password check and its session."""

    def __init__(self, real: Callable[..., Awaitable[bool]]) -> None:
        self.real = real
        self.checked = asyncio.Event()
        self.go_on = asyncio.Event()
        self.used = False

    async def __call__(self, *args: Any, **kwargs: Any) -> bool:
        result = await self.real(*args, **kwargs)
        if not self.used:
            self.used = True
            self.checked.set()
            await asyncio.wait_for(self.go_on.wait(), GUARD_SECONDS)
        return result


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> HeldAfterCheck:
    gate = HeldAfterCheck(security.verify_password)
    monkeypatch.setattr(security, "verify_password", gate)
    return gate


async def _reset(client: httpx.AsyncClient, email: str, password: str) -> None:
    asked = await client.post("/api/v1/auth/password-reset", json={"email": email})
    assert asked.status_code == 202, asked.text
    token = await mail_token(client, email, "password_reset")
    done = await client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": password}
    )
    assert done.status_code == 200, done.text


async def _login_status(client: httpx.AsyncClient, email: str, password: str) -> int:
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    return response.status_code


@pytest.mark.parametrize("where", ["api", "dashboard"])
async def test_a_sign_in_checked_before_a_reset_gets_no_session(
    client: httpx.AsyncClient, owner: Owner, held: HeldAfterCheck, where: str
) -> None:
    """Someone holding the old password signs in; the owner resets it while their password is
    being checked. The reset ends every session: the sign-in must not start one after it."""
    async with client_for(runtime_of(client)) as attacker:
        if where == "api":
            attempt = asyncio.create_task(
                attacker.post(
                    "/api/v1/auth/login", json={"email": owner.email, "password": owner.password}
                )
            )
        else:
            attempt = asyncio.create_task(web_login(attacker, owner.email, owner.password))
        await asyncio.wait_for(held.checked.wait(), GUARD_SECONDS)
        await _reset(client, owner.email, NEW_PASSWORD)
        held.go_on.set()
        answer = await attempt
        assert answer.status_code == 401, answer.text
        if where == "api":
            assert answer.json()["error"]["code"] == "invalid_credentials"
        else:
            assert SESSION_COOKIE not in attacker.cookies
            assert (await attacker.get("/app/account")).status_code == 303  # to the sign-in
    assert await _login_status(client, owner.email, NEW_PASSWORD) == 200


async def test_an_upgraded_hash_never_undoes_a_reset(
    client: httpx.AsyncClient, owner: Owner, held: HeldAfterCheck, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every stored hash wants an upgrade (new argon2 parameters): the sign-in that checked the
    old password must not store a hash of it over the one the reset just stored."""
    monkeypatch.setattr(security, "needs_rehash", lambda _hash: True)
    attempt = asyncio.create_task(
        client.post("/api/v1/auth/login", json={"email": owner.email, "password": owner.password})
    )
    await asyncio.wait_for(held.checked.wait(), GUARD_SECONDS)
    await _reset(client, owner.email, NEW_PASSWORD)
    held.go_on.set()
    assert (await attempt).status_code == 401
    assert await _login_status(client, owner.email, owner.password) == 401
    # With nothing racing it, a sign-in stores its upgraded hash, and the password still works.
    async with runtime_of(client).db.transaction(user_id=owner.user_id) as session:
        before = await _stored_hash(session, owner)
    assert await _login_status(client, owner.email, NEW_PASSWORD) == 200
    async with runtime_of(client).db.transaction(user_id=owner.user_id) as session:
        assert await _stored_hash(session, owner) != before
    assert await _login_status(client, owner.email, NEW_PASSWORD) == 200


async def _stored_hash(session: Any, owner: Owner) -> str:
    found = await session.execute(text("SELECT tb_password_hash(:id)"), {"id": owner.user_id})
    return str(found.scalar_one())


async def _until_blocked_by(owner_db: Database, pid: int, count: int = 1) -> None:
    """Until some backend (``count`` backends) waits for a lock that backend ``pid`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + GUARD_SECONDS
    while True:
        async with owner_db.transaction() as session:
            waiting = await session.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"
                ),
                {"pid": pid},
            )
            if waiting.scalar_one() >= count:
                return
        if loop.time() > deadline:
            raise AssertionError(f"fewer than {count} ever waited for backend {pid}")
        await asyncio.sleep(0.01)


async def _backend_pid(session: Any) -> int:
    return int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_reset_waits_for_a_session_being_started_then_ends_it(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    """The other order: the sign-in's transaction has checked the hash (and holds the
    account's row) when the reset arrives. The reset waits for it, then ends its session."""
    from workspaces import sessions, signin

    runtime = runtime_of(client)
    async with runtime.db.transaction() as session:
        user = await signin.find_login(session, email=owner.email)
    checked = await signin.authenticate(user, password=owner.password)
    reset: asyncio.Task[None] | None = None
    async with runtime.db.transaction() as session:
        pid = await _backend_pid(session)
        await signin.confirm_login(session, checked)
        started = await sessions.start(session, checked.user.id, kind="api")
        reset = asyncio.create_task(_reset(client, owner.email, NEW_PASSWORD))
        await _until_blocked_by(owner_db, pid)
    await reset
    refreshed = await client.post("/api/v1/auth/refresh", json={"refresh_token": started.secret})
    assert refreshed.status_code == 401, refreshed.text


# --- API keys made while their maker goes ------------------------------------------------------


async def _admin_of(client: httpx.AsyncClient, owner: Owner) -> Owner:
    admin = await signup(client, "Leaving")
    await join(client, owner, admin, "admin")
    return admin


@pytest.mark.parametrize("how", ["removed", "demoted"])
async def test_a_key_made_after_its_maker_was_removed_is_refused(
    client: httpx.AsyncClient, owner: Owner, how: str
) -> None:
    """The admin's request passed its access check before the owner's removal (or demotion)
    committed; its key is made after. It must not be made."""
    runtime = runtime_of(client)
    admin = await _admin_of(client, owner)
    ws = uuid.UUID(owner.workspace_id)
    async with runtime.db.transaction() as t1:
        a_access = await access_workspace(t1, Principal(user_id=uuid.UUID(admin.user_id)), ws)
        async with runtime.db.transaction() as t2:
            o_access = await access_workspace(t2, Principal(user_id=uuid.UUID(owner.user_id)), ws)
            if how == "removed":
                await team.remove_member(t2, o_access, uuid.UUID(admin.user_id))
            else:
                await team.change_role(
                    t2,
                    o_access,
                    uuid.UUID(admin.user_id),
                    role="member",
                    room=free_room(runtime.settings),
                )
        with pytest.raises(AppError) as refused:
            await team.create_api_key(t1, a_access, name="kept")
    error = refused.value
    assert error.status_code == (404 if how == "removed" else 403), error
    keys = await client.get(owner.url("/api-keys"), headers=owner.headers)
    assert [k for k in keys.json() if k["name"] == "kept"] == []


async def test_a_removal_waiting_for_a_new_key_revokes_it(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    """The other order: the key is being made (its maker's membership read and locked) when
    the owner removes them. The removal waits for the key, then revokes it."""
    runtime = runtime_of(client)
    admin = await _admin_of(client, owner)
    ws = uuid.UUID(owner.workspace_id)
    async with runtime.db.transaction() as t1:
        pid = await _backend_pid(t1)
        a_access = await access_workspace(t1, Principal(user_id=uuid.UUID(admin.user_id)), ws)
        _row, secret = await team.create_api_key(t1, a_access, name="made meanwhile")
        removal = asyncio.create_task(
            client.delete(owner.url(f"/members/{admin.user_id}"), headers=owner.headers)
        )
        await _until_blocked_by(owner_db, pid)
    assert (await removal).status_code == 204
    used = await client.get(owner.url("/leads"), headers={"Authorization": f"Bearer {secret}"})
    assert used.status_code == 401, used.text


async def test_a_taken_key_prefix_is_drawn_again(
    client: httpx.AsyncClient, owner: Owner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prefixes are 32 random bits, unique across workspaces: a draw that is taken is drawn
    again, never a 500."""
    first = await client.post(owner.url("/api-keys"), json={"name": "one"}, headers=owner.headers)
    assert first.status_code == 201, first.text
    taken = first.json()["prefix"]
    real = security.generate_api_key
    draws: list[str] = []

    def colliding() -> security.NewApiKey:
        new = real()
        if not draws:  # the first draw repeats the existing key's prefix
            secret = taken + new.secret[len(new.prefix) :]
            new = security.NewApiKey(
                prefix=taken, secret=secret, key_hash=hashlib.sha256(secret.encode()).hexdigest()
            )
        draws.append(new.prefix)
        return new

    monkeypatch.setattr(security, "generate_api_key", colliding)
    second = await client.post(owner.url("/api-keys"), json={"name": "two"}, headers=owner.headers)
    assert second.status_code == 201, second.text
    assert second.json()["prefix"] != taken
    assert len(draws) == 2
    used = await client.get(
        owner.url("/leads"), headers={"Authorization": f"Bearer {second.json()['key']}"}
    )
    assert used.status_code == 200, used.text
