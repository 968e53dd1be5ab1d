"""Reconcile: apply payments Razorpay has but no webhook reported.

Orders still pending after a while are looked up at Razorpay; each payment found becomes an event
recorded and applied exactly like a webhook's (same deduplication, same order and subscription
logic), one transaction per payment.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from billing import event_repository, held_charges
from billing import repository as repo
from billing.events import MAX_EVENT_ID, Applied, apply_to_order, record_and_apply
from billing.orders import CAPTURED, capture_for_order, paid_by_another
from billing.provider import (
    UNREACHABLE,
    PaymentProvider,
    PaymentProviderError,
    PaymentProviderKeysRefused,
    rate_limited,
    refusal,
    unavailable_why,
)
from billing.provider_events import (
    MAX_RAZORPAY_ID,
    bounded_int,
    event_from_payment,
    overlong_ids,
    webhook_entity,
)
from billing.reconcile_resume import (
    Mark,
    deferred_mark,
    key_of,
    order_mark,
    pending_orders,
    segments,
)
from billing.recurring_holds import CHARGE_ALREADY_HELD, CHARGED_AFTER_CANCEL, RECURRING_CHARGE
from billing.signatures import PaymentProviderUnavailable
from billing.webhooks import apply_webhook
from core.db import Database

log = logging.getLogger("trulybot.billing")


@dataclass
class ReconcileReport:
    orders_checked: int = 0
    payments_seen: int = 0
    applied: int = 0
    ignored: int = 0
    rejected: int = 0
    duplicates: int = 0
    # Orders and deferred charges not checked: Razorpay unreachable (or answering 5xx,
    # something unreadable) or refusing (``provider_refused`` of them, said apart).
    provider_errors: int = 0
    details: list[str] = field(default_factory=list)
    # Recurring charges captured while a cancel waited whose subscription.charged never came.
    deferred_checked: int = 0
    # Of those, the ones Razorpay answered for and no invoice names (or no subscription):
    # left unsettled, for the operator (the command's exit code 3).
    deferred_unsettled: int = 0
    # Of ``provider_errors``, Razorpay's refusals (its 400 ``BAD_REQUEST_ERROR``...).
    provider_refused: int = 0
    # Razorpay refused this server's API keys (401): every other call would be refused alike,
    # so the run stops there (``STOPPED``). Before, it asked again for each order and charge.
    keys_refused: bool = False
    # Razorpay rate limited this server (429): the run stops there too (``RATE_LIMITED_STOP``),
    # as a client of a rate limit the live checkouts share should. Before, it went on asking
    # for every order and charge left, each answered 429.
    rate_limited: bool = False
    # What a stopped run did not ask Razorpay about (pending orders; deferred charges no event
    # settled): left as they were, for the next run.
    orders_left: int = 0
    deferred_left: int = 0
    # A stopped run: the last item it checked (a deferred charge or an order), where the next
    # run starts (``reconcile``'s ``resume_after``); None when the run was not stopped.
    resume_after: Mark | None = None

    @property
    def stopped(self) -> bool:
        return self.keys_refused or self.rate_limited

    def provider_error(self, subject: str, exc: Exception, where: str = "") -> None:
        """``subject`` not checked because of ``exc``: a refusal (what Razorpay said) or
        Razorpay unavailable. Before, a refusal read "provider unavailable" too."""
        self.provider_errors += 1
        if isinstance(exc, PaymentProviderError):
            self.provider_refused += 1
            said = refusal(exc)
        elif isinstance(exc, PaymentProviderUnavailable) and (
            (why := unavailable_why(exc)) != UNREACHABLE
        ):
            said = why  # the keys refused (401), rate limited (429): not "unavailable"
        else:
            said = "provider unavailable"
        self.details.append(f"{subject}: {said}{where}")
        if self.stopped:
            return
        if isinstance(exc, PaymentProviderKeysRefused):
            self.keys_refused = True
            self.details.append(STOPPED)
        elif rate_limited(exc):
            self.rate_limited = True
            self.details.append(RATE_LIMITED_STOP)


STOPPED = "run stopped: Razorpay refused this server's API keys; nothing more was asked"
RATE_LIMITED_STOP = (
    "run stopped: Razorpay rate limited this server (HTTP 429); nothing more was asked,"
    " the next run checks what was left"
)


# A payment's status at Razorpay -> the event it stands for.
_RECONCILE_EVENTS = {
    "captured": "payment.captured",
    "failed": "payment.failed",
    "authorized": "payment.authorized",
}


async def reconcile(
    db: Database,
    provider: PaymentProvider,
    *,
    older_than: timedelta = timedelta(minutes=30),
    within: timedelta = timedelta(days=7),
    limit: int = 500,
    now: datetime | None = None,
    resume_after: Mark | None = None,
) -> ReconcileReport:
    """For orders pending (created, attempted, or failed: a later attempt may pay) longer than
    ``older_than`` and created within ``within``, fetch their payments and apply what was
    missed, through the same deduplicated path as webhooks (one transaction per payment).
    Orders abandoned longer ago are not looked up again on every run.

    Every pending order of the window is checked, listed ``limit`` at a time (oldest first): a
    run that took only the oldest ``limit`` fetched the same abandoned checkouts each time and
    never reached a newer paid order (billing review 2, F3).

    Razorpay's 401 or 429 stops the run (``report.stopped``): what is left is counted from the
    listings (``orders_left``, ``deferred_left``) without asking Razorpay, and left as it was
    for the next run, which starts after the last item this one checked (``resume_after``,
    from ``report.resume_after``; billing/reconcile_resume.py): the rest of that pass, the
    other pass, then round to the mark."""
    now = now or datetime.now(UTC)
    report = ReconcileReport(resume_after=resume_after)
    deferred = _Deferred(before=now - older_than, after=now - within, limit=limit)
    for walk, after, upto in segments(resume_after):
        if walk == "deferred":
            await _settle_deferred_charges(db, provider, report, deferred, after=after, upto=upto)
            continue
        async for row in pending_orders(
            db,
            created_before=now - older_than,
            created_after=now - within,
            limit=limit,
            after=None if after is None else after.order_key(),
            upto=None if upto is None else upto.order_key(),
        ):
            if report.stopped:
                report.orders_left += 1
                continue
            await _check_order(db, provider, row[1], row[2], report)
            if not report.stopped:
                report.resume_after = order_mark(key_of(row))
    if not report.stopped:
        report.resume_after = None
        return report
    log.warning(
        "billing reconcile stopped (%s): %d pending orders and %d deferred charges not"
        " checked, left for the next run",
        "rate limited, HTTP 429" if report.rate_limited else "API keys refused, HTTP 401",
        report.orders_left,
        report.deferred_left,
    )
    return report


async def _check_order(
    db: Database,
    provider: PaymentProvider,
    workspace_id: uuid.UUID,
    razorpay_order_id: str,
    report: ReconcileReport,
) -> None:
    """Fetch one pending order's payments, capture one left authorized, and apply each through
    the webhooks' path."""
    report.orders_checked += 1
    try:
        payments = await provider.fetch_order_payments(razorpay_order_id)
        payments, captured_at = await _capture_authorized(
            db, provider, workspace_id, razorpay_order_id, payments
        )
    except (PaymentProviderUnavailable, PaymentProviderError) as exc:
        report.provider_error(razorpay_order_id, exc)
        return
    for payment in sorted(payments, key=lambda p: bounded_int(p.get("created_at")) or 0):
        status = payment.get("status")
        payment_id = payment.get("id")
        name = _RECONCILE_EVENTS.get(status) if isinstance(status, str) else None
        if name is None or not isinstance(payment_id, str) or not payment_id:
            continue
        report.payments_seen += 1
        entity = {**payment, "order_id": razorpay_order_id}
        key = f"reconcile:{payment_id}:{status}"[:MAX_EVENT_ID]
        async with db.transaction() as session:
            outcome, result = await record_and_apply(
                session,
                event_key=key,
                event_type=name,
                payload=entity,
                source="reconcile",
                apply=partial(
                    _apply_payment, session, name, entity, key, captured_at.get(payment_id)
                ),
            )
        if outcome == "duplicate":
            report.duplicates += 1
        elif outcome == "applied":
            report.applied += 1
            report.details.append(f"{razorpay_order_id}: {payment_id} {result.reason}")
        elif outcome == "rejected":
            report.rejected += 1
            report.details.append(f"{razorpay_order_id}: {payment_id} rejected {result.reason}")
        else:
            report.ignored += 1


async def _capture_authorized(
    db: Database,
    provider: PaymentProvider,
    workspace_id: uuid.UUID,
    razorpay_order_id: str,
    payments: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], dict[str, datetime]]:
    """``payments`` with the first one left ``authorized`` for exactly the order's amount
    captured (``orders.capture_for_order``), unless one already captured the order or its
    workspace was deleted (the capture would take money held for a refund), and when the one
    captured here was captured. No transaction is open while Razorpay is asked. An
    authorization nobody captures is refunded by Razorpay after a few days, with the plan never
    granted: the owner's browser gone before verify (a UPI payment confirmed late) left it so."""
    if not any(p.get("status") == "authorized" for p in payments):
        return payments, {}
    async with db.transaction(workspace_id=workspace_id) as session:
        order = await repo.find_order_by_razorpay_id(session, razorpay_order_id)
        workspace = await repo.get_workspace(session, workspace_id)
        if order is None or workspace is None or workspace.deleted_at is not None:
            return payments, {}
        amount, currency = order.amount, order.currency
    if paid_by_another(payments, None, amount, currency) is not None:
        return payments, {}  # verify's rule: the order is paid (or was, and refunded)
    out = list(payments)
    for index, payment in enumerate(out):
        if payment.get("status") == "authorized":
            captured = await capture_for_order(provider, payment, amount, currency)
            out[index] = captured
            if captured.get("status") in CAPTURED:
                payment_id = captured.get("id")
                # Its money taken now: its capture's webhook is dated now, not at the
                # authorization (its ``created_at``, days before for a late UPI confirmation).
                return out, {payment_id: datetime.now(UTC)} if isinstance(payment_id, str) else {}
    return out, {}


async def _apply_payment(
    session: AsyncSession,
    name: str,
    entity: Mapping[str, Any],
    event_key: str,
    captured_at: datetime | None = None,
) -> Applied:
    """Apply one payment fetched for one of our orders (``entity["order_id"]``), at its
    ``created_at``, or at ``captured_at`` when this run captured it (as verify does: the same
    payment gave a month three days shorter than its capture's webhook when reconcile came
    first)."""
    try:
        event = event_from_payment(name, entity, event_id=event_key)
    except (ValueError, OverflowError, OSError):
        return Applied("rejected", "invalid_payload", "payment without a usable created_at")
    if captured_at is not None:
        event = replace(event, occurred_at=captured_at)
    if overlong := overlong_ids(
        {"payment_id": event.payment_id, "subscription_id": event.subscription_id}
    ):
        return Applied(
            "rejected",
            "invalid_payload",
            f"{', '.join(overlong)} longer than {MAX_RAZORPAY_ID} characters",
        )
    return await apply_to_order(
        session,
        razorpay_order_id=entity["order_id"],
        event=event,
        payment_entity=entity,
        source="reconcile",
        event_key=event_key,
    )


# What settles a charge recorded ``charge_cycle_unknown``: its ``subscription.charged`` (or
# this run) held it, found it the owner's cycle, or the owner kept it.
_SETTLED = (CHARGED_AFTER_CANCEL, CHARGE_ALREADY_HELD, RECURRING_CHARGE, held_charges.CHARGE_KEPT)


@dataclass
class _Deferred:
    """The deferred charges' pass over a run's window: what the run saw of it (its passes
    share one: the part after the mark, then the part up to it)."""

    before: datetime
    after: datetime
    limit: int
    seen: set[str] = field(default_factory=set)
    invoices_of: dict[str, list[dict[str, Any]] | Exception] = field(default_factory=dict)


async def _settle_deferred_charges(
    db: Database,
    provider: PaymentProvider,
    report: ReconcileReport,
    window: _Deferred,
    *,
    after: Mark | None = None,
    upto: Mark | None = None,
) -> None:
    """Recurring charges captured while the owner's cancel waited (``charge_cycle_unknown``:
    the ``payment.captured`` names no cycle) and recorded within the window but before
    ``before``, that no ``subscription.charged`` settled: the subscription's invoice for the
    payment names the cycle it paid for (``billing_start``), and a ``subscription.charged``
    built from it (the stored payment, that cycle) is applied as the webhook's would be, under
    the event id ``reconcile:<payment id>:charged``: held (one "Payment held for a refund") or
    the owner's cycle (one "Payment received"). The webhook delivered late, before or after,
    finds it settled (``charge_already_held``, or the same mail key). Before, such a charge was
    never held, listed or mailed.

    Every such charge of the window is looked at, listed ``limit`` rows at a time, oldest
    first: a run that took the oldest ``limit`` rows and skipped the settled ones after never
    reached a newer unsettled charge once ``limit`` settled ones sat in the window (billing
    review 10). A subscription's invoices are fetched once a run, whatever its number of
    deferred charges, and a subscription Razorpay did not answer for is not asked again in
    the run. ``after``, ``upto``: the part of the listing after and up to those deferred
    charges (``reconcile``'s walk from where the last stopped run left off)."""
    seen, invoices_of = window.seen, window.invoices_of
    page_after = None if after is None else after.deferred_key()
    while True:
        async with db.transaction(lookup=event_repository.DEFERRED_LOOKUP) as session:
            page = await event_repository.deferred_charges(
                session,
                reason=held_charges.CHARGE_CYCLE_UNKNOWN,
                received_before=window.before,
                received_after=window.after,
                limit=window.limit,
                after=page_after,
                upto=None if upto is None else upto.deferred_key(),
            )
        for workspace_id, payment_id, body, at in page:
            if payment_id in seen:
                continue
            seen.add(payment_id)
            if report.stopped:  # counted, not asked about
                if not await _settled(db, workspace_id, payment_id):
                    report.deferred_left += 1
                continue
            await _settle_deferred_charge(
                db, provider, report, workspace_id, payment_id, body, invoices_of
            )
            if not report.stopped:
                report.resume_after = deferred_mark((at, payment_id))
        if len(page) < window.limit:
            return
        page_after = (page[-1][3], page[-1][1])


async def _settled(db: Database, workspace_id: uuid.UUID, payment_id: str) -> bool:
    async with db.transaction(workspace_id=workspace_id) as session:
        return await event_repository.has_reason(session, workspace_id, payment_id, _SETTLED)


async def _settle_deferred_charge(
    db: Database,
    provider: PaymentProvider,
    report: ReconcileReport,
    workspace_id: uuid.UUID,
    payment_id: str,
    body: dict[str, Any],
    invoices_of: dict[str, list[dict[str, Any]] | Exception],
) -> None:
    """One deferred charge: nothing when its ``subscription.charged`` (or a run) settled it,
    else its cycle from the subscription's invoices (fetched once a run: ``invoices_of``)."""
    if await _settled(db, workspace_id, payment_id):
        return
    report.deferred_checked += 1
    payment = webhook_entity(body, "payment")
    sub_id = payment.get("subscription_id")
    if not isinstance(sub_id, str) or not sub_id:
        report.deferred_unsettled += 1
        report.details.append(f"{payment_id}: names no subscription, left unsettled")
        return
    if sub_id not in invoices_of:
        try:
            invoices_of[sub_id] = await provider.fetch_subscription_invoices(sub_id)
        except (PaymentProviderUnavailable, PaymentProviderError) as exc:
            invoices_of[sub_id] = exc  # not asked again this run
    invoices = invoices_of[sub_id]
    if isinstance(invoices, Exception):
        report.provider_error(payment_id, invoices, f" (subscription {sub_id})")
        return
    cycle = next((i for i in invoices if i.get("payment_id") == payment_id), None)
    start = bounded_int(cycle.get("billing_start")) if cycle else None
    if cycle is None or start is None:
        # Counted: the command exits 3 while it stays so. Before, a line and exit 0, and the
        # charge was looked at no more once it left the window: nobody relying on the exit
        # code learned of it.
        report.deferred_unsettled += 1
        report.details.append(f"{payment_id}: no invoice of subscription {sub_id} names it")
        return
    charged = {
        "entity": "event",
        "event": "subscription.charged",
        "contains": ["subscription", "payment"],
        "created_at": body.get("created_at", payment.get("created_at")),
        "payload": {
            "subscription": {
                "entity": {
                    "id": sub_id,
                    "entity": "subscription",
                    "current_start": start,
                    "current_end": bounded_int(cycle.get("billing_end")),
                }
            },
            "payment": {"entity": payment},
        },
    }
    key = f"reconcile:{payment_id}:charged"[:MAX_EVENT_ID]
    async with db.transaction() as session:
        outcome, result = await apply_webhook(session, charged, event_key=key, source="reconcile")
    if outcome == "duplicate":
        report.duplicates += 1
        return
    report.details.append(f"{payment_id}: {result.outcome} {result.reason}")
    if outcome == "applied":
        report.applied += 1
    elif outcome == "rejected":
        report.rejected += 1
    else:
        report.ignored += 1
