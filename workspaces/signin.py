"""Signing in with a password, in three steps so that no database connection is held while
argon2 runs: ``find_login`` reads the account (a short transaction), ``authenticate`` checks the
password (no transaction), ``confirm_login`` opens the transaction that starts the session.

Between the read and that transaction the password may change (a reset link used, a change
from another session): the reset ends every session that exists at its commit, so a session
started after it from a check against the old password would survive it, and storing an
upgraded hash of the old password (``needs_rehash``) would put that password back.
``confirm_login`` therefore locks the account's row and goes on only while it still holds the
hash the password matched: a password change either waits for the new session's commit (and
then ends it with the others) or has committed first (and the sign-in is refused as a wrong
password would be).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.db import set_tenant
from core.errors import Unauthorized
from workspaces import repository as repo
from workspaces import security
from workspaces.models import User


def _refused() -> Unauthorized:
    return Unauthorized("Invalid email or password", code="invalid_credentials")


@dataclass(frozen=True)
class CheckedLogin:
    """A password that matched: the account, the stored hash it matched, and a new hash of the
    same password when that one uses outdated parameters."""

    user: User
    verified_hash: str
    new_hash: str | None = None


async def find_login(session: AsyncSession, *, email: str) -> repo.Credentials | None:
    """The account a login names and its stored hash, if any (read before the password is
    checked; the address's lookup lets the transaction read that account's hash alone)."""
    return await repo.login_credentials(session, email)


async def authenticate(login: repo.Credentials | None, *, password: str) -> CheckedLogin:
    """Check a login's password against the account ``find_login`` read.

    No database work: the caller holds no connection while argon2 runs in its thread pool.
    Unknown email and wrong password take the same path and give the same answer (401
    ``invalid_credentials``).
    """
    if not await security.verify_password(login.password_hash if login else None, password):
        raise _refused()
    assert login is not None  # verify_password is False for an unknown user
    verified = login.password_hash
    new_hash = await security.hash_password(password) if security.needs_rehash(verified) else None
    return CheckedLogin(user=login.user, verified_hash=verified, new_hash=new_hash)


async def confirm_login(session: AsyncSession, login: CheckedLogin) -> None:
    """First in the transaction that starts the login's session: 401 ``invalid_credentials``
    unless the account still has the hash the password matched; stores the upgraded hash, if
    any. The account's row stays locked until the transaction ends (shared; exclusive when the
    hash is upgraded, so two sign-ins upgrading it at once cannot deadlock: the second then
    finds another hash and is refused, and the person signs in again). Sets the account's
    context (``app.user_id``): its row is visible to it alone."""
    await set_tenant(session, user_id=login.user.id)
    stored = await repo.lock_password_hash(
        session, login.user.id, exclusive=login.new_hash is not None
    )
    if stored is None or stored != login.verified_hash:
        raise _refused()
    if login.new_hash is not None:
        await repo.update_password_hash(
            session, login.user.id, login.new_hash, expected=login.verified_hash
        )
