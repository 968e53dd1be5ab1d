"""``RateLimitMark.answered`` and ``limited`` against a 429 another worker records meanwhile,
on a real Redis.

``answered`` reads the account's mark and forgets it once it has passed. Before, it deleted the
key whatever it held by then: a 429 another worker recorded between that read and the delete
(a fresh mark, one strike more) was lost, and every process sent cancels into Razorpay's rate
limit again. Now the delete is a compare-and-delete (one Lua script): the key goes only while
it still holds the mark that was read.

``limited`` likewise reads the mark and sets the next: it now sets it only while the key still
holds what it read (a compare-and-set), else reads again (test at the end).

The interleaving is made, not waited for: the client ``answered`` uses runs the other worker's
429 right after its GET answered, before ``answered`` goes on. No sleeps.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from billing.rate_limit_mark import KEY_PREFIX, Mark, RateLimitMark
from core.models import utcnow
from tests.conftest import REDIS_URL


class AfterRead(Redis):
    """A real Redis client that runs ``step`` once, after its next GET answered and before the
    caller sees the answer: what another process did between that read and the next command."""

    step: Callable[[], Awaitable[Any]] | None = None
    ran = False

    async def get(self, name: Any) -> Any:
        value = await super().get(name)
        if (step := self.step) is not None:
            self.step = None
            await step()
            self.ran = True
        return value


@pytest.fixture
async def after_read(redis_client: Redis) -> AsyncIterator[AfterRead]:
    client = AfterRead.from_url(REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


async def test_a_429_recorded_between_the_read_and_the_delete_is_kept(
    after_read: AfterRead, redis_client: Redis
) -> None:
    account = f"rzp_test_race{uuid.uuid4().hex[:8]}"
    this_worker = RateLimitMark(after_read)
    other_worker = RateLimitMark(redis_client)
    at = utcnow()
    assert await this_worker.limited(account, at, None) == Mark(at + timedelta(minutes=1), 1)

    later = at + timedelta(minutes=5)  # the mark passed: this worker's cancel was answered...
    after_read.step = lambda: other_worker.limited(account, later, None)  # ...as another's 429s
    await this_worker.answered(account, later)
    assert after_read.ran
    kept = Mark(later + timedelta(minutes=2), 2)  # the other worker's 429: the second strike
    assert await RateLimitMark(redis_client).get(account) == kept
    assert await this_worker.until(account, later) == kept.until

    # Nothing in between: a passed mark is forgotten, strikes and all, as before.
    after_it = kept.until + timedelta(seconds=1)
    await this_worker.answered(account, after_it)
    assert await redis_client.get(KEY_PREFIX + account) is None
    assert await this_worker.get(account) is None


@pytest.mark.parametrize(
    ("other_retry_after", "this_after", "kept"),
    [
        # The other worker's 429 (the second strike, 2 minutes) passed before this one's: the
        # third strike, 4 minutes. Before, this worker counted from the first strike it had
        # read: a second strike again, 2 minutes, the other's lost.
        (None, timedelta(minutes=3), (timedelta(minutes=3 + 4), 3)),
        # The other worker's 429 said Retry-After 30 minutes; this one's, at the same moment,
        # is of the same episode. Before, this worker's 2 minutes replaced the 30.
        (1800.0, timedelta(0), (timedelta(minutes=30), 2)),
    ],
    ids=["a-strike-after-the-others", "beside-the-others-retry-after"],
)
async def test_a_429_recorded_between_the_read_and_the_set_is_counted(
    after_read: AfterRead,
    redis_client: Redis,
    other_retry_after: float | None,
    this_after: timedelta,
    kept: tuple[timedelta, int],
) -> None:
    """Two workers' 429s at once: ``limited`` reads the mark, then sets the next. Before, a
    429 another worker recorded between this one's read and its set was overwritten by a mark
    counted from the read: a strike lost (the back-off doubled less), or Razorpay's longer
    ``Retry-After`` shortened. Now the set is a compare-and-set (one Lua script): the key
    changed since the read, this worker reads it again and counts on top of it."""
    account = f"rzp_test_race{uuid.uuid4().hex[:8]}"
    this_worker = RateLimitMark(after_read)
    other_worker = RateLimitMark(redis_client)
    at = utcnow()
    assert (await other_worker.limited(account, at, None)).strikes == 1

    later = at + timedelta(minutes=5)  # the first mark passed; both workers get a 429
    after_read.step = lambda: other_worker.limited(account, later, other_retry_after)
    mark = await this_worker.limited(account, later + this_after, None)
    assert after_read.ran
    expected = Mark(later + kept[0], kept[1])
    assert mark == expected
    assert await RateLimitMark(redis_client).get(account) == expected
    ttl = await redis_client.ttl(KEY_PREFIX + account)
    assert 0 < ttl <= (expected.until - later - this_after + timedelta(hours=1)).total_seconds()
