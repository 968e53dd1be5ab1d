"""A visitor's form sent to a lead while the owner erases another visitor's session from it.

The erasure read the lead and its remaining submissions once, without a lock, then rewrote or
merged it (``session_erasure_repository``) from what it had read: Bob's form, written to the
lead in the meantime (his address on it, his submission), was not seen. The lead went into
another with his address dropped, and deleting it took his new submission with it (or the two
transactions deadlocked, one of them answered 500). Now the erasure locks the leads it rewrites
first: it waits for Bob's form and sees it, or Bob's form waits for it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from core.db import Database
from lifecycle import session_erasure_repository as session_repo
from tests.conftest import Owner
from tests.lifecycle.data import widget
from tests.lifecycle.test_erasure_session_numbers import _chat, _erase_session, _leads
from tests.widget.test_widget_phone_lead import submitted_phones
from tests.workspaces.test_signin_races import GUARD_SECONDS, _until_blocked_by
from workspaces import leads as lead_service


async def test_a_form_sent_during_the_erasure_keeps_its_lead_and_submission(
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tail = f"{uuid.uuid4().int % 10**6:06d}"
    delhi, home, london = f"+91 7911{tail[0]} {tail[1:]}", f"07911 {tail}", f"+44 7911 {tail}"
    tag = uuid.uuid4().hex[:8]
    await _chat(client, owner, f"call me on {delhi}", f"delhi-{tag}")
    bob = await _chat(client, owner, f"call me on {home}", f"home-{tag}")
    await _chat(client, owner, f"call me on {london}", f"london-{tag}")
    ids = {lead["phone"]: lead["id"] for lead in await _leads(client, owner)}
    assert set(ids) == {delhi, london}

    written, go = asyncio.Event(), asyncio.Event()
    backend: list[int] = []
    real = lead_service.repo.insert_lead_submission

    async def held(session: Any, submission: Any) -> None:
        await real(session, submission)
        backend.append(int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()))
        written.set()
        await asyncio.wait_for(go.wait(), GUARD_SECONDS)

    monkeypatch.setattr(lead_service.repo, "insert_lead_submission", held)
    email = f"bob-{tag}@example.com"
    form = asyncio.create_task(
        client.post(
            "/api/v1/widget/leads",
            json={
                "email": email,
                "name": "Bob",
                "conversation_id": bob,
                "session_id": f"home-{tag}",
            },
            headers=widget(owner),
        )
    )
    await asyncio.wait_for(written.wait(), GUARD_SECONDS)
    monkeypatch.setattr(lead_service.repo, "insert_lead_submission", real)
    erasure = asyncio.create_task(_erase_session(client, owner, f"delhi-{tag}"))
    await _until_blocked_by(owner_db, backend[0])
    go.set()
    sent = await form
    assert sent.status_code == 202, sent.text
    erased = await erasure
    assert erased["lead_submissions"] == 1, erased

    leads = {lead["email"]: lead for lead in await _leads(client, owner)}
    assert set(leads) == {email, None}, leads
    assert (leads[email]["id"], leads[email]["phone"]) == (ids[delhi], home)
    listing = await client.get(owner.url(f"/leads/{ids[delhi]}/submissions"), headers=owner.headers)
    assert listing.status_code == 200, listing.text
    assert email in [s["email"] for s in listing.json()["items"]]


async def test_a_number_sent_while_the_erasure_holds_its_lead_waits_for_it(
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The erasure locks the leads, then a number's lock to merge one (``phone_only_lead``); a
    form with that number takes the number's lock, then writes to the lead. Taken in that order
    the two deadlocked: the erasure now takes the numbers' locks before the leads'."""
    tail = f"{uuid.uuid4().int % 10**6:06d}"
    delhi, home, london = f"+91 7911{tail[0]} {tail[1:]}", f"07911 {tail}", f"+44 7911 {tail}"
    tag = uuid.uuid4().hex[:8]
    for number, who in ((delhi, "delhi"), (home, "home"), (london, "london")):
        await _chat(client, owner, f"call me on {number}", f"{who}-{tag}")
    ids = {lead["phone"]: lead["id"] for lead in await _leads(client, owner)}
    assert set(ids) == {delhi, london}

    merging, go = asyncio.Event(), asyncio.Event()
    backend: list[int] = []
    real = session_repo.lead_repo.phone_only_lead

    async def held(session: Any, *args: Any, **kwargs: Any) -> Any:
        backend.append(int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()))
        merging.set()
        await asyncio.wait_for(go.wait(), GUARD_SECONDS)
        return await real(session, *args, **kwargs)

    monkeypatch.setattr(session_repo.lead_repo, "phone_only_lead", held)
    erasure = asyncio.create_task(_erase_session(client, owner, f"delhi-{tag}"))
    await asyncio.wait_for(merging.wait(), GUARD_SECONDS)
    form = asyncio.create_task(
        client.post("/api/v1/widget/leads", json={"phone": home}, headers=widget(owner))
    )
    await _until_blocked_by(owner_db, backend[0])
    go.set()
    erased = await erasure
    assert erased["lead_submissions"] == 1, erased
    sent = await form
    assert sent.status_code == 202, sent.text
    [lead] = await _leads(client, owner)
    assert (lead["id"], lead["phone"]) == (ids[london], london)
    assert sorted(await submitted_phones(client, owner, lead["id"])) == sorted([home, home, london])
