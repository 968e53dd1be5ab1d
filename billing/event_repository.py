"""The SQL of Razorpay's webhook events as recorded: each event id stored once (claimed before
its effect is applied), then its outcome. ``billing/events.py`` runs them; the rest of billing's
SQL is in ``billing/repository.py``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import BillingEventRow
from core.models import utcnow


async def claim_event(
    session: AsyncSession,
    *,
    event_id: str,
    event_type: str,
    payload: dict[str, Any],
    source: str,
    body_sha256: str | None = None,
) -> uuid.UUID | None:
    """Insert the event row; ``None`` when this event id, or this webhook body
    (``body_sha256``, the hash of the raw bytes its signature covers), was already stored (a
    duplicate: a body replayed under a new event id is one too).

    Runs first in the transaction. A concurrent duplicate blocks on the unique index until the
    first transaction ends, then inserts nothing: only one delivery ever applies its effect.
    The caller sets ``app.lookup`` to ``event_id`` so RLS admits the row.
    """
    result = await session.execute(
        insert(BillingEventRow)
        .values(
            id=uuid.uuid4(),
            event_id=event_id,
            event_type=event_type,
            payload=payload,
            source=source,
            outcome="processing",
            body_sha256=body_sha256,
        )
        .on_conflict_do_nothing()  # on either unique key: the event id or the body
        .returning(BillingEventRow.id)
    )
    return result.scalar_one_or_none()


async def lock_payment(session: AsyncSession, razorpay_payment_id: str) -> None:
    """The transaction-scoped advisory lock on one Razorpay payment id: the events about that
    payment (against any order, of any workspace) are applied one at a time, so each finds
    which order the payment was recorded on by the one before it."""
    key = func.hashtextextended(literal("billing.payment:" + razorpay_payment_id), 0)
    await session.execute(select(func.pg_advisory_xact_lock(key)))


async def finish_event(
    session: AsyncSession,
    row_id: uuid.UUID,
    *,
    outcome: str,
    reason: str,
    detail: str | None,
    workspace_id: uuid.UUID | None,
    razorpay_order_id: str | None,
    razorpay_payment_id: str | None,
) -> None:
    await session.execute(
        update(BillingEventRow)
        .where(BillingEventRow.id == row_id)
        .values(
            outcome=outcome,
            reason=reason[:64],
            detail=detail,
            workspace_id=workspace_id,
            razorpay_order_id=razorpay_order_id,
            razorpay_payment_id=razorpay_payment_id,
            processed_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )


async def first_event_with_reason(
    session: AsyncSession, workspace_id: uuid.UUID, razorpay_payment_id: str, reason: str
) -> str | None:
    """The id of the workspace's earliest event recorded for the payment with ``reason``
    (``charged_after_cancel``: the charge was held before, by its other webhook or an earlier
    delivery), or None."""
    result = await session.execute(
        select(BillingEventRow.event_id)
        .where(
            BillingEventRow.workspace_id == workspace_id,
            BillingEventRow.razorpay_payment_id == razorpay_payment_id,
            BillingEventRow.reason == reason,
        )
        .order_by(BillingEventRow.received_at, BillingEventRow.event_id)
        .limit(1)
    )
    return result.scalar_one_or_none()


async def payloads_with_reason(
    session: AsyncSession, workspace_id: uuid.UUID, reason: str
) -> list[tuple[str, dict[str, Any]]]:
    """(payment id, stored body) of the workspace's events recorded with ``reason`` and a
    payment, oldest first."""
    result = await session.execute(
        select(BillingEventRow.razorpay_payment_id, BillingEventRow.payload)
        .where(
            BillingEventRow.workspace_id == workspace_id,
            BillingEventRow.reason == reason,
            BillingEventRow.razorpay_payment_id.is_not(None),
        )
        .order_by(BillingEventRow.received_at, BillingEventRow.event_id)
    )
    return [(str(pid), dict(payload or {})) for pid, payload in result.all()]


async def held_charge_workspace(
    session: AsyncSession, razorpay_payment_id: str, reasons: tuple[str, ...]
) -> uuid.UUID | None:
    """The workspace whose event held the payment (a reason of ``reasons``), found under
    ``app.lookup`` = the payment id (migration 0043); None when no workspace held it."""
    result = await session.execute(
        select(BillingEventRow.workspace_id)
        .where(
            BillingEventRow.razorpay_payment_id == razorpay_payment_id,
            BillingEventRow.reason.in_(reasons),
            BillingEventRow.workspace_id.is_not(None),
        )
        .limit(1)
    )
    return result.scalar_one_or_none()


HELD_PAYMENTS_READ = 500
"""The most held payments ``payment_events`` reads of a workspace: its newest."""


async def payment_events(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    reasons: tuple[str, ...],
    event_types: tuple[str, ...],
) -> list[tuple[str, str, str | None, dict[str, Any]]]:
    """(payment id, event type, reason, stored body) of the workspace's events about a payment
    recorded with one of ``reasons`` (the ``HELD_PAYMENTS_READ`` newest such payments): those
    events, and the payment's events of one of ``event_types``; oldest first. Before, it read
    the workspace's 500 oldest such rows of any payment (the refunds of every order payment
    among them), so in a refund-heavy workspace the newest held charges fell off."""
    held = (
        select(BillingEventRow.razorpay_payment_id)
        .where(
            BillingEventRow.workspace_id == workspace_id,
            BillingEventRow.razorpay_payment_id.is_not(None),
            BillingEventRow.reason.in_(reasons),
        )
        .group_by(BillingEventRow.razorpay_payment_id)
        .order_by(func.max(BillingEventRow.received_at).desc())
        .limit(HELD_PAYMENTS_READ)
    )
    result = await session.execute(
        select(
            BillingEventRow.razorpay_payment_id,
            BillingEventRow.event_type,
            BillingEventRow.reason,
            BillingEventRow.payload,
        )
        .where(
            BillingEventRow.workspace_id == workspace_id,
            BillingEventRow.razorpay_payment_id.in_(held.scalar_subquery()),
            BillingEventRow.reason.in_(reasons) | BillingEventRow.event_type.in_(event_types),
        )
        .order_by(BillingEventRow.received_at, BillingEventRow.event_id)
    )
    return [(str(p), str(t), r, dict(body or {})) for p, t, r, body in result.all()]


async def keep_held(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    payment_ids: list[str],
    *,
    held: str,
    kept: str,
    why: str,
) -> None:
    """The workspace's events that held ``payment_ids`` (reason ``held``) recorded ``ignored``
    / ``kept`` instead, ``why`` added to their detail."""
    if not payment_ids:
        return
    await session.execute(
        update(BillingEventRow)
        .where(
            BillingEventRow.workspace_id == workspace_id,
            BillingEventRow.razorpay_payment_id.in_(payment_ids),
            BillingEventRow.reason == held,
        )
        .values(
            outcome="ignored",
            reason=kept,
            detail=func.concat(func.coalesce(BillingEventRow.detail, "held"), "; ", why),
        )
        .execution_options(synchronize_session=False)
    )


async def relabel(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    razorpay_payment_id: str,
    *,
    event_type: str,
    reason: str,
    new_reason: str,
    detail: str,
) -> None:
    """The workspace's events of ``event_type`` for the payment recorded with ``reason``
    recorded with ``new_reason`` and ``detail`` instead."""
    await session.execute(
        update(BillingEventRow)
        .where(
            BillingEventRow.workspace_id == workspace_id,
            BillingEventRow.razorpay_payment_id == razorpay_payment_id,
            BillingEventRow.event_type == event_type,
            BillingEventRow.reason == reason,
        )
        .values(reason=new_reason, detail=detail)
        .execution_options(synchronize_session=False)
    )


async def payment_bodies(
    session: AsyncSession, workspace_id: uuid.UUID, razorpay_payment_id: str, event_type: str
) -> list[dict[str, Any]]:
    """The stored bodies of the workspace's events of ``event_type`` for the payment (a
    dispute's ``payment.dispute.won`` / ``.lost``), oldest first; not one recorded
    ``rejected`` (it did nothing)."""
    result = await session.execute(
        select(BillingEventRow.payload)
        .where(
            BillingEventRow.workspace_id == workspace_id,
            BillingEventRow.razorpay_payment_id == razorpay_payment_id,
            BillingEventRow.event_type == event_type,
            BillingEventRow.outcome != "rejected",
        )
        .order_by(BillingEventRow.received_at, BillingEventRow.event_id)
    )
    return [dict(body or {}) for body in result.scalars().all()]


DEFERRED_LOOKUP = "billing:deferred-charges"
"""``app.lookup`` under which the app role reads, of ``billing_events``, the rows recorded
``charge_cycle_unknown`` of every workspace, and nothing else (migration 0046): reconcile's
listing of the recurring charges whose ``subscription.charged`` may never have come."""


async def deferred_charges(
    session: AsyncSession,
    *,
    reason: str,
    received_before: datetime,
    received_after: datetime,
    limit: int,
    after: tuple[datetime, str] | None = None,
    upto: tuple[datetime, str] | None = None,
) -> list[tuple[uuid.UUID, str, dict[str, Any], datetime]]:
    """(workspace id, payment id, stored body, received at) of the rows recorded ``reason``
    (``charge_cycle_unknown``) within the window, oldest first, at most ``limit``, after the
    key ``after`` (received at, payment id) of the previous page, and up to the key ``upto``
    (compared here, in the database's collation, as the order is); under ``app.lookup`` =
    ``DEFERRED_LOOKUP``. A payment recorded so twice is listed twice: the caller skips it."""
    query = (
        select(
            BillingEventRow.workspace_id,
            BillingEventRow.razorpay_payment_id,
            BillingEventRow.payload,
            BillingEventRow.received_at,
        )
        .where(
            BillingEventRow.reason == reason,
            BillingEventRow.workspace_id.is_not(None),
            BillingEventRow.razorpay_payment_id.is_not(None),
            BillingEventRow.received_at < received_before,
            BillingEventRow.received_at >= received_after,
        )
        .order_by(BillingEventRow.received_at, BillingEventRow.razorpay_payment_id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(
            tuple_(BillingEventRow.received_at, BillingEventRow.razorpay_payment_id)
            > tuple_(literal(after[0]), literal(after[1]))
        )
    if upto is not None:
        query = query.where(
            tuple_(BillingEventRow.received_at, BillingEventRow.razorpay_payment_id)
            <= tuple_(literal(upto[0]), literal(upto[1]))
        )
    result = await session.execute(query)
    return [(ws, str(pid), dict(body or {}), at) for ws, pid, body, at in result.all()]


async def has_reason(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    razorpay_payment_id: str,
    reasons: tuple[str, ...],
) -> bool:
    """Whether one of the workspace's events for the payment was recorded with one of
    ``reasons``."""
    result = await session.execute(
        select(BillingEventRow.id)
        .where(
            BillingEventRow.workspace_id == workspace_id,
            BillingEventRow.razorpay_payment_id == razorpay_payment_id,
            BillingEventRow.reason.in_(reasons),
        )
        .limit(1)
    )
    return result.scalar_one_or_none() is not None
