"""A turn's LLM tokens land in one month in both counters: the day's counter (the daily cap)
and the month's (``/usage``'s ``llm_tokens``). A turn reserved on 31 December and settled after
midnight was counted on December's last day but in January's month, so a month's tokens were not
the sum of its days' (the analytics review)."""

from __future__ import annotations

import uuid
from datetime import date

from core.db import Database
from tests.conftest import Owner
from workspaces import usage
from workspaces import usage_repository as usage_repo

NEW_YEARS_EVE = date(2000, 12, 31)
"""A day of a month the test never runs in: whatever today is, its month is another."""


async def counters(db: Database, workspace_id: uuid.UUID) -> tuple[int, int]:
    """December 2000's token count, and that of its last day."""
    async with db.transaction(workspace_id=workspace_id) as session:
        month = await usage_repo.get_usage(session, workspace_id=workspace_id, month="2000-12")
        day = await usage_repo.get_daily_tokens(
            session, workspace_id=workspace_id, day=NEW_YEARS_EVE
        )
    return int(month.llm_tokens or 0), day


async def test_a_settled_reservation_counts_in_its_days_month(owner: Owner, db: Database) -> None:
    workspace_id = uuid.UUID(owner.workspace_id)
    async with db.transaction(workspace_id=workspace_id) as session:
        await usage_repo.increment_daily_tokens(  # reserved before midnight
            session, workspace_id=workspace_id, day=NEW_YEARS_EVE, tokens=500
        )
        reservation = usage.TokenReservation(workspace_id, NEW_YEARS_EVE, 500)
        await usage.settle_tokens(session, reservation, 700)  # settled after it
    assert await counters(db, workspace_id) == (700, 700)


async def test_an_answers_tokens_count_in_its_reservations_month(
    owner: Owner, db: Database
) -> None:
    """``token_increment``, sent with the answer's record (rag.chat.repository)."""
    workspace_id = uuid.UUID(owner.workspace_id)
    reservation = usage.TokenReservation(workspace_id, NEW_YEARS_EVE, 400)
    increment = usage.token_increment(workspace_id, 450, reservation)
    async with db.transaction(workspace_id=workspace_id) as session:
        await usage_repo.increment_daily_tokens(
            session, workspace_id=workspace_id, day=NEW_YEARS_EVE, tokens=400
        )
        for statement in increment.statements:
            await session.execute(statement, increment.params)
    assert await counters(db, workspace_id) == (450, 450)
