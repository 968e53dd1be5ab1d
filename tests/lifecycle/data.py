"""A workspace with something in every part, made through the HTTP API as its people and its
visitors would."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import text

from api.runtime import Runtime
from core import scheduler_repository
from core.db import Database
from core.jobs import JobQueue
from core.scheduler import Scheduler
from tests.conftest import Owner


def marker(length: int = 10) -> str:
    """A tag of this test alone, for a visitor's text: a letter, then ``length`` hex digits. No
    reader takes it for a phone number (``PHONE_IN_TEXT`` wants no letter before the digits).
    A bare ``uuid4().hex[:10]`` is all digits one time in 110: "hello 5779079277" then waited
    for the running erasure as a number would, and "my order 5779079277 is late, please call
    me on ..." named two numbers, so no call was taken."""
    return "t" + uuid.uuid4().hex[:length]


async def first_column(owner_db: Database, sql: str, **params: Any) -> list[Any]:
    """The first column of what ``sql`` reads, as the database's owner (no row-level security)."""
    async with owner_db.transaction() as session:
        return list((await session.execute(text(sql), params)).scalars())


@dataclass
class Filled:
    tag: str
    document_id: str
    faq_id: str
    lead_email: str
    lead_id: str
    visitor_session: str
    conversation_id: str
    visitor_email: str


def widget(owner: Owner) -> dict[str, str]:
    return {"X-Widget-Key": owner.workspace["public_key"]}


async def fill(client: httpx.AsyncClient, owner: Owner, jobs: JobQueue) -> Filled:
    """A document (ingested), an FAQ, a lead entered by the owner, and a visitor who chatted
    and then left their email through the widget. Values carry a tag no other workspace has,
    and some start like spreadsheet formulas."""
    tag = uuid.uuid4().hex[:12]
    document = await client.post(
        owner.url("/documents"),
        json={"title": f"Returns {tag}", "text": f"Returns are accepted within 30 days. {tag}"},
        headers=owner.headers,
    )
    assert document.status_code == 202, document.text
    faq = await client.post(
        owner.url("/faqs"),
        json={"question": f"Do you ship abroad {tag}?", "answer": '=HYPERLINK("http://x")'},
        headers=owner.headers,
    )
    assert faq.status_code == 201, faq.text
    lead_email = f"lead-{tag}@example.com"
    lead = await client.post(
        owner.url("/leads"),
        json={"email": lead_email, "name": "=1+2", "message": f"yearly plan {tag}"},
        headers=owner.headers,
    )
    assert lead.status_code == 201, lead.text
    session = f"visitor-{tag}"
    chat = await client.post(
        "/api/v1/chat",
        json={"message": f"Hello, my order {tag}", "session_id": session},
        headers=widget(owner),
    )
    assert chat.status_code == 200, chat.text
    conversation_id = chat.json()["conversation_id"]
    visitor_email = f"visitor-{tag}@example.com"
    form = await client.post(
        "/api/v1/widget/leads",
        json={
            "email": visitor_email,
            "name": "Visitor",
            "message": f"call me {tag}",
            "conversation_id": conversation_id,
            "session_id": session,
        },
        headers=widget(owner),
    )
    assert form.status_code in (200, 201, 202), form.text
    await jobs.drain()
    return Filled(
        tag=tag,
        document_id=document.json()["id"],
        faq_id=faq.json()["id"],
        lead_email=lead_email,
        lead_id=lead.json()["id"],
        visitor_session=session,
        conversation_id=conversation_id,
        visitor_email=visitor_email,
    )


async def tick_due(runtime: Runtime, job: str, now: datetime) -> list[str]:
    """Make ``job`` due at ``now`` (other tests may have run it at a later clock), then tick
    a scheduler holding only the runtime's ``job`` at ``now``: what the driver of a deployment
    does, through the same lease. Only that job: ticking the whole list days ahead ran every
    other periodic job too (analytics rollups, source syncs, expiry notices...) over every
    workspace the suite had made, and the caller's ``drain`` then ran what they queued."""
    [scheduled] = [j for j in runtime.scheduler.jobs if j.name == job]
    async with runtime.db.transaction() as session:
        await scheduler_repository.ensure(session, name=job, due_at=now)
        await scheduler_repository.set_due(session, name=job, due_at=now)
    only = Scheduler(db=runtime.db, jobs=[scheduled], clock=runtime.scheduler.clock)
    return await only.tick(now=now)


CHATS_MENTIONING = {
    "conversations": "SELECT count(*) FROM conversations"
    " WHERE workspace_id = :ws AND session_id LIKE :n",
    "messages": "SELECT count(*) FROM messages WHERE workspace_id = :ws AND text LIKE :n",
}
"""``count_mentions``' queries of a visitor's conversations (by session id) and messages."""


async def count_mentions(
    owner_db: Database, workspace_id: str, needle: str, queries: dict[str, str]
) -> dict[str, int]:
    """Each query's count (``:ws`` the workspace, ``:n`` a LIKE pattern around ``needle``)."""
    async with owner_db.transaction() as session:
        return {
            name: int(
                (
                    await session.execute(text(sql), {"ws": workspace_id, "n": f"%{needle}%"})
                ).scalar_one()
            )
            for name, sql in queries.items()
        }
