"""The export's entries of the workspace's records (lifecycle/archive.py writes the rest):

- ``audit_log.json``: the audit log, oldest first, each entry as ``GET .../audit`` gives it;
- ``billing_orders.csv``, ``billing_payments.csv`` (with ``amount_refunded``) and
  ``billing_events.csv``: the plan orders, the payments received and the payment provider's
  events about the workspace, without the provider's raw bodies
  (lifecycle/record_repository.py says why);
- ``subscription.json``: the subscription, or ``null``.

Streamed like every other entry: memory holds one batch of rows."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

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
        repo.stream_payments(session, workspace_id=workspace_id),
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
