"""SQL of erasing one visitor from a workspace (lifecycle/erasure.py): the leads and
conversations that name them, and deleting those. Reading an address or a number in free
text is ``erasure_text_repository.py``; deletion, purge and retention are in
lifecycle/repository.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, ColumnElement, delete, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from lifecycle import erasure_text_repository as text_repo
from rag.chat.models import ChatMessage, Conversation, UnansweredQuestion, WebhookDelivery
from rag.chat.repository import analytics as analytics_repo
from workspaces.lead_repository import same_number
from workspaces.models import Lead, LeadSubmission

# --- visitor erasure ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Named:
    """The visitor an erasure names: by the email address they left (any case), or by their
    phone number (its national number: "+91 98765 43210" is "098765 43210"; with another
    country code it is another visitor's, "+44 98765 43210"). Exactly one."""

    email: str | None = None
    phone: str | None = None
    written_in: frozenset[uuid.UUID] = frozenset()
    """The lead submissions whose message holds the address or number
    (``submissions_mentioning``): the visitor's as those sent with it are."""
    leads_written_in: frozenset[uuid.UUID] = frozenset()
    """The leads whose own message holds the address or number (``leads_mentioning``): a
    reached one has its message cleared (or filled again from a remaining submission); one is
    reached by it only when not filed under another address or number
    (``leads_not_filed_elsewhere``)."""

    def sent(self) -> ColumnElement[bool]:
        """The lead submissions that are this visitor's: sent with their email (number), or
        with their email (number) in the message (``written_in``)."""
        sent = self.matches(LeadSubmission.email, LeadSubmission.phone)
        if self.written_in:
            sent = or_(sent, LeadSubmission.id.in_(sorted(self.written_in)))
        return sent

    def not_filed_elsewhere(self, email: Any, phone: Any) -> ColumnElement[bool]:
        """The rows (a lead's, a submission's) whose field of the key's kind (by email the
        address, by phone the number) is empty or the visitor's: only in those is the visitor's
        address (number) written in the message theirs. A form or a lead filed under another
        one ("my colleague jo@example.com wants a demo too") is that other person's."""
        own = email if self.email is not None else phone
        return or_(func.coalesce(own, "") == "", self.matches(email, phone))

    def matches(self, email: Any, phone: Any) -> ColumnElement[bool]:
        """The rows that name this visitor, by their ``email`` and ``phone`` columns (a
        lead's, a submission's)."""
        if self.email is not None:
            return func.lower(email) == func.lower(self.email)
        assert self.phone is not None
        return same_number(phone, self.phone)


async def lead_ids_named(
    session: AsyncSession, *, workspace_id: uuid.UUID, named: Named
) -> set[uuid.UUID]:
    """The leads with the visitor's email, or with their phone number (an address beside it
    or not)."""
    result = await session.execute(
        select(Lead.id).where(
            Lead.workspace_id == workspace_id, named.matches(Lead.email, Lead.phone)
        )
    )
    return set(result.scalars().all())


async def leads_given_the_key(
    session: AsyncSession, *, workspace_id: uuid.UUID, lead_ids: set[uuid.UUID], named: Named
) -> set[uuid.UUID]:
    """Of the leads an erasure found by the visitor's number (address), those whose address
    (number) came first in a submission without it: another person's lead whose empty number
    (address) the visitor's callback or form filled after typing its address (number):
    ``give_phone``, ``complete_lead``. Such a lead is reached, not the visitor's: it loses what
    the visitor sent, as by session. A lead whose address and number first came together (one
    message, one form) stays the visitor's."""
    if not lead_ids:
        return set()
    if named.phone is not None:
        same = func.lower(LeadSubmission.email) == func.lower(Lead.email)
    else:
        same = func.tb_same_phone(LeadSubmission.phone, Lead.phone, type_=Boolean)
    first = (
        select(LeadSubmission.email, LeadSubmission.phone)
        .where(
            LeadSubmission.workspace_id == Lead.workspace_id,
            LeadSubmission.lead_id == Lead.id,
            same,
        )
        .order_by(LeadSubmission.created_at, LeadSubmission.id)
        .limit(1)
        .correlate(Lead)
        .lateral()
    )
    carried = first.c.phone if named.phone is not None else first.c.email
    result = await session.execute(
        select(Lead.id)
        .join(first, literal(True))
        .where(
            Lead.workspace_id == workspace_id,
            Lead.id.in_(list(lead_ids)),
            or_(carried.is_(None), ~named.matches(first.c.email, first.c.phone)),
        )
    )
    return set(result.scalars().all())


async def conversations_of(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    session_ids: set[str],
    lead_ids: set[uuid.UUID],
    conversation_ids: set[uuid.UUID],
) -> Sequence[tuple[uuid.UUID, str, uuid.UUID | None]]:
    """(id, session id, lead id) of the conversations with one of these sessions, leads or ids."""
    result = await session.execute(
        select(Conversation.id, Conversation.session_id, Conversation.lead_id).where(
            Conversation.workspace_id == workspace_id,
            or_(
                Conversation.session_id.in_(list(session_ids)),
                Conversation.lead_id.in_(list(lead_ids)),
                Conversation.id.in_(list(conversation_ids)),
            ),
        )
    )
    return [(row[0], row[1], row[2]) for row in result.all()]


async def lock_conversations(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    conversation_ids: set[uuid.UUID],
    lead_ids: set[uuid.UUID],
    session_ids: Collection[str] = (),
) -> dict[uuid.UUID, str]:
    """Lock these conversations, those linked to these leads and those of these sessions, in
    one order, before any number's lock or lead: a chat turn holds its conversation (its message
    recorded) before it takes a number's lock and writes to a lead (``shortcuts.contact``), and
    a visitor's form locks its conversation first too. Locked when deleted (or unlinked from a
    deleted lead), after the leads, the erasure and the turn each waited for the other
    (deadlock_detected). Returns the session id of each conversation locked, by id: the ones
    linked to the leads or opened in the sessions as they are once locked, one linked or opened
    since the caller's own reads among them (locked by the ids read, the erasure kept it)."""
    result = await session.execute(
        select(Conversation.id, Conversation.session_id)
        .where(
            Conversation.workspace_id == workspace_id,
            or_(
                Conversation.id.in_(list(conversation_ids)),
                Conversation.lead_id.in_(list(lead_ids)),
                Conversation.session_id.in_(list(session_ids)),
            ),
        )
        .order_by(Conversation.id)
        .with_for_update()
    )
    return {row[0]: row[1] for row in result.all()}


async def lock_leads(
    session: AsyncSession, *, workspace_id: uuid.UUID, lead_ids: set[uuid.UUID]
) -> None:
    """Lock these leads, by id: after the conversations (``lock_conversations``), as a chat
    turn and a visitor's form take them. Waits for a turn or a form writing to one; what it
    linked is read after (READ COMMITTED)."""
    await session.execute(
        select(Lead.id)
        .where(Lead.workspace_id == workspace_id, Lead.id.in_(list(lead_ids)))
        .order_by(Lead.id)
        .with_for_update()
    )


async def lead_conversation_links(
    session: AsyncSession, *, workspace_id: uuid.UUID, lead_ids: set[uuid.UUID], named: Named
) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """(conversation ids, lead ids) the leads and their submissions (or submissions sent with
    the visitor's email or number) point to."""
    conversations: set[uuid.UUID] = set()
    leads: set[uuid.UUID] = set(lead_ids)
    rows = await session.execute(
        select(Lead.conversation_id).where(
            Lead.workspace_id == workspace_id, Lead.id.in_(list(lead_ids))
        )
    )
    conversations.update(c for c in rows.scalars().all() if c is not None)
    condition = or_(
        LeadSubmission.lead_id.in_(list(lead_ids)),
        named.sent(),
    )
    rows2 = await session.execute(
        select(LeadSubmission.lead_id, LeadSubmission.conversation_id).where(
            LeadSubmission.workspace_id == workspace_id, condition
        )
    )
    for lead_id, conversation_id in rows2.all():
        leads.add(lead_id)
        if conversation_id is not None:
            conversations.add(conversation_id)
    return conversations, leads


async def count_messages(
    session: AsyncSession, *, workspace_id: uuid.UUID, conversation_ids: set[uuid.UUID]
) -> int:
    result = await session.execute(
        select(func.count())
        .select_from(ChatMessage)
        .where(
            ChatMessage.workspace_id == workspace_id,
            ChatMessage.conversation_id.in_(list(conversation_ids)),
        )
    )
    return int(result.scalar_one())


async def conversations_mentioning(
    session: AsyncSession, *, workspace_id: uuid.UUID, named: Named
) -> set[uuid.UUID]:
    """The conversations where a visitor typed their email (any case) or their number into a
    message (``text_repo.holding``): with lead capture off, or a message the contact shortcut
    did not take, no lead names them."""
    return await text_repo.holding(
        session,
        named,
        ChatMessage.conversation_id,
        ChatMessage.text,
        ChatMessage.workspace_id == workspace_id,
        ChatMessage.role == "user",
    )


async def submissions_mentioning(
    session: AsyncSession, *, workspace_id: uuid.UUID, named: Named
) -> frozenset[uuid.UUID]:
    """The lead submissions whose message holds the visitor's address or number, read as the
    chat messages are (``text_repo.holding``): a widget form sent with the email (phone) field
    empty and "write to me at jo@example.com" ("please call me on +91 98765 43210") in its
    message. Not one sent with another address (number): that person's
    (``Named.not_filed_elsewhere``); before, erasing the address a form only named deleted
    the sender's form, lead and conversations."""
    return frozenset(
        await text_repo.holding(
            session,
            named,
            LeadSubmission.id,
            LeadSubmission.message,
            LeadSubmission.workspace_id == workspace_id,
            named.not_filed_elsewhere(LeadSubmission.email, LeadSubmission.phone),
        )
    )


async def leads_mentioning(
    session: AsyncSession, *, workspace_id: uuid.UUID, named: Named
) -> frozenset[uuid.UUID]:
    """The leads whose own message holds the visitor's address or number, read as the chat
    messages are (one the owner typed in, or a form's message kept on the lead)."""
    return frozenset(
        await text_repo.holding(
            session, named, Lead.id, Lead.message, Lead.workspace_id == workspace_id
        )
    )


async def leads_not_filed_elsewhere(
    session: AsyncSession, *, workspace_id: uuid.UUID, lead_ids: frozenset[uuid.UUID], named: Named
) -> set[uuid.UUID]:
    """Of these leads (``leads_mentioning``), those reached by their message: its address
    (number) field empty or the visitor's (``Named.not_filed_elsewhere``). A lead filed under
    another one whose message names the visitor ("referred by jo@example.com") is that
    person's: reached otherwise only (then its message is cleared all the same)."""
    if not lead_ids:
        return set()
    result = await session.execute(
        select(Lead.id).where(
            Lead.workspace_id == workspace_id,
            Lead.id.in_(sorted(lead_ids)),
            named.not_filed_elsewhere(Lead.email, Lead.phone),
        )
    )
    return set(result.scalars().all())


async def leads_of_conversations(
    session: AsyncSession, *, workspace_id: uuid.UUID, conversation_ids: set[uuid.UUID]
) -> set[uuid.UUID]:
    """The leads these conversations were linked to, or sent a submission to."""
    ids = list(conversation_ids)
    linked = await session.execute(
        select(Conversation.lead_id).where(
            Conversation.workspace_id == workspace_id,
            Conversation.id.in_(ids),
            Conversation.lead_id.is_not(None),
        )
    )
    named = await session.execute(
        select(Lead.id).where(Lead.workspace_id == workspace_id, Lead.conversation_id.in_(ids))
    )
    sent = await session.execute(
        select(LeadSubmission.lead_id).where(
            LeadSubmission.workspace_id == workspace_id, LeadSubmission.conversation_id.in_(ids)
        )
    )
    return {
        lead for rows in (linked, named, sent) for lead in rows.scalars().all() if lead is not None
    }


async def erase_leads(
    session: AsyncSession, *, workspace_id: uuid.UUID, lead_ids: set[uuid.UUID], named: Named
) -> dict[str, int]:
    """Erasure by email or phone: the leads, and every submission of theirs or sent with the
    visitor's email (number)."""
    leads = list(lead_ids)
    condition = or_(
        LeadSubmission.lead_id.in_(leads),
        named.sent(),
    )
    result = await session.execute(
        delete(LeadSubmission).where(LeadSubmission.workspace_id == workspace_id, condition)
    )
    submissions = int(result.rowcount)  # type: ignore[attr-defined]
    result = await session.execute(
        delete(Lead).where(Lead.workspace_id == workspace_id, Lead.id.in_(leads))
    )
    return {"lead_submissions": submissions, "leads": int(result.rowcount)}  # type: ignore[attr-defined]


async def erase_conversations(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    conversation_ids: set[uuid.UUID],
    session_ids: set[str],
) -> dict[str, int]:
    """Delete the conversations (their messages and feedback by cascade), their unanswered
    questions, and the webhook deliveries that name them or the sessions (a handoff quotes
    the visitor's message and session id); how many rows of each went."""
    conversations = list(conversation_ids)
    await analytics_repo.keep_deleted(
        session, workspace_id=workspace_id, conversation_ids=conversations
    )
    counts: dict[str, int] = {}
    counts["messages"] = await count_messages(
        session, workspace_id=workspace_id, conversation_ids=conversation_ids
    )
    result = await session.execute(
        delete(UnansweredQuestion).where(
            UnansweredQuestion.workspace_id == workspace_id,
            UnansweredQuestion.conversation_id.in_(conversations),
        )
    )
    counts["unanswered_questions"] = int(result.rowcount)  # type: ignore[attr-defined]
    data = WebhookDelivery.payload["data"]
    result = await session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.workspace_id == workspace_id,
            or_(
                data["conversation_id"].astext.in_([str(c) for c in conversations]),
                data["session_id"].astext.in_(list(session_ids)),
            ),
        )
    )
    counts["webhook_deliveries"] = int(result.rowcount)  # type: ignore[attr-defined]
    result = await session.execute(
        delete(Conversation).where(
            Conversation.workspace_id == workspace_id, Conversation.id.in_(conversations)
        )
    )
    counts["conversations"] = int(result.rowcount)  # type: ignore[attr-defined]
    return counts
