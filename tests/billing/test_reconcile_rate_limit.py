"""Razorpay's rate limit (429) reached in the middle of `trulybot billing reconcile`.

Before, the run went on and asked Razorpay again for every order and deferred charge left,
each answered 429 (the rate limit is the account's: the live checkouts and verifies share it).
Now the first 429 stops the run, as a 401 does: what was left is counted and said, nothing of
it is recorded, and the next run checks it.

The real ``razorpay`` client against the local fake, made to answer 429 from the Nth call.
"""

from __future__ import annotations

from datetime import UTC, datetime

from api.commands.billing import exit_code, summary
from api.runtime import Runtime
from billing.reconcile import RATE_LIMITED_STOP, ReconcileReport, reconcile
from tests.billing.conftest import BillingWorld, create_order, event_rows, order_row


async def _reconciled_since(runtime: Runtime, since: datetime) -> ReconcileReport:
    """Reconcile over the window from ``since`` (this test's orders only: the database is
    shared with other tests), nothing held back for the webhook."""
    assert runtime.payments is not None
    now = datetime.now(UTC)
    return await reconcile(
        runtime.db, runtime.payments, older_than=now - now, within=now - since, now=now
    )


async def test_a_429_stops_the_run_and_the_next_run_checks_what_was_left(
    world: BillingWorld,
) -> None:
    bclient, runtime, owner, fake, owner_db = world
    since = datetime.now(UTC)
    orders = [await create_order(bclient, owner, plan) for plan in ("starter", "pro") * 2]
    ids = [o["razorpay_order_id"] for o in orders]
    paid = fake.capture_payment(ids[-1])  # the newest one is paid; its webhook never came

    asked = len(fake.requests)
    fake.throttle_from(2)
    report = await _reconciled_since(runtime, since)
    fake.throttle_from(None)
    paths = [r.path for r in fake.requests[asked:]]
    # The first order answered, the second 429, and nothing more was asked.
    assert paths == [f"/v1/orders/{i}/payments" for i in ids[:2]], paths
    assert report.rate_limited, report
    assert report.details[-1] == RATE_LIMITED_STOP, report.details
    assert f"{ids[1]}: Razorpay rate limited this server (HTTP 429)" in report.details
    assert (report.provider_errors, report.orders_left, report.applied) == (1, 2, 0), report
    assert exit_code(report) == 1
    told = summary(report)
    assert "not checked (run stopped): 2 orders, 0 deferred charges" in told, told
    # Nothing of what was left is recorded: the paid order is still pending.
    assert (await order_row(owner_db, ids[-1]))["status"] == "created"

    asked = len(fake.requests)
    report = await _reconciled_since(runtime, since)
    assert len(fake.requests) - asked == len(ids)
    assert (report.rate_limited, report.orders_left) == (False, 0), report
    assert f"{ids[-1]}: {paid['id']} applied" in report.details, report.details
    assert (await order_row(owner_db, ids[-1]))["status"] == "paid"
    assert "not checked" not in summary(report)
    assert exit_code(report) == 0


async def test_a_capture_answered_429_leaves_the_order_for_the_next_run(
    world: BillingWorld,
) -> None:
    """The first order's payment was left authorized (a late UPI confirmation): its capture is
    answered 429. Nothing is applied, the second order is not asked about, and the next run
    captures the payment and grants the plan."""
    bclient, runtime, owner, fake, owner_db = world
    since = datetime.now(UTC)
    first, second = [await create_order(bclient, owner, plan) for plan in ("pro", "starter")]
    late = fake.authorize_payment(first["razorpay_order_id"])
    capture = f"/v1/payments/{late['id']}/capture"

    asked = len(fake.requests)
    fake.throttled_paths.add(capture)
    report = await _reconciled_since(runtime, since)
    fake.throttled_paths.discard(capture)
    paths = [r.path for r in fake.requests[asked:]]
    assert paths == [f"/v1/orders/{first['razorpay_order_id']}/payments", capture], paths
    assert (report.rate_limited, report.orders_left, report.applied) == (True, 1, 0), report
    assert (await order_row(owner_db, first["razorpay_order_id"]))["status"] == "created"
    assert await event_rows(owner_db, f"reconcile:{late['id']}:authorized") == []

    report = await _reconciled_since(runtime, since)
    assert f"{first['razorpay_order_id']}: {late['id']} applied" in report.details, report
    assert (await order_row(owner_db, first["razorpay_order_id"]))["status"] == "paid"
    assert second["razorpay_order_id"] not in " ".join(report.details)  # asked, nothing paid
