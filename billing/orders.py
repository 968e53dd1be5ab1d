"""Buying a plan: a Razorpay order at the catalog price, then Checkout's signed answer grants it.

Services take a session and never commit.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from billing import repository as repo
from billing.catalog import CURRENCY, catalog_price
from billing.events import PAYMENT_OF_ANOTHER_ORDER, Applied, apply_order_event
from billing.models import BillingOrder, BillingPayment
from billing.provider import PaymentProvider, PaymentProviderError
from billing.provider_events import MAX_RAZORPAY_ID, bounded_int, entity_time, short
from billing.schemas import SubscriptionOut
from billing.signatures import verify_checkout_signature
from billing.state import BillingEvent
from billing.subscriptions import running_paid_plan, subscription_state, subscription_view
from core.db import released
from core.errors import AppError, Conflict, NotFound
from workspaces import audit
from workspaces.permissions import Action, authorize
from workspaces.plans import PLAN_RANK, Period
from workspaces.service import WorkspaceAccess, require_verified
from workspaces.usage import effective_plan, lasting_plan

log = logging.getLogger("trulybot.billing")


ORDER_CREATED: Final = "billing.order_created"
"""Audit event: an owner ordered a plan (who, from where, which plan at what price). The plan
change a payment then makes is ``plan.changed``, the system's when the webhook applies it."""


class OrderNotRecorded(AppError):
    """Razorpay created the order but it could not be stored: nobody was shown it, so nothing
    can be paid on it; ordering again is safe."""

    code = "order_not_recorded"
    status_code = 503
    message = "The order could not be saved; nothing was charged. Try again in a moment"


async def create_order(
    session: AsyncSession,
    access: WorkspaceAccess,
    *,
    plan: str,
    period: Period,
    provider: PaymentProvider,
    now: datetime | None = None,
    admit: Callable[[], Awaitable[None]] | None = None,
) -> BillingOrder:
    """A Razorpay order for ``plan``/``period`` at the catalog price; nothing is written unless
    Razorpay created it (a 503 from the provider leaves no row behind). An owner whose email
    is unverified cannot buy (403 ``email_unverified``). ``admit``: awaited once the order
    passed its checks, before Razorpay is asked (the HTTP layer's rate limit: it raises to
    refuse, and a refused order asks Razorpay nothing and writes nothing).

    Three steps, none holding a transaction across Razorpay: the checks (what the session did so
    far is committed), the call to Razorpay with the session's connection back in the pool
    (``released``: up to RAZORPAY_TIMEOUT_SECONDS + 1 s, during which a held connection was
    one of the pool's, idle in transaction), then the order's row in a new transaction. Should
    that row fail to be stored, the answer is 503 ``order_not_recorded``: Checkout was never
    opened on the Razorpay order, so nothing was paid and ordering again is safe."""
    authorize(access, Action.BILLING_MANAGE)
    await require_verified(session, access)
    amount = catalog_price(plan, period)
    now = now or datetime.now(UTC)
    workspace_id = access.workspace.id
    lasting = lasting_plan(access.workspace)
    if effective_plan(access.workspace, now) == "unlimited":
        # The self-hosted plan: buying a paid plan would lower its limits for a period.
        raise Conflict(
            "This workspace is on the unlimited plan: there is no plan to buy",
            code="unlimited_plan",
        )
    if lasting != "free" and PLAN_RANK[plan] <= PLAN_RANK.get(lasting, 0):
        # A plan that does not expire (DEFAULT_PLAN) already gives this much: paying for it
        # would buy nothing, or a lower plan for a period.
        raise Conflict(
            f"This workspace's {lasting} plan does not expire and includes the {plan} plan's "
            "limits: there is nothing to buy at or below it",
            code="plan_included",
        )
    running = running_paid_plan(await repo.get_subscription(session, workspace_id), now)
    if running is not None and PLAN_RANK[plan] < PLAN_RANK[running]:
        raise Conflict(
            f"The {running} plan is paid until the end of its period; a lower plan can be "
            "bought once it has ended.",
            code="downgrade_at_period_end",
        )
    if admit is not None:
        await admit()
    order_id = uuid.uuid4()
    created: dict[str, Any] | None = None
    try:
        async with released(session):
            created = await provider.create_order(
                amount=amount,
                currency=CURRENCY,
                receipt=str(order_id),
                notes={
                    "workspace_id": str(workspace_id),
                    "plan": plan,
                    "period": period,
                    "order_id": str(order_id),
                },
            )
        order = _order(access, order_id, plan, period, amount, str(created["id"]), now)
        stored = await repo.insert_order(session, order)
        await audit.record(
            session,
            workspace_id=workspace_id,
            action=ORDER_CREATED,
            actor=audit.Actor.of(access),
            target_type="billing_order",
            target_id=stored.razorpay_order_id,
            details={"plan": plan, "period": period, "amount": amount, "currency": CURRENCY},
        )
        return stored
    except DBAPIError as exc:
        # Not a 500: what the owner needs to know is that nothing was charged.
        razorpay_id = created.get("id") if created else None
        log.warning("billing order %s (Razorpay %s) not stored: %s", order_id, razorpay_id, exc)
        raise OrderNotRecorded() from exc


def _order(
    access: WorkspaceAccess,
    order_id: uuid.UUID,
    plan: str,
    period: Period,
    amount: int,
    razorpay_order_id: str,
    now: datetime,
) -> BillingOrder:
    return BillingOrder(
        id=order_id,
        workspace_id=access.workspace.id,
        plan=plan,
        period=period,
        amount=amount,
        currency=CURRENCY,
        razorpay_order_id=razorpay_order_id,
        status="created",
        created_by=access.principal.user_id,
        created_at=now,
        updated_at=now,
    )


async def verify_checkout(
    session: AsyncSession,
    access: WorkspaceAccess,
    *,
    razorpay_order_id: str,
    razorpay_payment_id: str,
    razorpay_signature: str,
    key_secret: str,
    provider: PaymentProvider,
    now: datetime | None = None,
) -> tuple[Applied, SubscriptionOut]:
    """Check Checkout's signature over our stored order id and the payment id, then grant the plan
    once Razorpay says the payment is captured.

    The signature is Razorpay's statement that this payment was *authorized* for this order, whose
    amount we fixed from the catalog: Checkout hands it over before any capture. So the payment is
    fetched, and the plan is granted only when it is ``captured`` (or ``refunded``: captured first;
    the refund is applied on its own). A payment still only authorized (an authorization late past
    the auto-capture window, an order made before orders asked for auto-capture) is captured here
    for the order's amount (``capture_for_order``): before, nothing captured it, Razorpay refunded
    it days later and the owner who paid never got the plan. One that cannot be captured grants
    nothing: ``applied: false`` / ``payment_not_captured``, or ``authorized_amount_mismatch``
    for one authorized for another amount than the order's, ``order_already_paid`` for one
    on an order another payment paid, here or at Razorpay with no webhook here yet
    (``paid_by_another``: that payment is applied instead), ``order_refunded`` for one on an
    order whose payment was refunded (never captured: Razorpay returns it). A payment that
    bought nothing (a lower plan while a higher one runs, a plan a later payment replaced, a
    second payment on an order already paid) is answered ``applied: false`` with
    ``lower_plan_held`` / ``superseded`` / ``order_paid_twice``: held for a refund. A payment
    a webhook already reported is judged on the amount it reported as well as on Razorpay's
    answer: one rejected for its amount stays rejected, and one Razorpay says took another
    amount is rejected (``applied: false``, ``amount_mismatch``). The webhook for the same payment
    later finds the payment id already applied and changes nothing (and the other way round).
    """
    authorize(access, Action.BILLING_MANAGE)
    workspace_id = access.workspace.id
    order = await repo.find_order_by_razorpay_id(session, razorpay_order_id)
    if order is None or order.workspace_id != workspace_id:
        raise NotFound("Order not found", code="order_not_found")
    verify_checkout_signature(
        order.razorpay_order_id, razorpay_payment_id, razorpay_signature, key_secret
    )
    now = now or datetime.now(UTC)
    # The order's lock before the subscription's, as the webhooks take them
    # (``apply_order_event``): a payment recorded held is judged again below holding both, and
    # the reverse order deadlocked with a webhook of the order (verify answered 503).
    await repo.lock_order(session, workspace_id=workspace_id, order_id=order.id)
    if (
        razorpay_payment_id
        in subscription_state(
            await repo.lock_subscription(session, workspace_id)
        ).applied_payment_ids
    ):
        # Applied already (this verify again, or its webhook first): whatever Razorpay says of
        # it now, it is a duplicate. Asking anyway let one valid signature, replayed, spend the
        # rate limit of the Razorpay account every workspace shares.
        duplicate = _ignored(order, razorpay_payment_id, "duplicate_payment", razorpay_payment_id)
        return duplicate, await _subscription_now(session, workspace_id, now)
    recorded = await repo.get_payment(session, workspace_id, razorpay_payment_id)
    if (
        recorded is not None
        and recorded.order_id == order.id
        and recorded.status in repo.HELD_FOR_REFUND
        and recorded.amount
        and recorded.currency
    ):
        # Held or rejected already: judged again on what was recorded, without asking Razorpay
        # (as an applied one is answered). Each verify of it fetched the payment: a replayed
        # signature spent the shared account's rate limit, and Razorpay down answered 503.
        again = await _apply_recorded(session, access, order, recorded)
        return again, await _subscription_now(session, workspace_id, now)
    captured_here = False
    paid_by: dict[str, Any] | None = None
    async with released(session):  # no pooled connection held over Razorpay's answers
        payment = await provider.fetch_payment(razorpay_payment_id)
        # Another order's payment under a signature over this order's id: it was recorded
        # here as rejected, and its own order's webhook then refused as
        # ``payment_of_another_order`` (its payer never got the plan). Nothing is recorded nor
        # captured; its own order keeps it.
        paid_order = payment.get("order_id")
        another = paid_order is not None and paid_order != order.razorpay_order_id
        if (
            not another
            and payment.get("status") == "authorized"
            and order.status not in ("paid", "refunded")
        ):
            # Its order may be paid at Razorpay with no webhook here yet (retried for hours):
            # capturing this one too charged the owner twice for one period.
            paid_by = paid_by_another(
                await provider.fetch_order_payments(order.razorpay_order_id),
                razorpay_payment_id,
                order.amount,
                order.currency,
            )
            if paid_by is None:
                payment = await capture_for_order(provider, payment, order.amount, order.currency)
                captured_here = payment.get("status") in CAPTURED
    if another:
        detail = f"payment {razorpay_payment_id} is of another order"
        refused = _ignored(order, razorpay_payment_id, PAYMENT_OF_ANOTHER_ORDER, detail)
        return refused, await _subscription_now(session, workspace_id, now)
    order_status: str | None = order.status
    if paid_by is not None and paid_by.get("status") == "captured" and _storable(paid_by):
        # The payment that paid the order, as its webhook will report it (at Razorpay's time
        # of it, not this verify's: its period and its date in the history): the plan now.
        paying = await _apply_fetched(session, access, order, paid_by, _paid_at(paid_by, now))
        order_status = paying.order_status
    status = payment.get("status")
    if status not in CAPTURED:
        reason, detail = _not_captured(payment, order, paid_by)
        not_captured = Applied(
            "ignored",
            reason,
            detail,
            workspace_id=workspace_id,
            razorpay_order_id=order.razorpay_order_id,
            razorpay_payment_id=razorpay_payment_id,
            order_status=order_status,
            order_id=order.id,
        )
        return not_captured, await _subscription_now(session, workspace_id, now)
    # Razorpay's time of the payment, as its webhook has it; one captured just now (its money
    # taken, and its capture's webhook dated, now) starts now.
    at = now if captured_here else _paid_at(payment, now)
    applied = await _apply_fetched(session, access, order, payment, at)
    return applied, await _subscription_now(session, workspace_id, now)


def _ignored(order: BillingOrder, payment_id: str, reason: str, detail: str) -> Applied:
    """Verify's answer for a payment it leaves as it is (``applied: false``), the order too."""
    return Applied(
        "ignored",
        reason,
        detail,
        workspace_id=order.workspace_id,
        razorpay_order_id=order.razorpay_order_id,
        razorpay_payment_id=payment_id,
        order_status=order.status,
        order_id=order.id,
    )


async def _apply_fetched(
    session: AsyncSession,
    access: WorkspaceAccess,
    order: BillingOrder,
    payment: dict[str, Any],
    at: datetime,
) -> Applied:
    """Apply ``payment``, fetched from Razorpay and taken (captured, or refunded since) on
    ``order``, at ``at``, through the webhooks' path (``apply_order_event``)."""
    payment_id = str(payment.get("id"))
    # The signature does not say what was charged: what Razorpay answered just now, the order's
    # amount only when it says nothing (before, verify took the order's amount and granted the
    # plan for a payment of Rs 1, recorded as Rs 999); ``apply_order_event`` judges it on what
    # a webhook already told us of this payment too (one rejected for taking Rs 1 of a Rs 999
    # order stays rejected, and so does one Razorpay now says took Rs 1 whose authorization
    # was recorded at Rs 999).
    fetched = (bounded_int(payment.get("amount")), short(payment.get("currency"), 3))
    amount, currency = (
        (fetched[0], fetched[1]) if fetched[0] and fetched[1] else (order.amount, order.currency)
    )
    event = BillingEvent(
        name="payment.captured",
        occurred_at=at,
        payment_id=payment_id,
        amount=amount,
        currency=currency,
    )
    return await apply_order_event(
        session,
        workspace_id=order.workspace_id,
        order_id=order.id,
        event=event,
        payment_entity=payment,
        source="verify",
        actor=audit.Actor.of(access),
    )


async def _apply_recorded(
    session: AsyncSession, access: WorkspaceAccess, order: BillingOrder, recorded: BillingPayment
) -> Applied:
    """A payment of ``order`` recorded held or rejected, judged again on what was recorded of
    it (its amount, currency and time) through the webhooks' path: the same decision, from
    the database alone."""
    event = BillingEvent(
        name="payment.captured",
        occurred_at=recorded.paid_at,
        payment_id=recorded.razorpay_payment_id,
        amount=recorded.amount,
        currency=recorded.currency,
    )
    return await apply_order_event(
        session,
        workspace_id=order.workspace_id,
        order_id=order.id,
        event=event,
        payment_entity=dict(recorded.raw or {}),
        source="verify",
        actor=audit.Actor.of(access),
    )


CAPTURED: Final = frozenset({"captured", "refunded"})
"""Razorpay's payment statuses that took the money (a refunded payment was captured first)."""


async def capture_for_order(
    provider: PaymentProvider, payment: dict[str, Any], amount: int, currency: str
) -> dict[str, Any]:
    """Capture ``payment``, authorized for an unpaid order of ours, when it is for exactly the
    order's ``amount`` and ``currency``: the payment as Razorpay reports it afterwards.

    Left authorized, Razorpay refunds it after a few days and the plan it paid for is never
    granted (an authorization too late for auto-capture, an order made before orders asked for
    it). Another amount is not taken (it would be held for a refund): it stays authorized and is
    refunded by Razorpay. A capture Razorpay refuses (captured meanwhile, say) is answered with
    the payment fetched again; Razorpay unreachable is ``PaymentProviderUnavailable``."""
    payment_id = payment.get("id")
    if (
        not isinstance(payment_id, str)
        or payment.get("status") != "authorized"
        or not _for_order(payment, amount, currency)
    ):
        return payment
    try:
        return await provider.capture_payment(payment_id, amount=amount, currency=currency)
    except PaymentProviderError as exc:
        log.warning("billing: capturing %s refused: %s", payment_id, exc)
        return await provider.fetch_payment(payment_id)


def paid_by_another(
    payments: list[dict[str, Any]], payment_id: str | None, amount: int, currency: str
) -> dict[str, Any] | None:
    """The payment of an order's ``payments`` (as Razorpay lists them), other than
    ``payment_id``, that took the order's ``amount`` and ``currency``: ``captured``, or
    ``refunded`` since. Such an order is paid (or was, and refunded): another payment left
    authorized on it is not captured, by verify or reconcile alike (one order buys one period;
    captured, it would only be held for a refund), and Razorpay returns it. A payment of another
    amount paid nothing (it is rejected for a refund) and does not count. One still captured
    is named before one refunded: it is the one that pays the order now."""
    taken = [
        other
        for other in payments
        if other.get("id") != payment_id
        and other.get("status") in CAPTURED
        and _for_order(other, amount, currency)
    ]
    return min(taken, key=lambda other: other.get("status") != "captured", default=None)


def _not_captured(
    payment: dict[str, Any], order: BillingOrder, paid_by: dict[str, Any] | None = None
) -> tuple[str, str]:
    """Why a payment verify leaves uncaptured grants nothing, and what Razorpay said of it.
    Authorized for another amount than the order's, or on an order another payment paid
    (``paid_by``, at Razorpay, or as we recorded it) or whose payment was refunded: never
    captured (the money would be held for a refund), so Razorpay returns it and it will not
    start the plan later (the page said it would, for the second one)."""
    status = payment.get("status")
    if status == "authorized" and not _for_order(payment, order.amount, order.currency):
        authorized = _money(payment.get("amount"), payment.get("currency"))
        detail = f"{authorized} authorized, not the order's {_money(order.amount, order.currency)}"
        return "authorized_amount_mismatch", detail
    refunded = order.status == "refunded" or (paid_by or {}).get("status") == "refunded"
    if status == "authorized" and refunded:
        # It read "paid by another payment": the owner had been given that payment back.
        return "order_refunded", f"order {order.razorpay_order_id}'s payment was refunded"
    if status == "authorized" and (order.status == "paid" or paid_by is not None):
        return "order_already_paid", f"order {order.razorpay_order_id} was paid by another payment"
    return "payment_not_captured", f"Razorpay reports the payment {str(status)[:16]}"


def _paid_at(payment: dict[str, Any], now: datetime) -> datetime:
    """When Razorpay says ``payment`` was made (its ``created_at``, the time reconcile applies
    it at), else ``now``. Not the time the owner's browser called verify: a late verify gave
    another period than the payment's webhook, which goes by Razorpay's time, and put an older
    payment after the payments made since."""
    return entity_time(payment, "created_at") or now  # none in range: no time of Razorpay's


def _storable(payment: dict[str, Any]) -> bool:
    """Whether ``payment``'s id fits the columns that hold Razorpay's ids (reconcile rejects a
    longer one; verify leaves it to the webhook, which does the same)."""
    payment_id = payment.get("id")
    return isinstance(payment_id, str) and 0 < len(payment_id) <= MAX_RAZORPAY_ID


def _money(amount: object, currency: object) -> str:
    """``INR 999.00``: an amount in paise as an owner reads it."""
    paise = bounded_int(amount)
    figure = f"{paise / 100:,.2f}" if paise is not None else "an unknown amount"
    return f"{short(currency, 3) or ''} {figure}".strip()


def _for_order(payment: dict[str, Any], amount: int, currency: str) -> bool:
    """Whether ``payment`` is for exactly the order's ``amount`` and ``currency``."""
    paid_currency = str(payment.get("currency") or "").upper()
    return payment.get("amount") == amount and paid_currency == currency.upper()


async def _subscription_now(
    session: AsyncSession, workspace_id: uuid.UUID, now: datetime
) -> SubscriptionOut:
    sub = await repo.lock_subscription(session, workspace_id)
    workspace = await repo.get_workspace(session, workspace_id)  # as the payment left it
    assert workspace is not None  # the caller's own workspace
    return subscription_view(sub, effective_plan(workspace, now), now)
