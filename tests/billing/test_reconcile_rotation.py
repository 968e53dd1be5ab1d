"""Reconcile rate limited (429) at about the same call every run, with a deferred recurring
charge in the window that stays unsettled (no invoice of its subscription names it: asked about
every run, exit 3). The deferred charges were always checked first and the orders' walk
resumed after the last order checked, so a run whose budget the deferred charge used up
stopped at the first order after the mark every time: the mark never moved, and a newer paid
order whose webhook was lost was never reached. Now the mark says which pass the last checked
item was in, and the next run goes on from it through both: the orders after it, the deferred
charges, then round (billing/reconcile_resume.py).

The real ``razorpay`` client against the local fake, made to answer 429 from each run's 2nd
call; the resume mark in the real Redis.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from billing import reconcile_resume
from tests.billing.conftest import MailingWorld, create_order, order_row
from tests.billing.test_reconcile_deferred import _deferred
from tests.billing.test_reconcile_rate_limit import _reconciled_since
from tests.conftest import signup


async def test_a_deferred_charge_asked_every_run_leaves_no_order_unreached(
    mailing_world: MailingWorld,
) -> None:
    runtime, client, fake, _, owner_db = mailing_world
    assert runtime.redis is not None
    await runtime.redis.delete(reconcile_resume.RESUME_KEY)
    since = datetime.now(UTC)
    # A renewal whose subscription.charged never came, and no invoice names it: asked about
    # (its subscription's invoices) by every run, left unsettled.
    _, _, charge, _ = await _deferred(
        client, runtime, fake, owner_db, "No Invoice Co", settle=False
    )
    buyer = await signup(client, "Rotation Buyer")
    ids = [
        (await create_order(client, buyer, plan))["razorpay_order_id"]
        for plan in ("starter", "pro")
    ]
    paid = fake.capture_payment(ids[-1])  # the newest is paid; its webhook never came

    runs = 0
    while runs < 8 and (await order_row(owner_db, ids[-1]))["status"] != "paid":
        fake.throttle_from(2)
        report = await _reconciled_since(runtime, since, resumed=True)
        fake.throttle_from(None)
        runs += 1
        assert report.rate_limited, report
    assert (await order_row(owner_db, ids[-1]))["status"] == "paid", (runs, report.details)
    assert f"{ids[-1]}: {paid['id']} applied" in report.details, report.details

    # The deferred charge is still asked about in turn (its line each time it is reached).
    fake.throttle_from(2)
    reached = False
    for _ in range(4):
        report = await _reconciled_since(runtime, since, resumed=True)
        fake.throttle_from(2)
        reached = reached or any(line.startswith(f"{charge}: ") for line in report.details)
    fake.throttle_from(None)
    assert reached


async def test_a_mark_kept_before_it_named_its_pass_is_read_as_the_orders(
    mailing_world: MailingWorld,
) -> None:
    """The release before kept ``<created at>|<order id>``: read as a mark of the orders, so
    the first run after the upgrade still starts where the last one stopped. A mark that is
    not one (junk, a time without its zone) is no mark: the run starts from the oldest."""
    redis = mailing_world.runtime.redis
    assert redis is not None
    at, order = datetime(2026, 12, 5, 10, 30, 1, 250, tzinfo=UTC), uuid.uuid4()
    await redis.set(reconcile_resume.RESUME_KEY, f"{at.isoformat()}|{order}")
    assert await reconcile_resume.load(redis) == reconcile_resume.order_mark((at, order))
    kept = reconcile_resume.deferred_mark((at, "pay_Abc123"))
    await reconcile_resume.save(redis, kept)
    assert await reconcile_resume.load(redis) == kept
    for junk in (
        "orders|2026-12-05T10:30:01|" + str(order),
        "orders|yesterday|x",
        "refunds|" + at.isoformat() + "|x",
    ):
        await redis.set(reconcile_resume.RESUME_KEY, junk)
        assert await reconcile_resume.load(redis) is None, junk
    await reconcile_resume.save(redis, None)
    assert await redis.get(reconcile_resume.RESUME_KEY) is None
