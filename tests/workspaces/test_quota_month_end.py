"""A chat turn that straddles a month's end: the quota notice is filed under the month whose
counters the turn wrote, not the one the clock shows a moment later, and a refusal is of that
month too."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from core.db import Database
from tests.conftest import Owner, signup
from tests.workspaces.test_notifications import World, _chats, _set_usage, free  # noqa: F401
from workspaces import usage


def month_ends_once_written(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The clock reads December 2999 (resetting on 1 January 3000) as soon as a turn's
    counters are written; the months the turns wrote, in order."""
    real_month_key, real_month_reset = usage.month_key, usage.month_reset
    real_increment = usage.increment_statement
    written: list[str] = []

    def month_key(now: Any = None) -> str:
        return "2999-12" if written and now is None else real_month_key(now)

    def month_reset(now: Any = None) -> Any:
        later = datetime(3000, 1, 1, tzinfo=UTC)
        return later if written and now is None else real_month_reset(now)

    def increment_statement(*args: Any, **kwargs: Any) -> usage.UsageIncrement:
        statement = real_increment(*args, **kwargs)
        written.append(statement.params["u_month"])
        return statement

    monkeypatch.setattr(usage, "month_key", month_key)
    monkeypatch.setattr(usage, "month_reset", month_reset)
    monkeypatch.setattr(usage, "increment_statement", increment_statement)
    return written


async def quota_100_keys(owner_db: Database, owner: Owner) -> list[str]:
    async with owner_db.transaction() as session:
        keys = await session.scalars(
            text(
                "SELECT dedupe_key FROM notification_events WHERE workspace_id = :w"
                " AND kind = 'quota.100'"
            ),
            {"w": owner.workspace_id},
        )
        return list(keys.all())


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
    written = month_ends_once_written(monkeypatch)
    assert await _chats(w, owner, 1) == [200]  # the 100th conversation: quota reached
    assert written == [this_month]
    assert await quota_100_keys(owner_db, owner) == [f"conversations:{this_month}:free"]


async def test_a_refusal_across_midnight_is_of_the_month_whose_count_refused_it(
    free: World,  # noqa: F811
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A message counted in January's full counters and refused once the clock read February:
    the refusal said the count resets on 1 March (Retry-After a month long) and its
    ``quota.100`` was keyed under February, so February's own crossing found its key taken and
    the owners were not told that month either. Now both are January's."""
    w = free
    owner = await signup(w.client, "Acme")  # free plan: 100 conversations a month
    this_month, next_reset = usage.month_key(), usage.month_reset()
    await _set_usage(owner_db, owner, 100)  # the quota is used up
    written = month_ends_once_written(monkeypatch)
    refused = await w.client.post(
        owner.url("/chat"), json={"message": "hello there"}, headers=owner.headers
    )
    assert refused.status_code == 429, refused.text
    assert written == [this_month]
    details = refused.json()["error"]["details"]
    assert (details["metric"], details["month"]) == ("conversations", this_month)
    assert details["resets_at"] == next_reset.isoformat()
    assert int(refused.headers["Retry-After"]) <= 31 * 86_400
    assert await quota_100_keys(owner_db, owner) == [f"conversations:{this_month}:free"]
