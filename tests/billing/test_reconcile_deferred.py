"""Review of reconcile's settling of deferred recurring charges (``charge_cycle_unknown`` rows
whose ``subscription.charged`` never came), read as an operator running it.

- The listing took the oldest ``limit`` such rows, settled or not, and skipped the settled ones
  afterwards: once ``limit`` settled charges sat in the window (they stay there for ``within``,
  seven days), a newer unsettled charge was never reached.

Real webhooks (signed, through the app), the real ``razorpay`` client against the fake.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from api.runtime import Runtime
from billing.reconcile import ReconcileReport, reconcile
from core.db import Database
from tests.billing.razorpay_subscriptions import both_webhooks, charged, payment_of
from tests.billing.test_cancel_edges import renewed_while_the_cancel_waited
from tests.billing.test_held_charge_notice import to_refund
from tests.conftest import Owner, signup
from tests.fakes.razorpay_server import FakeRazorpay


async def _reconciled_since(
    runtime: Runtime, since: datetime, *, limit: int = 500
) -> ReconcileReport:
    """Reconcile over the window from ``since`` (this test's rows only: the database is shared
    with other tests), nothing held back for the webhook."""
    assert runtime.payments is not None
    now = datetime.now(UTC)
    return await reconcile(
        runtime.db,
        runtime.payments,
        older_than=now - now,
        within=now - since,
        limit=limit,
        now=now,
    )


async def _deferred(
    client: httpx.AsyncClient,
    runtime: Runtime,
    fake: FakeRazorpay,
    owner_db: Database,
    name: str,
    *,
    settle: bool,
) -> tuple[Owner, str, str, int]:
    """A renewal captured while the owner's cancel waited (``charge_cycle_unknown``); its
    ``subscription.charged`` delivered (``settle``) or lost. (owner, subscription id, payment
    id, cycle start)."""
    owner = await signup(client, name)
    sub_id, sub, _, end = await renewed_while_the_cancel_waited(
        client, runtime, owner, fake, owner_db
    )
    fake.down = False
    both = both_webhooks(sub, start=end)
    captured = both["payment.captured"]
    assert await charged(client, owner_db, captured) == ("ignored", "charge_cycle_unknown")
    if settle:
        assert await charged(client, owner_db, both["subscription.charged"]) == (
            "rejected",
            "charged_after_cancel",
        )
    return owner, sub_id, payment_of(captured), end


async def test_settled_deferred_charges_do_not_use_up_the_runs_limit(
    mailing: tuple[Runtime, httpx.AsyncClient], fake: FakeRazorpay, owner_db: Database
) -> None:
    runtime, client = mailing
    since = datetime.now(UTC)
    await _deferred(client, runtime, fake, owner_db, "Settled Early Co", settle=True)
    owner, sub_id, payment_id, end = await _deferred(
        client, runtime, fake, owner_db, "Lost Charge Co", settle=False
    )
    fake.add_invoice(sub_id, payment_id, billing_start=end, billing_end=end + 30 * 86_400)
    report = await _reconciled_since(runtime, since, limit=1)
    assert f"{payment_id}: rejected charged_after_cancel" in report.details, report
    assert await to_refund(owner_db, owner.workspace_id) == [payment_id]
