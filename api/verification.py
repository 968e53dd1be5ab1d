"""Using an email verification link, shared by the JSON API and the dashboard. The link
verifies only for someone who knows the account's password (``workspaces.accounts``' docstring:
account pre-hijacking): signed in as the account, or typing the password, checked as a sign-in
attempt (``password_confirmed``: a wrong one counts as a failed sign-in, 429 while locked) with
no pooled connection held while argon2 runs (as ``api.passwords``)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import account_deps, end_transaction
from api.login import password_confirmed
from api.runtime import Runtime
from workspaces import accounts


async def verify_email(
    request: Request,
    session: AsyncSession,
    runtime: Runtime,
    *,
    token: str,
    password: str | None,
    signed_in: uuid.UUID | None,
    then: Callable[[AsyncSession, uuid.UUID], Awaitable[None]] | None = None,
) -> None:
    """Verify the address of the link's account (``session``: the request's transaction, ended
    here when a password is checked). 400 ``link_*`` for a link that cannot be used; 422
    ``password_required`` when the caller is not signed in as the account and gave no password;
    403 ``wrong_password``. The link stays unused unless the address is verified. ``then`` runs
    with the account's id in the transaction that verified it by its password (still the one
    checked), as a sign-in does: the dashboard starts its session there."""
    deps = account_deps(runtime)
    owner = await accounts.verification_owner(session, deps, token)
    if signed_in == owner.user.id:
        await accounts.verify_email(session, deps, token, signed_in=signed_in)
        return
    if not password:
        raise accounts.password_required()
    async with password_confirmed(request, session, owner.user.id):
        await end_transaction(session)
        await accounts.check_link_password(owner, password)
    async with runtime.db.transaction() as verifying:
        verified = await accounts.verify_email(verifying, deps, token, checked=owner)
        if then is not None:
            await then(verifying, verified)
