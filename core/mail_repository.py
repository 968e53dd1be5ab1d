"""All SQL of the mail outbox (``mail_outbox``).

The outbox is no workspace's data, but it holds every account's live links (a password reset,
an invitation, an address to confirm) and the leads the owners' mails quote, so it is under
row-level security (migration 0034): a transaction reads it only with the mail job's lookup
(``OUTBOX_SENDER``: the flush, the clean-up), or, in a workspace's context, the mails about that
workspace (``about_workspace``: erasure, retention, purge) and the mails carrying the
invitations it can see (``about_invitation``: withdrawing one). Any transaction may add mail.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession

OUTBOX_SENDER = "mail_outbox:send"
"""The ``app.lookup`` value that opens the whole outbox: the mail job's transactions only."""


@dataclass(frozen=True)
class OutboxRow:
    id: uuid.UUID
    recipient: str
    subject: str
    text_body: str
    html_body: str | None
    template: str
    created_at: datetime
    attempts: int
    headers: dict[str, str] | None = None
    about_workspace: uuid.UUID | None = None
    claim: datetime | None = None  # locked_until as this flush set it: its token


_INSERT = text(
    "INSERT INTO mail_outbox (id, recipient, subject, text_body, html_body, template, headers,"
    " about_workspace, about_leads, about_conversations, about_invitation)"
    " VALUES (:id, :recipient, :subject, :text_body, :html_body, :template, :headers,"
    " :about_workspace, :about_leads, :about_conversations, :about_invitation)"
).bindparams(
    bindparam("headers", type_=JSONB),
    bindparam("about_leads", type_=ARRAY(PG_UUID())),
    bindparam("about_conversations", type_=ARRAY(PG_UUID())),
)


async def insert(
    session: AsyncSession,
    *,
    recipient: str,
    subject: str,
    text_body: str,
    html_body: str | None,
    template: str,
    headers: dict[str, str] | None = None,
    about_workspace: uuid.UUID | None = None,
    about_leads: Sequence[uuid.UUID] = (),
    about_conversations: Sequence[uuid.UUID] = (),
    about_invitation: uuid.UUID | None = None,
) -> uuid.UUID:
    mail_id = uuid.uuid4()
    await session.execute(
        _INSERT,
        {
            "id": mail_id,
            "recipient": recipient,
            "subject": subject,
            "text_body": text_body,
            "html_body": html_body,
            "template": template,
            "headers": headers,
            "about_workspace": about_workspace,
            "about_leads": list(about_leads) or None,
            "about_conversations": list(about_conversations) or None,
            "about_invitation": about_invitation,
        },
    )
    return mail_id


async def forget_invitations(session: AsyncSession, invitations: Sequence[uuid.UUID]) -> int:
    """Delete the mails of these (withdrawn) invitations that have not gone out; how many."""
    if not invitations:
        return 0
    result = await session.execute(
        text(
            "DELETE FROM mail_outbox WHERE about_invitation = ANY(:ids) AND sent_at IS NULL"
        ).bindparams(bindparam("ids", type_=ARRAY(PG_UUID()))),
        {"ids": list(invitations)},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def forget_about(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    leads: Sequence[uuid.UUID] | None = None,
    conversations: Sequence[uuid.UUID] | None = None,
) -> list[uuid.UUID]:
    """Delete the mails about ``workspace_id`` (only those quoting one of ``leads`` or of
    ``conversations``, when either is given), sent or not; their ids (the file outbox names
    its files after them: ``Mailer.forget_files`` after the commit). With neither (the purge)
    also the mails of the workspace's invitations, which name it by ``about_invitation`` only:
    left behind a failing relay they invited someone to a workspace that was gone."""
    if leads is None and conversations is None:
        condition = (
            " OR about_invitation IN (SELECT id FROM invitations WHERE workspace_id = :workspace)"
        )
    elif not leads and not conversations:
        return []
    else:
        condition = " AND (about_leads && :leads OR about_conversations && :conversations)"
    statement = text(
        f"DELETE FROM mail_outbox WHERE about_workspace = :workspace{condition}"  # noqa: S608
        " RETURNING id"
    )
    params: dict[str, object] = {"workspace": workspace_id}
    if leads is not None or conversations is not None:
        statement = statement.bindparams(
            bindparam("leads", type_=ARRAY(PG_UUID())),
            bindparam("conversations", type_=ARRAY(PG_UUID())),
        )
        params["leads"] = list(leads or [])
        params["conversations"] = list(conversations or [])
    result = await session.execute(statement, params)
    return list(result.scalars().all())


_CLAIM = text(
    """
    UPDATE mail_outbox SET locked_until = :until
    WHERE id = (
        SELECT id FROM mail_outbox
        WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= :now
          AND (locked_until IS NULL OR locked_until <= :now)
        ORDER BY next_attempt_at, created_at
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    )
    RETURNING id, recipient, subject, text_body, html_body, template, created_at, attempts,
              headers, about_workspace, locked_until AS claim
    """
)


async def claim_next(session: AsyncSession, *, now: datetime, until: datetime) -> OutboxRow | None:
    """Claim the next due message until ``until`` (no other flush takes it before). Its
    ``claim`` is the token to mark it with: a later claim of the same row is always later."""
    row = (await session.execute(_CLAIM, {"now": now, "until": until})).one_or_none()
    return None if row is None else OutboxRow(**row._mapping)


async def delete_claimed(
    session: AsyncSession, mail_id: uuid.UUID, *, claim: datetime | None
) -> None:
    """Delete an unsent message while ``claim`` still holds it."""
    await session.execute(
        text(
            "DELETE FROM mail_outbox WHERE id = :id AND locked_until = :claim AND sent_at IS NULL"
        ),
        {"id": mail_id, "claim": claim},
    )


async def still_claimed(
    session: AsyncSession, mail_id: uuid.UUID, *, claim: datetime | None
) -> bool:
    """Whether the message is still unsent and held by ``claim``: not deleted (a withdrawn
    invitation, an erasure, a purge) nor claimed by another flush since."""
    result = await session.execute(
        text(
            "SELECT 1 FROM mail_outbox"
            " WHERE id = :id AND locked_until = :claim AND sent_at IS NULL AND failed_at IS NULL"
        ),
        {"id": mail_id, "claim": claim},
    )
    return result.first() is not None


async def exists(session: AsyncSession, mail_id: uuid.UUID) -> bool:
    """Whether the message is still in the outbox (an erasure or a purge deletes it)."""
    result = await session.execute(
        text("SELECT 1 FROM mail_outbox WHERE id = :id"), {"id": mail_id}
    )
    return result.first() is not None


async def delete_settled(session: AsyncSession, *, before: datetime) -> int:
    """Delete the messages sent, or given up on, before ``before``; how many."""
    result = await session.execute(
        text("DELETE FROM mail_outbox WHERE sent_at < :before OR failed_at < :before"),
        {"before": before},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def mark_sent(
    session: AsyncSession, mail_id: uuid.UUID, *, claim: datetime | None, sent_at: datetime
) -> bool:
    """Record the delivery; False when ``claim`` no longer holds the message (another flush
    claimed it after this claim ran out: a duplicate went out, the first outcome stays)."""
    result = await session.execute(
        text(
            "UPDATE mail_outbox SET sent_at = :at, locked_until = NULL, attempts = attempts + 1"
            " WHERE id = :id AND locked_until = :claim AND sent_at IS NULL"
        ),
        {"at": sent_at, "id": mail_id, "claim": claim},
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def mark_failed_attempt(
    session: AsyncSession,
    mail_id: uuid.UUID,
    *,
    claim: datetime | None,
    attempts: int,
    error: str,
    next_attempt_at: datetime,
    give_up: bool,
) -> bool:
    """Record a failed attempt; False (nothing changed) when ``claim`` no longer holds the
    message: the flush that claimed it since decides."""
    result = await session.execute(
        text(
            "UPDATE mail_outbox SET attempts = :attempts, last_error = :error,"
            " next_attempt_at = :next, locked_until = NULL,"
            " failed_at = CASE WHEN :give_up THEN now() ELSE NULL END"
            " WHERE id = :id AND locked_until = :claim AND sent_at IS NULL"
        ),
        {
            "attempts": attempts,
            "error": error,
            "next": next_attempt_at,
            "give_up": give_up,
            "id": mail_id,
            "claim": claim,
        },
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
