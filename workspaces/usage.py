"""Monthly usage counters and plan quotas."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

from core.errors import QuotaExceeded
from workspaces import account_repository as accounts_repo
from workspaces import repository as repo
from workspaces import usage_repository as usage_repo
from workspaces.models import UsageCounter, Workspace
from workspaces.plans import METRICS, MONTHLY_METRICS, Metric, get_plan, plan_in_effect
from workspaces.schemas import UsageMetric, UsageOut


def month_key(now: datetime | date | None = None) -> str:
    """The calendar month (UTC) of ``now`` (a moment or a UTC day), as the counters key it."""
    now = now or datetime.now(UTC)
    return f"{now.year:04d}-{now.month:02d}"


def month_reset(now: datetime | None = None) -> datetime:
    """Start of the next calendar month (UTC): when monthly counters reset."""
    now = now or datetime.now(UTC)
    if now.month == 12:
        return datetime(now.year + 1, 1, 1, tzinfo=UTC)
    return datetime(now.year, now.month + 1, 1, tzinfo=UTC)


def month_start(month: str) -> datetime:
    """The first moment (UTC) of ``month``, a ``month_key``."""
    year, number = month.split("-")
    return datetime(int(year), int(number), 1, tzinfo=UTC)


def day_reset(now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    return datetime.fromordinal(now.date().toordinal() + 1).replace(tzinfo=UTC)


def today() -> date:
    return datetime.now(UTC).date()


def effective_plan(workspace: Workspace, now: datetime | None = None) -> str:
    """The plan whose limits apply at ``now``: ``plan`` until ``plan_expires_at``, then fallback.

    Billing sets both when a payment is applied; cancellations and downgrades therefore take effect
    when the paid period ends, without a job having to flip the workspace.
    """
    return plan_in_effect(workspace.plan, workspace.plan_expires_at, workspace.fallback_plan, now)


def lasting_plan(workspace: Workspace) -> str:
    """The plan the workspace is on when no paid period runs: ``plan`` when it does not expire
    (a deployment's ``DEFAULT_PLAN``), else ``fallback_plan`` (``free`` unless billing kept the
    non-expiring plan the workspace had when it first paid)."""
    if workspace.plan_expires_at is None:
        return workspace.plan
    return workspace.fallback_plan or "free"


LABELS: dict[str, str] = {"faqs": "FAQs"}
"""How a refusal names a metric, where its code does not read as words."""


def ensure_within(
    *,
    plan_code: str,
    metric: Metric,
    used: int,
    adding: int = 1,
    resets_at: datetime | None,
    month: str | None = None,
) -> None:
    """Raise 429 ``quota_exceeded`` when ``used + adding`` passes the plan's limit; ``month``:
    the month whose counter ``used`` is (a monthly metric), named in the details. Adding
    nothing is never refused, also over a limit that came down below what is used (a paid
    period ended): an FAQ import that only updates FAQs was refused as "adds 0 FAQs"."""
    limit = get_plan(plan_code).limit(metric)
    if limit is None or adding <= 0 or used + adding <= limit:
        return
    details: dict[str, object] = {
        "metric": metric,
        "limit": limit,
        "used": used,
        "plan": plan_code,
        "resets_at": resets_at.isoformat() if resets_at else None,
    }
    if month is not None:
        details["month"] = month
    headers = {}
    if resets_at is not None:
        retry = max(1, int((resets_at - datetime.now(UTC)).total_seconds()))
        headers["Retry-After"] = str(retry)
    raise QuotaExceeded(
        f"The {plan_code} plan allows {limit} {LABELS.get(metric, metric.replace('_', ' '))}"
        + (" per month" if metric in ("conversations", "messages") else ""),
        details=details,
        headers=headers,
    )


async def increment(session: AsyncSession, workspace_id: uuid.UUID, **amounts: int) -> UsageCounter:
    return await usage_repo.increment_usage(
        session, workspace_id=workspace_id, month=month_key(), amounts=amounts
    )


@dataclass(frozen=True)
class UsageIncrement:
    """``increment`` as one statement another repository can send together with its own writes
    (``rag.chat.repository.record_message_metered``): an upsert of this month's counters that
    returns the new value of each of ``metrics``, in that order."""

    metrics: tuple[Metric, ...]
    statement: ReturningInsert[Any]
    """Built once per set of metrics; ``params`` holds this increment's values."""
    params: dict[str, Any]
    month: str
    """The month it counts in (``month_key``), for what the turn does with the counts (the
    quota notices): a turn that straddled a month's end read the month again, and filed
    January's crossing under February's key, so February's own was never mailed."""

    def counted(self, row: Sequence[Any]) -> dict[Metric, int]:
        """Each metric's value after the increment, from the statement's result row."""
        return {metric: int(value) for metric, value in zip(self.metrics, row, strict=True)}


def increment_statement(workspace_id: uuid.UUID, amounts: Mapping[Metric, int]) -> UsageIncrement:
    """This month's counters of ``workspace_id`` plus ``amounts``, as an ``UsageIncrement``."""
    metrics = tuple(amounts)
    month = month_key()
    statement, params = usage_repo.increment_usage_statement(
        workspace_id=workspace_id,
        month=month,
        amounts={str(k): v for k, v in amounts.items()},
    )
    return UsageIncrement(metrics=metrics, statement=statement, params=params, month=month)


@dataclass(frozen=True)
class TokenIncrement:
    """``record_llm_tokens`` as statements another repository sends inside its own write
    (``rag.chat.repository.turn_statements.record_answer``): this month's and today's counters."""

    statements: tuple[Any, Any]
    params: dict[str, Any]


def token_increment(
    workspace_id: uuid.UUID, tokens: int, reservation: TokenReservation | None = None
) -> TokenIncrement:
    """``tokens`` counted today and in today's month; with ``reservation`` (not yet settled nor
    released), counted on its day, in place of what it reserved, and in that day's month (a
    turn reserved on 31 December and answered after midnight is December's in both
    counters)."""
    held = reservation is not None and not reservation.closed and reservation.tokens > 0
    day = reservation.day if held and reservation else today()
    return TokenIncrement(
        statements=usage_repo.TOKEN_UPSERTS,
        params=usage_repo.token_params(
            workspace_id=workspace_id,
            month=month_key(day),
            day=day,
            tokens=tokens,
            reserved=reservation.tokens if held and reservation else 0,
        ),
    )


async def record_llm_tokens(session: AsyncSession, workspace_id: uuid.UUID, tokens: int) -> int:
    """Count tokens today and in today's month; returns today's total."""
    day = today()
    if tokens <= 0:
        return await usage_repo.get_daily_tokens(session, workspace_id=workspace_id, day=day)
    await usage_repo.increment_usage(
        session, workspace_id=workspace_id, month=month_key(day), amounts={"llm_tokens": tokens}
    )
    return await usage_repo.increment_daily_tokens(
        session, workspace_id=workspace_id, day=day, tokens=tokens
    )


@dataclass(eq=False)
class TokenReservation:
    """LLM tokens set aside on a day's counter before a model runs, so that calls starting
    together see each other under the daily cap; settled to what the call spent
    (``settle_tokens``) or given back when it fails (``release_tokens``). ``tokens`` is 0 when
    nothing was reserved (no cap)."""

    workspace_id: uuid.UUID
    day: date
    tokens: int
    closed: bool = False
    """Settled or released: nothing more to give back."""


async def reserve_tokens(
    session: AsyncSession, workspace: Workspace, estimate: int
) -> TokenReservation | None:
    """Reserve ``estimate`` tokens on today's counter while it is below the plan's daily cap
    (one statement: concurrent reservations are counted one after another); None when the cap
    is reached, and the model must not run. A plan without a cap reserves nothing."""
    limit = get_plan(effective_plan(workspace)).limit("daily_llm_tokens")
    day = today()
    if limit is None or estimate <= 0:
        return TokenReservation(workspace.id, day, 0)
    after = await usage_repo.reserve_daily_tokens(
        session, workspace_id=workspace.id, day=day, tokens=estimate, limit=limit
    )
    return None if after is None else TokenReservation(workspace.id, day, estimate)


async def settle_tokens(session: AsyncSession, reservation: TokenReservation, spent: int) -> None:
    """What the call spent, counted on the reservation's day in place of the reservation, and
    in that day's month (a call that ran past midnight counts on the day it started, in both
    counters, so a month's tokens are the sum of its days')."""
    if spent > 0:
        await usage_repo.increment_usage(
            session,
            workspace_id=reservation.workspace_id,
            month=month_key(reservation.day),
            amounts={"llm_tokens": spent},
        )
    held = 0 if reservation.closed else reservation.tokens
    if spent - held:
        await usage_repo.increment_daily_tokens(
            session, workspace_id=reservation.workspace_id, day=reservation.day, tokens=spent - held
        )
    reservation.closed = True


async def release_tokens(session: AsyncSession, reservation: TokenReservation) -> None:
    """Give the reservation back (the call failed before it could be settled); once."""
    if reservation.tokens and not reservation.closed:
        await usage_repo.release_daily_tokens(
            session,
            workspace_id=reservation.workspace_id,
            day=reservation.day,
            tokens=reservation.tokens,
        )
    reservation.closed = True


async def check_daily_tokens(
    session: AsyncSession, workspace: Workspace, used: int | None = None
) -> None:
    """429 ``quota_exceeded`` once today's LLM tokens reached the plan's daily cap; ``used``:
    today's tokens when the caller read them already (a chat turn reads them with its
    message, ``rag.chat.stages.record``)."""
    if used is None:
        used = await usage_repo.get_daily_tokens(session, workspace_id=workspace.id, day=today())
    ensure_within(
        plan_code=effective_plan(workspace),
        metric="daily_llm_tokens",
        used=used,
        adding=1,
        resets_at=day_reset(),
    )


async def usage_report(
    session: AsyncSession, workspace: Workspace, stored: dict[str, int] | None = None
) -> UsageOut:
    """This month's counters beside the plan's limits.

    ``stored`` carries counts of what is stored now (documents, chunks, FAQs, members); those
    limits apply to the stored amount rather than to a monthly flow.
    """
    month = month_key()
    counter = await usage_repo.get_usage(session, workspace_id=workspace.id, month=month)
    plan = get_plan(effective_plan(workspace))
    stored = dict(stored or {})
    if "members" not in stored:
        # Seats as the invitation check counts them: members and invitations still open (the
        # page said 1 of 2 while a second invitation was refused for want of a seat).
        now = datetime.now(UTC)
        pending = await accounts_repo.pending_invitations(session, workspace.id, now=now)
        stored["members"] = await repo.count_members(session, workspace.id) + len(pending)
    stored.setdefault(
        "daily_llm_tokens",
        await usage_repo.get_daily_tokens(session, workspace_id=workspace.id, day=today()),
    )
    metrics: dict[str, UsageMetric] = {}
    for metric in METRICS:
        used = stored[metric] if metric in stored else int(getattr(counter, metric, 0) or 0)
        metrics[metric] = UsageMetric(used=used, limit=plan.limit(metric))
    return UsageOut(
        month=month,
        plan=plan.code,
        resets_at=month_reset(),
        metrics=metrics,
        llm_tokens=int(counter.llm_tokens or 0),
        limits_reached=[
            metric
            for metric in MONTHLY_METRICS
            if (limit := metrics[metric].limit) is not None and metrics[metric].used >= limit
        ],
    )
