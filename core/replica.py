"""Reads that may lag go to a streaming read replica (DATABASE_REPLICA_URL), when it is fresh.

The rules (docs/deploy.md, "Read replica"):
- Only reads that may lag ask for the replica: owners' lists (documents, conversations, leads),
  exports, analytics, playground search. Everything else, above all what a visitor's answer
  depends on and every authorization check (a revoked session must stop at once), reads the
  primary in the request's own transaction.
- Read-your-writes: an owner's request that may write (any method but GET, HEAD, OPTIONS) to a
  workspace marks the workspace for ``2 x DATABASE_REPLICA_MAX_LAG_S``; while marked, its lag-
  tolerant reads stay on the primary. The mark lives in Redis (shared by every API process) or,
  without Redis, in this process.
- Freshness: at most once per ``CHECK_EVERY_SECONDS`` the primary's WAL position is compared
  with the replica's replay position. Replayed at least that far: lag 0 (an idle primary makes
  no lag). Behind: the lag is the time since the last transaction the replica replayed committed.
  Over DATABASE_REPLICA_MAX_LAG_S: ``lagging``; unreachable, or not in recovery (promoted, so it
  no longer follows this primary): ``down``. Either way reads go to the primary.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, InterfaceError
from sqlalchemy.ext.asyncio import AsyncSession

from core import metrics
from core import replica_repository as repo
from core.db import Database

log = logging.getLogger(__name__)

ReplicaState = Literal["off", "ok", "lagging", "down"]
CHECK_EVERY_SECONDS = 1.0
CHECK_TIMEOUT_SECONDS = 2.0
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_MARK_PREFIX = "tb:wrote:"
_UNREACHABLE = (DBAPIError, InterfaceError, OSError, TimeoutError)


@dataclass(frozen=True)
class ReplicaStatus:
    state: ReplicaState
    lag_seconds: float | None = None
    bytes_behind: float | None = None
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "lag_seconds": None if self.lag_seconds is None else round(self.lag_seconds, 3),
            "bytes_behind": self.bytes_behind,
            **({"detail": self.detail} if self.detail else {}),
        }


def mark_key(workspace_id: uuid.UUID | str) -> str:
    """The Redis key of a workspace's read-your-writes mark."""
    return _MARK_PREFIX + str(workspace_id)


class ReadRouting:
    """Where the lag-tolerant reads of a workspace go: ``session``/``transaction``/``reader``."""

    def __init__(
        self,
        primary: Database,
        replica: Database | None = None,
        *,
        max_lag_seconds: float = 5.0,
        redis: Redis | None = None,
    ) -> None:
        self.primary = primary
        self.replica = replica
        self.max_lag_seconds = max_lag_seconds
        self.sticky_seconds = 2 * max_lag_seconds
        self.redis = redis
        self._status = ReplicaStatus("off") if replica is None else ReplicaStatus("down")
        self._checked_at: float | None = None
        self._lock = asyncio.Lock()
        self._marks: dict[str, float] = {}

    @property
    def enabled(self) -> bool:
        return self.replica is not None

    # --- freshness ---------------------------------------------------------------------------

    async def status(self, *, force: bool = False) -> ReplicaStatus:
        """The replica's state, checked at most once per CHECK_EVERY_SECONDS (``force``: now)."""
        if self.replica is None:
            return self._status
        if not force and self._fresh():
            return self._status
        async with self._lock:
            if force or not self._fresh():
                self._status = await self._check(self.replica)
                self._checked_at = time.monotonic()
        return self._status

    def _fresh(self) -> bool:
        return (
            self._checked_at is not None
            and time.monotonic() - self._checked_at < CHECK_EVERY_SECONDS
        )

    async def _check(self, replica: Database) -> ReplicaStatus:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                async with self.primary.transaction() as session:
                    primary_lsn = await repo.primary_wal_lsn(session)
        except _UNREACHABLE as exc:  # /readyz reports the primary itself
            return ReplicaStatus("down", detail=f"primary unreachable: {type(exc).__name__}")
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                async with replica.transaction() as session:
                    position = await repo.replay_position(session, primary_lsn=primary_lsn)
        except _UNREACHABLE as exc:
            if self._status.state != "down":
                log.warning("read replica unavailable: %s: %s", type(exc).__name__, exc)
            return ReplicaStatus("down", detail=type(exc).__name__)
        if not position.in_recovery:
            return ReplicaStatus("down", detail="not in recovery (promoted?)")
        behind = position.bytes_behind
        if behind is not None and behind <= 0:
            lag: float | None = 0.0
        else:
            lag = position.seconds_since_replay
        if lag is None or lag > self.max_lag_seconds:
            return ReplicaStatus("lagging", lag_seconds=lag, bytes_behind=behind)
        return ReplicaStatus("ok", lag_seconds=lag, bytes_behind=max(behind or 0.0, 0.0))

    def mark_down(self, reason: str) -> None:
        self._status = ReplicaStatus("down", detail=reason)
        self._checked_at = time.monotonic()

    # --- read-your-writes ----------------------------------------------------------------------

    async def wrote(self, workspace_id: uuid.UUID | str) -> None:
        """The workspace's lag-tolerant reads stay on the primary for ``sticky_seconds``."""
        if self.replica is None:
            return
        key = mark_key(workspace_id)
        if self.redis is not None:
            try:
                await self.redis.set(key, b"1", px=int(self.sticky_seconds * 1000))
                return
            except RedisError:
                log.warning("could not mark a write in Redis; marking it in this process")
        now = time.monotonic()
        if len(self._marks) > 10_000:
            self._marks = {k: t for k, t in self._marks.items() if t > now}
        self._marks[key] = now + self.sticky_seconds

    async def recently_wrote(self, workspace_id: uuid.UUID | str) -> bool:
        key = mark_key(workspace_id)
        if self._marks.get(key, 0.0) > time.monotonic():
            return True
        if self.redis is not None:
            try:
                return bool(await self.redis.exists(key))
            except RedisError:
                return True  # unknown: the primary is always right
        return False

    # --- routing -------------------------------------------------------------------------------

    async def reader(self, workspace_id: uuid.UUID | str) -> Database:
        """The database for a lag-tolerant read of the workspace, counted in /metrics."""
        if self.replica is None:
            reason = "off"
        elif await self.recently_wrote(workspace_id):
            reason = "wrote"
        else:
            reason = (await self.status()).state
            if reason == "ok":
                metrics.count_db_read("replica", "replica")
                return self.replica
        metrics.count_db_read("primary", reason)
        return self.primary

    @asynccontextmanager
    async def transaction(
        self, *, workspace_id: uuid.UUID | str, user_id: uuid.UUID | str | None = None
    ) -> AsyncIterator[AsyncSession]:
        """A read transaction of its own (exports stream after the request's transaction): on
        the replica when it may serve the workspace, else (or when it cannot connect) the
        primary."""
        database = await self.reader(workspace_id)
        async with AsyncExitStack() as stack:
            session = await self._enter(stack, database, workspace_id, user_id)
            yield session

    @asynccontextmanager
    async def session(
        self,
        primary_session: AsyncSession,
        *,
        workspace_id: uuid.UUID | str,
        user_id: uuid.UUID | str | None = None,
    ) -> AsyncIterator[AsyncSession]:
        """The request's read session: a replica transaction when the replica may serve the
        workspace, else the request's own (primary) transaction."""
        database = await self.reader(workspace_id)
        if database is self.primary:
            yield primary_session
            return
        async with AsyncExitStack() as stack:
            session = await self._enter(stack, database, workspace_id, user_id)
            yield session

    async def _enter(
        self,
        stack: AsyncExitStack,
        database: Database,
        workspace_id: uuid.UUID | str,
        user_id: uuid.UUID | str | None,
    ) -> AsyncSession:
        if database is not self.primary:
            try:
                return await stack.enter_async_context(
                    database.transaction(workspace_id=workspace_id, user_id=user_id)
                )
            except _UNREACHABLE as exc:
                self.mark_down(type(exc).__name__)
                metrics.count_db_read("primary", "down")
        return await stack.enter_async_context(
            self.primary.transaction(workspace_id=workspace_id, user_id=user_id)
        )

    async def close(self) -> None:
        if self.replica is not None:
            await self.replica.dispose()
