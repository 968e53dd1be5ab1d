"""Sliding-window rate limits and login lockouts, kept in Redis with a per-process fallback.

The limits come from the ``limits`` library with the moving-window strategy (a true sliding
window: a request counts for exactly one window length after it was made), so ``Retry-After``
is the moment the oldest counted request leaves the window.

Where the counters live:

* ``REDIS_URL`` set: in Redis, shared by every API replica.
* ``REDIS_URL`` unset: in this process's memory (``limits``' own MemoryStorage, with the same
  MovingWindowRateLimiter; its expiry sweep made cheap: ``SweepingMemoryStorage``). Each
  process counts on its own, so with N processes a client may get up to N times the limit. Fine
  for one process; use Redis otherwise.
* A hit in Redis is one round trip: one script takes the entry and reads the window (limits'
  ``acquire_moving_window`` and ``moving_window`` scripts, which are two), on limits' keys and
  entries, so replicas running either code count together.
* Redis configured but failing (connection refused, timeout, any Redis error): the limiter logs a
  warning, answers from memory for ``retry_after_seconds`` (30 s) and then tries Redis again. A
  Redis outage therefore never turns into a 500 or into no limits at all; it only makes the limits
  per-process for a while.

Nothing here knows about HTTP: ``api.throttling`` turns decisions into RateLimit-* headers and
429 answers, and ``api.client_address`` finds the client's address behind trusted proxies.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal, TypeVar

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from core.config import Settings
from core.text import lowered_as_postgres

log = logging.getLogger("trulybot.ratelimit")

KEY_PREFIX: Final = "trulybot:rl"
DEFAULT_RETRY_REDIS_AFTER: Final = 30.0
_MAX_KEY = 96

T = TypeVar("T")

# limits' acquire_moving_window.lua followed by its moving_window.lua in one call: take ``amount``
# entries when the window has room, then the window's oldest entry and its count. The list holds
# entry timestamps newest first, trimmed to the limit; an entry counts while it is younger than
# ``expiry`` seconds. Returns {taken (0/1), count, the oldest counted entry or ""}.
HIT_SCRIPT: Final = """
local timestamp = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local expiry = tonumber(ARGV[3])
local amount = tonumber(ARGV[4])
local taken = 0
if amount <= limit then
    local entry = redis.call('lindex', KEYS[1], limit - amount)
    if not (entry and tonumber(entry) >= timestamp - expiry) then
        for i = 1, amount do
            redis.call('lpush', KEYS[1], timestamp)
        end
        redis.call('ltrim', KEYS[1], 0, limit - 1)
        redis.call('expire', KEYS[1], expiry)
        taken = 1
    end
end
local target = timestamp - expiry
local low, high, found = 0, redis.call('llen', KEYS[1]) - 1, nil
while low <= high do
    local mid = math.floor((low + high) / 2)
    local value = tonumber(redis.call('lindex', KEYS[1], mid))
    if value and value >= target then
        found = mid
        low = mid + 1
    else
        high = mid - 1
    end
end
if found then
    return {taken, found + 1, redis.call('lindex', KEYS[1], found)}
end
return {taken, 0, ""}
"""

# What a broken or unreachable Redis raises through redis-py and limits.
STORAGE_ERRORS: Final[tuple[type[BaseException], ...]] = (
    RedisError,
    StorageError,
    OSError,
    asyncio.TimeoutError,
)


@dataclass(frozen=True)
class Decision:
    """The outcome of one hit. ``reset_at`` is a Unix time; ``retry_after`` whole seconds."""

    allowed: bool
    limit: int
    remaining: int
    reset_at: float
    retry_after: int
    route_class: str = "api"

    def reset_in(self, now: float | None = None) -> int:
        """Whole seconds until the window frees a slot."""
        now = time.time() if now is None else now
        return max(0, math.ceil(self.reset_at - now))


def most_restrictive(decisions: list[Decision]) -> Decision | None:
    """The decision a client should see: a denial first, then the fewest remaining."""
    if not decisions:
        return None
    return min(decisions, key=lambda d: (d.allowed, d.remaining, -d.reset_at))


@lru_cache(maxsize=256)
def parse_limit(limit: str) -> RateLimitItem:
    """``"20/minute"`` -> a limits item; raises ValueError on a malformed string."""
    item: RateLimitItem = parse(limit)
    return item


def address_key(email: str) -> str:
    """An email address as the limits on it count it: stripped, lowered as PostgreSQL lowers
    (``core.text.lowered_as_postgres``), then case-folded. The database knows an
    account by ``lower(email)``, so any two writings of the address it takes for one account
    (``victim@`` and ``vİctim@``) must share their key: with ``casefold`` alone each ``i``
    written ``İ`` reached the account under a key of its own (a budget of guesses, of reset
    mails, for each). Coarser than the database is harmless (``straße@`` and ``strasse@``, two
    accounts, share a budget)."""
    return lowered_as_postgres(email.strip()).casefold()


def storage_key(value: str) -> str:
    """Keys stay short and printable: long or odd ones (session ids, API keys) are hashed."""
    if len(value) <= _MAX_KEY and value.isascii() and value.isprintable() and "/" not in value:
        return value
    return "h:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:40]


class SweepingMemoryStorage(MemoryStorage):
    """``limits``' MemoryStorage with a cheap expiry sweep.

    limits 5 starts a sweep over every key after each hit, unless one is running, and hops to a
    worker thread once per key for a bisect: under steady load the sweeps run back to back, a
    thread hop per key per sweep (85 per chat request in `bench.chat_http --profile`), taking
    CPU and the GIL from every request. Here the sweep runs inline (a bisect on a short list
    needs no thread; nothing is awaited, so no other task sees a half-swept store) and at most
    once per ``SWEEP_SECONDS``. Expired entries never count either way: the moving window looks
    at timestamps; the sweep only frees memory."""

    SWEEP_SECONDS: float = 1.0
    _last_sweep: float = 0.0
    sweeps: int = 0

    # limits' private hook (``self.__schedule_expiry()`` in MemoryStorage), called on each hit.
    async def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep >= self.SWEEP_SECONDS:
            self._last_sweep = now
            self.sweep()

    def sweep(self) -> None:
        """Drop expired moving-window entries and expired counters."""
        self.sweeps += 1
        now = time.time()
        for key, events in list(self.events.items()):
            # newest first: the entries still alive are the ones before the cutoff
            cutoff = bisect.bisect_left(events, -now, key=lambda event: -event.expiry)
            if cutoff:
                self.events[key] = events[:cutoff]
            else:
                self.events.pop(key, None)
                self.locks.pop(key, None)
        for key, expires in list(self.expirations.items()):
            if expires <= now:
                self.storage.pop(key, None)
                self.expirations.pop(key, None)
                self.locks.pop(key, None)


class RateLimiter:
    """Moving-window limits in Redis, falling back to process memory while Redis is down.

    Both stores run the same ``limits`` code (MovingWindowRateLimiter over RedisStorage or
    MemoryStorage), so every operation below is written once and runs against either; except a
    hit in Redis, which is one script (``HIT_SCRIPT``) on limits' keys instead of its two.
    """

    def __init__(
        self,
        redis: Redis | None,
        *,
        retry_redis_after: float = DEFAULT_RETRY_REDIS_AFTER,
        key_prefix: str = KEY_PREFIX,
    ) -> None:
        self._memory_storage = SweepingMemoryStorage()
        self._memory = MovingWindowRateLimiter(self._memory_storage)
        self._redis_storage: Storage | None = None
        self._redis: MovingWindowRateLimiter | None = None
        self._hit_script: AsyncScript | None = None
        self._key_prefix = key_prefix
        if redis is not None:
            self._hit_script = redis.register_script(HIT_SCRIPT)
            self._redis_storage = RedisStorage(
                "async+redis://",
                implementation="redispy",
                key_prefix=key_prefix,
                connection_pool=redis.connection_pool,  # type: ignore[arg-type]
            )
            self._redis = MovingWindowRateLimiter(self._redis_storage)
        self.retry_redis_after = retry_redis_after
        self._redis_down_until = 0.0

    @property
    def backend(self) -> Literal["redis", "memory"]:
        """Where the next hit will be counted."""
        if self._redis is not None and time.monotonic() >= self._redis_down_until:
            return "redis"
        return "memory"

    async def _run(self, op: Callable[[MovingWindowRateLimiter, Storage], Awaitable[T]]) -> T:
        """``op`` against Redis when it is up; against process memory otherwise."""
        redis_up = time.monotonic() >= self._redis_down_until
        if self._redis is not None and self._redis_storage is not None and redis_up:
            try:
                return await op(self._redis, self._redis_storage)
            except STORAGE_ERRORS as exc:
                self._redis_down_until = time.monotonic() + self.retry_redis_after
                log.warning(
                    "rate limits: Redis unavailable (%s: %s); counting in process memory for %.0fs",
                    type(exc).__name__,
                    exc,
                    self.retry_redis_after,
                )
        return await op(self._memory, self._memory_storage)

    async def hit(
        self, route_class: str, key: str, *, limit: str | RateLimitItem, cost: int = 1
    ) -> Decision:
        """Count one request of ``route_class`` by ``key`` against ``limit`` ("20/minute")."""
        item = parse_limit(limit) if isinstance(limit, str) else limit
        ident = storage_key(key)

        async def op(limiter: MovingWindowRateLimiter, storage: Storage) -> Decision:
            if storage is self._redis_storage and self._hit_script is not None:
                return await self._redis_hit(self._hit_script, item, route_class, ident, cost)
            allowed = await limiter.hit(item, route_class, ident, cost=cost)
            stats = await limiter.get_window_stats(item, route_class, ident)
            return _decision(item, route_class, allowed, stats.reset_time, stats.remaining)

        return await self._run(op)

    async def _redis_hit(
        self, script: AsyncScript, item: RateLimitItem, route_class: str, ident: str, cost: int
    ) -> Decision:
        """One hit in Redis, one round trip: what limits' ``hit`` then ``get_window_stats``
        compute in two, on the same key (``RedisStorage.prefixed_key``)."""
        now = time.time()
        expiry = item.get_expiry()
        key = f"{self._key_prefix}:{item.key_for(route_class, ident)}"
        taken, count, oldest = await script(keys=[key], args=[now, item.amount, expiry, cost])
        start = float(oldest) if int(count) else now
        return _decision(item, route_class, bool(taken), start + expiry, item.amount - int(count))

    # --- plain expiring counters (login failures, locks) ---------------------------------

    async def incr(self, key: str, *, expiry_seconds: int) -> int:
        """Add one to a counter that expires ``expiry_seconds`` after its first increment."""

        async def op(_: MovingWindowRateLimiter, storage: Storage) -> int:
            return int(await storage.incr(_counter_key(key), expiry_seconds))

        return await self._run(op)

    async def counter(self, key: str) -> tuple[int, float]:
        """(value, Unix time it expires); (0, now) when unset."""

        async def op(_: MovingWindowRateLimiter, storage: Storage) -> tuple[int, float]:
            value = int(await storage.get(_counter_key(key)))
            expires = float(await storage.get_expiry(_counter_key(key))) if value else time.time()
            return value, expires

        return await self._run(op)

    async def clear(self, key: str) -> None:
        async def op(_: MovingWindowRateLimiter, storage: Storage) -> None:
            await storage.clear(_counter_key(key))

        await self._run(op)


def _counter_key(key: str) -> str:
    return "c/" + storage_key(key)


def _decision(
    item: RateLimitItem, route_class: str, allowed: bool, reset_at: float, remaining: int
) -> Decision:
    now = time.time()
    retry_after = 0 if allowed else max(1, math.ceil(reset_at - now))
    return Decision(
        allowed=allowed,
        limit=int(item.amount),
        remaining=max(0, int(remaining)),
        reset_at=float(reset_at),
        retry_after=retry_after,
        route_class=route_class,
    )


# --- login guard -------------------------------------------------------------------------------


LockScope = Literal["account", "ip"]
KNOWN_SOURCE_SECONDS: Final = 30 * 86400  # an address a login succeeded from, remembered 30 days


@dataclass(frozen=True)
class Lock:
    """A refused login attempt: ``login_locked`` (the source) or ``login_throttled`` (the
    account's next attempt is not due yet), and when to try again."""

    retry_after: int
    scope: LockScope

    @property
    def code(self) -> str:
        return "login_locked" if self.scope == "ip" else "login_throttled"


def slowdown_delay(attempts: int, *, free: int, base_seconds: int, max_seconds: int) -> int:
    """Seconds an account waits between attempts after ``attempts`` without a success: nothing
    for the first ``free``, then ``base_seconds`` doubling per attempt, capped at
    ``max_seconds``. A zero base switches the slowdown off."""
    if attempts <= free or base_seconds <= 0:
        return 0
    steps = min(attempts - free - 1, 32)  # 2**32 seconds is past any cap
    return int(min(max_seconds, base_seconds * 2**steps))


class LoginGuard:
    """Failed logins lock the source and slow the account; they never lock the account.

    * Source: ``ip_max_failures`` refused attempts from one IP (any accounts: credential
      stuffing) within ``lockout_seconds`` lock that IP for ``lockout_seconds``.
    * Account: every attempt since the last success counts (in ``lockout_seconds`` windows).
      After ``max_failures`` of them, each attempt needs the account's next slot: one attempt per
      ``slowdown_delay`` seconds (growing, capped), whoever sends it. Taking the slot is one
      atomic increment, so a burst from many addresses still gets one guess per slot. Attempts
      that find the slot taken are refused with its Retry-After and count against their IP.
    * An IP that a login to this account succeeded from in the last 30 days skips the slot (the
      owner at home or in the office is not slowed by someone else's guessing); it is still
      subject to the source lock and the per-IP auth limit.

    A success clears the account's attempts and slot, never the IP's failures: otherwise an
    attacker with one real account could reset their count between guesses.
    """

    def __init__(
        self,
        limiter: RateLimiter,
        *,
        max_failures: int,
        ip_max_failures: int,
        lockout_seconds: int,
        slowdown_seconds: int,
        slowdown_max_seconds: int,
    ) -> None:
        self.limiter = limiter
        self.max_failures = max_failures
        self.ip_max_failures = ip_max_failures
        self.lockout_seconds = lockout_seconds
        self.slowdown_seconds = slowdown_seconds
        self.slowdown_max_seconds = slowdown_max_seconds

    @staticmethod
    def _email(email: str) -> str:
        return "login:email:" + address_key(email)

    @staticmethod
    def _ip(ip: str) -> str:
        return "login:ip:" + ip

    def _known(self, email: str, ip: str) -> str:
        return f"known:{self._email(email)}:{ip}"

    async def _wait(self, key: str, longest: float) -> int:
        # Redis reports a key's time to live in whole seconds, rounded down: one more second (but
        # never more than the key was set to live) so a client that waits Retry-After does not
        # come back before the lock or slot is gone.
        _, expires = await self.limiter.counter(key)
        return max(1, min(math.ceil(expires - time.time()) + 1, math.ceil(longest)))

    async def admit(self, *, email: str, ip: str) -> Lock | None:
        """Whether this attempt may check a password; the refusal otherwise."""
        if (await self.limiter.counter("lock:" + self._ip(ip)))[0]:
            wait = await self._wait("lock:" + self._ip(ip), self.lockout_seconds)
            return Lock(retry_after=wait, scope="ip")
        account = self._email(email)
        attempts = await self.limiter.incr(
            "attempts:" + account, expiry_seconds=self.lockout_seconds
        )
        delay = slowdown_delay(
            attempts,
            free=self.max_failures,
            base_seconds=self.slowdown_seconds,
            max_seconds=self.slowdown_max_seconds,
        )
        if delay == 0 or (await self.limiter.counter(self._known(email, ip)))[0]:
            return None
        if await self.limiter.incr("slot:" + account, expiry_seconds=delay) == 1:
            return None  # this attempt took the slot
        retry_after = await self._wait("slot:" + account, delay)
        lock = await self.failed(email=email, ip=ip)
        return lock or Lock(retry_after=retry_after, scope="account")

    async def failed(self, *, email: str, ip: str) -> Lock | None:
        """Count a refused attempt against its IP; the source lock, if this one set it.
        ``ip_max_failures`` 0 switches the address lock off (it locked on the first failure)."""
        if self.ip_max_failures == 0:
            return None
        key = self._ip(ip)
        failures = await self.limiter.incr("fail:" + key, expiry_seconds=self.lockout_seconds)
        if failures < self.ip_max_failures:
            return None
        await self.limiter.clear("lock:" + key)
        await self.limiter.incr("lock:" + key, expiry_seconds=self.lockout_seconds)
        await self.limiter.clear("fail:" + key)
        return Lock(retry_after=self.lockout_seconds, scope="ip")

    async def succeeded(self, *, email: str, ip: str) -> None:
        account = self._email(email)
        await self.limiter.clear("attempts:" + account)
        await self.limiter.clear("slot:" + account)
        await self.limiter.clear(self._known(email, ip))
        await self.limiter.incr(self._known(email, ip), expiry_seconds=KNOWN_SOURCE_SECONDS)


def limits_enabled(settings: Settings) -> bool:
    """``RATE_LIMITS``: on, off, or auto (on except with ENVIRONMENT=test)."""
    if settings.rate_limits == "auto":
        return settings.environment != "test"
    return settings.rate_limits == "on"
