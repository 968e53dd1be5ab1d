"""Transaction-scoped advisory locks on a key of its own (``lock_key``), and the lock function
both it and ``core.db.lock_workspace`` call."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


def lock_function(shared: bool, wait: bool) -> str:
    """The advisory lock function: transaction-scoped, shared or exclusive, waiting or not."""
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    return function if wait else function.replace("pg_", "pg_try_", 1)


async def lock_key(
    session: AsyncSession, key: str, *, shared: bool = False, wait: bool = True
) -> bool:
    """``core.db.lock_workspace``'s lock on a key of many values (a visitor's session): a
    64-bit hash of ``key`` (``hashtextextended``), the advisory lock functions' one-bigint
    form, a key space apart from ``lock_workspace``'s two 32-bit keys. Two keys there share one
    lock when their 32-bit hashes collide, as a key of a visitor's choosing (a session id) did
    with another purpose's (an owner's document title): the one turned back as if refused.
    Whether it was taken (always, when it waits)."""
    taken = await session.execute(
        text(f"SELECT {lock_function(shared, wait)}(hashtextextended(:key, 0))"), {"key": key}
    )
    return wait or bool(taken.scalar_one())
