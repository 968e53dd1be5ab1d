"""The ``razorpay_cancels`` sweep's single job (``send_razorpay_cancels``, keyed: one waits or
runs at a time) during a rolling upgrade: a previous-release worker takes it and fails it
(arq: function not found), keeping that failure as the job's result for an hour (its
``keep_result`` default). arq refuses an id whose result is kept, so before, every sweep of
that hour enqueued nothing and no waiting cancel was sent again, where docs/deploy.md says the
next sweep enqueues it again. Real Redis, a real arq worker of the previous release's kind.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from arq.connections import RedisSettings
from arq.worker import Worker, func

from api.runtime import Runtime
from billing import cancel_sweep
from core.jobs import ArqQueue
from core.models import utcnow
from tests.conftest import REDIS_URL, RuntimeFactory
from tests.lifecycle.data import tick_due

SWEEP_KEYS = (f"arq:job:{cancel_sweep.SWEEP_JOB_ID}", f"arq:result:{cancel_sweep.SWEEP_JOB_ID}")


async def _previous_release_cancel(ctx: dict[str, Any], workspace_id: str, now: str) -> None:
    """The previous release knew the per-cancel job only."""


async def previous_release_worker(queue_name: str) -> None:
    """A previous-release worker takes what waits (arq's defaults: results kept an hour)."""
    worker = Worker(
        functions=[func(_previous_release_cancel, name="cancel_razorpay_subscription")],
        redis_settings=RedisSettings.from_dsn(REDIS_URL),
        queue_name=queue_name,
        burst=True,
        handle_signals=False,
        poll_delay=0.05,
    )
    try:
        await worker.main()
    finally:
        await worker.close()


@pytest.fixture
async def arq_billing(runtime_factory: RuntimeFactory) -> AsyncIterator[tuple[Runtime, ArqQueue]]:
    """Billing on (an account of its own: no other test's rate limit mark holds it), jobs to
    an arq queue of their own that no worker of this release takes."""
    queue_name = f"trulybot-test-{uuid.uuid4().hex[:8]}"
    queue = await ArqQueue.connect(REDIS_URL, queue_name=queue_name)
    await queue.pool.delete(*SWEEP_KEYS)
    try:
        async with runtime_factory(
            jobs=queue,
            razorpay_key_id=f"rzp_test_rollout{uuid.uuid4().hex[:8]}",
            razorpay_key_secret="rollout-secret",
            razorpay_webhook_secret=["whsec_rollout"],
            razorpay_base_url="http://127.0.0.1:9",  # nothing is sent to Razorpay here
        ) as runtime:
            try:
                yield runtime, queue
            finally:  # emptied before the runtime closes: its drain waits for the queue
                await queue.pool.delete(queue_name, *SWEEP_KEYS)
    finally:
        await queue.close()


async def test_the_sweep_job_a_previous_release_worker_failed_is_enqueued_again(
    arq_billing: tuple[Runtime, ArqQueue],
) -> None:
    runtime, queue = arq_billing
    queue_name = queue.queue_name
    assert queue_name is not None

    async def waiting() -> list[str]:
        return [j.function for j in await queue.pool.queued_jobs(queue_name=queue_name)]

    t0 = utcnow()
    await tick_due(runtime, "razorpay_cancels", t0)
    assert await waiting() == [cancel_sweep.SWEEP_JOB]
    await tick_due(runtime, "razorpay_cancels", t0 + timedelta(minutes=5))
    assert await waiting() == [cancel_sweep.SWEEP_JOB]  # one at a time

    await previous_release_worker(queue_name)  # function not found: failed, result kept
    assert await waiting() == []

    await tick_due(runtime, "razorpay_cancels", t0 + timedelta(minutes=10))
    assert await waiting() == [cancel_sweep.SWEEP_JOB]
