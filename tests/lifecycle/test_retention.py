"""Conversation retention: a per-workspace setting under the plan's, applied by the daily job.
The job runs at a time the test chooses (the scheduler's clock), never by waiting."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import httpx
from sqlalchemy import text

from api.runtime import Runtime
from core.db import Database
from core.jobs import JobQueue
from core.models import utcnow
from lifecycle.retention import RETENTION_GRACE, RETENTION_JOB, retention_of
from tests.conftest import Owner, RuntimeFactory
from tests.fakes.smtp import SmtpServer
from tests.lifecycle.data import count_mentions, fill, tick_due
from tests.own_database import module_databases
from tests.workspaces.test_handoff_mail_cap import _acme, _dispatch_in_past_hour, _handoff
from workspaces import notification_delivery
from workspaces.models import Workspace

# On a database of its own (tests/own_database.py): each tick of the retention job queued a purge
# per live workspace of the suite's database (40 s and 19 s for two tests of under a second,
# beside 1,500 workspaces; 51 s and 29 s in a loaded full run).
own_databases, db, owner_db = module_databases()


async def _conversations(owner_db: Database, workspace_id: str) -> tuple[int, int]:
    async with owner_db.transaction() as session:
        row = (
            await session.execute(
                text(
                    "SELECT (SELECT count(*) FROM conversations WHERE workspace_id = :ws),"
                    " (SELECT count(*) FROM messages WHERE workspace_id = :ws)"
                ),
                {"ws": workspace_id},
            )
        ).one()
    return int(row[0]), int(row[1])


async def test_the_setting_is_bounded_by_the_plan(client: httpx.AsyncClient, owner: Owner) -> None:
    url = owner.url("/retention")
    start = await client.get(url, headers=owner.headers)
    assert start.json() == {
        "conversation_retention_days": 30,
        "plan_default": 30,
        "setting": None,
        "grace_until": None,
    }
    for days in (90, 365, 12, 0, -1):
        refused = await client.put(
            url, json={"conversation_retention_days": days}, headers=owner.headers
        )
        assert refused.status_code == 422, days
        assert refused.json()["error"]["code"] == "invalid_retention"
    assert refused.json()["error"]["details"][0]["allowed"] == [7, 30]
    shorter = await client.put(url, json={"conversation_retention_days": 7}, headers=owner.headers)
    assert shorter.status_code == 200
    assert shorter.json() == {
        "conversation_retention_days": 7,
        "plan_default": 30,
        "setting": 7,
        "grace_until": None,
    }
    assert (await client.get(url, headers=owner.headers)).json() == shorter.json()
    back = await client.put(url, json={"conversation_retention_days": None}, headers=owner.headers)
    assert back.json() == start.json()
    audit = await client.get(
        owner.url("/audit"), params={"action": "retention.updated"}, headers=owner.headers
    )
    assert [e["details"] for e in audit.json()["items"]] == [{"days": None}, {"days": 7}]


async def test_the_daily_job_deletes_conversations_past_each_workspace_retention(
    client: httpx.AsyncClient,
    owner: Owner,
    other: Owner,
    owner_db: Database,
    jobs: JobQueue,
    runtime: Runtime,
) -> None:
    await fill(client, owner, jobs)
    await fill(client, other, jobs)
    week = await client.put(
        owner.url("/retention"), json={"conversation_retention_days": 7}, headers=owner.headers
    )
    assert week.status_code == 200
    mine, theirs = (
        await _conversations(owner_db, owner.workspace_id),
        await _conversations(owner_db, other.workspace_id),
    )
    assert mine[0] >= 1
    assert theirs[0] >= 1

    # Six days on: within a week, nothing goes.
    assert "conversation_retention" in await tick_due(
        runtime, "conversation_retention", utcnow() + timedelta(days=6)
    )
    await jobs.drain()
    assert await _conversations(owner_db, owner.workspace_id) == mine

    # Eight days on: past the week of this workspace, within the other's 30 days.
    assert "conversation_retention" in await tick_due(
        runtime, "conversation_retention", utcnow() + timedelta(days=8)
    )
    await jobs.drain()
    assert await _conversations(owner_db, owner.workspace_id) == (0, 0)
    assert await _conversations(owner_db, other.workspace_id) == theirs
    leads = await client.get(owner.url("/leads"), headers=owner.headers)
    assert leads.json()["total"] == 2  # leads are not conversations: they stay
    audit = await client.get(
        owner.url("/audit"), params={"action": "retention.purged"}, headers=owner.headers
    )
    [entry] = audit.json()["items"]
    assert entry["details"]["conversations"] == mine[0]
    assert entry["details"]["messages"] == mine[1]


async def _plan(owner_db: Database, workspace_id: str, plan: str, expires: datetime) -> None:
    async with owner_db.transaction() as session:
        await session.execute(
            text("UPDATE workspaces SET plan = :plan, plan_expires_at = :at WHERE id = :ws"),
            {"plan": plan, "at": expires, "ws": workspace_id},
        )


async def test_a_paid_plan_that_lapsed_keeps_its_retention_for_a_grace_period(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database, jobs: JobQueue, runtime: Runtime
) -> None:
    """A Pro month (365 days' retention) that ended and is renewed a few days late: before,
    that night's purge applied Free's 30 days and deleted every older conversation for good.
    The ended plan's retention now holds for RETENTION_GRACE (30 days) after it ended."""
    await fill(client, owner, jobs)
    kept = await _conversations(owner_db, owner.workspace_id)
    assert kept[0] >= 1
    ended = utcnow() + timedelta(days=20)
    await _plan(owner_db, owner.workspace_id, "pro", ended)

    # 35 days on, 15 after Pro ended: the conversations are 35 days old, past Free's 30.
    await tick_due(runtime, "conversation_retention", utcnow() + timedelta(days=35))
    await jobs.drain()
    assert await _conversations(owner_db, owner.workspace_id) == kept

    # 55 days on, the grace is over: Free's 30 days apply.
    await tick_due(runtime, "conversation_retention", utcnow() + timedelta(days=55))
    await jobs.drain()
    assert await _conversations(owner_db, owner.workspace_id) == (0, 0)


async def test_the_retention_shows_the_grace_and_its_end(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    ended = utcnow() - timedelta(days=2)
    await _plan(owner_db, owner.workspace_id, "pro", ended)
    shown = (await client.get(owner.url("/retention"), headers=owner.headers)).json()
    assert shown["conversation_retention_days"] == 365
    assert shown["plan_default"] == 30  # Free's, in force once the grace ends
    assert datetime.fromisoformat(shown["grace_until"]) == ended + RETENTION_GRACE
    # The owner's own shorter choice still wins, grace or not.
    week = await client.put(
        owner.url("/retention"), json={"conversation_retention_days": 7}, headers=owner.headers
    )
    assert week.json()["conversation_retention_days"] == 7
    assert week.json()["grace_until"] is None


def test_retention_of_after_a_lapse() -> None:
    now = utcnow()
    workspace = Workspace(
        plan="starter",
        plan_expires_at=now - timedelta(days=1),
        fallback_plan="free",
        conversation_retention_days=None,
    )
    assert retention_of(workspace, now).days == 90
    assert retention_of(workspace, now + RETENTION_GRACE).days == 30
    assert retention_of(workspace, now - timedelta(days=2)).days == 90  # before it ended
    workspace.plan_expires_at = None
    workspace.plan = "unlimited"
    assert retention_of(workspace, now).days is None


async def _quoting(owner_db: Database, workspace_id: str, needle: str) -> dict[str, int]:
    """Rows of the workspace that keep a visitor's words (``needle`` is theirs alone)."""
    queries = {
        "messages": "SELECT count(*) FROM messages WHERE workspace_id = :ws AND text LIKE :n",
        "unanswered_questions": "SELECT count(*) FROM unanswered_questions"
        " WHERE workspace_id = :ws AND question LIKE :n",
        "webhook_deliveries": "SELECT count(*) FROM webhook_deliveries"
        " WHERE workspace_id = :ws AND payload::text LIKE :n",
    }
    return await count_mentions(owner_db, workspace_id, needle, queries)


async def test_retention_takes_the_visitors_words_kept_beside_the_conversation(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database, jobs: JobQueue, runtime: Runtime
) -> None:
    """Before, the purge deleted the conversation and kept its unanswered question (unlinked)
    and the handoff webhook's payload (the visitor's message and session id) for ever, where
    no erasure could find them any more."""
    tag = uuid.uuid4().hex[:10]
    hook = await client.patch(
        owner.url(""), json={"webhook_url": "https://hooks.example.com/tb"}, headers=owner.headers
    )
    assert hook.status_code == 200, hook.text
    session = f"visitor-{tag}"
    for message in (f"What is the warranty on model {tag}?", f"Can I talk to a person? {tag}"):
        chat = await client.post(
            "/api/v1/chat",
            json={"message": message, "session_id": session},
            headers={"X-Widget-Key": owner.workspace["public_key"]},
        )
        assert chat.status_code == 200, chat.text
    await jobs.drain()
    # A question a purge before this rule left unlinked.
    async with owner_db.transaction() as db_session:
        await db_session.execute(
            text(
                "INSERT INTO unanswered_questions (id, workspace_id, question, normalized,"
                " resolved, created_at) VALUES (:id, :ws, :q, :q, false, now())"
            ),
            {"id": uuid.uuid4(), "ws": owner.workspace_id, "q": f"orphan {tag}"},
        )
    before = await _quoting(owner_db, owner.workspace_id, tag)
    assert before["unanswered_questions"] == 2
    assert before["webhook_deliveries"] == 1
    week = await client.put(
        owner.url("/retention"), json={"conversation_retention_days": 7}, headers=owner.headers
    )
    assert week.status_code == 200

    await tick_due(runtime, "conversation_retention", utcnow() + timedelta(days=8))
    await jobs.drain()
    assert await _quoting(owner_db, owner.workspace_id, tag) == {
        "messages": 0,
        "unanswered_questions": 0,
        "webhook_deliveries": 0,
    }
    audit = await client.get(
        owner.url("/audit"), params={"action": "retention.purged"}, headers=owner.headers
    )
    [entry] = audit.json()["items"]
    assert entry["details"]["webhook_deliveries"] == 1
    assert (
        entry["details"]["unanswered_questions"] == 1
    )  # the orphan (the linked one went with its conversation)
    assert tag not in str(entry)


async def test_retention_takes_the_handoff_summaries_quoting_the_conversations(
    runtime_factory: RuntimeFactory, smtp: SmtpServer, owner_db: Database
) -> None:
    """A handoff summary quotes the first words of the visitors it sums up and is kept in the
    outbox for a week after sending: the purge deleted the conversations and kept the mail, so
    the visitor's words outlived the retention (an erasure already took such mails)."""
    async with _acme(runtime_factory, smtp, notification_handoff_mails_per_hour=1) as (w, owner):
        tag = uuid.uuid4().hex[:8]
        await _handoff(w, owner, f"Mailed {tag}")
        await _handoff(w, owner, f"Quoted {tag}")
        hour = await _dispatch_in_past_hour(w, owner_db, owner)
        await notification_delivery.sweep(w.runtime.notifications, hour + timedelta(hours=1))
        assert any(f"Quoted {tag}" in m.text for m in await w.notices(owner.email))
        quoting = (
            "SELECT count(*) FROM mail_outbox WHERE about_workspace = :ws"
            " AND text_body LIKE :needle"
        )

        async def kept() -> int:
            async with owner_db.transaction() as session:
                found = await session.execute(
                    text(quoting), {"ws": uuid.UUID(owner.workspace_id), "needle": f"%{tag}%"}
                )
                return int(found.scalar_one())

        assert await kept() >= 1
        await w.runtime.jobs.enqueue(
            RETENTION_JOB,
            workspace_id=owner.workspace_id,
            before=(utcnow() + timedelta(minutes=1)).isoformat(),
        )
        await w.runtime.jobs.drain()
        assert await kept() == 0
        audit = await w.client.get(
            owner.url("/audit"), params={"action": "retention.purged"}, headers=owner.headers
        )
        [entry] = audit.json()["items"]
        assert entry["details"]["notification_mails"] >= 1
