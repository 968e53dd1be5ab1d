"""Razorpay's 429 to any call of ours marks the account the cancels wait for.

Razorpay's rate limit is the account's (the key id's): the owners' checkouts, the verifies and
``trulybot billing reconcile`` spend it with the cancels. Before, only a cancel answered 429
set the "rate limited until" mark (billing/rate_limit_mark.py): a checkout or a reconcile run
answered 429 left it unset, and the cancel sweep went on calling into the limit. Now every
call's 429 sets it (billing/provider_marking.py), through the same compare-and-set, so a
shorter wait never cuts a longer mark; the owner is answered as before (503
``payment_provider_unavailable``, ``reason`` ``rate_limited``, ``Retry-After``).

The real app and the real ``razorpay`` client against the local fake (an account of this
module's own: its marks hold no other module's cancels), real Redis; the clock is driven.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest

from api.runtime import Runtime
from billing.rate_limit_mark import Mark
from billing.reconcile import reconcile
from core.models import utcnow
from tests.billing.conftest import BillingWorld, create_order, subscription
from tests.billing.razorpay_subscriptions import AT_CYCLE_END, cancel, linked
from tests.billing.test_cancels_rate_limit import cancel_calls
from tests.billing.test_provider_statuses import assert_rate_limited
from tests.conftest import Owner, signup
from tests.fakes.razorpay_server import FakeRazorpay
from tests.lifecycle.data import tick_due

ORDERS = "/v1/orders"


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeRazorpay]:
    """An account of this module's own: its marks hold no other module's cancels."""
    with FakeRazorpay(key_id=f"rzp_test_anywhere{uuid.uuid4().hex[:8]}") as server:
        yield server


async def marked(runtime: Runtime, fake: FakeRazorpay) -> Mark | None:
    """The account's mark, as the lifecycle jobs (the cancels) read it."""
    return await runtime.lifecycle.razorpay_mark.get(fake.key_id)


async def checkout_answered_429(
    client: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay
) -> httpx.Response:
    """The owner's checkout while Razorpay answers its order 429; the answer."""
    fake.throttled_paths.add(ORDERS)
    try:
        return await client.post(
            owner.url("/billing/orders"), json={"plan": "starter"}, headers=owner.headers
        )
    finally:
        fake.throttled_paths.discard(ORDERS)


async def marked_until(runtime: Runtime, fake: FakeRazorpay, expected: datetime) -> Mark:
    """The account's mark, which holds until ``expected`` (give or take a slow machine)."""
    mark = await marked(runtime, fake)
    assert mark is not None
    assert abs((mark.until - expected).total_seconds()) < 30, (mark, expected)
    return mark


async def test_a_checkout_answered_429_holds_the_cancels_until_razorpay_says(
    world: BillingWorld,
) -> None:
    """A checkout answered 429 (``Retry-After`` 600): the owner reads 503 as before, and the
    account is marked for 10 minutes; an owner's cancel then asks Razorpay nothing, nor does
    a sweep while the mark holds; the first sweep after it sends the cancel."""
    client, runtime, owner, fake, _ = world
    canceller = await signup(client, "Cancels after a checkout's 429")
    sub_id = await linked(client, canceller, fake)
    fake.retry_after = "600"
    t0 = utcnow()
    assert_rate_limited(await checkout_answered_429(client, owner, fake), "600")
    assert (await marked_until(runtime, fake, t0 + timedelta(minutes=10))).strikes == 1

    start = cancel_calls(fake)
    assert (await cancel(client, canceller)).status_code == 200
    await runtime.jobs.drain()  # its own job: paused
    await tick_due(runtime, "razorpay_cancels", t0 + timedelta(minutes=5))
    await runtime.jobs.drain()
    assert cancel_calls(fake) == start  # nothing asked while the mark holds
    assert (await subscription(client, canceller))["razorpay_cancel"] == "pending"

    await tick_due(runtime, "razorpay_cancels", t0 + timedelta(minutes=15))
    await runtime.jobs.drain()
    assert fake.cancels(sub_id) == [AT_CYCLE_END]
    assert (await subscription(client, canceller))["razorpay_cancel"] == "at_cycle_end"


async def test_reconcile_answered_429_marks_the_account(world: BillingWorld) -> None:
    """``trulybot billing reconcile`` answered 429 stops its run (as before) and marks the
    account: with no ``Retry-After``, the first strike's minute."""
    client, runtime, owner, fake, _ = world
    order = await create_order(client, owner)
    path = f"{ORDERS}/{order['razorpay_order_id']}/payments"
    assert runtime.payments is not None
    fake.throttled_paths.add(path)
    try:
        t0 = utcnow()
        report = await reconcile(runtime.db, runtime.payments, older_than=timedelta(0))
    finally:
        fake.throttled_paths.discard(path)
    assert report.rate_limited, report
    await marked_until(runtime, fake, t0 + timedelta(minutes=1))


async def test_a_checkouts_shorter_wait_leaves_a_longer_mark(world: BillingWorld) -> None:
    """The account is marked for 30 minutes (a cancel's 429 with a long ``Retry-After``); a
    checkout answered 429 meanwhile, with no ``Retry-After``, leaves it as it was: not cut to
    its minute, no strike added (the 429 of a call sent while the mark holds)."""
    client, runtime, owner, fake, _ = world
    now = utcnow()
    held = await runtime.lifecycle.razorpay_mark.limited(fake.key_id, now, 1800)
    assert_rate_limited(await checkout_answered_429(client, owner, fake), "60")
    assert await marked(runtime, fake) == held


async def test_without_redis_the_checkouts_mark_is_the_one_the_cancels_read(
    without_redis: tuple[Runtime, httpx.AsyncClient], fake: FakeRazorpay
) -> None:
    """Without Redis the mark lives in the process: the provider's 429 and the lifecycle's
    cancels share one."""
    runtime, client = without_redis
    owner = await signup(client, "Checkout without Redis")
    t0 = utcnow()
    assert_rate_limited(await checkout_answered_429(client, owner, fake), "60")
    await marked_until(runtime, fake, t0 + timedelta(minutes=1))


async def test_a_call_answered_after_the_mark_passed_forgets_its_strikes(
    world: BillingWorld,
) -> None:
    """Razorpay answering a checkout once the mark passed shows its limit lifted: the strikes
    are forgotten, as a cancel's answer forgets them, and the next 429 marks the account for
    the first strike's minute. Before, only a cancel's answer forgot them: with no cancel due
    between them, each 429 of the day (a checkout's, reconcile's) doubled the cancels' wait,
    up to an hour, however many calls Razorpay had answered in between."""
    client, runtime, owner, fake, _ = world
    mark = runtime.lifecycle.razorpay_mark
    t0 = utcnow()
    for minutes_ago in (30, 28, 25):  # three 429s in a row: 1, 2, then 4 minutes, all passed
        await mark.limited(fake.key_id, t0 - timedelta(minutes=minutes_ago), None)
    assert (await marked_until(runtime, fake, t0 - timedelta(minutes=21))).strikes == 3

    await create_order(client, owner)  # answered: the limit lifted
    assert_rate_limited(await checkout_answered_429(client, owner, fake), "60")
    assert (await marked_until(runtime, fake, t0 + timedelta(minutes=1))).strikes == 1
