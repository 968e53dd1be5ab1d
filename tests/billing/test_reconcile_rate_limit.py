"""Razorpay's rate limit (429) reached in the middle of `trulybot billing reconcile`.

Before, the run went on and asked Razorpay again for every order and deferred charge left,
each answered 429 (the rate limit is the account's: the live checkouts and verifies share it).
Now the first 429 stops the run, as a 401 does: what was left is counted and said, nothing of
it is recorded, and the next run checks it.

The real ``razorpay`` client against the local fake, made to answer 429 from the Nth call.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from api.commands.billing import exit_code, summary
from api.runtime import Runtime
from billing import reconcile_resume
from billing.reconcile import RATE_LIMITED_STOP, ReconcileReport, reconcile
from core.embedded import EmbeddedPostgres
from tests.billing.conftest import BillingWorld, create_order, event_rows, order_row
from tests.cli_process import run_trulybot_here
from tests.conftest import APP_ROLE, REDIS_URL


async def _reconciled_since(
    runtime: Runtime, since: datetime, *, resumed: bool = False
) -> ReconcileReport:
    """Reconcile over the window from ``since`` (this test's orders only: the database is
    shared with other tests), nothing held back for the webhook; ``resumed``: from where the
    last stopped run left off, kept in Redis, as the command does."""
    assert runtime.payments is not None
    now = datetime.now(UTC)
    report = await reconcile(
        runtime.db,
        runtime.payments,
        older_than=now - now,
        within=now - since,
        now=now,
        resume_after=await reconcile_resume.load(runtime.redis) if resumed else None,
    )
    if resumed:
        await reconcile_resume.save(runtime.redis, report.resume_after)
    return report


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


async def test_runs_stopped_at_the_same_call_each_time_still_reach_every_order(
    world: BillingWorld,
) -> None:
    """Razorpay rate limits every run at its 2nd call. Each run started from the oldest order:
    the same one was checked every time and the newest, paid, never. Now a run starts after
    the last order the stopped one checked (kept in Redis), and goes round to the oldest."""
    bclient, runtime, owner, fake, owner_db = world
    assert runtime.redis is not None
    await runtime.redis.delete(reconcile_resume.RESUME_KEY)
    since = datetime.now(UTC)
    orders = [await create_order(bclient, owner, plan) for plan in ("starter", "pro") * 2]
    ids = [o["razorpay_order_id"] for o in orders]
    paid = fake.capture_payment(ids[-1])

    first_asked = []
    for _ in ids:
        asked = len(fake.requests)
        fake.throttle_from(2)
        report = await _reconciled_since(runtime, since, resumed=True)
        fake.throttle_from(None)
        first_asked.append(fake.requests[asked].path)
        assert report.rate_limited, report
    assert first_asked == [f"/v1/orders/{i}/payments" for i in ids]
    assert f"{ids[-1]}: {paid['id']} applied" in report.details, report.details
    assert (await order_row(owner_db, ids[-1]))["status"] == "paid"
    # The last run checked the newest order, then went round to the oldest (429): kept.
    orders_key = report.resume_after
    assert orders_key is not None
    assert await reconcile_resume.load(runtime.redis) == orders_key

    report = await _reconciled_since(runtime, since, resumed=True)  # the limit lifted
    assert (report.rate_limited, report.resume_after) == (False, None), report
    assert await reconcile_resume.load(runtime.redis) is None


async def test_the_command_says_where_it_stopped_and_its_next_run_starts_there(
    world: BillingWorld, pg: EmbeddedPostgres, tmp_path: Path
) -> None:
    """`trulybot billing reconcile` as cron runs it: the stop said, what was left counted, exit
    1; the next run starts after the last order the stopped one checked. (Its window, an hour
    at least, holds other tests' orders and deferred charges too: only orders' lookups are
    followed, and the 429 is this test's second order's.)"""
    bclient, runtime, owner, fake, _ = world
    assert runtime.redis is not None
    await runtime.redis.delete(reconcile_resume.RESUME_KEY)
    paths = [
        f"/v1/orders/{(await create_order(bclient, owner, plan))['razorpay_order_id']}/payments"
        for plan in ("starter", "pro", "starter")
    ]
    env = {
        "DATABASE_URL": pg.app_url(APP_ROLE),
        "REDIS_URL": REDIS_URL,
        "DATA_DIR": str(tmp_path),
        "JWT_SECRET": "reconcile-429-" + "s" * 40,
        "LOG_JSON": "false",
        "RAZORPAY_KEY_ID": fake.key_id,
        "RAZORPAY_KEY_SECRET": fake.key_secret,
        "RAZORPAY_BASE_URL": fake.base_url,
    }
    args = ("billing", "reconcile", "--older-than-minutes", "0", "--within-days", "0.05")

    def lookups(since: int) -> list[str]:
        return [r.path for r in fake.requests[since:] if r.path.startswith("/v1/orders/")]

    asked = len(fake.requests)
    fake.throttled_paths.add(paths[1])
    run = await run_trulybot_here(*args, env=env)
    fake.throttled_paths.clear()
    assert run.code == 1, run.out
    assert f"  {RATE_LIMITED_STOP}" in run.out.splitlines(), run.out
    summary_line = run.out.strip().splitlines()[-1]
    assert "not checked (run stopped): " in summary_line, run.out
    assert lookups(asked)[-2:] == paths[:2]  # nothing asked after the 429
    assert await reconcile_resume.load(runtime.redis) is not None

    asked = len(fake.requests)
    run = await run_trulybot_here(*args, env=env)
    resumed = lookups(asked)
    assert "run stopped" not in run.out, run.out
    # Started with the order answered 429, round to the one the stopped run checked last.
    assert resumed[:2] == paths[1:], resumed
    assert resumed[-1] == paths[0], resumed
    assert await reconcile_resume.load(runtime.redis) is None
