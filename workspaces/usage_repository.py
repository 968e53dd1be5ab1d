"""SQL of usage metering: the monthly counters (messages, documents, tokens...), today's LLM
tokens and their reservations. Callers pass a session whose tenant context is set."""

from __future__ import annotations

import functools
import uuid
from datetime import date
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert
from sqlalchemy.sql.elements import BindParameter

from core.models import utcnow
from workspaces.models import UsageCounter, UsageDaily

# --- usage -----------------------------------------------------------------------------------

USAGE_FIELDS = ("conversations", "messages", "documents", "chunks", "llm_tokens")


async def increment_usage(
    session: AsyncSession, *, workspace_id: uuid.UUID, month: str, amounts: dict[str, int]
) -> UsageCounter:
    """One atomic upsert: exact under any number of concurrent increments."""
    values = {k: int(v) for k, v in amounts.items() if k in USAGE_FIELDS}
    base = insert(UsageCounter).values(workspace_id=workspace_id, month=month, **values)
    stmt = base.on_conflict_do_update(
        index_elements=[UsageCounter.workspace_id, UsageCounter.month],
        set_={
            **{k: getattr(UsageCounter, k) + base.excluded[k] for k in values},
            "updated_at": func.now(),
        },
    ).returning(UsageCounter)
    result = await session.execute(stmt.execution_options(populate_existing=True))
    return result.scalar_one()


def increment_usage_statement(
    *, workspace_id: uuid.UUID, month: str, amounts: dict[str, int]
) -> tuple[ReturningInsert[Any], dict[str, Any]]:
    """``increment_usage``'s upsert as a statement returning the incremented counters' new
    values, for a caller that sends it together with other writes (one round trip), and its
    parameters. The statement is built once per set of metrics (``_usage_upsert``): only the
    parameters change from call to call."""
    values = {k: int(v) for k, v in amounts.items() if k in USAGE_FIELDS}
    params: dict[str, Any] = {
        "u_ws": workspace_id,
        "u_month": month,
        **{f"u_{k}": values.get(k, 0) for k in USAGE_FIELDS},
        "u_updated_at": utcnow(),
    }
    return _usage_upsert(tuple(values)), params


@functools.cache
def _usage_upsert(fields: tuple[str, ...]) -> ReturningInsert[Any]:
    """This month's counters plus ``:u_<field>`` for every counter, returning ``fields`` (those
    incremented, in that order); bind parameters ``u_ws``, ``u_month``, ``u_updated_at``."""
    table: Any = UsageCounter.__table__  # Core: ORM-enabled DML treats a params dict as bulk mode
    base = insert(table).values(
        workspace_id=bindparam("u_ws", type_=table.c.workspace_id.type),
        month=bindparam("u_month", type_=table.c.month.type),
        **{k: bindparam(f"u_{k}", type_=table.c[k].type) for k in USAGE_FIELDS},
        updated_at=bindparam("u_updated_at", type_=table.c.updated_at.type),
    )
    return base.on_conflict_do_update(
        index_elements=[table.c.workspace_id, table.c.month],
        set_={**{k: table.c[k] + base.excluded[k] for k in fields}, "updated_at": func.now()},
    ).returning(*(table.c[k] for k in fields))


def _token_upserts() -> tuple[Any, Any]:
    """This month's LLM token counter plus ``:tok_tokens`` and that day's plus
    ``:tok_day_tokens`` (the tokens less what was reserved for them that day), as two constant
    upserts (bind parameters ``tok_ws``, ``tok_month``, ``tok_day``, ``tok_tokens``,
    ``tok_day_tokens``): built and compiled once, sent inside another statement
    (``TOKEN_UPSERTS``)."""
    counters: Any = UsageCounter.__table__
    daily: Any = UsageDaily.__table__
    ws = bindparam("tok_ws", type_=counters.c.workspace_id.type)
    tokens = bindparam("tok_tokens", type_=counters.c.llm_tokens.type)
    month = insert(counters).values(
        workspace_id=ws,
        month=bindparam("tok_month", type_=counters.c.month.type),
        **{k: tokens if k == "llm_tokens" else 0 for k in USAGE_FIELDS},
        updated_at=func.now(),
    )
    month = month.on_conflict_do_update(
        index_elements=[counters.c.workspace_id, counters.c.month],
        set_={
            "llm_tokens": counters.c.llm_tokens + month.excluded.llm_tokens,
            "updated_at": func.now(),
        },
    )
    day = insert(daily).values(
        workspace_id=ws,
        day=bindparam("tok_day", type_=daily.c.day.type),
        llm_tokens=bindparam("tok_day_tokens", type_=daily.c.llm_tokens.type),
    )
    day = day.on_conflict_do_update(
        index_elements=[daily.c.workspace_id, daily.c.day],
        set_={"llm_tokens": daily.c.llm_tokens + day.excluded.llm_tokens},
    )
    return month, day


TOKEN_UPSERTS = _token_upserts()
"""``record_llm_tokens``' two upserts, for a caller that sends them as CTEs of its own write
(``rag.chat.repository.turn_statements.record_answer``): one round trip, exact under concurrency
like ``increment_usage``."""


def token_params(
    *, workspace_id: uuid.UUID, month: str, day: date, tokens: int, reserved: int = 0
) -> dict[str, Any]:
    """``TOKEN_UPSERTS``' parameters: ``tokens`` this month, ``tokens - reserved`` on ``day``
    (``reserved`` of them were added to that day before the model ran)."""
    return {
        "tok_ws": workspace_id,
        "tok_month": month,
        "tok_day": day,
        "tok_tokens": int(tokens),
        "tok_day_tokens": int(tokens) - int(reserved),
    }


async def get_usage(session: AsyncSession, *, workspace_id: uuid.UUID, month: str) -> UsageCounter:
    result = await session.execute(
        select(UsageCounter).where(
            UsageCounter.workspace_id == workspace_id, UsageCounter.month == month
        )
    )
    counter = result.scalar_one_or_none()
    if counter is None:
        return UsageCounter(
            workspace_id=workspace_id,
            month=month,
            conversations=0,
            messages=0,
            documents=0,
            chunks=0,
            llm_tokens=0,
        )
    return counter


async def increment_daily_tokens(
    session: AsyncSession, *, workspace_id: uuid.UUID, day: date, tokens: int
) -> int:
    base = insert(UsageDaily).values(workspace_id=workspace_id, day=day, llm_tokens=tokens)
    stmt = base.on_conflict_do_update(
        index_elements=[UsageDaily.workspace_id, UsageDaily.day],
        set_={"llm_tokens": UsageDaily.llm_tokens + base.excluded.llm_tokens},
    ).returning(UsageDaily.llm_tokens)
    return int((await session.execute(stmt)).scalar_one())


def daily_reservation(
    workspace_id: uuid.UUID | BindParameter[Any],
    day: date | BindParameter[Any],
    tokens: int | BindParameter[Any],
    limit: int | BindParameter[Any],
) -> Any:
    """That day's LLM tokens plus ``tokens`` while they are below ``limit`` (one upsert: the
    row's lock orders concurrent reservations, each sees the ones before), returning the new
    count; no row when the day's count had reached ``limit`` (nothing changed)."""
    table: Any = UsageDaily.__table__
    base = insert(table).values(workspace_id=workspace_id, day=day, llm_tokens=tokens)
    return base.on_conflict_do_update(
        index_elements=[table.c.workspace_id, table.c.day],
        set_={"llm_tokens": table.c.llm_tokens + base.excluded.llm_tokens},
        where=table.c.llm_tokens < limit,
    ).returning(table.c.llm_tokens)


async def reserve_daily_tokens(
    session: AsyncSession, *, workspace_id: uuid.UUID, day: date, tokens: int, limit: int
) -> int | None:
    """``daily_reservation``: the day's count with ``tokens`` added, or None (cap reached)."""
    result = await session.execute(daily_reservation(workspace_id, day, tokens, limit))
    return result.scalar_one_or_none()


async def release_daily_tokens(
    session: AsyncSession, *, workspace_id: uuid.UUID, day: date, tokens: int
) -> None:
    """Take ``tokens`` reserved that day off its count again (a turn that failed)."""
    await session.execute(
        update(UsageDaily)
        .where(UsageDaily.workspace_id == workspace_id, UsageDaily.day == day)
        .values(llm_tokens=func.greatest(UsageDaily.llm_tokens - tokens, 0))
    )


def daily_tokens(
    workspace_id: uuid.UUID | BindParameter[Any], day: date | BindParameter[Any]
) -> Any:
    """``get_daily_tokens`` as a scalar subquery (NULL when nothing was counted that day), for a
    statement that returns it beside its own columns
    (``rag.chat.repository.turn_statements.record_message_metered``)."""
    table: Any = UsageDaily.__table__
    return (
        select(table.c.llm_tokens)
        .where(table.c.workspace_id == workspace_id, table.c.day == day)
        .scalar_subquery()
    )


async def get_daily_tokens(session: AsyncSession, *, workspace_id: uuid.UUID, day: date) -> int:
    result = await session.execute(
        select(UsageDaily.llm_tokens).where(
            UsageDaily.workspace_id == workspace_id, UsageDaily.day == day
        )
    )
    return int(result.scalar_one_or_none() or 0)
