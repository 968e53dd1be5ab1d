"""SQL of erasing one visitor's session from the leads it sent to (lifecycle/erasure.py): the
submissions sent from its conversations, the leads left with none, and the details of a lead
other visitors also sent to rewritten from what remains (a lead then without email whose
number another such lead has goes into it). Split from ``erasure_repository.py`` when it
passed 450 lines."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, Text, case, delete, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import utcnow
from core.text import lowered_as_postgres
from lifecycle.erasure_repository import Named
from rag.chat.contact_details import emails_in, phones_in
from rag.chat.models import ChatMessage, Conversation
from workspaces import lead_repository as lead_repo
from workspaces.models import Lead, LeadSubmission

LEAD_DETAILS = ("email", "name", "phone", "message")


def _compared(field: str, value: str) -> str:
    """A detail as two are told apart: an address lowered, as the leads' unique index has it."""
    return lowered_as_postgres(value) if field == "email" else value


async def erase_session_leads(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    lead_ids: set[uuid.UUID],
    conversation_ids: set[uuid.UUID],
    named: Named | None = None,
) -> dict[str, int]:
    """Erasure by session: the submissions sent from these conversations (and, by email or
    phone, those sent with the ``named`` address or number), and each of the
    leads that has no other submission left. A lead another visitor also sent to (a shared address,
    or a number) stays with their submissions: the details that came only from the erased ones
    or were typed in the erased conversations (``_typed_contacts``), its address included, are
    filled again from what remains (oldest first, as submissions fill a lead) or cleared, and
    its link to an erased conversation is dropped. Left without an address, with a number
    another lead without email has, it goes into that lead (``_merge_lead``: one lead without
    email per number)."""
    conversations = list(conversation_ids)
    sent: ColumnElement[bool] = LeadSubmission.conversation_id.in_(conversations)
    if named is not None:
        sent = or_(sent, named.sent())
    erased = await session.execute(
        delete(LeadSubmission)
        .where(LeadSubmission.workspace_id == workspace_id, sent)
        .returning(LeadSubmission.lead_id, *(getattr(LeadSubmission, f) for f in LEAD_DETAILS))
    )
    erased_values: dict[str, set[str]] = {f: set() for f in LEAD_DETAILS}
    count = 0
    for row in erased.all():
        count += 1
        for field, value in zip(LEAD_DETAILS, row[1:], strict=True):
            if value:
                erased_values[field].add(_compared(field, value))
    await _typed_contacts(session, workspace_id, conversations, erased_values)
    if named is not None:
        # The erased address or number on a lead kept (a number the visitor gave it, written
        # as the lead has it): cleared, never left for a remaining submission to keep.
        keyed = await session.execute(
            select(Lead.email, Lead.phone).where(
                Lead.workspace_id == workspace_id,
                Lead.id.in_(list(lead_ids)),
                named.matches(Lead.email, Lead.phone),
            )
        )
        field = "email" if named.email is not None else "phone"
        for row in keyed.all():
            key = row[0] if field == "email" else row[1]
            if key:
                erased_values[field].add(_compared(field, key))
        # A lead's own message holding the address or number (the owner typed it, or it
        # outlived the form that brought it): cleared, or filled again from a remaining
        # submission.
        written = await session.execute(
            select(Lead.message).where(
                Lead.workspace_id == workspace_id,
                Lead.id.in_(sorted(lead_ids & named.leads_written_in)),
            )
        )
        erased_values["message"].update(m for m in written.scalars() if m)
    gone = 0
    await lock_numbers(session, workspace_id, lead_ids)
    # Locked before their submissions are read: a form sent to one of them meanwhile (its
    # address on the lead, its submission) is waited for and seen, or waits for the erasure;
    # read unlocked, it was rewritten over or deleted with the lead (or the two deadlocked).
    leads = await session.execute(
        select(Lead)
        .where(Lead.workspace_id == workspace_id, Lead.id.in_(list(lead_ids)))
        .order_by(Lead.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    for lead in leads.scalars():
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
        values = await _details_left(session, lead, remaining, erased_values)
        if not remaining or values is None:
            await session.execute(
                delete(Lead).where(Lead.workspace_id == workspace_id, Lead.id == lead.id)
            )
            gone += 1
            continue
        if lead.conversation_id in conversation_ids:
            values["conversation_id"] = None
        phone = values.get("phone", lead.phone)
        if values.get("email", lead.email) is None and phone and {"email", "phone"} & set(values):
            into = await lead_repo.phone_only_lead(
                session, workspace_id, str(phone), other_than=lead.id
            )
            if into is not None:
                await _merge_lead(session, lead, values, into)
                continue
        if values:
            await session.execute(
                update(Lead)
                .where(Lead.workspace_id == workspace_id, Lead.id == lead.id)
                .values(**values, updated_at=utcnow())
            )
    return {"lead_submissions": count, "leads": gone}


async def lock_numbers(
    session: AsyncSession, workspace_id: uuid.UUID, lead_ids: set[uuid.UUID]
) -> None:
    """The numbers' locks (``lead_repository.lock_number``) of every number the leads or their
    submissions hold, before the leads' own: a form with one of them takes its number's lock,
    then writes to the lead, and a lead merged takes its number's (``_merge_lead``). Taken
    after the leads', the two deadlocked."""
    ids = list(lead_ids)
    numbers = await session.execute(
        select(Lead.phone)
        .where(Lead.workspace_id == workspace_id, Lead.id.in_(ids), Lead.phone.is_not(None))
        .union(
            select(LeadSubmission.phone).where(
                LeadSubmission.workspace_id == workspace_id,
                LeadSubmission.lead_id.in_(ids),
                LeadSubmission.phone.is_not(None),
            )
        )
    )
    for phone in sorted(str(phone) for phone in numbers.scalars()):
        await lead_repo.lock_number(session, workspace_id, phone)


async def _typed_contacts(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    conversations: list[uuid.UUID],
    erased: dict[str, set[str]],
) -> None:
    """The addresses and numbers the visitor typed in the erased conversations, added to
    ``erased``: a contact typed after the conversation had its lead went on it with no
    submission ("you can also call me on ...", ``leads.add_contact_from_chat``), and an erasure
    kept it on a lead another visitor's submission kept."""
    typed = await session.execute(
        select(ChatMessage.text).where(
            ChatMessage.workspace_id == workspace_id,
            ChatMessage.conversation_id.in_(conversations),
            ChatMessage.role == "user",
        )
    )
    for body in typed.scalars():
        erased["email"].update(emails_in(body))
        erased["phone"].update(phones_in(body))


async def _details_left(
    session: AsyncSession,
    lead: Lead,
    remaining: list[LeadSubmission],
    erased: dict[str, set[str]],
) -> dict[str, object] | None:
    """The lead's details to set where they came only from the erased submissions: the oldest
    remaining submission's, else none (an address another lead has stays that lead's). None
    when the lead would be left with neither an address nor a number to call."""
    values: dict[str, object] = {}
    for field in LEAD_DETAILS:
        current = getattr(lead, field)
        kept = [getattr(s, field) for s in remaining if getattr(s, field)]
        ours = _compared(field, current) if current else None
        if ours in erased[field] and ours not in {_compared(field, k) for k in kept}:
            values[field] = kept[0] if kept else None
    address = values.get("email")
    if address is not None:
        taken = await session.execute(
            select(Lead.id).where(
                Lead.workspace_id == lead.workspace_id,
                Lead.id != lead.id,
                func.lower(Lead.email) == func.lower(literal(address, Text)),
            )
        )
        if taken.first() is not None:
            values["email"] = None
    if values.get("email", lead.email) is None and values.get("phone", lead.phone) is None:
        # Left with no contact (its number removed by the owner before): a remaining
        # submission's number, else none (no such lead is kept).
        numbers = [s.phone for s in remaining if s.phone]
        if not numbers:
            return None
        values["phone"] = numbers[0]
    return values


async def _merge_lead(
    session: AsyncSession, lead: Lead, values: dict[str, object], into: uuid.UUID
) -> None:
    """``lead``, its erased details replaced by ``values``, goes into ``into`` (the lead without
    email with its number), as migration 0045 merged such leads: the empty fields of ``into``
    filled from it, the owner's notes of both kept, the status the owner last moved either to;
    its remaining submissions and its conversations move to ``into``; it goes (the owners'
    mails about it go with the erasure's)."""
    workspace_id = lead.workspace_id

    def left(field: str) -> Any:
        return values.get(field, getattr(lead, field))

    merged: dict[str, Any] = {
        "name": func.coalesce(Lead.name, left("name")),
        "message": func.coalesce(Lead.message, left("message")),
        "updated_at": utcnow(),
    }
    if left("conversation_id") is not None:
        merged["conversation_id"] = func.coalesce(Lead.conversation_id, left("conversation_id"))
        merged["conversation_deleted_at"] = case(
            (Lead.conversation_id.is_(None), lead.conversation_deleted_at),
            else_=Lead.conversation_deleted_at,
        )
    if lead.notes:
        merged["notes"] = case(
            (Lead.notes.is_(None), lead.notes),
            (Lead.notes == lead.notes, Lead.notes),
            else_=func.concat_ws("\n\n", Lead.notes, lead.notes),
        )
    if lead.status != "new":
        merged["status"] = case(
            (or_(Lead.status == "new", Lead.updated_at < lead.updated_at), lead.status),
            else_=Lead.status,
        )
    await session.execute(
        update(Lead).where(Lead.workspace_id == workspace_id, Lead.id == into).values(**merged)
    )
    await session.execute(
        update(LeadSubmission)
        .where(LeadSubmission.workspace_id == workspace_id, LeadSubmission.lead_id == lead.id)
        .values(lead_id=into)
    )
    await session.execute(
        update(Conversation)
        .where(Conversation.workspace_id == workspace_id, Conversation.lead_id == lead.id)
        .values(lead_id=into)
    )
    await session.execute(delete(Lead).where(Lead.workspace_id == workspace_id, Lead.id == lead.id))
