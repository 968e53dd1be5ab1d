"""SQL of the visitors' messages sent with a client_message_id (rag/chat/repeats.py): finding one
by its id, the claim on answering it, what its turn reads when another try takes it up."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import null, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from rag.chat.models import ChatMessage, Conversation
from rag.chat.repository.faqs import faq_exact_answer
from workspaces.repository import workspace_version
from workspaces.usage_repository import daily_reservation, daily_tokens

CLIENT_MESSAGE_INDEX = "uq_messages_client_message_id"
"""The unique index of (workspace_id, client_message_id) over the messages that carry one."""


WORKSPACE_FOREIGN_KEY_SUFFIX = "_workspace_id_fkey"
"""How PostgreSQL names a table's foreign key from workspace_id to workspaces (the migrations
name none): tests/rag/test_client_messages_errors.py pins it on the migrated schema."""


MESSAGE_CONVERSATION_FOREIGN_KEY = "messages_conversation_id_fkey"
"""The messages' foreign key to their conversation, as PostgreSQL names it."""


def _broken_foreign_key(exc: IntegrityError) -> str:
    """The name of the foreign key ``exc`` reports broken ("" for another error). Decided by
    the SQLSTATE and the constraint's name: the detail text is in the server's language
    (lc_messages)."""
    cause = getattr(exc.orig, "__cause__", None)
    if getattr(cause, "sqlstate", None) != "23503":
        return ""
    return str(getattr(cause, "constraint_name", None) or "")


def names_a_missing_workspace(exc: IntegrityError) -> bool:
    """Whether ``exc`` is a foreign key naming a workspace row that is gone (purged since the
    caller's widget-key cache read it): the turn's first statement cannot record anything.
    By the key's name, not the detail text: a German server wrote "Tabelle »workspaces«" and
    the turn answered 500 instead of 401."""
    return _broken_foreign_key(exc).endswith(WORKSPACE_FOREIGN_KEY_SUFFIX)


def names_a_missing_conversation(exc: IntegrityError) -> bool:
    """Whether ``exc`` is the visitor's message refused for its conversation, deleted (by the
    retention sweep or an erasure, which lock it) while the turn waited for it: not found, as
    one deleted before the turn read it."""
    return _broken_foreign_key(exc) == MESSAGE_CONVERSATION_FOREIGN_KEY


def repeats_a_client_message(exc: IntegrityError) -> bool:
    """Whether ``exc`` is the refusal of a second message with the same client_message_id in
    the workspace (``CLIENT_MESSAGE_INDEX``): another try of that message was recorded."""
    cause = getattr(exc.orig, "__cause__", None)
    return getattr(cause, "constraint_name", None) == CLIENT_MESSAGE_INDEX


@dataclass(frozen=True)
class ClientMessage:
    """A visitor's message found by its client_message_id: it, its conversation, and its answer
    once recorded."""

    message: ChatMessage
    conversation: Conversation
    answer: ChatMessage | None


async def find_client_message(
    session: AsyncSession, *, workspace_id: uuid.UUID, client_message_id: str
) -> ClientMessage | None:
    answer = aliased(ChatMessage)
    result = await session.execute(
        select(ChatMessage, Conversation, answer)
        .join(
            Conversation,
            (Conversation.id == ChatMessage.conversation_id)
            & (Conversation.workspace_id == workspace_id),
        )
        .outerjoin(
            answer, (answer.id == ChatMessage.reply_id) & (answer.workspace_id == workspace_id)
        )
        .where(
            ChatMessage.workspace_id == workspace_id,
            ChatMessage.client_message_id == client_message_id,
        )
    )
    row = result.one_or_none()
    return None if row is None else ClientMessage(*row)


async def client_message_recorded(
    session: AsyncSession, *, workspace_id: uuid.UUID, client_message_id: str
) -> bool:
    """Whether the workspace holds a message sent with ``client_message_id`` (one lookup in
    ``CLIENT_MESSAGE_INDEX``)."""
    found = await session.execute(
        select(ChatMessage.id)
        .where(
            ChatMessage.workspace_id == workspace_id,
            ChatMessage.client_message_id == client_message_id,
        )
        .limit(1)
    )
    return found.first() is not None


async def claim_reply(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    message_id: uuid.UUID,
    now: datetime,
    stale_before: datetime,
) -> bool:
    """Take up answering a visitor's message no try is answering: none claimed it since the
    last failed, or its claim is older than ``stale_before``. Whether this call took it (of
    two at once, one does)."""
    result = await session.execute(
        update(ChatMessage)
        .where(
            ChatMessage.workspace_id == workspace_id,
            ChatMessage.id == message_id,
            ChatMessage.reply_claimed_at.is_(None) | (ChatMessage.reply_claimed_at < stale_before),
        )
        .values(reply_claimed_at=now)
        .returning(ChatMessage.id)
    )
    return result.first() is not None


async def release_reply(
    session: AsyncSession, *, workspace_id: uuid.UUID, message_id: uuid.UUID, claimed_at: datetime
) -> None:
    """The try that claimed the message at ``claimed_at`` failed without an answer: the next
    try of the message may answer it (nothing, when another try has claimed it since)."""
    await session.execute(
        update(ChatMessage)
        .where(
            ChatMessage.workspace_id == workspace_id,
            ChatMessage.id == message_id,
            ChatMessage.reply_claimed_at == claimed_at,
        )
        .values(reply_claimed_at=None)
    )


async def turn_lookups(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    faq_normalized: str | None,
    daily_tokens_day: date | None,
    reserve: tuple[int, int] | None = None,
) -> tuple[str | None, int | None, str | None, bool | None]:
    """What ``record_message_metered`` returns beside the message, for a message recorded
    before: (``faq_normalized``) the answer of an enabled FAQ whose question normalizes to it,
    (``daily_tokens_day``) the LLM tokens counted that day, the workspace row's version and
    (``reserve``: tokens, cap) whether those tokens were reserved on that day under the cap."""
    reserving = daily_tokens_day is not None and reserve is not None
    granted: Any = null()
    if reserving and reserve is not None and daily_tokens_day is not None:
        cte = daily_reservation(workspace_id, daily_tokens_day, reserve[0], reserve[1]).cte(
            "reserved_tokens"
        )
        granted = select(cte.c.llm_tokens).scalar_subquery()
    columns = [
        faq_exact_answer(workspace_id, faq_normalized) if faq_normalized else null(),
        daily_tokens(workspace_id, daily_tokens_day) if daily_tokens_day is not None else null(),
        workspace_version(workspace_id),
        granted,
    ]
    faq, daily, version, after = (await session.execute(select(*columns))).one()
    return (
        faq,
        int(daily or 0) if daily_tokens_day is not None else None,
        version,
        (after is not None) if reserving else None,
    )
