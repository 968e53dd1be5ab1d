"""SQL of an erasure by phone (lifecycle/erasure.py) over the conversations where the number
was typed only as another's: an order's, an invoice's, a ticket's, an account's, a booking's or
a reference number (``rag.chat.other_numbers.named_span``), beside a phone of the visitor's
own ("my order 98765 43210 is late, please call me on +91 91234 56789"). Such a conversation
is not the data subject's: it stays with its lead, and the number is taken out of it
(``redact_conversations``). Before, erasing 98765 43210 (another visitor's own phone) deleted
that conversation and the lead of the visitor who typed it (phone 91234 56789)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import Text, cast, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from lifecycle import erasure_text_repository as text_repo
from rag.chat.contact_details import phone_matches
from rag.chat.models import ChatMessage, MessageFeedback, UnansweredQuestion, WebhookDelivery
from rag.chat.other_numbers import named_span


async def named_as_anothers(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    named: text_repo.Key,
    conversation_ids: set[uuid.UUID],
) -> set[uuid.UUID]:
    """Of ``conversation_ids`` (those whose visitor's messages hold the number:
    ``erasure_repository.conversations_mentioning``), the ones where every occurrence of it is
    named as another's (``named_span``: "my order ... is late", "... is my order number") and
    the visitor typed a number of their own besides it, in that message or another of the
    conversation (one not named so, and not the erased one). A number named so with no other
    of the visitor's ("my account 98765 43210 is locked": a telecom's or a utility's account
    is its phone number) stays the visitor's own: that conversation is not among these."""
    if named.phone is None or not conversation_ids:
        return set()
    rows = await session.execute(
        select(ChatMessage.conversation_id, ChatMessage.text).where(
            ChatMessage.workspace_id == workspace_id,
            ChatMessage.conversation_id.in_(sorted(conversation_ids)),
            ChatMessage.role == "user",
        )
    )
    texts: dict[uuid.UUID, list[str]] = defaultdict(list)
    for conversation_id, body in rows.all():
        texts[conversation_id].append(body)
    numbers = await text_repo.same_numbers(
        session,
        text_repo.readings(body for bodies in texts.values() for body in bodies),
        named.phone,
    )
    return {
        conversation_id
        for conversation_id, bodies in texts.items()
        if _only_named(bodies, numbers) and _another_of_theirs(bodies, numbers)
    }


def _only_named(texts: list[str], numbers: set[str]) -> bool:
    """Whether every occurrence of ``numbers`` (the erased one, as typed) in ``texts`` is named
    as another's."""
    return all(
        named_span(text, start, end) is not None
        for text in texts
        for start, end in text_repo.number_spans(text, numbers)
    )


def _another_of_theirs(texts: list[str], numbers: set[str]) -> bool:
    """Whether ``texts`` hold a phone number (``phone_matches``) other than ``numbers``, not
    named as another's: the visitor's own."""
    return any(
        number not in numbers and named_span(text, *match.span()) is None
        for text in texts
        for match, number in phone_matches(text)
    )


async def redact_conversations(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    named: text_repo.Key,
    conversation_ids: set[uuid.UUID],
) -> dict[str, int]:
    """Take the number out of the conversations kept (``named_as_anothers``): in their
    messages (the visitor's and the bot's quoting it), the comments of their answers' ratings
    (the visitor's or the team's: before, those kept it) and their unanswered questions each
    occurrence becomes ``[erased]``, the rest as it was (``text_repo.redacted``), and the
    webhook deliveries naming them whose payload holds it (a handoff quotes the message) go.
    How many rows of each were rewritten (``redacted_messages``, a rating's comment counted
    with its message's; ``redacted_unanswered_questions``) or deleted
    (``webhook_deliveries``)."""
    if not conversation_ids:
        return {"redacted_messages": 0, "redacted_unanswered_questions": 0, "webhook_deliveries": 0}
    ids = sorted(conversation_ids)
    messages = await _redact(
        session,
        named,
        ChatMessage.id,
        ("text",),
        ChatMessage.workspace_id == workspace_id,
        ChatMessage.conversation_id.in_(ids),
    )
    in_conversations = select(ChatMessage.id).where(
        ChatMessage.workspace_id == workspace_id, ChatMessage.conversation_id.in_(ids)
    )
    messages += await _redact(
        session,
        named,
        MessageFeedback.message_id,
        ("comment",),
        MessageFeedback.workspace_id == workspace_id,
        MessageFeedback.message_id.in_(in_conversations),
    )
    questions = await _redact(
        session,
        named,
        UnansweredQuestion.id,
        ("question", "normalized"),
        UnansweredQuestion.workspace_id == workspace_id,
        UnansweredQuestion.conversation_id.in_(ids),
    )
    data = WebhookDelivery.payload["data"]
    quoting = await text_repo.holding(
        session,
        named,
        WebhookDelivery.id,
        cast(WebhookDelivery.payload, Text),
        WebhookDelivery.workspace_id == workspace_id,
        data["conversation_id"].astext.in_([str(c) for c in ids]),
    )
    deliveries = 0
    if quoting:
        result = await session.execute(
            delete(WebhookDelivery).where(
                WebhookDelivery.workspace_id == workspace_id,
                WebhookDelivery.id.in_(sorted(quoting)),
            )
        )
        deliveries = int(result.rowcount)  # type: ignore[attr-defined]
    return {
        "redacted_messages": messages,
        "redacted_unanswered_questions": questions,
        "webhook_deliveries": deliveries,
    }


async def _redact(
    session: AsyncSession,
    named: text_repo.Key,
    key: InstrumentedAttribute[uuid.UUID],
    fields: tuple[str, ...],
    *where: Any,
) -> int:
    """Rewrite ``fields`` of the rows (``where``) of the model whose key is ``key`` without the
    number (``text_repo.redact_rows``); how many changed."""
    return len(await text_repo.redact_rows(session, named, key, fields, *where))
