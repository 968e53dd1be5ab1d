"""The recurring charges of a linked Razorpay Subscription held for a refund after the owner's
cancel (``charged_after_cancel``), as the owner sees them and as they end: refunded (Razorpay's
``refund.processed``, attributed to the workspace that held the charge) or kept (the owner
resumed, withdrawing the cancel that held them, before it was sent).

They have no order of ours, so they are not ``billing_payments`` rows: what is known of them is
the event rows that held them (docs/billing.md, "Razorpay Subscriptions: cancel").
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from billing import event_repository
from billing.provider_events import (
    bounded_int,
    entity_time,
    short,
    stored_dispute_rank,
    webhook_entity,
)
from core.db import set_tenant

log = logging.getLogger("trulybot.billing")

# A recurring charge Razorpay took after our cancel: the reason its event is recorded with
# (``rejected``), the one row per charge a human refunds from.
CHARGED_AFTER_CANCEL: Final = "charged_after_cancel"
# Such a charge the owner kept (``keep``): its event rows' reason from then on, off the list.
CHARGE_KEPT: Final = "charge_kept"
# A ``refund.processed`` of such a charge, recorded against the workspace that held it.
HELD_CHARGE_REFUNDED: Final = "held_charge_refunded"
REFUND: Final = "refund.processed"
# A chargeback of such a charge the merchant lost: its money went back that way.
HELD_CHARGE_CHARGED_BACK: Final = "held_charge_charged_back"
CHARGEBACK: Final = "payment.dispute.lost"
# The events that give a held charge's money back: (their reason, the detail's word).
MONEY_BACK: Final[Mapping[str, tuple[str, str]]] = {
    REFUND: (HELD_CHARGE_REFUNDED, "refunded"),
    CHARGEBACK: (HELD_CHARGE_CHARGED_BACK, "charged back"),
}
# A dispute of such a charge the merchant won: the money stays with us. Of a later phase than
# a lost one (arbitration won after a pre-arbitration lost), it reverses that chargeback: the
# charge is owed back again (``billing.provider_events.dispute_rank``).
HELD_CHARGE_DISPUTE_WON: Final = "held_charge_dispute_won"
DISPUTE_WON: Final = "payment.dispute.won"
# Every event of such a charge recorded against the workspace that held it.
ATTRIBUTED: Final[Mapping[str, tuple[str, str]]] = {
    **MONEY_BACK,
    DISPUTE_WON: (HELD_CHARGE_DISPUTE_WON, "its dispute won"),
}
# The same events of a recurring charge its ``subscription.charged`` found the owner's own
# cycle (``recurring_charge``: never held), recorded against the workspace as that charge's
# ordinary refund, chargeback or dispute won: (their reason, the detail's word).
RECURRING_CHARGE: Final = "recurring_charge"
OF_OWN_CYCLE: Final[Mapping[str, tuple[str, str]]] = {
    kind: (reason.replace("held_charge_", "recurring_charge_", 1), how)
    for kind, (reason, how) in ATTRIBUTED.items()
}
_HELD: Final = (CHARGED_AFTER_CANCEL, CHARGE_KEPT)
# A recurring charge taken while a cancel waited, its cycle not known yet (its
# ``payment.captured`` came first): its ``subscription.charged`` decides whether it is held.
# A refund or a dispute of it delivered meanwhile is the workspace's all the same.
CHARGE_CYCLE_UNKNOWN: Final = "charge_cycle_unknown"
_DEFERRED_OR_HELD: Final = (*_HELD, CHARGE_CYCLE_UNKNOWN)
# Every recurring charge of a workspace: held, deferred, or the owner's own cycle's.
_RECURRING: Final = (*_DEFERRED_OR_HELD, RECURRING_CHARGE)

State = Literal["held", "kept", "refunded"]
_UNDATED: Final = datetime.min.replace(tzinfo=UTC)  # a body with no usable time: last


@dataclass(frozen=True)
class HeldCharge:
    payment_id: str
    amount: int | None
    currency: str | None
    charged_at: datetime | None
    state: State
    # Refunded in part (``held`` or ``kept``): what Razorpay's ``refund.processed`` bodies of it
    # refunded so far, less than ``amount``. None otherwise.
    partly_refunded: int | None = None


async def of_workspace(session: AsyncSession, workspace_id: uuid.UUID) -> list[HeldCharge]:
    """The workspace's held recurring charges, one per payment, newest first: ``held`` (to be
    refunded), ``refunded`` (Razorpay reported the refund) or ``kept`` (the owner kept the
    subscription: the charge pays for its cycle)."""
    rows = await event_repository.payment_events(session, workspace_id, _HELD, tuple(ATTRIBUTED))
    refunds = _refunds(rows)
    kept = {pid for pid, _, reason, _ in rows if reason == CHARGE_KEPT}
    charges: dict[str, HeldCharge] = {}
    for pid, kind, _, body in rows:
        if kind in ATTRIBUTED or pid in charges:
            continue
        payment = webhook_entity(body, "payment")
        amount = _amount(body)
        part = _part_refunded(amount, refunds.get(pid))
        state: State = (
            "refunded" if pid in refunds and part is None else "kept" if pid in kept else "held"
        )
        charges[pid] = HeldCharge(
            payment_id=pid,
            amount=amount,
            currency=short(payment.get("currency"), 3),
            charged_at=entity_time(body, "created_at"),
            state=state,
            partly_refunded=part,
        )
    return sorted(charges.values(), key=lambda c: c.charged_at or _UNDATED, reverse=True)


Rows = list[tuple[str, str, str | None, dict[str, Any]]]


def _refunds(rows: Rows) -> dict[str, dict[str, int | None]]:
    """payment id: refund id -> amount, from the ``refund.processed`` (and lost chargeback)
    bodies among ``rows`` (one delivered again under a new event id counts once). A lost
    chargeback a later phase of its dispute won reversed (``_reversed``) gave nothing back."""
    wins: dict[str, list[tuple[int, datetime]]] = {}
    for pid, kind, _, body in rows:
        if kind == DISPUTE_WON and (rank := stored_dispute_rank(body)) is not None:
            wins.setdefault(pid, []).append(rank)
    refunds: dict[str, dict[str, int | None]] = {}
    for pid, kind, _, body in rows:
        if kind == CHARGEBACK and _reversed(body, wins.get(pid, [])):
            continue
        if kind in MONEY_BACK:
            back = webhook_entity(body, "refund" if kind == REFUND else "dispute")
            of_payment = refunds.setdefault(pid, {})
            of_payment[str(back.get("id") or len(of_payment))] = bounded_int(back.get("amount"))
    return refunds


def _reversed(lost: dict[str, Any], wins: list[tuple[int, datetime]]) -> bool:
    """Whether a won phase of the dispute came after the lost one (``dispute_rank``): the
    latest phase's outcome is the dispute's, in any delivery order. Before, a win of a held
    charge was ``unknown_order`` and its chargeback stood for good."""
    rank = stored_dispute_rank(lost)
    return rank is not None and any(won > rank for won in wins)


def _amount(body: dict[str, Any]) -> int | None:
    """The charge's amount, from a stored body that holds its payment."""
    return bounded_int(webhook_entity(body, "payment").get("amount"))


def _part_refunded(amount: int | None, refunds: dict[str, int | None] | None) -> int | None:
    """What the refunds of a charge of ``amount`` came to, when less than ``amount``; None when
    there were none, when they came to all of it, or when an amount is unknown (then it reads
    refunded, as Razorpay's word for it was). Before, any refund, of any part, read
    "refunded"."""
    if not refunds or amount is None or None in refunds.values():
        return None
    total = sum(value for value in refunds.values() if value is not None)
    return total if total < amount else None


async def refunded_workspace(session: AsyncSession, payment_id: str) -> uuid.UUID | None:
    """The workspace whose recurring charge ``payment_id`` is (Razorpay's refund of it names no
    order of ours): that held it, whose charge it is while its cycle is not known yet
    (``charge_cycle_unknown``: the hold may follow), or whose own cycle it paid
    (``recurring_charge``), or None. Leaves the lookup set to the payment id. Before, a refund
    delivered between the deferred charge and its hold was ``unknown_order`` with no workspace
    (the charge read held for good on the owner's page), and so was every refund of a charge
    never held nor deferred (the owner was never told "Payment refunded")."""
    await set_tenant(session, lookup=payment_id[:64])
    return await event_repository.held_charge_workspace(session, payment_id[:64], _RECURRING)


async def of_own_cycle(session: AsyncSession, workspace_id: uuid.UUID, payment_id: str) -> bool:
    """Whether the charge ``payment_id`` is the owner's own cycle: its ``subscription.charged``
    (or reconcile) took it as the ordinary ``recurring_charge``, and nothing held it."""
    return await event_repository.has_reason(
        session, workspace_id, payment_id, (RECURRING_CHARGE,)
    ) and not await event_repository.has_reason(session, workspace_id, payment_id, _HELD)


async def told_before(
    session: AsyncSession, workspace_id: uuid.UUID, payment_id: str, name: str, back_id: str
) -> bool:
    """Whether the workspace recorded the refund (the dispute) ``back_id`` of the payment by an
    earlier event: mailed then, or, recorded while the charge's cycle was not known, in the
    charge's own mail ("Payment received and refunded"). Delivered again after that mail, it
    mailed "Payment refunded" a second time for the same money."""
    entity = "refund" if name == REFUND else "dispute"
    bodies = await event_repository.payment_bodies(session, workspace_id, payment_id[:64], name)
    return any(short(webhook_entity(body, entity).get("id"), 64) == back_id for body in bodies)


def own_cycle_detail(how: str) -> str:
    return f"a recurring charge of the owner's own cycle, {how}"


async def relabel_as_own_cycle(
    session: AsyncSession, workspace_id: uuid.UUID, payment_id: str
) -> None:
    """The refunds (chargebacks, disputes won) of ``payment_id`` recorded while its cycle was
    not known (``held_charge_*``, "held for a refund") recorded as the owner's own cycle's
    (``recurring_charge_*``) now that its ``subscription.charged`` found it so. Before, they
    stayed "held for a refund, refunded" though the charge was never held."""
    for kind, (held, _) in ATTRIBUTED.items():
        own, how = OF_OWN_CYCLE[kind]
        await event_repository.relabel(
            session,
            workspace_id,
            payment_id,
            event_type=kind,
            reason=held,
            new_reason=own,
            detail=own_cycle_detail(how),
        )


async def refunded_before_hold(
    session: AsyncSession, workspace_id: uuid.UUID, payment_id: str, amount: int | None
) -> int | None:
    """What Razorpay's refunds (and lost chargebacks) of the charge ``payment_id`` of
    ``amount``, recorded against the workspace, gave back before it was held: None for
    nothing, ``amount`` for all of it (or an amount unknown: Razorpay's word was "refunded",
    as the page reads it), else the part. For the owners' mail, so it says what the page and
    the API say."""
    rows: Rows = [
        (payment_id, kind, None, body)
        for kind in ATTRIBUTED
        for body in await event_repository.payment_bodies(session, workspace_id, payment_id, kind)
    ]
    refunds = _refunds(rows).get(payment_id)
    if not refunds:
        return None
    part = _part_refunded(amount, refunds)
    return part if part is not None else amount


async def keep(
    session: AsyncSession, workspace_id: uuid.UUID, subscription_id: str, at: datetime
) -> list[str]:
    """The owner kept the linked subscription ``subscription_id`` (resume withdrew the cancel
    that held its charges, never sent: Razorpay goes on charging, and the owner uses the cycles
    those charges paid for): each of its charges still held, not refunded, is recorded
    ``ignored`` / ``charge_kept``, off the operator's list of refunds owed. Their ids."""
    rows = await event_repository.payment_events(
        session, workspace_id, (CHARGED_AFTER_CANCEL,), tuple(ATTRIBUTED)
    )
    refunds = _refunds(rows)
    # Refunded in part, the rest is kept too: before, any refund left the charge held, so the
    # rest stayed owed (on the operator's list) for a cycle the owner kept.
    mine = [
        pid
        for pid, kind, _, body in rows
        if kind not in ATTRIBUTED
        and (pid not in refunds or _part_refunded(_amount(body), refunds[pid]) is not None)
        and subscription_id
        in (
            webhook_entity(body, "subscription").get("id"),
            webhook_entity(body, "payment").get("subscription_id"),
        )
    ]
    kept = sorted(set(mine))
    await event_repository.keep_held(
        session,
        workspace_id,
        kept,
        held=CHARGED_AFTER_CANCEL,
        kept=CHARGE_KEPT,
        why=f"kept: the owner kept the subscription at {at.isoformat()}",
    )
    if kept:
        log.info(
            "workspace %s kept razorpay subscription %s: charges %s no longer held for a refund",
            workspace_id,
            subscription_id,
            ", ".join(kept),
        )
    return kept
