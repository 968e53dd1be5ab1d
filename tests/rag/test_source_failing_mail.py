"""A failing web source is mailed to the owner through the notifications, webhook or not:
once per failing streak, not once per failed sync."""

from __future__ import annotations

from redis.asyncio import Redis
from sqlalchemy import text

from core.db import Database
from tests.rag.test_sources import Page, World, article, local_site, world
from workspaces import notifications


async def _failing_mails(w: World) -> list[tuple[str, str]]:
    for _ in range(3):
        await notifications.settle_kicks()
        await w.runtime.jobs.drain()
        await w.runtime.mailer.settle()
    async with w.owner_db.transaction() as session:
        rows = await session.execute(
            text(
                "SELECT subject, text_body FROM mail_outbox WHERE lower(recipient) = lower(:to)"
                " AND subject LIKE '%Web source failing%' ORDER BY created_at"
            ),
            {"to": w.owner.email},
        )
        return [(subject, body) for subject, body in rows.all()]


async def test_a_failing_source_is_mailed_once_per_streak_without_a_webhook(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    with local_site() as site:
        site.pages["/x"] = Page(article("x", ["some words about opening hours"]))
        async with world(db, owner_db, redis_client, source_failing_after=2) as w:
            source = await w.add_url(site.url("/x"))
            site.pages["/x"].status = 500
            assert (await w.sync_now(source["id"]))["status"] == "failed"
            assert await _failing_mails(w) == []  # one failure is not a streak yet
            for _ in range(3):  # flagged at the second failure; the third tells nobody
                await w.sync_now(source["id"])
            [(subject, body)] = await _failing_mails(w)
            assert site.url("/x") in subject
            assert "The last 2 syncs" in body
            assert "The server answered HTTP 500" in body
            assert f"/app/w/{w.owner.workspace_id}/knowledge" in body

            site.pages["/x"].status = 200  # the streak ends ...
            assert (await w.sync_now(source["id"]))["status"] == "ok"
            site.pages["/x"].status = 500  # ... and a new one is told again
            for _ in range(2):
                await w.sync_now(source["id"])
            assert len(await _failing_mails(w)) == 2
