"""A chat turn that straddles a month's end: the quota notice is filed under the month whose
counters the turn wrote, not the one the clock shows a moment later."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from core.db import Database
from tests.conftest import signup
from tests.workspaces.test_notifications import World, _chats, _set_usage, free  # noqa: F401
from workspaces import usage


async def test_a_turn_across_midnight_files_the_crossing_under_its_own_month(
    free: World,  # noqa: F811
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The counters were incremented under January and the notice keyed with February (the month
    read again after the write): February's own crossing then found its key taken, and the
    owner was never told that month."""
    w = free
    owner = await signup(w.client, "Acme")  # free plan: 100 conversations a month
    this_month = usage.month_key()
    await _set_usage(owner_db, owner, 99)
    real_month_key, real_increment = usage.month_key, usage.increment_statement
    written: list[str] = []

    def month_key(now: Any = None) -> str:
        # The month ends as soon as the turn's counters are written.
        return "2999-12" if written and now is None else real_month_key(now)

    def increment_statement(*args: Any, **kwargs: Any) -> usage.UsageIncrement:
        statement = real_increment(*args, **kwargs)
        written.append(statement.params["u_month"])
        return statement

    monkeypatch.setattr(usage, "month_key", month_key)
    monkeypatch.setattr(usage, "increment_statement", increment_statement)
    assert await _chats(w, owner, 1) == [200]  # the 100th conversation: quota reached
    assert written == [this_month]
    async with owner_db.transaction() as session:
        keys = (
            await session.scalars(
                text(
                    "SELECT dedupe_key FROM notification_events WHERE workspace_id = :w"
                    " AND kind = 'quota.100'"
                ),
                {"w": owner.workspace_id},
            )
        ).all()
    assert keys == [f"conversations:{this_month}:free"]
