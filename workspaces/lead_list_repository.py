"""SQL reading a workspace's leads: search, pages, counts and exports with their submissions:
moved verbatim from workspaces/lead_repository.py, which re-exports them."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal, or_, select, true, tuple_
from sqlalchemy.dialects.postgresql import UUID, aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from core.pagination import newest_first
from workspaces.lead_phone_repository import _PHONE_DIGITS, _PHONE_KEY, phone_key
from workspaces.models import Lead, LeadSubmission
from workspaces.schemas import phone_digits

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
