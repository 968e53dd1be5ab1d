"""Stored-quota notifications: ingesting documents past 80% and to 100% of the plan's documents
quota (and of a small chunks quota) mails the owner once per crossing (real SMTP server); usage
that falls below the threshold and crosses it again mails again; documents finishing at the same
time cross once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from sqlalchemy import text

from core.db import Database
from tests.conftest import Owner, RuntimeFactory, client_for, signup
from tests.fakes.smtp import SmtpServer
from tests.workspaces.test_notifications import World, _address, world
from workspaces.plans import PLANS

LIMIT = 20  # the free plan's documents quota: 80% is the 16th document


@pytest.fixture
async def free(runtime_factory: RuntimeFactory, smtp: SmtpServer) -> AsyncIterator[World]:
    async with world(runtime_factory, smtp, "free") as it:
        yield it


async def _submit(w: World, owner: Owner) -> str:
    tag = uuid.uuid4().hex  # a document of the same title would replace the earlier one
    response = await w.client.post(
        owner.url("/documents"),
        json={"title": f"Doc {tag}", "text": f"Opening hours and prices, note {tag}."},
        headers=owner.headers,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def _add(w: World, owner: Owner, n: int) -> list[str]:
    ids = [await _submit(w, owner) for _ in range(n)]
    await w.settle()
    return ids


async def _ingested(owner_db: Database, owner: Owner) -> int:
    async with owner_db.transaction() as session:
        value = await session.scalar(
            text("SELECT count(*) FROM documents WHERE workspace_id = :w AND status = 'ready'"),
            {"w": owner.workspace_id},
        )
    return int(value or 0)


async def _subjects(w: World, owner: Owner) -> list[str]:
    return [str(m.message["Subject"]) for m in await w.notices(owner.email)]


EIGHTY = "[Acme] Documents at 80% of your plan's limit"
FULL = "[Acme] Documents quota reached"


async def test_documents_past_80_and_to_100_mail_once_each_crossing(
    free: World, owner_db: Database
) -> None:
    w = free
    owner = await signup(w.client, "Acme")
    ids = await _add(w, owner, 15)
    assert await _ingested(owner_db, owner) == 15
    assert await _subjects(w, owner) == []

    await _add(w, owner, 1)  # 16 of 20
    assert await _subjects(w, owner) == [EIGHTY]
    [mail] = await w.notices(owner.email)
    assert "16 of 20 documents stored (free plan)." in mail.text

    await _add(w, owner, 3)  # 19: past 80% already, not yet full
    assert await _subjects(w, owner) == [EIGHTY]
    await _add(w, owner, 1)  # 20 of 20
    assert await _subjects(w, owner) == [EIGHTY, FULL]
    full = next(m for m in await w.notices(owner.email) if m.message["Subject"] == FULL)
    assert "20 of 20 documents stored" in full.text
    assert "refused until you remove some" in full.text
    refused = await w.client.post(
        owner.url("/documents"), json={"title": "x", "text": "more"}, headers=owner.headers
    )
    assert refused.status_code == 429, refused.text

    # Below 80% again, then past it: a new crossing, a new mail (100% is not crossed again).
    for doc in ids[:5]:
        response = await w.client.delete(owner.url(f"/documents/{doc}"), headers=owner.headers)
        assert response.status_code == 204, response.text
    await _add(w, owner, 1)  # 15 -> 16
    assert await _ingested(owner_db, owner) == 16
    assert await _subjects(w, owner) == [EIGHTY, FULL, EIGHTY]
    async with owner_db.transaction() as session:
        keys = (
            await session.execute(
                text(
                    "SELECT kind, dedupe_key FROM notification_events WHERE workspace_id = :w"
                    " AND kind LIKE 'quota.%' ORDER BY kind, dedupe_key"
                ),
                {"w": owner.workspace_id},
            )
        ).all()
    assert [tuple(k) for k in keys] == [
        ("quota.100", "stored:documents:1"),
        ("quota.80", "stored:documents:1"),
        ("quota.80", "stored:documents:2"),
    ]


async def test_documents_finishing_together_cross_80_percent_once(
    runtime_factory: RuntimeFactory, smtp: SmtpServer, owner_db: Database
) -> None:
    async with (
        runtime_factory(
            smtp_url=smtp.url, smtp_starttls="off", default_plan="free", jobs_per_workspace=4
        ) as runtime,
        client_for(runtime, ip=_address()) as client,
    ):
        w = World(runtime, client, smtp)
        owner = await signup(w.client, "Acme")
        await _add(w, owner, 14)
        assert await _subjects(w, owner) == []
        # Four more at once (15..18), ingested side by side (JOBS_PER_WORKSPACE=4): whichever
        # finishes 16th mails, once.
        await asyncio.gather(*(_submit(w, owner) for _ in range(4)))
        await w.settle()
        assert await _ingested(owner_db, owner) == 18
        assert await _subjects(w, owner) == [EIGHTY]


async def test_chunks_past_80_and_to_100_mail_once_each(
    free: World, owner_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plan of 10 chunks (each document here makes one): the 8th and the 10th chunk mail."""
    small = replace(PLANS["free"], limits={**PLANS["free"].limits, "chunks": 10})
    monkeypatch.setitem(PLANS, "free", small)
    w = free
    owner = await signup(w.client, "Acme")
    await _add(w, owner, 7)
    assert await _subjects(w, owner) == []
    await _add(w, owner, 1)
    assert await _subjects(w, owner) == ["[Acme] Chunks at 80% of your plan's limit"]
    await _add(w, owner, 2)
    assert await _ingested(owner_db, owner) == 10
    mails = await w.notices(owner.email)
    assert [str(m.message["Subject"]) for m in mails] == [
        "[Acme] Chunks at 80% of your plan's limit",
        "[Acme] Chunks quota reached",
    ]
    assert "10 of 10 chunks stored (free plan)." in mails[1].text


async def test_faqs_past_80_and_to_100_of_the_plan_mail_the_owner(
    free: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan's FAQ limit was enforced (429) but, unlike documents and chunks, nobody heard
    it coming: the owner found out when a new FAQ was refused."""
    small = replace(PLANS["free"], limits={**PLANS["free"].limits, "faqs": 5})
    monkeypatch.setitem(PLANS, "free", small)
    w = free
    owner = await signup(w.client, "Acme")

    async def add_faq(n: int) -> int:
        response = await w.client.post(
            owner.url("/faqs"),
            json={
                "question": f"Question number {n} about topic {uuid.uuid4().hex}?",
                "answer": f"Answer {n}.",
            },
            headers=owner.headers,
        )
        return response.status_code

    assert [await add_faq(n) for n in range(3)] == [201, 201, 201]
    assert await _subjects(w, owner) == []
    assert await add_faq(3) == 201  # 4 of 5
    assert await _subjects(w, owner) == ["[Acme] FAQs at 80% of your plan's limit"]
    [mail] = await w.notices(owner.email)
    assert "4 of 5 FAQs stored (free plan)." in mail.text
    assert await add_faq(4) == 201  # 5 of 5
    assert await add_faq(5) == 429
    subjects = await _subjects(w, owner)
    assert subjects == ["[Acme] FAQs at 80% of your plan's limit", "[Acme] FAQs quota reached"]
