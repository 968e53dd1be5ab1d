"""Invitations: how people join a workspace. An owner invites an email with a role; the address
receives a single-use link valid ``INVITATION_TTL_DAYS``; accepting it creates the account (with
the password chosen then) or, signed in as that email, links the existing account.

Inviting answers the same whether or not the email has an account (no enumeration); inviting
again replaces the pending invitation (a new link; the old one stops working). Owners list and
revoke pending invitations. Audited: ``member.invited`` and ``invitation.revoked`` (permission
table) and ``member.joined`` (the invitee, when they accept).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.db import set_tenant
from core.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from workspaces import account_repository as accounts_repo
from workspaces import audit, profile, security, sessions
from workspaces import repository as repo
from workspaces.accounts import INVITE_PATH, AccountDeps, LinkRefused
from workspaces.models import Invitation, User
from workspaces.more_workspaces import check_room_to_own
from workspaces.permissions import Action, allowed, authorize
from workspaces.service import (
    ClientInfo,
    Principal,
    WorkspaceAccess,
    check_password_policy,
    require_verified,
)
from workspaces.usage import effective_plan, ensure_within

PURPOSE = "invitation"


def _now() -> datetime:
    return datetime.now(UTC)


async def invite(
    session: AsyncSession, access: WorkspaceAccess, deps: AccountDeps, *, email: str, role: str
) -> Invitation:
    """Invite ``email`` as ``role`` (owners, verified, in person). 409 ``already_member`` when
    that address already belongs to the workspace."""
    permit = authorize(access, Action.MEMBER_ADD)
    await require_verified(session, access)
    workspace = access.workspace
    user = await repo.get_user_by_email(session, email)
    if user is not None and await repo.get_membership(
        session, workspace_id=workspace.id, user_id=user.id
    ):
        raise Conflict(
            "This person is already a member; change their role instead", code="already_member"
        )
    now = _now()
    await accounts_repo.lock_members(session, workspace.id)  # seats counted one at a time
    await accounts_repo.revoke_pending_for_email(session, workspace.id, email, now=now)
    members = await repo.count_members(session, workspace.id)
    pending = await accounts_repo.pending_invitations(session, workspace.id, now=now)
    ensure_within(
        plan_code=effective_plan(workspace),
        metric="members",
        used=members + len(pending),
        resets_at=None,
    )
    token, token_hash = security.new_link_token(deps.signing_key, PURPOSE)
    invitation = Invitation(
        id=uuid.uuid4(),
        workspace_id=workspace.id,
        email=email,
        role=role,
        token_hash=token_hash,
        invited_by=access.principal.user_id,
        created_at=now,
        expires_at=now + deps.invitation_ttl,
    )
    await accounts_repo.insert_invitation(session, invitation)
    inviter = (
        await repo.get_user(session, access.principal.user_id) if access.principal.user_id else None
    )
    await deps.mailer.enqueue(
        session,
        to=email,
        template="invitation",
        # The subject names the sender by their verified address, never by a name they typed
        # (a sentence, an address: a client links it); the body quotes the name beside it.
        inviter=inviter.email if inviter else "A TrulyBot user",
        inviter_name=profile.in_a_mail(inviter.name) if inviter else None,
        workspace=profile.text_in_a_mail(workspace.name),
        role=role,
        expires=invitation.expires_at.strftime("%d %B %Y, %H:%M UTC"),
        link=deps.link(INVITE_PATH, token),
        about_invitation=invitation.id,
    )
    await permit.record(
        session, target_type="invitation", target_id=invitation.id, details={"role": role}
    )
    return invitation


async def list_pending(session: AsyncSession, access: WorkspaceAccess) -> Sequence[Invitation]:
    authorize(access, Action.INVITATIONS_READ)
    return await accounts_repo.pending_invitations(session, access.workspace.id, now=_now())


async def revoke(
    session: AsyncSession, access: WorkspaceAccess, invitation_id: uuid.UUID
) -> Invitation:
    permit = authorize(access, Action.INVITATION_REVOKE)
    invitation = await accounts_repo.revoke_invitation(
        session, access.workspace.id, invitation_id, now=_now()
    )
    if invitation is None:
        raise NotFound("Invitation not found", code="invitation_not_found")
    await permit.record(
        session,
        target_type="invitation",
        target_id=invitation.id,
        details={"role": invitation.role},
    )
    return invitation


@dataclass(frozen=True)
class Accepted:
    workspace_id: uuid.UUID
    role: str
    user_id: uuid.UUID
    created_account: bool
    started: sessions.Started | None  # a session of the account it created


async def _find(session: AsyncSession, deps: AccountDeps, token: str) -> Invitation:
    token_hash = security.link_token_hash(deps.signing_key, PURPOSE, token)
    if token_hash is None:
        raise LinkRefused()
    await set_tenant(session, lookup=token_hash)
    invitation = await accounts_repo.invitation_by_hash(session, token_hash)
    if invitation is None:
        raise LinkRefused()
    if invitation.accepted_at is not None:
        raise LinkRefused("This invitation was already accepted", code="link_used")
    if invitation.revoked_at is not None:
        raise LinkRefused("This invitation was withdrawn", code="invitation_revoked")
    if invitation.expires_at <= _now():
        raise LinkRefused("This invitation has expired; ask for a new one", code="link_expired")
    return invitation


@dataclass(frozen=True)
class InvitationView:
    """What the invitation page shows its link's holder, so a real invitation reads apart
    from a page that only looks like one: where it leads, who sent it, to which address."""

    workspace_name: str
    inviter_name: str | None
    inviter_email: str
    email: str
    role: str


async def describe(session: AsyncSession, deps: AccountDeps, *, token: str) -> InvitationView:
    """The invitation of ``token`` as its page shows it; refused as accepting it would be (400
    ``link_invalid``, ``link_used``, ``link_expired``, ``invitation_revoked``: the sender may
    no longer invite, the workspace was deleted). Changes nothing."""
    invitation = await _find(session, deps, token)
    await set_tenant(session, workspace_id=invitation.workspace_id)
    await _check_inviter(session, invitation)
    workspace = await repo.get_workspace(session, invitation.workspace_id)
    inviter = await repo.get_user(session, invitation.invited_by) if invitation.invited_by else None
    if workspace is None or inviter is None:
        raise LinkRefused("This invitation was withdrawn", code="invitation_revoked")
    return InvitationView(
        workspace_name=workspace.name,
        inviter_name=inviter.name,
        inviter_email=inviter.email,
        email=invitation.email,
        role=invitation.role,
    )


def _login_required() -> Unauthorized:
    return Unauthorized(
        "An account with this email exists: sign in with it, then accept the invitation",
        code="login_required",
    )


def _password_required() -> ValidationFailed:
    return ValidationFailed(
        "Choose a password for your new account",
        code="password_required",
        details=[{"field": "password", "message": "required for a new account"}],
    )


async def check_new_account(
    session: AsyncSession,
    deps: AccountDeps,
    *,
    token: str,
    password: str | None,
    name: str | None = None,
) -> None:
    """Before a new account's password is hashed (outside any transaction, then ``accept``
    with the hash): the invitation can be accepted (400 ``link_invalid``, ``link_used``...),
    its address has no account (401 ``login_required``), and the password is there (422
    ``password_required``) and meets the policy (422 ``weak_password``). A forged or used link
    costs no argon2, nor does a name ``profile.display_name`` refuses (422 ``invalid_text``,
    ``validation_error``). Changes nothing: ``accept`` uses the invitation, once."""
    profile.given_name(name)  # a name refused before the link is looked at: no argon2 either
    invitation = await _find(session, deps, token)
    if await repo.get_user_by_email(session, invitation.email) is not None:
        raise _login_required()
    if not password:
        raise _password_required()
    check_password_policy(password, invitation.email)


async def _account_for(
    session: AsyncSession,
    invitation: Invitation,
    principal: Principal | None,
    *,
    password_hash: str | None,
    name: str | None,
) -> tuple[User, bool]:
    """The account that accepts: the signed-in one (it must be the invited address's account,
    as the database identifies it: ``straße@`` and ``strasse@`` are two mailboxes and two
    accounts, though they case-fold alike), or a new one with ``password_hash`` when the
    address has none."""
    if principal is not None and principal.user_id is not None:
        # Share-locked until the accept commits: a deletion of the account (which locks it
        # first) waits for the accept and then leaves this workspace too, or the accept waits
        # for the deletion and finds no account (a membership of a deleted account was a 500).
        await set_tenant(session, user_id=principal.user_id)  # the account's row is its own
        if await repo.lock_password_hash(session, principal.user_id) is None:
            raise Unauthorized("Your account was deleted", code="session_revoked")
        me = await repo.get_user(session, principal.user_id)
        invited = await repo.get_user_by_email(session, invitation.email)
        if me is None or invited is None or invited.id != me.id:
            raise Forbidden(
                "This invitation is for another email address; sign in with that one",
                code="invitation_email_mismatch",
            )
        return me, False
    if await repo.get_user_by_email(session, invitation.email) is not None:
        raise _login_required()
    if password_hash is None:
        raise _password_required()
    user = await repo.insert_user(
        session, email=invitation.email, password_hash=password_hash, name=profile.given_name(name)
    )
    if user is None:  # created meanwhile
        raise _login_required()
    return user, True


async def _check_inviter(session: AsyncSession, invitation: Invitation) -> None:
    """The person who sent it may still invite: an invitation outlives its sender's removal or
    demotion only in the rows written before those withdrew it."""
    if invitation.invited_by is None:  # the sender's account was deleted (keys cannot invite)
        raise LinkRefused("This invitation was withdrawn", code="invitation_revoked")
    inviter = await repo.get_membership(
        session, workspace_id=invitation.workspace_id, user_id=invitation.invited_by
    )
    if inviter is None or not allowed(Action.MEMBER_ADD, kind="user", role=inviter.role):  # type: ignore[arg-type]
        raise LinkRefused("This invitation was withdrawn", code="invitation_revoked")


async def accept(
    session: AsyncSession,
    deps: AccountDeps,
    *,
    token: str,
    principal: Principal | None,
    password_hash: str | None = None,
    name: str | None = None,
    client: ClientInfo | None = None,
    start_session: bool = True,
    as_admin: bool = False,
) -> Accepted:
    """Join the invitation's workspace with its role (once), or as an admin when ``as_admin``
    and it is for an owner (one who may own no more free workspaces: ``check_room_to_own``;
    the audit's ``member.joined`` then says ``invited_role``); ``as_admin`` on an invitation
    for less than admin is 422 ``role_not_invited``. The address counts as verified.
    Signed out, the new account's password comes hashed (``check_new_account`` first, then
    the hash outside any transaction: no connection waits for argon2). A new account gets an
    API session (its tokens in the answer) unless ``start_session`` is false: the dashboard
    sends the person to its login instead, and a session nobody holds the tokens of would
    only show up in their list of sessions."""
    invitation = await _find(session, deps, token)
    if as_admin and invitation.role not in ("owner", "admin"):
        raise ValidationFailed(
            f"This invitation is for a {invitation.role}: accept it as one",
            code="role_not_invited",
        )
    user, created = await _account_for(
        session, invitation, principal, password_hash=password_hash, name=name
    )
    now = _now()
    await set_tenant(session, workspace_id=invitation.workspace_id, user_id=user.id)
    await accounts_repo.lock_members(session, invitation.workspace_id)
    await _check_inviter(session, invitation)
    if not await accounts_repo.accept_invitation(session, invitation.id, user_id=user.id, now=now):
        raise LinkRefused("This invitation was already accepted", code="link_used")
    await accounts_repo.mark_email_verified(session, user.id, now=now)
    existing = await repo.get_membership(
        session, workspace_id=invitation.workspace_id, user_id=user.id
    )
    role = existing.role if existing is not None else "admin" if as_admin else invitation.role
    if existing is None:
        workspace = await repo.get_workspace(session, invitation.workspace_id)
        if workspace is None:
            raise LinkRefused()
        ensure_within(
            plan_code=effective_plan(workspace),
            metric="members",
            used=await repo.count_members(session, workspace.id),
            resets_at=None,
        )
        if role == "owner":  # owning it counts against what the account may own for free
            await check_room_to_own(session, user.id, workspace, deps.free_room, themselves=True)
        await repo.insert_membership(session, workspace_id=workspace.id, user_id=user.id, role=role)
        client = client or ClientInfo()
        await audit.record(
            session,
            workspace_id=workspace.id,
            actor=audit.Actor(
                user_id=user.id,
                ip=client.ip,
                user_agent=client.user_agent,
                request_id=client.request_id,
            ),
            action=audit.MEMBER_JOINED,
            target_type="user",
            target_id=user.id,
            details={"role": role, "invitation_id": str(invitation.id)}
            | ({"invited_role": invitation.role} if role != invitation.role else {}),
        )
    started = None
    if created and start_session:
        started = await sessions.start(
            session, user.id, kind="api", client=client, policy=deps.session_policy
        )
    return Accepted(
        workspace_id=invitation.workspace_id,
        role=role,
        user_id=user.id,
        created_account=created,
        started=started,
    )
