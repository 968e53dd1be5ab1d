"""No pooled database connection is held while argon2 runs, on every route that hashes or
checks a password: signup, a reset link's new password, a password change, deleting the
account, accepting an invitation with a new account, in the JSON API and the dashboard.

Each ran the hash inside the request's transaction: as many such requests at once as the pool
holds (DB_POOL_SIZE) took every connection for the length of a hash, and every other request
of the server answered 503 ``database_busy``. The hasher here is the real argon2id one; it
notes how many of the pool's connections are checked out each time it is called.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest
from argon2 import PasswordHasher

from api.deps import account_deps
from core.db import Database
from core.errors import AppError
from lifecycle import deletion
from tests.conftest import Owner, mail_token, runtime_of, signup
from tests.dashboard.conftest import PASSWORD, csrf_of, invitation, web_signup
from tests.workspaces.test_password_hashing import parameters_of
from workspaces import accounts, invitations, security

NEW_PASSWORD = "another horse battery"


class WatchedHasher(PasswordHasher):
    """The process's hasher (same parameters), noting the pool's checked-out connections at
    each hash and each verify."""

    def __init__(self, like: PasswordHasher, db: Database) -> None:
        super().__init__(**parameters_of(like))
        self.pool = db.engine.pool
        self.held: list[int] = []

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.held.append(self.pool.checkedout())  # type: ignore[attr-defined]
        return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.held.append(self.pool.checkedout())  # type: ignore[attr-defined]
        return super().verify(hash, password)


@pytest.fixture
def watched(db: Database, monkeypatch: pytest.MonkeyPatch) -> WatchedHasher:
    hasher = WatchedHasher(security._hasher, db)
    monkeypatch.setattr(security, "_hasher", hasher)
    return hasher


Action = Callable[[httpx.AsyncClient], Awaitable[Callable[[], Awaitable[httpx.Response]]]]


async def _api_signup(client: httpx.AsyncClient) -> Callable[[], Awaitable[httpx.Response]]:
    body = {
        "email": f"hash-{uuid.uuid4().hex[:10]}@example.com",
        "password": PASSWORD,
        "workspace_name": "Hashing",
    }
    return lambda: client.post("/api/v1/auth/signup", json=body)


async def _reset_token(client: httpx.AsyncClient) -> str:
    return await _reset_token_of(client, await signup(client, "Reset"))


async def _reset_token_of(client: httpx.AsyncClient, owner: Owner) -> str:
    asked = await client.post("/api/v1/auth/password-reset", json={"email": owner.email})
    assert asked.status_code == 202, asked.text
    return await mail_token(client, owner.email, "password_reset")


async def _api_reset(client: httpx.AsyncClient) -> Callable[[], Awaitable[httpx.Response]]:
    body = {"token": await _reset_token(client), "password": NEW_PASSWORD}
    return lambda: client.post("/api/v1/auth/password-reset/confirm", json=body)


async def _api_change(client: httpx.AsyncClient) -> Callable[[], Awaitable[httpx.Response]]:
    owner = await signup(client, "Change")
    body = {"current_password": owner.password, "new_password": NEW_PASSWORD}
    return lambda: client.post("/api/v1/auth/password", json=body, headers=owner.headers)


async def _api_delete(client: httpx.AsyncClient) -> Callable[[], Awaitable[httpx.Response]]:
    owner = await signup(client, "Delete")
    body = {"password": owner.password}
    return lambda: client.request("DELETE", "/api/v1/me", json=body, headers=owner.headers)


async def _api_accept(client: httpx.AsyncClient) -> Callable[[], Awaitable[httpx.Response]]:
    _, _, token = await invitation(client)
    body = {"token": token, "password": NEW_PASSWORD}
    return lambda: client.post("/api/v1/invitations/accept", json=body)


async def _anon_form(client: httpx.AsyncClient, page: str) -> str:
    shown = await client.get(page)
    assert shown.status_code == 200, shown.text
    return csrf_of(shown.text)


async def _web_signup(client: httpx.AsyncClient) -> Callable[[], Awaitable[httpx.Response]]:
    data = {
        "csrf_token": await _anon_form(client, "/app/signup"),
        "email": f"hash-web-{uuid.uuid4().hex[:10]}@example.com",
        "password": PASSWORD,
        "workspace_name": "Hashing",
    }
    return lambda: client.post("/app/signup", data=data)


async def _web_reset(client: httpx.AsyncClient) -> Callable[[], Awaitable[httpx.Response]]:
    token = await _reset_token(client)
    data = {
        "csrf_token": await _anon_form(client, f"/app/reset-password?token={token}"),
        "token": token,
        "password": NEW_PASSWORD,
    }
    return lambda: client.post("/app/reset-password", data=data)


async def _web_change(client: httpx.AsyncClient) -> Callable[[], Awaitable[httpx.Response]]:
    web = await web_signup(client, "Change")
    data = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    return lambda: web.post("/app/account/password", data)


async def _web_delete(client: httpx.AsyncClient) -> Callable[[], Awaitable[httpx.Response]]:
    web = await web_signup(client, "Delete")
    return lambda: web.post("/app/account/delete", {"password": PASSWORD})


async def _web_accept(client: httpx.AsyncClient) -> Callable[[], Awaitable[httpx.Response]]:
    _, _, token = await invitation(client)
    client.cookies.clear()  # a new person's browser
    data = {
        "csrf_token": await _anon_form(client, f"/app/accept-invitation?token={token}"),
        "token": token,
        "password": NEW_PASSWORD,
    }
    return lambda: client.post("/app/accept-invitation", data=data)


ACTIONS: dict[str, tuple[Action, int]] = {
    "api signup": (_api_signup, 202),
    "api reset": (_api_reset, 200),
    "api password change": (_api_change, 200),
    "api account deletion": (_api_delete, 200),
    "api invitation, new account": (_api_accept, 200),
    "dashboard signup": (_web_signup, 200),
    "dashboard reset": (_web_reset, 303),
    "dashboard password change": (_web_change, 303),
    "dashboard account deletion": (_web_delete, 303),
    "dashboard invitation, new account": (_web_accept, 303),
}


@pytest.mark.parametrize("name", list(ACTIONS))
async def test_no_connection_is_held_while_a_password_is_hashed(
    name: str, client: httpx.AsyncClient, watched: WatchedHasher
) -> None:
    prepare, status = ACTIONS[name]
    act = await prepare(client)
    runtime = runtime_of(client)
    await runtime.mailer.settle()  # the mail the preparation wrote is sent (it takes a
    await runtime.jobs.drain()  # connection of its own) before the action starts
    watched.held.clear()
    response = await act()
    assert response.status_code == status, response.text
    assert watched.held, "the action hashed or checked no password"
    assert watched.held == [0] * len(watched.held), f"{name}: connections held {watched.held}"


async def test_a_wrong_password_still_refuses_a_change_and_a_deletion(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    changed = await client.post(
        "/api/v1/auth/password",
        json={"current_password": "not the password", "new_password": NEW_PASSWORD},
        headers=owner.headers,
    )
    assert changed.status_code == 403, changed.text
    assert changed.json()["error"]["code"] == "wrong_password"
    deleted = await client.request(
        "DELETE", "/api/v1/me", json={"password": "not the password"}, headers=owner.headers
    )
    assert deleted.status_code == 403, deleted.text
    assert deleted.json()["error"]["code"] == "wrong_password"
    me = await client.get("/api/v1/me", headers=owner.headers)
    assert me.status_code == 200, me.text


# --- what changes between the check and the transaction after the hash ------------------------


async def test_two_uses_of_one_reset_link_hashed_at_once_set_the_password_once(
    client: httpx.AsyncClient,
) -> None:
    """Both checks pass before either hash is stored: the link is used in the transaction
    after the hash, so the second gets ``link_used`` (the link stays single use)."""
    runtime = runtime_of(client)
    deps = account_deps(runtime)
    token = await _reset_token(client)
    for _ in range(2):
        async with runtime.db.transaction() as session:
            await accounts.check_reset_link(session, deps, token=token, password=NEW_PASSWORD)
    password_hash = await security.hash_password(NEW_PASSWORD)
    async with runtime.db.transaction() as session:
        await accounts.reset_password(session, deps, token=token, password_hash=password_hash)
    with pytest.raises(AppError) as second:
        async with runtime.db.transaction() as session:
            await accounts.reset_password(session, deps, token=token, password_hash=password_hash)
    assert second.value.code == "link_used"


async def test_two_new_accounts_from_one_invitation_hashed_at_once_join_once(
    client: httpx.AsyncClient,
) -> None:
    runtime = runtime_of(client)
    deps = account_deps(runtime)
    _, _, token = await invitation(client)
    password_hash = await security.hash_password(NEW_PASSWORD)
    for _ in range(2):
        async with runtime.db.transaction() as session:
            await invitations.check_new_account(session, deps, token=token, password=NEW_PASSWORD)
    async with runtime.db.transaction() as session:
        accepted = await invitations.accept(
            session, deps, token=token, principal=None, password_hash=password_hash
        )
    assert accepted.created_account
    with pytest.raises(AppError) as second:
        async with runtime.db.transaction() as session:
            await invitations.accept(
                session, deps, token=token, principal=None, password_hash=password_hash
            )
    assert second.value.code == "link_used"


async def test_a_password_changed_while_another_change_or_a_deletion_hashed_wins(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """The current password was checked against the hash read before; a reset committed
    meanwhile: the change is refused (409 ``password_changed``) and so is the deletion (403
    ``wrong_password``), and the reset's password stays."""
    runtime = runtime_of(client)
    deps = account_deps(runtime)
    user_id = uuid.UUID(owner.user_id)
    async with runtime.db.transaction() as session:
        user = await accounts.password_owner(session, user_id)
        stored = await deletion.account_to_delete(session, user_id)
    changed_hash = await accounts.check_password_change(
        user, current_password=owner.password, new_password=NEW_PASSWORD
    )
    await deletion.check_password(stored, owner.password)
    reset = await client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": await _reset_token_of(client, owner), "password": "a reset passphrase"},
    )
    assert reset.status_code == 200, reset.text
    with pytest.raises(AppError) as change:
        async with runtime.db.transaction() as session:
            await accounts.change_password(session, deps, user, changed_hash)
    assert change.value.code == "password_changed"
    with pytest.raises(AppError) as deleted:
        async with runtime.db.transaction() as session:
            await deletion.delete_account(session, user_id=user_id, verified_hash=stored)
    assert deleted.value.code == "wrong_password"
    signed_in = await client.post(
        "/api/v1/auth/login", json={"email": owner.email, "password": "a reset passphrase"}
    )
    assert signed_in.status_code == 200, signed_in.text
