"""Checking a password login over HTTP, shared by the JSON API and the dashboard: the source's
lockout and the account's slowdown (``api.throttling.login_attempt``) around the service's
password check, with no database connection held while argon2 runs."""

from __future__ import annotations

from fastapi import Request

from api.runtime import Runtime
from api.throttling import login_attempt
from core.errors import Unauthorized
from workspaces import service
from workspaces.models import User


async def password_login(request: Request, runtime: Runtime, *, email: str, password: str) -> User:
    """The account, when the password is right; 401 ``invalid_credentials`` (or 429 while
    locked) otherwise."""
    email = email.strip()  # as sign-up stored it: a pasted address often carries spaces
    attempt = await login_attempt(request, email=email)
    # Short transactions around the password check, not one across it: a login waiting for
    # the hashing pool holds no database connection.
    async with runtime.db.transaction() as session:
        user = await service.find_login(session, email=email)
    try:
        new_hash = await service.authenticate(user, password=password)
    except Unauthorized:
        await attempt.failed()
        raise
    assert user is not None
    await attempt.succeeded()
    if new_hash is not None:
        async with runtime.db.transaction() as session:
            await service.store_password_hash(session, user, new_hash)
    return user
