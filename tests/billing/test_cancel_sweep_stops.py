"""The ``send_razorpay_cancels`` job stops where every call after would fail alike.

Before, only Razorpay's 429 stopped it. With this server's API keys refused (401) every due
cancel made its own call each job and each counted as a failed attempt (its backoff doubling,
and ``sent`` saying it may have reached Razorpay, so the owner could no longer withdraw it),
though Razorpay acted on none. With Razorpay timing out, one job waited out one timeout per due
cancel: about 160 of them in its 30 minutes. Now the first 401 stops the job (an ERROR with a
stable reason, ``trulybot_razorpay_cancel_sweeps_stopped_total{reason="keys_refused"}``) and
leaves every cancel due as it was, and ``UNREACHABLE_IN_A_ROW`` sends in a row that found
Razorpay unreachable (timeouts among them) stop it too, the rest left due for the next sweep.

The real app and the real ``razorpay`` client against the local fake; the clock is driven.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from api.runtime import Runtime
from billing import cancel_sweep
from core import metrics
from core.config import Settings
from core.db import Database
from core.models import utcnow
from tests.billing.conftest import sub_row, subscription
from tests.billing.razorpay_subscriptions import AT_CYCLE_END, cancel
from tests.billing.test_cancels_rate_limit import cancel_calls, linked_owners
from tests.billing.test_razorpay_cancel import razorpay_says
from tests.conftest import Owner, client_for, make_runtime
from tests.fakes.razorpay_server import FakeRazorpay
from tests.lifecycle.data import tick_due

STOPS = "trulybot_razorpay_cancel_sweeps_stopped_total"


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeRazorpay]:
    """An account of this module's own: no other module's rate limit mark holds its cancels."""
    with FakeRazorpay(key_id=f"rzp_test_stops{uuid.uuid4().hex[:8]}") as server:
        yield server


@pytest.fixture
async def bad_keys(
    billing_settings: Settings, db: Database, redis_client: Redis
) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    """The app whose Razorpay key secret is not the account's: every call answers 401."""
    settings = billing_settings.model_copy(update={"razorpay_key_secret": "revoked_0001"})
    async with make_runtime(settings, db, redis_client) as runtime, client_for(runtime) as client:
        yield runtime, client


async def rows(owner_db: Database, owners: list[tuple[Owner, str]]) -> list[dict[str, object]]:
    return [await sub_row(owner_db, owner.workspace_id) for owner, _ in owners]


async def all_sent_at_first_try(
    runtime: Runtime,
    client: httpx.AsyncClient,
    fake: FakeRazorpay,
    owner_db: Database,
    owners: list[tuple[Owner, str]],
    at: datetime,
) -> None:
    """The sweep at ``at`` sends every owner's cancel, each on its first attempt."""
    await tick_due(runtime, "razorpay_cancels", at)
    await runtime.jobs.drain()
    for (owner, sub_id), row in zip(owners, await rows(owner_db, owners), strict=True):
        assert (await subscription(client, owner))["razorpay_cancel"] == "at_cycle_end"
        assert fake.cancels(sub_id)[-1] == AT_CYCLE_END
        assert row["provider_cancel_attempts"] == 1, row


async def due_after_unreachable(
    runtime: Runtime, client: httpx.AsyncClient, fake: FakeRazorpay, count: int
) -> tuple[list[tuple[Owner, str]], datetime]:
    """``count`` linked owners who cancelled while Razorpay was unreachable (each one's own
    job found the connection closed): each cancel is due for the sweep, after one attempt.
    The owners, and when they cancelled."""
    owners = await linked_owners(client, fake, count)
    t0 = utcnow()
    fake.down = "close"
    for owner, _ in owners:
        assert (await cancel(client, owner)).status_code == 200
        await runtime.jobs.drain()
    fake.down = False
    return owners, t0


async def test_refused_keys_stop_the_sweep_at_the_first_401_and_burn_no_attempt(
    bad_keys: tuple[Runtime, httpx.AsyncClient],
    billing_runtime: Runtime,
    fake: FakeRazorpay,
    owner_db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime, client = bad_keys
    owners = await linked_owners(client, fake, 3)
    t0 = utcnow()
    for owner, _ in owners:  # each owner's own job asks once: 401
        assert (await cancel(client, owner)).status_code == 200
        await runtime.jobs.drain()
    for row in await rows(owner_db, owners):
        # Razorpay acted on nothing: no attempt counted, due as asked, the error saying why.
        assert row["provider_cancel"] == "cycle_end", row
        assert row["provider_cancel_attempts"] == 0, row
        assert row["provider_cancel_next_at"] == row["provider_cancel_requested_at"], row
        assert "API keys (HTTP 401)" in str(row["provider_cancel_error"]), row

    stops = metrics.sample(STOPS, {"reason": "keys_refused"})
    start = cancel_calls(fake)
    with caplog.at_level(logging.ERROR, logger="trulybot.billing"):
        await tick_due(runtime, "razorpay_cancels", t0 + timedelta(minutes=10))
        await runtime.jobs.drain()
    assert cancel_calls(fake) - start == 1  # the first 401 ended the job
    assert metrics.sample(STOPS, {"reason": "keys_refused"}) == stops + 1
    told = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(line.startswith(cancel_sweep.KEYS_REFUSED_STOP) for line in told), told
    for row in await rows(owner_db, owners):
        assert row["provider_cancel_attempts"] == 0, row
        assert row["provider_cancel_next_at"] == row["provider_cancel_requested_at"], row
    for owner, _ in owners:  # never sent: still the owner's to take back
        assert (await subscription(client, owner))["razorpay_cancel"] == "pending"

    # The operator sets the right keys: the next sweep sends them all, each on its first try.
    await all_sent_at_first_try(
        billing_runtime, client, fake, owner_db, owners, t0 + timedelta(minutes=15)
    )


@pytest.fixture
async def slow_razorpay(
    billing_settings: Settings, db: Database, redis_client: Redis
) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    """The app with a 1-second Razorpay timeout (the fixture's 5 would make this test slow)."""
    settings = billing_settings.model_copy(update={"razorpay_timeout_seconds": 1.0})
    async with make_runtime(settings, db, redis_client) as runtime, client_for(runtime) as client:
        yield runtime, client


async def test_razorpay_timing_out_stops_the_sweep_after_a_few_in_a_row(
    slow_razorpay: tuple[Runtime, httpx.AsyncClient], fake: FakeRazorpay, owner_db: Database
) -> None:
    runtime, client = slow_razorpay
    owners, t0 = await due_after_unreachable(
        runtime, client, fake, cancel_sweep.UNREACHABLE_IN_A_ROW + 2
    )
    attempts = sum(int(str(r["provider_cancel_attempts"])) for r in await rows(owner_db, owners))
    assert attempts == len(owners)

    fake.gate = threading.Event()  # Razorpay takes every call and answers none: timeouts
    stops = metrics.sample(STOPS, {"reason": "unreachable"})
    start = cancel_calls(fake)
    await tick_due(runtime, "razorpay_cancels", t0 + timedelta(minutes=10))
    await runtime.jobs.drain()
    assert cancel_calls(fake) - start == cancel_sweep.UNREACHABLE_IN_A_ROW
    assert metrics.sample(STOPS, {"reason": "unreachable"}) == stops + 1
    left = await rows(owner_db, owners)
    # The cancels after the stop were not tried: their attempts and backoff are as they were.
    assert sum(r["provider_cancel_attempts"] == 1 for r in left) >= 2, left

    fake.gate.set()
    fake.gate = None
    await tick_due(runtime, "razorpay_cancels", t0 + timedelta(minutes=20))
    await runtime.jobs.drain()
    for owner, _ in owners:
        assert (await subscription(client, owner))["razorpay_cancel"] == "at_cycle_end"


def test_the_stops_are_documented_with_their_values() -> None:
    """docs/billing.md names the constant, its value and the ERROR's stable start."""
    page = (Path(__file__).parents[2] / "docs" / "billing.md").read_text()
    assert "`UNREACHABLE_IN_A_ROW`" in page
    assert f"after {cancel_sweep.UNREACHABLE_IN_A_ROW} sends in a row" in page
    assert f"`{cancel_sweep.KEYS_REFUSED_STOP}`" in page


async def test_a_cancel_answered_401_then_withdrawn_reads_as_nothing_asked(
    bad_keys: tuple[Runtime, httpx.AsyncClient], fake: FakeRazorpay, owner_db: Database
) -> None:
    """A 401 leaves the cancel unsent, so the owner may resume: that takes it back whole.
    Before, the 401's error stayed on the row and the view read ``failed`` ("Razorpay refused
    to cancel the subscription that charges your card ..."): Razorpay refused nothing, and the
    owner had just chosen to keep the subscription."""
    runtime, client = bad_keys
    [(owner, _)] = await linked_owners(client, fake, 1)
    assert (await cancel(client, owner)).status_code == 200
    await runtime.jobs.drain()
    assert (await subscription(client, owner))["razorpay_cancel"] == "pending"
    assert "API keys (HTTP 401)" in str(
        (await sub_row(owner_db, owner.workspace_id))["provider_cancel_error"]
    )

    resumed = await client.post(owner.url("/billing/subscription/resume"), headers=owner.headers)
    assert resumed.status_code == 200, resumed.text
    for view in (resumed.json(), await subscription(client, owner)):
        assert view["razorpay_cancel"] is None, view
        assert view["razorpay_subscription"] == "active", view
    assert (await sub_row(owner_db, owner.workspace_id))["provider_cancel_error"] is None


async def test_a_cancel_with_nothing_to_send_does_not_restart_the_unreachable_count(
    billing_runtime: Runtime, bclient: httpx.AsyncClient, fake: FakeRazorpay, owner_db: Database
) -> None:
    """A due cancel the sweep finds with nothing to send (Razorpay's webhook ended the
    subscription meanwhile, another sender holds its claim) asked Razorpay nothing: it says
    nothing of whether Razorpay answers. Before, it started the count of unreachable sends in
    a row again, as an answer does: the job went on sending into the outage, one timeout each.

    The first send is held at the fake's gate while the second cancel's subscription ends.
    The job's sends of this test's cancels only, in their order: before, it ran the whole
    sweep and asserted these five came first among the due cancels, which failed whenever
    another test of the worker had left one due earlier (the first attempt's backoff is
    30 to 60 s at random, so even this test's own leftover came first about five runs in six)."""
    owners, t0 = await due_after_unreachable(
        billing_runtime, bclient, fake, cancel_sweep.UNREACHABLE_IN_A_ROW + 2
    )
    fake.down = True  # Razorpay answers every call 503 from now on
    ended = owners[1][1]  # the second the job sends
    assert billing_runtime.payments is not None

    stops = metrics.sample(STOPS, {"reason": "unreachable"})
    start = cancel_calls(fake)
    fake.arrived.clear()
    sends = cancel_sweep.send_each(
        billing_runtime.db,
        billing_runtime.payments,
        billing_runtime.lifecycle.razorpay_mark,
        [uuid.UUID(owner.workspace_id) for owner, _ in owners],
        now=t0 + timedelta(minutes=10),
    )
    fake.gate = threading.Event()
    try:
        sweep = asyncio.create_task(sends)
        assert await asyncio.to_thread(fake.arrived.wait, 30)  # the first send is at Razorpay
        await razorpay_says(bclient, fake, ended, "subscription.cancelled", "cancelled")
        fake.gate.set()
        left = await sweep
    finally:
        fake.gate.set()
        fake.gate = None
    # The first, third and fourth were unreachable: three in a row; the fifth is not sent.
    assert cancel_calls(fake) - start == cancel_sweep.UNREACHABLE_IN_A_ROW
    assert left == 1
    # (The owners' own jobs found the connection closed: the fake recorded no request.)
    assert fake.cancels(ended) == []
    assert fake.cancels(owners[4][1]) == []
    assert metrics.sample(STOPS, {"reason": "unreachable"}) == stops + 1


async def test_a_429_burns_no_attempt_of_the_cancel_that_got_it(
    billing_runtime: Runtime, bclient: httpx.AsyncClient, fake: FakeRazorpay, owner_db: Database
) -> None:
    """Razorpay's 429 is the account's rate limit: the mark holds every send until it passes,
    and Razorpay acted on nothing. Before, the cancel that got it counted an attempt and backed
    off on its own as well (its backoff doubling with each 429 of the account's, and ``sent``
    saying it may have reached Razorpay: the owner could no longer withdraw it). Now its claim
    is given back as after a 401: no attempt counted, due as it was, the error saying why."""
    owners = await linked_owners(bclient, fake, 2)
    t0 = utcnow()
    fake.throttle_from(1)
    start = cancel_calls(fake)
    for owner, _ in owners:  # the first owner's job is answered 429; the second's waits
        assert (await cancel(bclient, owner)).status_code == 200
        await billing_runtime.jobs.drain()
    assert cancel_calls(fake) - start == 1
    for row in await rows(owner_db, owners):
        assert row["provider_cancel"] == "cycle_end", row
        assert row["provider_cancel_attempts"] == 0, row
        assert row["provider_cancel_next_at"] == row["provider_cancel_requested_at"], row
    first = (await rows(owner_db, owners))[0]
    assert "HTTP 429" in str(first["provider_cancel_error"]), first
    for owner, _ in owners:  # never taken by Razorpay: still the owner's to take back
        assert (await subscription(bclient, owner))["razorpay_cancel"] == "pending"

    # Still rate limited once the mark passed: the sweep asks once, stops, counts nothing.
    stops = metrics.sample(STOPS, {"reason": "rate_limited"})
    start = cancel_calls(fake)
    await tick_due(billing_runtime, "razorpay_cancels", t0 + timedelta(minutes=10))
    await billing_runtime.jobs.drain()
    assert cancel_calls(fake) - start == 1
    assert metrics.sample(STOPS, {"reason": "rate_limited"}) == stops + 1
    for row in await rows(owner_db, owners):
        assert row["provider_cancel_attempts"] == 0, row
        assert row["provider_cancel_next_at"] == row["provider_cancel_requested_at"], row

    # The limit lifts: the first sweep after the mark (2 minutes: the second strike) sends
    # them all, each on its first attempt.
    fake.throttle_from(None)
    await all_sent_at_first_try(
        billing_runtime, bclient, fake, owner_db, owners, t0 + timedelta(minutes=15)
    )


async def test_unreachable_at_the_last_due_cancel_is_no_stop(
    billing_runtime: Runtime,
    bclient: httpx.AsyncClient,
    fake: FakeRazorpay,
    owner_db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Razorpay unreachable for the job's last ``UNREACHABLE_IN_A_ROW`` cancels: every due
    cancel was tried, none left, so the job was not stopped. Before, it counted a stop
    (``reason="unreachable"``) and logged "0 due cancels left for the next sweep": an alert
    on stops fired for a job that had done all it had to. (The sends of this test's cancels
    only: other tests' cancels waiting in the shared database are no part of it.)"""
    owners, t0 = await due_after_unreachable(
        billing_runtime, bclient, fake, cancel_sweep.UNREACHABLE_IN_A_ROW
    )
    fake.down = True  # Razorpay answers every call 503 from now on
    workspaces = [uuid.UUID(owner.workspace_id) for owner, _ in owners]
    assert billing_runtime.payments is not None

    stops = metrics.sample(STOPS, {"reason": "unreachable"})
    start = cancel_calls(fake)
    with caplog.at_level(logging.WARNING, logger="trulybot.billing"):
        left = await cancel_sweep.send_each(
            billing_runtime.db,
            billing_runtime.payments,
            billing_runtime.lifecycle.razorpay_mark,
            workspaces,
            now=t0 + timedelta(minutes=10),
        )
    assert cancel_calls(fake) - start == cancel_sweep.UNREACHABLE_IN_A_ROW  # all tried
    assert left == 0
    assert metrics.sample(STOPS, {"reason": "unreachable"}) == stops
    told = [r.getMessage() for r in caplog.records]
    assert not any(line.startswith("razorpay cancels stopped") for line in told), told
