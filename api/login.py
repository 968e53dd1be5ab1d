"""Checking a password login over HTTP, shared by the JSON API and the dashboard: the source's
lockout and the account's slowdown (``api.throttling.login_attempt``) around the password check
(``workspaces.signin``), with no database connection held while argon2 runs."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from api.runtime import Runtime
from api.throttling import login_attempt
from core.errors import AppError, Unauthorized
from workspaces import accounts, signin


async def password_login(
    request: Request, runtime: Runtime, *, email: str, password: str
) -> signin.CheckedLogin:
    """The checked login, when the password is right; 401 ``invalid_credentials`` (or 429
    while locked) otherwise. The caller starts the session in a transaction that opens with
    ``signin.confirm_login`` (the password may have changed while it was checked)."""
    # As sign-up stored it: a pasted address often carries spaces, and the address checker
    # writes it composed (NFC: "e" and a combining accent are stored as "é").
    email = unicodedata.normalize("NFC", email.strip())
    attempt = await login_attempt(request, email=email)
    # Short transactions around the password check, not one across it: a login waiting for
    # the hashing pool holds no database connection.
    async with runtime.db.transaction() as session:
        login = await signin.find_login(session, email=email)
    try:
        checked = await signin.authenticate(login, password=password)
    except Unauthorized:
        await attempt.failed()
        raise
    await attempt.succeeded()
    return checked


@asynccontextmanager
async def password_confirmed(
    request: Request, session: AsyncSession, user_id: uuid.UUID
) -> AsyncIterator[None]:
    """A signed-in person's current password, asked to confirm a change (a new password,
    deleting the account), counts as a sign-in attempt: refused with 429 while the source is
    locked or the account slowed down, and a wrong one (``wrong_password``) counts against both,
    as at the sign-in form. Without it a stolen session could guess the password as fast as the
    per-IP request limit allowed, then set its own."""
    email = await accounts.email_of(session, user_id)
    attempt = await login_attempt(request, email=email or str(user_id))
    try:
        yield
    except AppError as exc:
        if exc.code == "wrong_password":
            await attempt.failed()
        raise
    await attempt.succeeded()
