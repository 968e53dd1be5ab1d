"""The response cache's erasure fence: a turn begun before a visitor's erasure stores nothing
in the cache after it.

A turn stores its answer (with the visitor's question, normalised) after its last transaction;
an erasure clears the workspace's whole cache (``ResponseCache.forget_workspace``: the keys are
digests no erasure can pick out). A turn that was between the two when the erasure cleared the
cache wrote its entry after the clearing: the erased visitor's question was kept for
CACHE_TTL_SECONDS, and answered to the next asker. So each workspace has an erasure *epoch*, a
counter the clearing raises before it deletes anything; a turn whose answer may be cached
reads it in its first transaction, before its message commits (``Fence``: an erasure that
takes the message commits after, and raises the epoch after its commit; a greeting, an FAQ's
answer or a follow-up never reads it), and its entry is stored only while the epoch is
still the one it read: in Redis, the check and the writes are one script (atomic), in the
process's memory one synchronous step. An entry stored before the raise is deleted by the
clearing after it; one after it is refused. A turn begun after the raise stores as before.

The Redis epoch (``tb:rce:<workspace>``) lives ``EPOCH_SECONDS`` past the last erasure, far
longer than a turn: a counter that expired and began again could match a value an old turn
read. A turn that could not read it (Redis unreachable then) stores nothing in Redis.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from redis.asyncio import Redis

EPOCH_SECONDS = 7 * 24 * 3600


def epoch_key(workspace_id: uuid.UUID) -> str:
    return f"tb:rce:{workspace_id}"


@dataclass(frozen=True)
class Fence:
    """The workspace's erasure epochs when a turn began: in Redis (None: it could not be read)
    and in this process's memory."""

    redis: int | None
    memory: int


class MemoryEpochs:
    """This process's erasure epoch per workspace (the cache's memory store, used without
    Redis or while it is unreachable)."""

    def __init__(self) -> None:
        self._epochs: dict[uuid.UUID, int] = {}

    def get(self, workspace_id: uuid.UUID) -> int:
        return self._epochs.get(workspace_id, 0)

    def raise_epoch(self, workspace_id: uuid.UUID) -> None:
        self._epochs[workspace_id] = self.get(workspace_id) + 1


async def read_epoch(redis: Redis, workspace_id: uuid.UUID) -> int:
    raw = await redis.get(epoch_key(workspace_id))
    return int(raw) if raw else 0


async def raise_epoch(redis: Redis, workspace_id: uuid.UUID) -> None:
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(epoch_key(workspace_id))
        pipe.expire(epoch_key(workspace_id), EPOCH_SECONDS)
        await pipe.execute()


# KEYS: the epoch, the entry, the scope's vector list. ARGV: the epoch the turn read ("": no
# fence), the entry, the TTL, the vector item ("": none), the list's bound. 1 when stored, 0
# when fenced.
PUT_SCRIPT = """
local epoch = redis.call('GET', KEYS[1]) or '0'
if ARGV[1] ~= '' and epoch ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', tonumber(ARGV[3]))
if ARGV[4] ~= '' and redis.call('LLEN', KEYS[3]) < tonumber(ARGV[5]) then
  redis.call('RPUSH', KEYS[3], ARGV[4])
  redis.call('EXPIRE', KEYS[3], tonumber(ARGV[3]))
end
return 1
"""
