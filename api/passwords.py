"""The routes that hash or check a password, besides sign-in (``api.login``), shared by the
JSON API and the dashboard: signup, a reset link's new password, a password change, deleting
the account, accepting an invitation with a new account.

None holds a pooled connection while argon2 runs. Each checks what it can in a transaction
(the request's, ended with ``end_transaction`` once the caller is known, or a short one of its
own), hashes or verifies with no transaction open, then writes in one short transaction that
checks again what may have changed meanwhile: a reset link and an invitation are used there
(once: of two uses at once, one gets ``link_used``), and a change or a deletion goes on only over
the password hash that was checked. Held through the hash, as many of these requests at once as
the pool holds left no connection for any other request (503 ``database_busy``).

A reset link asked for (``request_reset_after_answer``) is looked up, written and mailed after
the answer has been sent, so the answer takes as long whether or not the address has an
account.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from fastapi import BackgroundTasks, Request
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import account_deps, client_info, end_transaction
from api.login import password_confirmed
from api.runtime import Runtime
from lifecycle import deletion
from workspaces import accounts, invitations, profile, security, sessions
from workspaces.schemas import InvitationAcceptIn, PasswordChangeIn, PasswordResetIn, SignupIn

log = logging.getLogger(__name__)


async def signup(runtime: Runtime, form: SignupIn) -> None:
    """``accounts.signup``, the password hashed before its transaction."""
    email = str(form.email)
    profile.given_name(form.name)  # a name refused before argon2 runs (``accounts.signup``'s rule)
    password_hash = await accounts.hash_new_password(form.password, email=email)
    async with runtime.db.transaction() as session:
        await accounts.signup(
            session,
            account_deps(runtime),
            email=email,
            password_hash=password_hash,
            workspace_name=form.workspace_name,
            name=form.name,
            plan=runtime.settings.default_plan,
        )


def request_reset_after_answer(background: BackgroundTasks, runtime: Runtime, email: str) -> None:
    """A reset link for ``email`` if it has an account (``accounts.request_password_reset``),
    in a transaction of its own once the answer (the same 202 or page either way) has been
    sent: done in the request, the account's token and mail made the answer to an address with
    an account measurably slower (a median 15.5 ms against 8.7 ms), which told who has one.
    The caller has counted the request against the per-IP and per-address limits already."""
    background.add_task(_request_reset, runtime, email)


async def _request_reset(runtime: Runtime, email: str) -> None:
    try:
        async with runtime.db.transaction() as session:
            await accounts.request_password_reset(session, account_deps(runtime), email=email)
    except Exception:  # the answer is sent: said in the log, as a failed job is
        log.exception("password reset: the link was not written")
    except asyncio.CancelledError:  # a shutdown past its grace period: said too
        log.warning(
            "password reset: cancelled (a shutdown past its grace); the link may be unwritten"
        )
        raise


async def reset_password(runtime: Runtime, form: PasswordResetIn) -> None:
    """The reset link checked (a forged or used one costs no argon2), the password hashed,
    then the link used and the password set."""
    deps, token, password = account_deps(runtime), form.token, form.password
    async with runtime.db.transaction() as session:
        await accounts.check_reset_link(session, deps, token=token, password=password)
    password_hash = await security.hash_password(password)
    async with runtime.db.transaction() as session:
        await accounts.reset_password(session, deps, token=token, password_hash=password_hash)


async def change_password(
    request: Request,
    session: AsyncSession,
    runtime: Runtime,
    form: PasswordChangeIn,
    *,
    user_id: uuid.UUID,
    kind: sessions.Kind,
) -> sessions.Started:
    """Change the signed-in person's password (``session``: the request's transaction, ended
    here). Every session of the account ends; the caller's new one (``kind``) is returned. A
    wrong current password counts as a failed sign-in (``password_confirmed``)."""
    async with password_confirmed(request, session, user_id):
        account = await accounts.password_owner(session, user_id)
        await end_transaction(session)
        password_hash = await accounts.check_password_change(
            account, current_password=form.current_password, new_password=form.new_password
        )
    deps = account_deps(runtime)
    client = client_info(request, runtime.settings)
    async with runtime.db.transaction() as changing:
        await accounts.change_password(changing, deps, account, password_hash)
        return await sessions.start(
            changing, user_id, kind=kind, client=client, policy=deps.session_policy
        )


async def delete_account(
    request: Request,
    session: AsyncSession,
    runtime: Runtime,
    *,
    user_id: uuid.UUID,
    password: str,
) -> deletion.AccountDeletion:
    """Delete the signed-in person's account (``session``: the request's transaction, ended
    here), their password confirming; a wrong one counts as a failed sign-in."""
    async with password_confirmed(request, session, user_id):
        password_hash = await deletion.account_to_delete(session, user_id)
        await end_transaction(session)
        await deletion.check_password(password_hash, password)
    async with runtime.db.transaction() as deleting:
        return await deletion.delete_account(
            deleting,
            user_id=user_id,
            verified_hash=password_hash,
            client=client_info(request, runtime.settings),
        )


async def accept_with_new_account(
    request: Request,
    session: AsyncSession,
    runtime: Runtime,
    form: InvitationAcceptIn,
    *,
    start_session: bool,
) -> invitations.Accepted:
    """Accept an invitation signed out, creating the address's account with the form's
    password (``session``: the request's transaction, ended here)."""
    deps, token, password = account_deps(runtime), form.token, form.password
    await invitations.check_new_account(
        session, deps, token=token, password=password, name=form.name
    )
    await end_transaction(session)
    assert password is not None  # check_new_account refuses none
    password_hash = await security.hash_password(password)
    async with runtime.db.transaction() as accepting:
        return await invitations.accept(
            accepting,
            deps,
            token=token,
            principal=None,
            password_hash=password_hash,
            name=form.name,
            client=client_info(request, runtime.settings),
            start_session=start_session,
            as_admin=form.as_admin,
        )
