"""SQL of the leads of a workspace and what visitors submitted for them (workspaces/leads.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Text,
    delete,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import utcnow
from core.pagination import newest_first
from workspaces.lead_list_repository import (
    LeadRow as LeadRow,
)
from workspaces.lead_list_repository import (
    count_leads as count_leads,
)
from workspaces.lead_list_repository import (
    leads_page_statement as leads_page_statement,
)
from workspaces.lead_list_repository import (
    leads_page_with_submissions as leads_page_with_submissions,
)
from workspaces.lead_list_repository import (
    list_leads as list_leads,
)
from workspaces.lead_list_repository import (
    search_uses_index as search_uses_index,
)
from workspaces.lead_list_repository import (
    stream_leads_with_submissions as stream_leads_with_submissions,
)
from workspaces.lead_phone_repository import (
    _PHONE_COUNTRY,
    _PHONE_KEY,
    nearest_number_first,
    phone_country,
)
from workspaces.lead_phone_repository import (
    phone_key as phone_key,
)
from workspaces.lead_phone_repository import (
    same_number as same_number,
)
from workspaces.models import Lead, LeadSubmission

LEAD_FIELDS = ("email", "name", "phone", "message", "source", "status", "notes", "conversation_id")


def _same_lead(values: dict[str, Any]) -> dict[str, Any]:
    """What makes an insert of ``values`` the workspace's existing lead: the same email
    (lowered), or for a lead without one the same national number and country code (migration
    0045's partial index, named by its expressions and predicate; a number written without a
    country code is found first by ``_phone_only_lead``)."""
    if values.get("email") is not None:
        return {"index_elements": [Lead.workspace_id, func.lower(Lead.email)]}
    return {
        "index_elements": [Lead.workspace_id, _PHONE_KEY, _PHONE_COUNTRY],
        "index_where": Lead.email.is_(None),
    }


async def lock_number(session: AsyncSession, workspace_id: uuid.UUID, phone: str) -> None:
    """The transaction-scoped advisory lock on the workspace's national number of ``phone``,
    taken before a lead without email with that number is looked for (``_phone_only_lead``):
    whoever holds it may write to that lead."""
    # Without its leading zeros: a number Italy reads whole ("+39 0331 234567") and the same
    # written without "+39" ("0331 234567", national number "331234567") take one lock.
    national = func.ltrim(phone_key(literal(phone, Text)), "0")
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(f"{workspace_id}:" + national, 0)))
    )


async def _phone_only_lead(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    phone: str,
    *,
    other_than: uuid.UUID | None = None,
) -> uuid.UUID | None:
    """The workspace's lead without email whose number is ``phone`` (``same_number``: the
    nearest first, ``nearest_number_first``, then the oldest), after a transaction-scoped advisory
    lock on the workspace's national number: two forms sent at once with "+91 98765 43210" and
    "98765 43210" meet here (the unique index cannot tell that the second is the first)."""
    await lock_number(session, workspace_id, phone)
    query = select(Lead.id).where(
        Lead.workspace_id == workspace_id, Lead.email.is_(None), same_number(Lead.phone, phone)
    )
    if other_than is not None:
        query = query.where(Lead.id != other_than)
    nearest = nearest_number_first(Lead.phone, phone)
    found = await session.execute(query.order_by(*nearest, Lead.created_at, Lead.id).limit(1))
    lead_id = found.scalar_one_or_none()
    return None if lead_id is None else uuid.UUID(str(lead_id))


async def phone_only_lead(
    session: AsyncSession, workspace_id: uuid.UUID, phone: str, *, other_than: uuid.UUID
) -> uuid.UUID | None:
    """Another lead without email of the workspace whose number is ``phone``, the nearest
    first (``_phone_only_lead``, under its advisory lock): what a lead that becomes one
    without email with that number must go into (a visitor's erasure)."""
    return await _phone_only_lead(session, workspace_id, phone, other_than=other_than)


async def _phone_lead_filled(
    session: AsyncSession,
    values: dict[str, Any],
    *,
    workspace_id: uuid.UUID,
    fields: tuple[str, ...],
    keep: bool,
) -> uuid.UUID | None:
    """For ``values`` without email: the lead with their number (``_phone_only_lead``), its
    ``fields`` set from ``values`` (``keep``: only where empty); None when there is none."""
    if values.get("email") is not None or not values.get("phone"):
        return None
    lead_id = await _phone_only_lead(session, workspace_id, values["phone"])
    if lead_id is None:
        return None
    given = {k: values[k] for k in fields if values.get(k) is not None}
    await session.execute(
        update(Lead)
        .where(Lead.workspace_id == workspace_id, Lead.id == lead_id)
        .values(
            updated_at=utcnow(),
            **{k: func.coalesce(getattr(Lead, k), v) if keep else v for k, v in given.items()},
        )
    )
    return lead_id


async def upsert_lead(
    session: AsyncSession, *, workspace_id: uuid.UUID, values: dict[str, Any]
) -> tuple[Lead, bool]:
    """Insert a lead or update the one with the same email (without one, the same phone
    number); returns (lead, created)."""
    insert_values = {k: v for k, v in values.items() if k in LEAD_FIELDS}
    found = await _phone_lead_filled(
        session,
        insert_values,
        workspace_id=workspace_id,
        fields=("name", "message", "conversation_id"),
        keep=False,
    )
    if found is not None:
        lead = await session.get(Lead, found, populate_existing=True)
        assert lead is not None
        return lead, False
    base = insert(Lead).values(id=uuid.uuid4(), workspace_id=workspace_id, **insert_values)
    # A second capture fills in what it brings and keeps what it doesn't (a lead found by its
    # phone number keeps the number it has: the same digits, perhaps written otherwise).
    updates: dict[str, Any] = {
        key: func.coalesce(base.excluded[key], getattr(Lead, key))
        for key in ("name", "phone", "message", "conversation_id")
        if key in insert_values and not (key == "phone" and insert_values.get("email") is None)
    }
    updates["updated_at"] = func.now()
    stmt = base.on_conflict_do_update(**_same_lead(insert_values), set_=updates).returning(
        Lead.id, text("(xmax = 0) AS created")
    )
    row = (await session.execute(stmt)).one()
    lead = await session.get(Lead, row[0], populate_existing=True)
    assert lead is not None
    return lead, bool(row[1])


VISITOR_FILLABLE = ("name", "phone", "message", "conversation_id")


async def add_visitor_lead(
    session: AsyncSession, *, workspace_id: uuid.UUID, values: dict[str, Any]
) -> tuple[uuid.UUID, bool]:
    """A visitor's lead: inserted when the email (without one, the phone number) is new;
    otherwise only its empty fields are filled (an owner's edit or an earlier submission is
    never replaced). Returns the lead's id and whether it is new, nothing else about it."""
    insert_values = {k: v for k, v in values.items() if k in LEAD_FIELDS and k not in ("notes",)}
    fillable = tuple(k for k in VISITOR_FILLABLE if k != "phone")
    found = await _phone_lead_filled(
        session, insert_values, workspace_id=workspace_id, fields=fillable, keep=True
    )
    if found is not None:
        return found, False
    base = insert(Lead).values(id=uuid.uuid4(), workspace_id=workspace_id, **insert_values)
    updates: dict[str, Any] = {
        key: func.coalesce(getattr(Lead, key), base.excluded[key])
        for key in VISITOR_FILLABLE
        if insert_values.get(key) is not None
    }
    updates["updated_at"] = func.now()
    stmt = base.on_conflict_do_update(**_same_lead(insert_values), set_=updates).returning(
        Lead.id, text("(xmax = 0) AS created")
    )
    row = (await session.execute(stmt)).one()
    return uuid.UUID(str(row[0])), bool(row[1])


async def fill_empty_contact(
    session: AsyncSession, lead: tuple[uuid.UUID, uuid.UUID], email: str | None, phone: str | None
) -> None:
    """The lead's (``(workspace_id, lead_id)``) email and phone number set where it has none
    (what is there, an owner's edit included, is kept). An address another lead of the
    workspace has is left to that lead (``uq_leads_workspace_email``; the statement in a
    savepoint: the transaction goes on)."""
    where = (Lead.workspace_id == lead[0], Lead.id == lead[1])
    if email is not None:
        try:
            async with session.begin_nested():
                await session.execute(
                    update(Lead)
                    .where(*where, Lead.email.is_(None))
                    .values(email=email, updated_at=utcnow())
                )
        except IntegrityError as exc:
            if "uq_leads_workspace_email" not in str(exc.orig):
                raise
    if phone is not None:
        await session.execute(
            update(Lead)
            .where(*where, Lead.phone.is_(None))
            .values(phone=phone, updated_at=utcnow())
        )


async def complete_lead(
    session: AsyncSession,
    lead: tuple[uuid.UUID, uuid.UUID],
    email: str | None,
    fields: dict[str, Any],
) -> uuid.UUID | None:
    """The lead (``(workspace_id, lead_id)``) given the contact it lacks: ``email`` where it
    has none (an address no other lead of the workspace has), else the phone number where it
    has none; its other empty fields filled from ``fields`` (what it has is kept). Its id, or
    None when it has that contact already, or the address is another lead's (the statement in
    a savepoint: the transaction goes on)."""
    lacking = Lead.email.is_(None) if email is not None else Lead.phone.is_(None)
    values: dict[str, Any] = {
        k: func.coalesce(getattr(Lead, k), fields.get(k)) for k in ("name", "message")
    }
    values["phone"] = func.coalesce(Lead.phone, fields.get("phone"))
    if email is not None:
        values["email"] = email
    statement = (
        update(Lead)
        .where(Lead.workspace_id == lead[0], Lead.id == lead[1], lacking)
        .values(updated_at=utcnow(), **values)
        .returning(Lead.id)
    )
    try:
        async with session.begin_nested():
            lead_id = (await session.execute(statement)).scalar_one_or_none()
    except IntegrityError as exc:
        if "uq_leads_workspace_email" not in str(exc.orig):
            raise
        return None
    return None if lead_id is None else uuid.UUID(str(lead_id))


async def insert_lead_submission(session: AsyncSession, submission: LeadSubmission) -> None:
    session.add(submission)
    await session.flush()


async def list_lead_submissions(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    lead_id: uuid.UUID,
    limit: int,
    cursor: tuple[datetime, uuid.UUID] | None,
) -> Sequence[LeadSubmission]:
    """A lead's submissions, newest first, keyset-paginated on (created_at, id)."""
    stmt = select(LeadSubmission).where(
        LeadSubmission.workspace_id == workspace_id, LeadSubmission.lead_id == lead_id
    )
    stmt = newest_first(stmt, LeadSubmission, after=cursor, limit=limit)
    return list((await session.execute(stmt)).scalars())


async def conversation_submissions(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    lead_id: uuid.UUID,
    conversation_id: uuid.UUID,
    limit: int,
) -> Sequence[LeadSubmission]:
    """The forms a lead sent from one conversation, oldest first (the transcript's rows)."""
    stmt = (
        select(LeadSubmission)
        .where(
            LeadSubmission.workspace_id == workspace_id,
            LeadSubmission.lead_id == lead_id,
            LeadSubmission.conversation_id == conversation_id,
        )
        .order_by(LeadSubmission.created_at, LeadSubmission.id)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def count_lead_submissions(
    session: AsyncSession, *, workspace_id: uuid.UUID, lead_id: uuid.UUID
) -> int:
    """How many submissions a lead has."""
    stmt = select(func.count()).where(
        LeadSubmission.workspace_id == workspace_id, LeadSubmission.lead_id == lead_id
    )
    return int((await session.execute(stmt)).scalar_one())


async def get_lead(
    session: AsyncSession, *, workspace_id: uuid.UUID, lead_id: uuid.UUID
) -> Lead | None:
    result = await session.execute(
        select(Lead).where(Lead.workspace_id == workspace_id, Lead.id == lead_id)
    )
    return result.scalar_one_or_none()


class PhoneTaken(Exception):
    """Another lead without email of the workspace has the number
    (``uq_leads_workspace_phone_key``)."""

    def __init__(self, lead_id: uuid.UUID) -> None:
        super().__init__(str(lead_id))
        self.lead_id = lead_id


async def update_lead(
    session: AsyncSession, *, workspace_id: uuid.UUID, lead_id: uuid.UUID, values: dict[str, Any]
) -> Lead | None:
    """The lead with ``values`` set; ``PhoneTaken`` when they make it a lead without email with
    the number of another: a number given to a lead without email, or the email taken from a
    lead with a number (the statement in a savepoint: the transaction goes on)."""
    phone: str | None = None
    if values.get("phone") or ("email" in values and values["email"] is None):
        current = await _contact_of(session, workspace_id, lead_id)
        email = values["email"] if "email" in values else current[0]
        phone = values["phone"] if "phone" in values else current[1]
        taken = (
            None
            if email is not None or not phone
            else await _phone_only_lead(session, workspace_id, phone, other_than=lead_id)
        )
        if taken is not None:
            raise PhoneTaken(taken)
    if values:
        statement = (
            update(Lead)
            .where(Lead.workspace_id == workspace_id, Lead.id == lead_id)
            .values(**values, updated_at=utcnow())
        )
        try:
            async with session.begin_nested():
                await session.execute(statement)
        except IntegrityError as exc:
            if "uq_leads_workspace_phone_key" not in str(exc.orig) or phone is None:
                raise
            raise PhoneTaken(await _phone_lead(session, workspace_id, phone)) from None
    result = await session.execute(
        select(Lead)
        .where(Lead.workspace_id == workspace_id, Lead.id == lead_id)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def give_phone(
    session: AsyncSession, lead: tuple[uuid.UUID, uuid.UUID], phone: str, conversation_id: uuid.UUID
) -> bool:
    """The lead's (``(workspace_id, lead_id)``) number set to ``phone`` (``update_lead``),
    unless it is that number already, perhaps written otherwise (``tb_same_phone``: kept as
    first written), or a number given elsewhere than in ``conversation_id``: the owner's entry,
    or one another conversation gave first (a visitor typing a lead's address or number is
    linked to it, and moves it to no number of theirs). Whether it was another number (or
    none); ``PhoneTaken`` when another lead without email has ``phone`` (the lead keeps its
    own)."""
    given_first = (
        select(LeadSubmission.conversation_id)
        .where(
            LeadSubmission.workspace_id == Lead.workspace_id,
            LeadSubmission.lead_id == Lead.id,
            func.tb_same_phone(LeadSubmission.phone, Lead.phone, type_=Boolean),
        )
        .order_by(LeadSubmission.created_at, LeadSubmission.id)
        .limit(1)
        .correlate(Lead)
        .scalar_subquery()
    )
    found = await session.execute(
        select(
            func.tb_same_phone(Lead.phone, literal(phone, Text), type_=Boolean),
            or_(Lead.phone.is_(None), given_first == conversation_id),
        ).where(Lead.workspace_id == lead[0], Lead.id == lead[1])
    )
    row = found.one_or_none()
    if row is None or row[0]:  # no such lead, or its number already (NULL: it has none)
        return False
    if row[1]:  # its number this conversation's (or none): the latest given is the one to call
        await update_lead(session, workspace_id=lead[0], lead_id=lead[1], values={"phone": phone})
    return True


async def _contact_of(
    session: AsyncSession, workspace_id: uuid.UUID, lead_id: uuid.UUID
) -> tuple[str | None, str | None]:
    """The lead's (email, phone); (None, None) when there is no such lead."""
    found = await session.execute(
        select(Lead.email, Lead.phone).where(Lead.workspace_id == workspace_id, Lead.id == lead_id)
    )
    row = found.one_or_none()
    return (None, None) if row is None else (row[0], row[1])


async def _phone_lead(session: AsyncSession, workspace_id: uuid.UUID, phone: str) -> uuid.UUID:
    """The lead without email of the workspace whose number is ``phone``'s national number
    and country code (the unique index's conflict)."""
    found = await session.execute(
        select(Lead.id).where(
            Lead.workspace_id == workspace_id,
            Lead.email.is_(None),
            phone_key(literal(phone)) == _PHONE_KEY,
            phone_country(literal(phone)) == _PHONE_COUNTRY,
        )
    )
    return uuid.UUID(str(found.scalar_one()))


async def delete_lead(
    session: AsyncSession, *, workspace_id: uuid.UUID, lead_id: uuid.UUID
) -> bool:
    """Delete the lead (its submissions by cascade, its conversations unlinked). Its
    conversations are locked first, as a chat turn holds its conversation before it writes to
    the lead: the lead locked first, the two deadlocked when the cascade unlinked them."""
    await session.execute(
        text(
            "SELECT id FROM conversations WHERE workspace_id = :ws AND lead_id = :lead"
            " ORDER BY id FOR UPDATE"
        ),
        {"ws": workspace_id, "lead": lead_id},
    )
    result = await session.execute(
        delete(Lead).where(Lead.workspace_id == workspace_id, Lead.id == lead_id).returning(Lead.id)
    )
    return result.scalar_one_or_none() is not None
