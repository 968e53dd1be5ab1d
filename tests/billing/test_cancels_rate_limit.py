"""Razorpay's rate limit (429) is the account's, shared with the owners' live checkouts: the
cancels of linked Razorpay Subscriptions back off as a whole.

Before, the ``razorpay_cancels`` sweep sent every due cancel after the first 429, and since each
waiting cancel backed off on the same schedule (1 minute doubling, no jitter) they stayed in
step: five waiting cancels answered 429 cost five calls a sweep. Now the first 429 stops the
sends still to come, and a shared "rate limited until" mark (Redis, or this process without
it) holds every path that sends a cancel (the job after the owner's cancel, the sweep, a
purge) until it passes; it doubles while Razorpay keeps answering 429, and follows Razorpay's
``Retry-After`` (an hour at most).

The real app and the real ``razorpay`` client against the local fake; the clock is driven.
"""

from __future__ import annotations

import logging
import socket
from datetime import timedelta
from email.utils import format_datetime

import httpx
import pytest
from redis.asyncio import Redis

from api.runtime import Runtime
from billing import provider_cancels
from billing.rate_limit_mark import Mark, RateLimitMark, next_mark
from core.db import Database
from core.models import utcnow
from tests.billing.conftest import subscription
from tests.billing.razorpay_subscriptions import AT_CYCLE_END, NOW, cancel, linked
from tests.billing.test_razorpay_cancel import delete_account, workspace_exists
from tests.conftest import Owner, signup
from tests.fakes.razorpay_server import FakeRazorpay
from tests.lifecycle.data import tick_due


def cancel_calls(fake: FakeRazorpay) -> int:
    """The cancel requests the fake received, of any subscription (a cancel another test left
    waiting in the session's database is sent by these sweeps too: it counts against the
    account's rate limit as ours do)."""
    return sum(
        1
        for r in fake.requests
        if r.path.startswith("/v1/subscriptions/") and r.path.endswith("/cancel")
    )


async def linked_owners(
    client: httpx.AsyncClient, fake: FakeRazorpay, count: int
) -> list[tuple[Owner, str]]:
    """``count`` workspaces, each linked to a Razorpay Subscription of its own."""
    out = []
    for n in range(count):
        owner = await signup(client, f"Throttled {n}")
        out.append((owner, await linked(client, owner, fake)))
    return out


async def all_cancel(
    client: httpx.AsyncClient, runtime: Runtime, fake: FakeRazorpay, owners: list[tuple[Owner, str]]
) -> int:
    """Razorpay answers every call 429 from now on; each owner cancels in turn (its job run
    before the next cancels): how many cancel calls Razorpay received for them all."""
    fake.throttle_from(1)
    start = cancel_calls(fake)
    for owner, _ in owners:
        assert (await cancel(client, owner)).status_code == 200
        await runtime.jobs.drain()
    return cancel_calls(fake) - start


async def test_the_first_429_stops_the_other_cancels_and_the_account_backs_off_as_a_whole(
    bclient: httpx.AsyncClient, billing_runtime: Runtime, fake: FakeRazorpay
) -> None:
    """Five owners cancel while Razorpay answers every call 429: one call, not five; then one
    call a sweep at most, none while the mark (1 minute, doubling) holds; once the limit lifts
    every cancel goes through: none was given up or lost."""
    owners = await linked_owners(bclient, fake, 5)
    t0 = utcnow()
    start = cancel_calls(fake)
    counted = [await all_cancel(bclient, billing_runtime, fake, owners)]
    for minutes in (10, 20, 30, 40, 60, 90, 150):
        await tick_due(billing_runtime, "razorpay_cancels", t0 + timedelta(minutes=minutes))
        await billing_runtime.jobs.drain()
        counted.append(cancel_calls(fake) - start)
    # The mark after each 429: 1, 2, 4, 8, 16, 32 minutes (held at +90: until +92), 60.
    assert counted == [1, 2, 3, 4, 5, 6, 6, 7]
    for owner, _ in owners:
        assert (await subscription(bclient, owner))["razorpay_cancel"] == "pending"

    fake.throttle_from(None)
    await tick_due(billing_runtime, "razorpay_cancels", t0 + timedelta(minutes=211))
    await billing_runtime.jobs.drain()
    for owner, sub_id in owners:
        assert (await subscription(bclient, owner))["razorpay_cancel"] == "at_cycle_end"
        assert fake.cancels(sub_id)[-1] == AT_CYCLE_END
        assert fake.subscriptions[sub_id]["cancel_at_cycle_end"] is True


async def test_without_redis_the_mark_holds_the_cancels_of_this_process(
    without_redis: tuple[Runtime, httpx.AsyncClient], fake: FakeRazorpay
) -> None:
    runtime, client = without_redis
    assert runtime.redis is None
    owners = await linked_owners(client, fake, 2)
    t0 = utcnow()
    assert await all_cancel(client, runtime, fake, owners) == 1  # the second waits for the mark

    fake.throttle_from(None)
    await tick_due(runtime, "razorpay_cancels", t0 + timedelta(minutes=5))
    await runtime.jobs.drain()
    for owner, sub_id in owners:
        assert (await subscription(client, owner))["razorpay_cancel"] == "at_cycle_end"
        assert fake.cancels(sub_id)[-1] == AT_CYCLE_END


@pytest.mark.parametrize(
    ("retry_after", "held_minutes"),
    [("1800", 30), ("http-date", 45), ("86400", 60)],  # seconds; a date; bounded to an hour
    ids=["seconds", "http-date", "a-day-bounded-to-an-hour"],
)
async def test_razorpays_retry_after_is_honoured_up_to_an_hour(
    bclient: httpx.AsyncClient,
    billing_runtime: Runtime,
    fake: FakeRazorpay,
    retry_after: str,
    held_minutes: int,
) -> None:
    [(owner, sub_id)] = await linked_owners(bclient, fake, 1)
    fake.throttle_from(1)
    if retry_after == "http-date":  # the moment, in 45 minutes (RFC 9110's other form)
        retry_after = format_datetime(utcnow() + timedelta(minutes=held_minutes), usegmt=True)
    fake.retry_after = retry_after
    t0 = utcnow()
    assert (await cancel(bclient, owner)).status_code == 200
    await billing_runtime.jobs.drain()
    assert fake.cancels(sub_id) == [AT_CYCLE_END]  # answered 429

    fake.throttle_from(None)
    await tick_due(billing_runtime, "razorpay_cancels", t0 + timedelta(minutes=held_minutes - 2))
    await billing_runtime.jobs.drain()
    assert fake.cancels(sub_id) == [AT_CYCLE_END]  # Razorpay said not yet
    await tick_due(billing_runtime, "razorpay_cancels", t0 + timedelta(minutes=held_minutes + 1))
    await billing_runtime.jobs.drain()
    assert fake.cancels(sub_id) == [AT_CYCLE_END, AT_CYCLE_END]
    assert (await subscription(bclient, owner))["razorpay_cancel"] == "at_cycle_end"


async def test_a_purge_while_rate_limited_waits_without_asking_then_purges(
    bclient: httpx.AsyncClient, billing_runtime: Runtime, fake: FakeRazorpay, owner_db: Database
) -> None:
    """The purge is the last chance to send a deleted workspace's cancel: while the account is
    rate limited it waits (as while Razorpay is down) rather than spend a call Razorpay would
    answer 429, and purges once the cancel went through."""
    [(first, _)] = await linked_owners(bclient, fake, 1)
    fake.throttle_from(1)
    t0 = utcnow()
    assert (await cancel(bclient, first)).status_code == 200
    await billing_runtime.jobs.drain()  # answered 429: the account is marked

    leaving = await signup(bclient, "Leaving While Throttled")
    sub_id = await linked(bclient, leaving, fake)
    await delete_account(bclient, leaving)  # no grace: the purge runs now
    await billing_runtime.jobs.drain()
    assert fake.cancels(sub_id) == []  # nothing asked while the mark holds
    assert await workspace_exists(owner_db, leaving.workspace_id)

    fake.throttle_from(None)
    await tick_due(billing_runtime, "purge_deleted_workspaces", t0 + timedelta(minutes=10))
    await billing_runtime.jobs.drain()
    assert fake.cancels(sub_id) == [NOW]
    assert not await workspace_exists(owner_db, leaving.workspace_id)


def test_a_cancels_backoff_is_jittered_so_waiting_cancels_fall_out_of_step() -> None:
    """Between half and all of its step (1 minute doubling, an hour at most): before, every
    cancel answered at one sweep came due again at the same sweep, for good."""
    for attempt, step in [
        (1, timedelta(minutes=1)),
        (3, timedelta(minutes=4)),
        (9, timedelta(hours=1)),
    ]:
        waits = {provider_cancels._backoff(attempt) for _ in range(40)}
        assert all(step / 2 <= wait <= step for wait in waits), (attempt, sorted(waits))
        assert len(waits) > 1, (attempt, waits)


def test_a_429_to_a_call_sent_before_the_mark_moves_it_but_adds_no_strike() -> None:
    """Calls in flight together (workers, an owner's job beside the sweep) answered 429 are
    one episode: the mark doubles per 429 after it passed, not per call."""
    at = utcnow()
    first = next_mark(None, at, None)
    assert first == Mark(at + timedelta(minutes=1), 1)
    beside = next_mark(first, at + timedelta(seconds=5), None)
    assert beside == first  # same episode: neither later nor doubled
    told = next_mark(first, at + timedelta(seconds=5), 600.0)  # ...unless Razorpay says later
    assert told == Mark(at + timedelta(seconds=605), 1)
    after = next_mark(first, at + timedelta(minutes=5), None)
    assert after == Mark(at + timedelta(minutes=7), 2)
    worn = next_mark(Mark(at, 30), at, 10 * 3600.0)  # an hour at most, strikes or Retry-After
    assert worn.until == at + timedelta(hours=1)


async def test_redis_failing_the_mark_is_kept_and_read_in_this_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis configured but refusing connections: the 429 still holds this process's cancels
    (a WARNING each way), rather than failing the send or forgetting the limit."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = Redis.from_url(f"redis://127.0.0.1:{port}/0", socket_connect_timeout=1)
    mark = RateLimitMark(dead)
    at = utcnow()
    try:
        with caplog.at_level(logging.WARNING, logger="trulybot.billing"):
            await mark.limited("rzp_test_dead", at, None)
            assert await mark.until("rzp_test_dead", at) == at + timedelta(minutes=1)
    finally:
        await dead.aclose()
    said = [r.getMessage() for r in caplog.records]
    assert any("not kept" in line for line in said), said
    assert any("not read" in line for line in said), said


async def test_without_redis_the_strikes_are_forgotten_an_hour_after_the_mark_passed() -> None:
    """Redis forgets the mark an hour after it passed (the key's expiry), so a 429 later starts
    again at a minute; this process's copy kept the strikes for good: without Redis a 429 days
    later held the cancels for 2 minutes, then 4... (an hour after seven), as one episode."""
    mark = RateLimitMark(None)
    at = utcnow()
    assert (await mark.limited("rzp_test_memory", at, None)).strikes == 1
    later = at + timedelta(hours=3)
    assert await mark.limited("rzp_test_memory", later, None) == Mark(
        later + timedelta(minutes=1), 1
    )
    soon = later + timedelta(minutes=30)  # within the hour after it passed: still doubles
    assert (await mark.limited("rzp_test_memory", soon, None)).strikes == 2
