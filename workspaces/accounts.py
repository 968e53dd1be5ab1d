"""The account life: signup with email verification, password reset and change, and what an
unverified account may not do. Invitations: workspaces/invitations.py; sessions:
workspaces/sessions.py. Services take a session and never commit; mail goes through the outbox
in the same unit of work (core/mail.py), so it is sent only if the action commits.

Signup and the reset request give the same answer whether or not the email has an account (the
router answers 202 either way); what differs is the mail the address receives (a verification
link, or "someone tried to sign up with your email" with a reset link). That hides nothing from
someone willing to log in next: a new address's account signs in at once with the password just
chosen (200), a taken one's does not (401). This is by design, not an oversight: an unverified
account may sign in (below), as the dashboard needs it to reach the page that sends the
verification link again; the reset request alone reveals nothing. Each such probe leaves an
unverified account, which can do little (below) and which the address's owner takes back with a
reset link.

An unverified account (``users.email_verified_at`` is NULL) can sign in and set up its
workspaces (documents, FAQs, widget, chat), but cannot invite members, buy a plan, export data,
make API keys, send the workspace's events to a webhook or create a workspace beyond its first:
those answer 403 ``email_unverified`` (``require_verified``; a further workspace:
``more_workspaces.check_room_for_workspace``). Keys and a webhook would outlast the account's
sessions: someone who signed up first with another person's address would keep reading the workspace
through them after that person took the account back with a reset link. Confirming with the
verification link (its page asks for a click: a mail scanner that opens the link confirms
nothing), a password-reset link or an invitation link verifies the address.

The verification link verifies only for someone who knows the account's password: signed in as
that account (the dashboard's cookie, the API's bearer token), or typing it (422
``password_required`` without it; 403 ``wrong_password``, a failed sign-in, when wrong; the link
stays unused). Otherwise whoever signed up first with another person's address had that person,
pressing "confirm" in good faith, verify the account still bearing the signer-up's password
(account pre-hijacking). The address's owner who does not know the password uses "forgot
password": the reset link verifies the address, sets their own password and ends every other
session.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from core.db import set_tenant
from core.errors import AppError, Conflict, Forbidden, ValidationFailed
from core.mail import Mailer
from workspaces import account_repository as accounts_repo
from workspaces import profile, security, sessions
from workspaces import repository as repo
from workspaces.models import AccountToken, User
from workspaces.more_workspaces import FreeRoom
from workspaces.service import check_password_policy, create_workspace

VERIFY_EMAIL: Final = "verify_email"
PASSWORD_RESET: Final = "password_reset"  # noqa: S105 - a purpose, not a secret
RESET_TTL: Final = timedelta(hours=1)

# Where the links in the mails point (PUBLIC_BASE_URL + path + ?token=...): the dashboard's
# pages. Opening one changes nothing (mail scanners open every link): each asks for a click,
# whose post uses the token (as POST /api/v1/auth/verify-email, .../password-reset/confirm and
# /api/v1/invitations/accept do). Verification links mailed before pointed at the API's
# GET /api/v1/auth/verify-email, which now sends the browser on to the page.
VERIFY_PATH: Final = "/app/verify-email"
RESET_PATH: Final = "/app/reset-password"
INVITE_PATH: Final = "/app/accept-invitation"


class LinkRefused(AppError):
    """400: a one-time link that is malformed, unknown, expired or already used."""

    code = "link_invalid"
    status_code = 400
    message = "This link is not valid"


@dataclass(frozen=True)
class AccountDeps:
    """What the account services need from the process (built by the api layer)."""

    mailer: Mailer
    signing_key: str
    base_url: str
    verification_ttl: timedelta = timedelta(hours=48)
    invitation_ttl: timedelta = timedelta(days=7)
    session_policy: sessions.SessionPolicy = field(default_factory=sessions.SessionPolicy)
    free_room: FreeRoom = field(default_factory=FreeRoom)
    """DEFAULT_PLAN and FREE_WORKSPACES_PER_ACCOUNT: an invitation accepted as owner counts."""

    def link(self, path: str, token: str) -> str:
        return f"{self.base_url.rstrip('/')}{path}?token={token}"


def _now() -> datetime:
    return datetime.now(UTC)


async def _issue(
    session: AsyncSession, deps: AccountDeps, user: User, purpose: str, ttl: timedelta
) -> str:
    token, token_hash = security.new_link_token(deps.signing_key, purpose)
    await set_tenant(session, user_id=user.id)
    now = _now()
    await accounts_repo.insert_token(
        session,
        AccountToken(
            id=uuid.uuid4(),
            user_id=user.id,
            purpose=purpose,
            token_hash=token_hash,
            created_at=now,
            expires_at=now + ttl,
        ),
    )
    return token


async def _token_row(
    session: AsyncSession, deps: AccountDeps, token: str, purpose: str
) -> AccountToken | None:
    """The row of a well-signed link of ``purpose``, used or not, with its user's context set;
    None for any other token."""
    token_hash = security.link_token_hash(deps.signing_key, purpose, token)
    if token_hash is None:
        return None
    await set_tenant(session, lookup=token_hash)
    row = await accounts_repo.token_by_hash(session, token_hash)
    if row is None or row.purpose != purpose:
        return None
    await set_tenant(session, user_id=row.user_id)
    return row


def _check_usable(row: AccountToken | None) -> AccountToken:
    """400 ``link_invalid`` / ``link_expired`` / ``link_used`` unless the link may be used."""
    if row is None:
        raise LinkRefused()
    if row.used_at is not None:
        raise LinkRefused("This link was already used", code="link_used")
    if row.expires_at <= _now():
        raise LinkRefused("This link has expired; ask for a new one", code="link_expired")
    return row


async def _consume(
    session: AsyncSession, deps: AccountDeps, token: str, purpose: str
) -> AccountToken:
    """The link's row, marked used; 400 ``link_invalid`` / ``link_expired`` / ``link_used``.
    Leaves the user's context set."""
    row = _check_usable(await _token_row(session, deps, token, purpose))
    if not await accounts_repo.use_token(session, row.id, now=_now()):
        raise LinkRefused("This link was already used", code="link_used")
    return row


# --- signup and verification -----------------------------------------------------------------


async def signup(
    session: AsyncSession,
    deps: AccountDeps,
    *,
    email: str,
    password_hash: str,
    workspace_name: str,
    name: str | None,
    plan: str,
) -> None:
    """Create an unverified account and its first workspace, and mail the verification link;
    for an email that has an account, mail that account a warning with a reset link instead.
    The same answer either way (and about the same work: one argon2 hash, one mail); a login
    right after tells the two apart (see the module's docstring). ``password_hash`` comes from
    ``hash_new_password``, called before the transaction: no connection is held while argon2
    runs."""
    user = existing = None
    for _ in range(3):
        user = await repo.insert_user(
            session, email=email, password_hash=password_hash, name=profile.given_name(name)
        )
        if user is not None:
            break
        # The address is taken: by the account the lookup finds (the same comparison as the
        # unique index's), unless that account was deleted in between (then insert again).
        existing = await repo.get_user_by_email(session, email)
        if existing is not None:
            break
    if user is None:
        if existing is None:  # taken and freed again each time: a clean refusal, never a 500
            raise Conflict("This address is changing right now; try again", code="email_busy")
        token = await _issue(session, deps, existing, PASSWORD_RESET, RESET_TTL)
        await deps.mailer.enqueue(
            session,
            to=existing.email,
            template="signup_existing",
            email=existing.email,
            reset_link=deps.link(RESET_PATH, token),
        )
        return
    await create_workspace(session, owner=user, name=workspace_name, plan=plan)
    await send_verification(session, deps, user)


async def email_of(session: AsyncSession, user_id: uuid.UUID) -> str | None:
    """The account's address (None when the account is gone). Sets the account's context
    (``app.user_id``): ``users`` shows an account's row to itself."""
    await set_tenant(session, user_id=user_id)
    user = await repo.get_user(session, user_id)
    return None if user is None else user.email


async def send_verification(session: AsyncSession, deps: AccountDeps, user: User) -> None:
    """Mail ``user`` a verification link (nothing when the address is verified already)."""
    if user.email_verified_at is not None:
        return
    token = await _issue(session, deps, user, VERIFY_EMAIL, deps.verification_ttl)
    await deps.mailer.enqueue(
        session,
        to=user.email,
        template="verify_email",
        name=profile.in_a_mail(user.name),
        email=user.email,
        link=deps.link(VERIFY_PATH, token),
        hours=int(deps.verification_ttl.total_seconds() // 3600),
    )


async def resend_verification(session: AsyncSession, deps: AccountDeps, user_id: uuid.UUID) -> None:
    await set_tenant(session, user_id=user_id)
    user = await repo.get_user(session, user_id)
    if user is not None:
        await send_verification(session, deps, user)


def check_verification_link(deps: AccountDeps, token: str) -> None:
    """400 ``link_invalid`` for a verification token that is not well signed (no lookup, no
    change: what a page the link opens may check before asking for the click)."""
    if security.link_token_hash(deps.signing_key, VERIFY_EMAIL, token) is None:
        raise LinkRefused()


async def verification_link_usable(
    session: AsyncSession, deps: AccountDeps, token: str
) -> uuid.UUID:
    """The account a verification link that may still be used is for; 400 ``link_invalid`` /
    ``link_expired`` / ``link_used`` otherwise (its page says so before a password is typed,
    as the reset link's does). Uses nothing."""
    return _check_usable(await _token_row(session, deps, token, VERIFY_EMAIL)).user_id


def password_required() -> ValidationFailed:
    """422: a verification link used by someone not signed in as its account."""
    return ValidationFailed(
        "Enter the account's password to confirm this address (forgot it? reset it)",
        code="password_required",
        details=[{"field": "password", "message": "the account's password is required"}],
    )


async def verification_owner(
    session: AsyncSession, deps: AccountDeps, token: str
) -> repo.Credentials:
    """The account a usable verification link is for, with its stored hash (nothing used):
    400 ``link_invalid`` / ``link_expired`` / ``link_used`` otherwise. Leaves the account's
    context set."""
    row = _check_usable(await _token_row(session, deps, token, VERIFY_EMAIL))
    owner = await repo.credentials(session, await repo.get_user(session, row.user_id))
    if owner is None:
        raise LinkRefused()
    return owner


async def check_link_password(owner: repo.Credentials, password: str) -> None:
    """403 ``wrong_password`` unless ``password`` is the account's (``owner`` from
    ``verification_owner``). No database work: no connection is held while argon2 runs."""
    if not await security.verify_password(owner.password_hash, password):
        raise Forbidden("The password is not correct", code="wrong_password")


async def verify_email(
    session: AsyncSession,
    deps: AccountDeps,
    token: str,
    *,
    signed_in: uuid.UUID | None = None,
    checked: repo.Credentials | None = None,
) -> uuid.UUID:
    """Use a verification link's token (once): the account's email is verified. Returns the
    user id. Called on a click (a POST), never on opening the link. The caller proves it knows
    the account's password: ``signed_in`` is the account's id (a session of it), or ``checked``
    is the account as read when its password was checked (``check_link_password``; 409
    ``password_changed`` when it changed since). 422 ``password_required`` otherwise, the link
    unused."""
    row = _check_usable(await _token_row(session, deps, token, VERIFY_EMAIL))
    if signed_in != row.user_id:
        if checked is None or checked.user.id != row.user_id:
            raise password_required()
        stored = await repo.password_hash(session, row.user_id)
        if stored is None:
            raise LinkRefused()
        if stored != checked.password_hash:
            raise Conflict(
                "The password was changed meanwhile; sign in again with the new one",
                code="password_changed",
            )
    if not await accounts_repo.use_token(session, row.id, now=_now()):
        raise LinkRefused("This link was already used", code="link_used")
    await accounts_repo.mark_email_verified(session, row.user_id, now=_now())
    return row.user_id


async def verified_link_account(
    session: AsyncSession, deps: AccountDeps, token: str
) -> uuid.UUID | None:
    """The account of this (used or expired) verification link when its address is confirmed,
    else None: the button pressed twice (a double click, Back and again), or an old mail's
    link opened after a newer one confirmed, is no error to show its owner. The caller tells
    the browser signed in as it from any other (to whom the page promises nothing: its own
    address may be unconfirmed)."""
    row = await _token_row(session, deps, token, VERIFY_EMAIL)
    if row is None:
        return None
    user = await repo.get_user(session, row.user_id)
    return None if user is None or user.email_verified_at is None else user.id


async def mark_verified(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Verified without a link: the operator's demo account."""
    await accounts_repo.mark_email_verified(session, user_id, now=_now())


# --- passwords -------------------------------------------------------------------------------


async def request_password_reset(session: AsyncSession, deps: AccountDeps, *, email: str) -> None:
    """Mail a reset link (valid one hour, single use) if the email has an account; nothing
    otherwise. The caller answers the same either way."""
    user = await repo.get_user_by_email(session, email)
    if user is None:
        return
    token = await _issue(session, deps, user, PASSWORD_RESET, RESET_TTL)
    await deps.mailer.enqueue(
        session,
        to=user.email,
        template="password_reset",
        name=profile.in_a_mail(user.name),
        email=user.email,
        link=deps.link(RESET_PATH, token),
    )


async def _set_password(
    session: AsyncSession,
    deps: AccountDeps,
    account: repo.Credentials,
    password_hash: str,
) -> None:
    """Store the new hash, end every session of the account, retire every reset link not
    used yet (one mailed before the change, to a mailbox someone else may read, must not set
    the password after it), mail the owner. The hash is stored only while the account still
    has the one it had when read (``account.password_hash``): 409 ``password_changed`` when
    another change or reset committed meanwhile."""
    user = account.user
    if not await repo.update_password_hash(
        session, user.id, password_hash, expected=account.password_hash
    ):
        raise Conflict(
            "The password was changed meanwhile; sign in again with the new one",
            code="password_changed",
        )
    await set_tenant(session, user_id=user.id)  # the links' rows are the account's
    await accounts_repo.retire_tokens(session, user_id=user.id, purpose=PASSWORD_RESET, now=_now())
    await sessions.revoke_all(session, user.id, reason="password_changed")
    await deps.mailer.enqueue(session, to=user.email, template="password_changed", email=user.email)


async def hash_new_password(password: str, *, email: str, field: str = "password") -> str:
    """The policy's check (422 ``weak_password``, its details naming ``field``), then the argon2
    hash. No database work: called between transactions, so no pooled connection waits for the
    hashing pool (as many requests at once as the pool holds would leave none for any other
    request: 503 ``database_busy``)."""
    try:
        check_password_policy(password, email)
    except ValidationFailed as exc:  # named as the request names it
        if field == "password":
            raise
        details = exc.details if isinstance(exc.details, list) else []
        raise ValidationFailed(
            exc.message, code=exc.code, details=[{**d, "field": field} for d in details]
        ) from None
    return await security.hash_password(password)


async def reset_link_usable(session: AsyncSession, deps: AccountDeps, token: str) -> None:
    """400 ``link_invalid`` / ``link_expired`` / ``link_used`` for a reset link that cannot be
    used (its page says so before a password is typed); uses nothing."""
    _check_usable(await _token_row(session, deps, token, PASSWORD_RESET))


async def check_reset_link(
    session: AsyncSession, deps: AccountDeps, *, token: str, password: str
) -> None:
    """Before the new password is hashed: 400 ``link_invalid`` / ``link_expired`` /
    ``link_used`` for a link that cannot be used (a forged or used one costs no argon2), 422
    ``weak_password`` for a password the policy refuses. Uses nothing: ``reset_password`` does,
    in the transaction after the hash."""
    row = _check_usable(await _token_row(session, deps, token, PASSWORD_RESET))
    user = await repo.get_user(session, row.user_id)
    if user is None:
        raise LinkRefused()
    check_password_policy(password, user.email)


async def reset_password(
    session: AsyncSession, deps: AccountDeps, *, token: str, password_hash: str
) -> uuid.UUID:
    """Set a new password (``password_hash``, hashed after ``check_reset_link``, outside any
    transaction) with a reset link, once: the link is used here, so of two uses at once one
    sets the password and the other gets 400 ``link_used``. Every session of the account ends,
    every other reset link stops working, and the email counts as verified."""
    row = await _consume(session, deps, token, PASSWORD_RESET)
    account = await repo.credentials(session, await repo.get_user(session, row.user_id))
    if account is None:
        raise LinkRefused()
    await accounts_repo.mark_email_verified(session, row.user_id, now=_now())
    await _set_password(session, deps, account, password_hash)
    return row.user_id


async def password_owner(session: AsyncSession, user_id: uuid.UUID) -> repo.Credentials:
    """The signed-in account whose password is about to be checked (between transactions,
    ``check_password_change``), with its stored hash; 403 ``wrong_password`` when it is gone."""
    await set_tenant(session, user_id=user_id)
    account = await repo.credentials(session, await repo.get_user(session, user_id))
    if account is None:
        raise _wrong_current_password()
    return account


def _wrong_current_password() -> Forbidden:
    return Forbidden("The current password is not correct", code="wrong_password")


async def check_password_change(
    account: repo.Credentials, *, current_password: str, new_password: str
) -> str:
    """The new password's hash, once the current one is checked against ``account`` (from
    ``password_owner``): 403 ``wrong_password``, 422 ``weak_password``. No database work: no
    connection is held while argon2 runs (twice: the check and the new hash)."""
    if not await security.verify_password(account.password_hash, current_password):
        raise _wrong_current_password()
    if new_password == current_password:
        raise ValidationFailed(
            "Password does not meet the policy",
            code="weak_password",
            details=[{"field": "new_password", "message": "must differ from the current password"}],
        )
    return await hash_new_password(new_password, email=account.user.email, field="new_password")


async def change_password(
    session: AsyncSession, deps: AccountDeps, account: repo.Credentials, password_hash: str
) -> None:
    """Store the hash ``check_password_change`` made: every session of the account ends, the
    caller's too (it starts a new one for the person: a copy of its refresh token or cookie,
    the usual reason to change a password, stops working). 409 ``password_changed`` when the
    password changed since ``account`` was read (another change or a reset committed meanwhile:
    the current password checked is no longer the account's)."""
    await set_tenant(session, user_id=account.user.id)
    await _set_password(session, deps, account, password_hash)
