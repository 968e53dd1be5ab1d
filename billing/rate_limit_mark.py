"""The Razorpay account's "rate limited until" mark, shared by everything that sends a cancel.

Razorpay's rate limit is the account's, shared with the owners' live checkouts: once it answered
429, a cancel sent before the limit lifts only spends it again. Any call's 429 marks it, a
checkout's or reconcile's as a cancel's (billing/provider_marking.py). ``RateLimitMark.limited``
marks the account (the Razorpay key id) until a moment: 1 minute after the first 429, doubling
with each 429 after the mark passed (``strikes``), an hour at most, and never before Razorpay's
``Retry-After`` (bounded to an hour by ``billing.provider``). A 429 while the mark holds (a call
sent before it was set, beside the one that set it) adds no strike and moves the moment only to
Razorpay's later ``Retry-After``.
``answered`` forgets the strikes once Razorpay answers a call (a cancel, or any other through
billing/provider_marking.py) after the mark passed: it deletes the key only while it still
holds the mark it read (a compare-and-delete, one Lua script), so a 429 another worker records
in between stays. Before, the delete took whatever
the key held by then, and that 429's mark was lost. ``limited`` sets the next mark likewise
only while the key still holds the mark it counted from (a compare-and-set, one Lua script);
another worker's 429 recorded in between makes it read and count again (``SWAPS`` times at
most). Before, it set whatever it had counted: two workers' 429s at once lost a strike (the
back-off doubled less) or shortened Razorpay's longer ``Retry-After`` to its own wait.

Kept in Redis when configured (every process and worker sees it; the key lives an hour past
the mark, so a 429 soon after it passed still doubles), and always in this process as well:
without Redis (one process) that is the mark, and Redis failing reads this process's copy
(a WARNING). The moments are the callers' clock (the sweep's time), as the cancels' own
backoff is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

log = logging.getLogger("trulybot.billing")

KEY_PREFIX: Final = "trulybot:billing:razorpay:rate-limited:"
FIRST: Final = timedelta(minutes=1)
MOST: Final = timedelta(hours=1)
# How long the strikes are remembered after the mark passed.
REMEMBERED: Final = timedelta(hours=1)


# Sets KEYS[1] to ARGV[2] (expiring in ARGV[3] seconds) only while it holds ARGV[1], the value
# read ('': no key then): 1 when set, else 0 (another process wrote it meanwhile).
_SET_IF_UNCHANGED: Final = """
local current = redis.call('GET', KEYS[1])
if (current == false and ARGV[1] == '') or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
  return 1
end
return 0
"""
# How many times ``limited`` reads again after another process's 429 changed the mark first.
SWAPS: Final = 8

# Deletes KEYS[1] only while it holds ARGV[1] (the value read): 1 when deleted, else 0.
_DELETE_IF_UNCHANGED: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class Mark:
    until: datetime
    strikes: int


def next_mark(previous: Mark | None, at: datetime, retry_after: float | None) -> Mark:
    """The mark after a 429 answered at ``at`` (``retry_after``: Razorpay's, in seconds)."""
    told = None if retry_after is None else min(timedelta(seconds=retry_after), MOST)
    if previous is not None and previous.until + REMEMBERED <= at:
        # Forgotten, as Redis' key expires: this process's copy (no Redis) kept the strikes
        # for good, and a 429 days later doubled the last episode's wait.
        previous = None
    if previous is not None and previous.until > at:  # a call in flight when it was set
        later = previous.until if told is None else max(previous.until, at + told)
        return Mark(later, previous.strikes)
    strikes = (previous.strikes if previous else 0) + 1
    wait = min(FIRST * 2 ** min(strikes - 1, 16), MOST)
    return Mark(at + (wait if told is None else max(wait, told)), strikes)


def _encode(mark: Mark) -> str:
    return f"{mark.until.isoformat()}|{mark.strikes}"


def _decode(raw: bytes | str) -> Mark | None:
    text = raw.decode() if isinstance(raw, bytes) else raw
    until, _, strikes = text.partition("|")
    try:
        return Mark(datetime.fromisoformat(until), int(strikes))
    except ValueError:
        return None


def _expiry(mark: Mark, at: datetime) -> int:
    """Seconds the key lives: ``REMEMBERED`` past the mark."""
    return max(int((mark.until - at + REMEMBERED).total_seconds()), 1)


class RateLimitMark:
    """One per process (``LifecycleDeps.razorpay_mark``); ``account`` is the Razorpay key id."""

    def __init__(self, redis: Redis | None) -> None:
        self._redis = redis
        self._memory: dict[str, Mark] = {}
        self._delete_if_unchanged: AsyncScript | None = (
            None if redis is None else redis.register_script(_DELETE_IF_UNCHANGED)
        )
        self._set_if_unchanged: AsyncScript | None = (
            None if redis is None else redis.register_script(_SET_IF_UNCHANGED)
        )

    async def _stored(self, account: str) -> tuple[Mark | None, bytes | str | None] | None:
        """The mark in Redis and the value it was read from (None, None: no key); None
        without Redis, or when Redis failed (a WARNING)."""
        if self._redis is None:
            return None
        try:
            raw = await self._redis.get(KEY_PREFIX + account)
        except RedisError as exc:
            log.warning("razorpay rate limit mark not read (%s): this process's is used", exc)
            return None
        return (None if raw is None else _decode(raw)), raw

    async def get(self, account: str) -> Mark | None:
        stored = await self._stored(account)
        return self._memory.get(account) if stored is None else stored[0]

    async def until(self, account: str, now: datetime) -> datetime | None:
        """When the account's mark passes, while it holds at ``now``; else None."""
        mark = await self.get(account)
        return mark.until if mark is not None and mark.until > now else None

    async def limited(self, account: str, at: datetime, retry_after: float | None) -> Mark:
        """Razorpay answered 429 at ``at``: the account is marked (``next_mark``). In Redis the
        mark is set only while the key still holds what was read (a compare-and-set, one Lua
        script); another process's 429 recorded in between makes it read and count again."""
        for _ in range(SWAPS):
            stored = await self._stored(account)
            previous = self._memory.get(account) if stored is None else stored[0]
            mark = next_mark(previous, at, retry_after)
            self._memory[account] = mark
            if stored is None:  # no Redis, or it failed the read: this process's copy
                await self._set(account, mark, at)
                return mark
            if await self._swap(account, stored[1], mark, at):
                return mark
        log.warning("razorpay rate limit mark not kept: changed %d times while being set", SWAPS)
        return mark

    async def _set(self, account: str, mark: Mark, at: datetime) -> None:
        if self._redis is None:
            return
        try:
            await self._redis.set(KEY_PREFIX + account, _encode(mark), ex=_expiry(mark, at))
        except RedisError as exc:
            log.warning("razorpay rate limit mark not kept (%s): this process's only", exc)

    async def _swap(self, account: str, read: bytes | str | None, mark: Mark, at: datetime) -> bool:
        """The mark set in Redis if the key still holds ``read``; False when it changed (or
        Redis failed: a WARNING, this process's copy kept, nothing to read again)."""
        script = self._set_if_unchanged
        if script is None:
            return True
        args = ["" if read is None else read, _encode(mark), _expiry(mark, at)]
        try:
            return bool(await script(keys=[KEY_PREFIX + account], args=args))
        except RedisError as exc:
            log.warning("razorpay rate limit mark not kept (%s): this process's only", exc)
            return True

    async def answered(self, account: str, at: datetime) -> None:
        """Razorpay answered a call (not 429) at ``at``: a mark that passed is forgotten,
        strikes and all; one still holding (set meanwhile by another call) stays, and so does
        one another process recorded after the read (the key is deleted only unchanged)."""
        stored = await self._stored(account)
        mark = self._memory.get(account) if stored is None else stored[0]
        if mark is None or mark.until > at:
            return
        self._memory.pop(account, None)
        script = self._delete_if_unchanged
        if script is None or stored is None or stored[1] is None:
            return
        try:
            await script(keys=[KEY_PREFIX + account], args=[stored[1]])
        except RedisError as exc:
            log.warning("razorpay rate limit mark not cleared (%s)", exc)
