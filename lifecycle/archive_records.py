"""The export's entries of the workspace's records (lifecycle/archive.py writes the rest):

- ``audit_log.json``: the audit log, oldest first, each entry as ``GET .../audit`` gives it;
- ``billing_orders.csv``, ``billing_payments.csv`` (with ``amount_refunded``) and
  ``billing_events.csv``: the plan orders, the payments received and the payment provider's
  events about the workspace, without the provider's raw bodies
  (lifecycle/record_repository.py says why); ``billing_payments.csv`` ends with the recurring
  charges held for a refund after the owner's cancel (no order of ours: no ``id``, no
  ``order_id``), as ``GET /billing/payments`` lists them in ``held_charges``;
- ``subscription.json``: the subscription, or ``null``.

Streamed like every other entry: memory holds one batch of rows."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from billing import held_charges, subscriptions
from lifecycle import record_repository as repo
from lifecycle.archive_format import dump, write_csv, write_json
from lifecycle.zip_sink import ZipSink

ORDER_COLUMNS = repo.names(repo.ORDER_COLUMNS)
PAYMENT_COLUMNS = repo.names(repo.PAYMENT_COLUMNS)
EVENT_COLUMNS = repo.names(repo.EVENT_COLUMNS)


async def write_records(archive: ZipSink, session: AsyncSession, workspace_id: uuid.UUID) -> None:
    await write_json(
        archive, "audit_log.json", repo.stream_audit(session, workspace_id=workspace_id)
    )
    await write_csv(
        archive,
        "billing_orders.csv",
        repo.stream_orders(session, workspace_id=workspace_id),
        ORDER_COLUMNS,
    )
    await write_csv(
        archive,
        "billing_payments.csv",
        _payments(session, workspace_id),
        PAYMENT_COLUMNS,
    )
    await write_csv(
        archive,
        "billing_events.csv",
        repo.stream_events(session, workspace_id=workspace_id),
        EVENT_COLUMNS,
    )
    subscription = await repo.subscription(session, workspace_id=workspace_id)
    await archive.writestr("subscription.json", dump(subscription) + "\n")


async def _payments(
    session: AsyncSession, workspace_id: uuid.UUID
) -> AsyncIterator[Mapping[str, Any]]:
    """The payments of the workspace's orders, then its held recurring charges, oldest first,
    each with the status and ``amount_refunded`` the API gives it (``held``,
    ``part_refunded``, ``refunded``, ``kept``). Before, the export had none of those charges."""
    async for row in repo.stream_payments(session, workspace_id=workspace_id):
        yield row
    for charge in reversed(await held_charges.of_workspace(session, workspace_id)):
        out = subscriptions.held_charge_out(charge)
        yield {
            "razorpay_payment_id": out.razorpay_payment_id,
            "amount": out.amount,
            "amount_refunded": out.amount_refunded,
            "currency": out.currency,
            "status": out.status,
            "paid_at": out.charged_at,
        }
