"""SQL of the lifecycle package's deletions: marking and purging a workspace, deleting an
account, erasing a visitor, and the retention sweep. The export rows and the streamed reads an
export is built from are in lifecycle/export_repository.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Text, and_, delete, func, literal, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import utcnow
from core.text import lowered_as_postgres
from rag.chat.contact_details import emails_in, phones_in
from rag.chat.models import ChatMessage, Conversation, UnansweredQuestion, WebhookDelivery
from rag.chat.repository import analytics as analytics_repo
from workspaces.lead_repository import phone_key, same_number
from workspaces.models import Lead, LeadSubmission, User, Workspace

# --- deletion ---------------------------------------------------------------------------------

# The app.lookup value under which RLS shows deleted workspaces (migration 0006b3).
PURGE_LOOKUP = "workspaces:purge"
PURGE_BATCH = 5000


async def mark_workspace_deleted(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    deleted_at: datetime | None,
    purge_after: datetime | None,
) -> None:
    """Set (or, with None, clear) a workspace's deletion."""
    await session.execute(
        update(Workspace)
        .where(Workspace.id == workspace_id)
        .values(deleted_at=deleted_at, purge_after=purge_after, updated_at=utcnow())
    )


async def workspaces_due_for_purge(
    session: AsyncSession, *, now: datetime, limit: int
) -> list[uuid.UUID]:
    """Deleted workspaces whose grace period is over (the caller sets ``PURGE_LOOKUP``)."""
    result = await session.execute(
        select(Workspace.id)
        .where(Workspace.deleted_at.is_not(None), Workspace.purge_after <= now)
        .order_by(Workspace.purge_after)
        .limit(limit)
    )
    return list(result.scalars().all())


async def tenant_tables(session: AsyncSession) -> list[str]:
    """Every table of the schema with a ``workspace_id`` column, from the catalog: a table added
    later is purged without a change here."""
    result = await session.execute(
        text(
            "SELECT c.relname FROM pg_attribute a"
            " JOIN pg_class c ON c.oid = a.attrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE a.attname = 'workspace_id' AND NOT a.attisdropped"
            " AND c.relkind IN ('r', 'p') AND n.nspname = current_schema()"
            " ORDER BY c.relname"
        )
    )
    return [str(name) for name in result.scalars().all()]


def _identifier(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unexpected table name {name!r}")
    return f'"{name}"'


async def delete_tenant_rows(
    session: AsyncSession, *, table: str, workspace_id: uuid.UUID, limit: int = PURGE_BATCH
) -> int:
    """Delete up to ``limit`` of the workspace's rows of ``table``; how many went."""
    quoted = _identifier(table)
    result = await session.execute(
        text(
            f"DELETE FROM {quoted} WHERE ctid IN"  # noqa: S608 - a catalog name, quoted
            f" (SELECT ctid FROM {quoted} WHERE workspace_id = :ws LIMIT :n)"
        ),
        {"ws": workspace_id, "n": limit},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def delete_workspace_row(session: AsyncSession, *, workspace_id: uuid.UUID) -> bool:
    """The workspace row; what still refers to it goes through ON DELETE CASCADE (the audit log
    among them: its append-only trigger lets a cascade through)."""
    result = await session.execute(
        delete(Workspace).where(Workspace.id == workspace_id).returning(Workspace.id)
    )
    return result.scalar_one_or_none() is not None


async def delete_user(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    """The account; its memberships go by cascade."""
    await session.execute(delete(User).where(User.id == user_id))


# --- visitor erasure ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Named:
    """The visitor an erasure names: by the email address they left (any case), or by their
    phone number (its national number: "+91 98765 43210" is "098765 43210"; with another
    country code it is another visitor's, "+44 98765 43210"). Exactly one."""

    email: str | None = None
    phone: str | None = None

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
        named.matches(LeadSubmission.email, LeadSubmission.phone),
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
    message: with lead capture off, or a message the contact shortcut did not take, no lead
    names them. The same address as the chat's own detection reads it, so ``jo@example.com``
    never matches ``ajo@example.com`` or ``jo@example.com.au``."""
    if named.phone is not None:
        return await _conversations_mentioning_phone(session, workspace_id, named.phone)
    assert named.email is not None
    # As the database lowers the messages and emails_in what it finds: Python's lower made a
    # capital sigma ending the local part "ς" and "İ" two characters, found in no message.
    email = lowered_as_postgres(named.email)
    result = await session.execute(
        select(ChatMessage.conversation_id, ChatMessage.text).where(
            ChatMessage.workspace_id == workspace_id,
            ChatMessage.role == "user",
            func.strpos(func.lower(ChatMessage.text), email) > 0,
        )
    )
    return {cid for cid, body in result.all() if email in emails_in(body)}


NUMBER_SIGNS = " ().-\u00a0"
"""What separates a phone number's digits as the chat reads one (``contact_details.phones_in``)."""
_DIGIT_ZEROS: tuple[int, ...] = (0x0660, 0x06F0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66)
_DIGIT_ZEROS += (0x0BE6, 0x0C66, 0x0CE6, 0x0D66, 0x0E50, 0xFF10)
"""The digits besides ASCII's a visitor may type a number in, as the chat reads them
(``phones_in``: any decimal digit): Arabic-Indic and Persian, the Indian scripts (Devanagari,
Bengali, Gurmukhi, Gujarati, Oriya, Tamil, Telugu, Kannada, Malayalam), Thai and fullwidth."""
OTHER_DIGITS = "".join(chr(zero + d) for zero in _DIGIT_ZEROS for d in range(10))
AS_ASCII = "0123456789" * len(_DIGIT_ZEROS)
NUMBER_MARKS = "[" + "".join(f"{chr(zero)}-{chr(zero + 9)}" for zero in _DIGIT_ZEROS) + "]"
"""A regular expression's class of ``OTHER_DIGITS``: only the messages that hold any are read
again with them made ASCII (``translate`` with 130 more characters to look for took 27 times as
long over every message: 8.2 s against 0.3 s for 100,000; the two passes, 0.5 s)."""


def _digits_of(text: Any, *, other_digits: bool) -> ColumnElement[str]:
    """``text`` without the signs a number is written with; ``other_digits``: its digits of
    other scripts made ASCII too."""
    if other_digits:
        return func.translate(text, OTHER_DIGITS + NUMBER_SIGNS, AS_ASCII)
    return func.translate(text, NUMBER_SIGNS, "")


async def _conversations_mentioning_phone(
    session: AsyncSession, workspace_id: uuid.UUID, phone: str
) -> set[uuid.UUID]:
    """The conversations where a visitor typed ``phone`` however written: the messages that
    hold its national number once the signs a number is written with (``NUMBER_SIGNS``) are
    taken out (and digits of other scripts made ASCII, in the messages holding any), then each
    number the chat's own detection reads in them (``phones_in``) compared as leads are
    (``same_number``), so "98765 43210" never matches "498765 43210", "98765 432101" or "+44
    98765 43210" when erasing "+91 98765 43210". ``translate``, not a regular expression:
    0.3-0.5 s for 100,000 messages here, where ``regexp_replace`` took 4-6 s (the address's
    scan: 0.16-0.2 s; docs/benchmarks.md, ``bench/erasure_phone_scan.py``)."""
    key = (await session.execute(select(phone_key(literal(phone, Text))))).scalar_one()
    if not key:
        return set()
    result = await session.execute(
        select(ChatMessage.conversation_id, ChatMessage.text).where(
            ChatMessage.workspace_id == workspace_id,
            ChatMessage.role == "user",
            or_(
                func.strpos(_digits_of(ChatMessage.text, other_digits=False), key) > 0,
                and_(
                    ChatMessage.text.op("~")(NUMBER_MARKS),
                    func.strpos(_digits_of(ChatMessage.text, other_digits=True), key) > 0,
                ),
            ),
        )
    )
    typed = [(cid, number) for cid, body in result.all() for number in phones_in(body)]
    if not typed:
        return set()
    numbers = sorted({number for _, number in typed})
    same = (
        await session.execute(
            select(
                *(
                    same_number(literal(n, Text), phone).label(f"n{i}")
                    for i, n in enumerate(numbers)
                )
            )
        )
    ).one()
    kept = {number for number, alike in zip(numbers, same, strict=True) if alike}
    return {cid for cid, number in typed if number in kept}


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
        named.matches(LeadSubmission.email, LeadSubmission.phone),
    )
    result = await session.execute(
        delete(LeadSubmission).where(LeadSubmission.workspace_id == workspace_id, condition)
    )
    submissions = int(result.rowcount)  # type: ignore[attr-defined]
    result = await session.execute(
        delete(Lead).where(Lead.workspace_id == workspace_id, Lead.id.in_(leads))
    )
    return {"lead_submissions": submissions, "leads": int(result.rowcount)}  # type: ignore[attr-defined]


LEAD_DETAILS = ("name", "phone", "message")


async def erase_session_leads(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    lead_ids: set[uuid.UUID],
    conversation_ids: set[uuid.UUID],
) -> dict[str, int]:
    """Erasure by session: the submissions sent from these conversations, and each of the leads
    that has no other submission left. A lead another visitor also sent to (a shared address)
    stays with their submissions: the details that came only from the erased ones are filled
    again from what remains (oldest first, as submissions fill a lead) or cleared, and its link
    to an erased conversation is dropped."""
    conversations = list(conversation_ids)
    erased = await session.execute(
        delete(LeadSubmission)
        .where(
            LeadSubmission.workspace_id == workspace_id,
            LeadSubmission.conversation_id.in_(conversations),
        )
        .returning(LeadSubmission.lead_id, *(getattr(LeadSubmission, f) for f in LEAD_DETAILS))
    )
    erased_values: dict[str, set[str]] = {f: set() for f in LEAD_DETAILS}
    count = 0
    for row in erased.all():
        count += 1
        for field, value in zip(LEAD_DETAILS, row[1:], strict=True):
            if value:
                erased_values[field].add(value)
    gone = 0
    for lead in (
        await session.execute(
            select(Lead).where(Lead.workspace_id == workspace_id, Lead.id.in_(list(lead_ids)))
        )
    ).scalars():
        remaining = list(
            (
                await session.execute(
                    select(LeadSubmission)
                    .where(
                        LeadSubmission.workspace_id == workspace_id,
                        LeadSubmission.lead_id == lead.id,
                    )
                    .order_by(LeadSubmission.created_at, LeadSubmission.id)
                )
            ).scalars()
        )
        if not remaining:
            await session.execute(
                delete(Lead).where(Lead.workspace_id == workspace_id, Lead.id == lead.id)
            )
            gone += 1
            continue
        values: dict[str, object] = {}
        for field in LEAD_DETAILS:
            current = getattr(lead, field)
            kept = [getattr(s, field) for s in remaining if getattr(s, field)]
            if current in erased_values[field] and current not in kept:
                values[field] = kept[0] if kept else None
        if lead.conversation_id in conversation_ids:
            values["conversation_id"] = None
        if values:
            await session.execute(
                update(Lead)
                .where(Lead.workspace_id == workspace_id, Lead.id == lead.id)
                .values(**values, updated_at=utcnow())
            )
    return {"lead_submissions": count, "leads": gone}


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


# --- retention ----------------------------------------------------------------------------------

# The app.lookup value under which RLS shows every workspace not deleted (migration 0006b4).
SWEEP_LOOKUP = "workspaces:sweep"
RETENTION_BATCH = 1000


async def workspaces_page(
    session: AsyncSession, *, after: uuid.UUID | None, limit: int
) -> Sequence[Workspace]:
    """Workspaces not deleted, by id after ``after`` (the caller sets ``SWEEP_LOOKUP``)."""
    stmt = select(Workspace).where(Workspace.deleted_at.is_(None))
    if after is not None:
        stmt = stmt.where(Workspace.id > after)
    result = await session.execute(stmt.order_by(Workspace.id).limit(limit))
    return result.scalars().all()


async def set_retention(
    session: AsyncSession, *, workspace_id: uuid.UUID, days: int | None
) -> None:
    await session.execute(
        update(Workspace)
        .where(Workspace.id == workspace_id)
        .values(conversation_retention_days=days, updated_at=utcnow())
    )


async def delete_conversations_before(
    session: AsyncSession, *, workspace_id: uuid.UUID, before: datetime, limit: int
) -> tuple[list[uuid.UUID], int]:
    """Delete up to ``limit`` conversations whose last message is older than ``before`` (their
    messages and feedback by cascade, their unanswered questions); (the conversations' ids,
    messages deleted)."""
    doomed = (
        select(Conversation.id)
        .where(Conversation.workspace_id == workspace_id, Conversation.last_message_at < before)
        .limit(limit)
        .scalar_subquery()
    )
    ids = list(
        (
            await session.execute(select(Conversation.id).where(Conversation.id.in_(doomed)))
        ).scalars()
    )
    if not ids:
        return [], 0
    await analytics_repo.keep_deleted(session, workspace_id=workspace_id, conversation_ids=ids)
    messages = await count_messages(session, workspace_id=workspace_id, conversation_ids=set(ids))
    # The visitors' words kept outside the conversation go with it: its unanswered questions
    # (no longer left behind unlinked, where no erasure could find them).
    await session.execute(
        delete(UnansweredQuestion).where(
            UnansweredQuestion.workspace_id == workspace_id,
            UnansweredQuestion.conversation_id.in_(ids),
        )
    )
    # Leads outlive their conversations: unlinked here, noting when (the keys would set the ids
    # NULL alone, and the lead page could not tell a deleted conversation from none).
    now = utcnow()
    for table in (Lead, LeadSubmission):
        await session.execute(
            update(table)
            .where(table.workspace_id == workspace_id, table.conversation_id.in_(ids))
            .values(conversation_id=None, conversation_deleted_at=now)
        )
    await session.execute(
        delete(Conversation).where(
            Conversation.workspace_id == workspace_id, Conversation.id.in_(ids)
        )
    )
    return ids, messages


async def delete_quotes_before(
    session: AsyncSession, *, workspace_id: uuid.UUID, before: datetime
) -> tuple[int, int]:
    """What retention deletes besides conversations: webhook deliveries made before ``before``
    (a handoff's payload quotes the visitor's message and session id; every attempt is long
    over), and unanswered questions asked before then whose conversation is already gone (left
    unlinked by a retention purge before this rule); (deliveries, questions) deleted."""
    result = await session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.workspace_id == workspace_id, WebhookDelivery.created_at < before
        )
    )
    deliveries = int(result.rowcount)  # type: ignore[attr-defined]
    result = await session.execute(
        delete(UnansweredQuestion).where(
            UnansweredQuestion.workspace_id == workspace_id,
            UnansweredQuestion.conversation_id.is_(None),
            UnansweredQuestion.created_at < before,
        )
    )
    return deliveries, int(result.rowcount)  # type: ignore[attr-defined]
