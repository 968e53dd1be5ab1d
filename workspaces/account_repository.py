"""SQL of the account life: one-time links (``account_tokens``), verified emails, invitations,
and the owner checks of member changes. Callers set the context (see each table's policy)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import mail_repository as mail_repo
from core.db import lock_workspace
from workspaces.models import AccountToken, Invitation, Membership, User
from workspaces.repository import same_email

# --- one-time links --------------------------------------------------------------------------


async def insert_token(session: AsyncSession, token: AccountToken) -> None:
    session.add(token)
    await session.flush()


async def token_by_hash(session: AsyncSession, token_hash: str) -> AccountToken | None:
    result = await session.execute(
        select(AccountToken).where(AccountToken.token_hash == token_hash)
    )
    return result.scalar_one_or_none()


async def use_token(session: AsyncSession, token_id: uuid.UUID, *, now: datetime) -> bool:
    """Mark a link used; False when it already was (a concurrent use got there first)."""
    result = await session.execute(
        update(AccountToken)
        .where(AccountToken.id == token_id, AccountToken.used_at.is_(None))
        .values(used_at=now)
        .returning(AccountToken.id)
    )
    return result.scalar_one_or_none() is not None


async def retire_tokens(
    session: AsyncSession, *, user_id: uuid.UUID, purpose: str, now: datetime
) -> None:
    """Every unused link of this purpose stops working (e.g. the other reset links)."""
    await session.execute(
        update(AccountToken)
        .where(
            AccountToken.user_id == user_id,
            AccountToken.purpose == purpose,
            AccountToken.used_at.is_(None),
        )
        .values(used_at=now)
    )


# --- users -----------------------------------------------------------------------------------


async def mark_email_verified(session: AsyncSession, user_id: uuid.UUID, *, now: datetime) -> None:
    await session.execute(
        update(User)
        .where(User.id == user_id, User.email_verified_at.is_(None))
        .values(email_verified_at=now)
    )


# --- invitations -----------------------------------------------------------------------------


async def insert_invitation(session: AsyncSession, invitation: Invitation) -> None:
    session.add(invitation)
    await session.flush()


async def pending_invitations(
    session: AsyncSession, workspace_id: uuid.UUID, *, now: datetime
) -> Sequence[Invitation]:
    result = await session.execute(
        select(Invitation)
        .where(
            Invitation.workspace_id == workspace_id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > now,
        )
        .order_by(Invitation.created_at.desc(), Invitation.id)
    )
    return result.scalars().all()


async def lock_members(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    """Until the transaction ends, one transaction per workspace invites or adds a member under
    the members quota: the next one counts after this one committed (READ COMMITTED)."""
    await lock_workspace(session, "members_quota", workspace_id)


# A withdrawn invitation's mail that has not gone out yet (the relay failing) is deleted with
# it: it was sent later with a link that answers "withdrawn", and told a mistyped address the
# workspace's name.


async def revoke_pending_for_email(
    session: AsyncSession, workspace_id: uuid.UUID, email: str, *, now: datetime
) -> None:
    result = await session.execute(
        update(Invitation)
        .where(
            Invitation.workspace_id == workspace_id,
            same_email(Invitation.email, email),
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .returning(Invitation.id)
    )
    await mail_repo.forget_invitations(session, result.scalars().all())


async def revoke_invitations_sent_by(
    session: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID, *, now: datetime
) -> int:
    """Withdraw the workspace's pending invitations ``user_id`` sent; how many."""
    result = await session.execute(
        update(Invitation)
        .where(
            Invitation.workspace_id == workspace_id,
            Invitation.invited_by == user_id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .returning(Invitation.id)
    )
    withdrawn = result.scalars().all()
    await mail_repo.forget_invitations(session, withdrawn)
    return len(withdrawn)


async def revoke_invitation(
    session: AsyncSession, workspace_id: uuid.UUID, invitation_id: uuid.UUID, *, now: datetime
) -> Invitation | None:
    """Revoke a pending invitation; None when there is none with this id."""
    result = await session.execute(
        update(Invitation)
        .where(
            Invitation.workspace_id == workspace_id,
            Invitation.id == invitation_id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .returning(Invitation)
    )
    invitation = result.scalar_one_or_none()
    if invitation is not None:
        await mail_repo.forget_invitations(session, [invitation.id])
    return invitation


async def invitation_by_hash(session: AsyncSession, token_hash: str) -> Invitation | None:
    result = await session.execute(select(Invitation).where(Invitation.token_hash == token_hash))
    return result.scalar_one_or_none()


async def accept_invitation(
    session: AsyncSession, invitation_id: uuid.UUID, *, user_id: uuid.UUID, now: datetime
) -> bool:
    result = await session.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation_id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(accepted_at=now, accepted_by=user_id)
        .returning(Invitation.id)
    )
    return result.scalar_one_or_none() is not None


# --- members ---------------------------------------------------------------------------------


async def lock_owners(session: AsyncSession, workspace_id: uuid.UUID) -> list[uuid.UUID]:
    """The workspace's owners, their rows locked until the transaction ends (so two owners
    demoting each other at once cannot leave none)."""
    result = await session.execute(
        select(Membership.user_id)
        .where(Membership.workspace_id == workspace_id, Membership.role == "owner")
        .with_for_update()
    )
    return list(result.scalars().all())


async def delete_membership(
    session: AsyncSession, *, workspace_id: uuid.UUID, user_id: uuid.UUID
) -> bool:
    result = await session.execute(
        delete(Membership)
        .where(Membership.workspace_id == workspace_id, Membership.user_id == user_id)
        .returning(Membership.id)
    )
    return result.scalar_one_or_none() is not None


# --- the account's own details ---------------------------------------------------------------


async def set_name(session: AsyncSession, user_id: uuid.UUID, name: str | None) -> bool:
    """Store the transaction's own account's display name (``app.user_id``: ``users`` lets an
    account change its own row only); False when the account is gone."""
    result = await session.execute(
        update(User).where(User.id == user_id).values(name=name).returning(User.id)
    )
    return result.scalar_one_or_none() is not None
