"""SQL of the leads of a workspace and what visitors submitted for them (workspaces/leads.py)."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Select,
    Text,
    and_,
    delete,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import UUID, aggregate_order_by, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import utcnow
from core.pagination import newest_first
from workspaces.models import Lead, LeadSubmission
from workspaces.schemas import phone_digits

LEAD_FIELDS = ("email", "name", "phone", "message", "source", "status", "notes", "conversation_id")


_PHONE_KEY: ColumnElement[str] = literal_column("tb_phone_key(phone)")
"""A lead's national number (migration 0045's ``tb_phone_key``: the digits without an
international prefix, its country code or a trunk "0"), as the migration's index has it:
written out, not bound (PostgreSQL matches an index by its expression)."""
_PHONE_COUNTRY: ColumnElement[str] = literal_column("tb_phone_country(phone)")
"""The country code a lead's number was written with, '' for none (``tb_phone_country``): the
index's second expression."""
_PHONE_DIGITS: ColumnElement[str] = literal_column("regexp_replace(phone, '[^0-9]', '', 'g')")
"""A lead's number by its digits alone (a search for part of a number as written)."""


def phone_key(value: Any) -> ColumnElement[str]:
    """The national number of ``value`` as ``tb_phone_key`` reads it (migration 0045): the one
    rule the index, the search and a visitor's erasure compare numbers by."""
    return func.tb_phone_key(value, type_=Text)


def phone_country(value: Any) -> ColumnElement[str]:
    """The country code ``value`` was written with (after "+" or "00"), '' for none: migration
    0045's ``tb_phone_country``."""
    return func.tb_phone_country(value, type_=Text)


def same_number(column: Any, phone: str) -> ColumnElement[bool]:
    """The rows whose number (``column``) is ``phone``: migration 0045's ``tb_same_phone`` (the
    same national number, and the same country code unless either was written without one;
    "+44 7911 123456" is "07911 123456" and "7911 123456", never "+91 79111 23456", a Delhi
    mobile with the same digits; "+39 0331 234567" is "0331 234567", never "+39 331 234567"),
    after the national numbers it can be, which the index finds: ``phone``'s own, its digits
    (a number without a country code that Italy reads whole), or its own without a leading
    "0" (an Italian one matching a number written without "+39")."""
    ours = literal(phone, Text)
    national = phone_key(column)
    return and_(
        national.in_([phone_key(ours), _digits(ours), phone_key(phone_key(ours))]),
        func.tb_same_phone(column, ours, type_=Boolean),
    )


def _digits(value: Any) -> ColumnElement[str]:
    return func.regexp_replace(value, "[^0-9]", "", "g", type_=Text)


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


async def _phone_only_lead(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    phone: str,
    *,
    other_than: uuid.UUID | None = None,
) -> uuid.UUID | None:
    """The workspace's lead without email whose number is ``phone`` (``same_number``: the one
    with the same country code first, then the oldest), after a transaction-scoped advisory
    lock on the workspace's national number: two forms sent at once with "+91 98765 43210" and
    "98765 43210" meet here (the unique index cannot tell that the second is the first)."""
    # Without its leading zeros: a number Italy reads whole ("+39 0331 234567") and the same
    # written without "+39" ("0331 234567", national number "331234567") take one lock.
    national = func.ltrim(phone_key(literal(phone, Text)), "0")
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(f"{workspace_id}:" + national, 0)))
    )
    query = select(Lead.id).where(
        Lead.workspace_id == workspace_id, Lead.email.is_(None), same_number(Lead.phone, phone)
    )
    if other_than is not None:
        query = query.where(Lead.id != other_than)
    same_country = phone_country(Lead.phone) == phone_country(literal(phone, Text))
    found = await session.execute(
        query.order_by(same_country.desc(), Lead.created_at, Lead.id).limit(1)
    )
    lead_id = found.scalar_one_or_none()
    return None if lead_id is None else uuid.UUID(str(lead_id))


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
    result = await session.execute(
        delete(Lead).where(Lead.workspace_id == workspace_id, Lead.id == lead_id).returning(Lead.id)
    )
    return result.scalar_one_or_none() is not None


SEARCH_GRAM_LENGTH = 3
# Above this many leads estimated to hold a search's trigrams, the index is not asked: the
# newest leads hold the first page at once, and only the total reads them all.
SEARCH_INDEX_MAX_ROWS = 1000


# A search typed as a phone number ("98765", "+91 98765-43210"): digits with a phone's signs.
_NUMBER_SEARCH = re.compile(r"[\d\s+().-]*\d[\d\s+().-]*")


def _number_searched(q: str) -> str | None:
    """The digits of a search typed as a phone number, which leads' numbers are searched for
    too (their digits: "98765 43210" finds "+91 98765-43210"; and their national numbers:
    "+91 98765 43210" finds "098765 43210"); None for any other search."""
    return phone_digits(q) if _NUMBER_SEARCH.fullmatch(q) else None


async def search_uses_index(session: AsyncSession, q: str | None) -> bool:
    """Whether the search for ``q`` goes through the trigram index (migration 0011b1): 3 or more
    characters whose trigrams the planner expects in few of this workspace's leads. Not a
    search for a phone number: the index holds no numbers (the workspace's leads are read)."""
    if not q or len(q) < SEARCH_GRAM_LENGTH or _number_searched(q):
        return False
    estimate = await session.execute(select(func.tb_lead_search_estimate(q)))
    rows = estimate.scalar_one()
    return rows is not None and float(rows) <= SEARCH_INDEX_MAX_ROWS


def _search(q: str, *, indexed: bool) -> ColumnElement[bool]:
    """Email or name contains ``q``, ignoring case (LIKE wildcards in ``q`` are literal); a
    ``q`` typed as a phone number also finds the leads whose number holds its digits.
    ``indexed``: the GIN index of trigrams (``search_grams``, migration 0011b1) finds the rows,
    through the migration's function (under row-level security a query's own ``@>`` could not
    use the index: the operator is not leakproof); the function applies the same exact test and
    returns ids, which the primary key finds."""
    pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    if not indexed:
        lowered = func.lower(pattern)
        matches = [func.lower(Lead.email).like(lowered), func.lower(Lead.name).like(lowered)]
        if digits := _number_searched(q):
            matches.append(_PHONE_DIGITS.like(f"%{digits}%"))
            # Not an empty national number (a "0" alone): it would match every number.
            national = func.nullif(phone_key(literal(q)), "")
            matches.append(_PHONE_KEY.like(literal("%") + national + "%"))
        return or_(*matches)
    found = func.tb_lead_search_candidates(q, pattern, type_=UUID(as_uuid=True))
    return Lead.id.in_(select(found))


def _lead_query(
    workspace_id: uuid.UUID,
    *,
    status: str | None,
    q: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
    indexed: bool = False,
) -> Select[Lead]:
    stmt = select(Lead).where(Lead.workspace_id == workspace_id)
    if status:
        stmt = stmt.where(Lead.status == status)
    if q:
        stmt = stmt.where(_search(q, indexed=indexed))
    if created_after:
        stmt = stmt.where(Lead.created_at >= created_after)
    if created_before:
        stmt = stmt.where(Lead.created_at < created_before)
    return stmt


async def list_leads(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    status: str | None,
    q: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
    limit: int,
    cursor: tuple[datetime, uuid.UUID] | None,
) -> Sequence[Lead]:
    """Newest first, keyset-paginated on (created_at, id)."""
    stmt = _lead_query(
        workspace_id,
        status=status,
        q=q,
        created_after=created_after,
        created_before=created_before,
        indexed=await search_uses_index(session, q),
    )
    stmt = newest_first(stmt, Lead, after=cursor, limit=limit)
    return list((await session.execute(stmt)).scalars())


async def count_leads(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    status: str | None,
    q: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
) -> int:
    inner = _lead_query(
        workspace_id,
        status=status,
        q=q,
        created_after=created_after,
        created_before=created_before,
        indexed=await search_uses_index(session, q),
    ).subquery()
    return int((await session.execute(select(func.count()).select_from(inner))).scalar_one())


LeadRow = tuple[Lead, int, datetime | None, str | None]
"""A lead with its submission count, latest submission time and latest message."""


def _with_submissions(
    workspace_id: uuid.UUID,
    *,
    status: str | None,
    q: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
) -> Select[Any]:
    """The leads with their submissions' count, latest time and latest message, oldest first.
    Each lead's own submissions are aggregated (a LATERAL subquery on the index of (workspace,
    lead, created_at, id)): a page of an export reads its leads' submissions only, where a join
    to every submission of the workspace grouped by lead made each page cost the whole
    workspace's submissions."""
    stats = (
        select(
            func.count().label("n"),
            func.max(LeadSubmission.created_at).label("latest_at"),
            func.array_agg(
                aggregate_order_by(
                    LeadSubmission.message,
                    LeadSubmission.created_at.desc(),
                    LeadSubmission.id.desc(),
                )
            )[1].label("latest_message"),
        )
        .where(LeadSubmission.workspace_id == workspace_id, LeadSubmission.lead_id == Lead.id)
        .lateral("stats")
    )
    return (
        _lead_query(
            workspace_id,
            status=status,
            q=q,
            created_after=created_after,
            created_before=created_before,
        )
        .outerjoin(stats, true())
        .add_columns(stats.c.n, stats.c.latest_at, stats.c.latest_message)
        .order_by(Lead.created_at, Lead.id)
    )


async def stream_leads_with_submissions(
    session: AsyncSession, *, workspace_id: uuid.UUID, **filters: Any
) -> AsyncIterator[LeadRow]:
    """Each lead with its submission count, latest submission time and latest message, oldest
    first, from one server-side cursor (a job's archive)."""
    stmt = _with_submissions(workspace_id, **filters)
    result = await session.stream(stmt.execution_options(yield_per=500))
    async for lead, count, latest_at, latest_message in result:
        yield lead, int(count), latest_at, latest_message


def leads_page_statement(
    workspace_id: uuid.UUID,
    *,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
    **filters: Any,
) -> Select[Any]:
    """The statement of ``leads_page_with_submissions``."""
    stmt = _with_submissions(workspace_id, **filters)
    if after is not None:
        stmt = stmt.where(tuple_(Lead.created_at, Lead.id) > tuple_(*after))
    return stmt.limit(limit)


async def leads_page_with_submissions(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
    **filters: Any,
) -> list[LeadRow]:
    """The next ``limit`` of those rows after (created_at, id): a keyset page."""
    stmt = leads_page_statement(workspace_id, after=after, limit=limit, **filters)
    rows = (await session.execute(stmt)).all()
    return [(lead, int(count), at, message) for lead, count, at, message in rows]
