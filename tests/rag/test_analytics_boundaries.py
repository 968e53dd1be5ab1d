"""The rollup at a month's last second (UTC): a conversation started then and continued today
is one conversation of that day, its later messages today's; a refresh after the late message
agrees with a rebuild and with the figures counted from the messages themselves."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx

from api.runtime import Runtime
from core.models import utcnow
from rag.chat import analytics
from rag.chat.repository import analytics as repo
from tests.conftest import signup
from tests.rag.test_analytics import HOURS, Visitor, add_faq, app, figures, move_back

__all__ = ["app"]


async def test_a_conversation_across_a_month_boundary_then_a_late_message(
    app: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, runtime = app
    owner = await signup(client, "Boundary")
    ws = uuid.UUID(owner.workspace_id)
    await add_faq(client, owner)
    visitor = Visitor(client, owner)
    await visitor.say(HOURS)
    now = utcnow()
    month_start = datetime(now.year, now.month, 1, tzinfo=UTC)
    # Everything so far happened in the previous month's last seconds.
    await move_back(runtime, owner, now - (month_start - timedelta(seconds=5)))
    await analytics.refresh(runtime.db, workspace_id=ws, now=utcnow())
    last_day = (month_start - timedelta(days=1)).date()
    today = utcnow().date()
    span = {"from": last_day.isoformat(), "to": today.isoformat()}
    before = await figures(client, owner, **span)
    assert before["days"][0]["conversations"] == 1
    assert before["days"][0]["visitor_messages"] == 1

    await visitor.say("Are you open on Saturdays?")  # the same conversation, today
    await analytics.refresh(runtime.db, workspace_id=ws, now=utcnow())
    after = await figures(client, owner, **span)
    by_day = {d["day"]: d for d in after["days"]}
    assert by_day[last_day.isoformat()]["conversations"] == 1
    assert by_day[last_day.isoformat()]["visitor_messages"] == 1
    assert by_day[today.isoformat()]["conversations"] == 0
    assert by_day[today.isoformat()]["visitor_messages"] == 1
    assert after["totals"]["conversations"] == 1
    assert after["totals"]["visitor_messages"] == 2

    async with runtime.db.transaction(workspace_id=ws) as session:
        scanned = await repo.count_by_scanning(
            session,
            workspace_id=ws,
            start=analytics.day_start(last_day),
            end=analytics.day_start(today + timedelta(days=1)),
            now=utcnow(),
        )
    for row in scanned:
        rolled = by_day[row["day"].isoformat()]
        for name in analytics.DAILY:
            assert rolled[name] == row[name], (row["day"], name)
    await analytics.rebuild(runtime.db, workspace_id=ws, now=utcnow())
    assert (await figures(client, owner, **span))["days"] == after["days"]
