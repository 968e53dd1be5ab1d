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
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

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

T = TypeVar("T")


class _Stop:
    """Where a request is held in its transaction: its backend noted, until ``go``."""

    def __init__(self) -> None:
        self.reached, self.go = asyncio.Event(), asyncio.Event()
        self.backend = 0

    async def __call__(self, session: Any) -> None:
        self.backend = int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())
        self.reached.set()
        await asyncio.wait_for(self.go.wait(), GUARD_SECONDS)

    def before(self, real: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        """``real`` (called with the session first), held here before it runs."""

        async def held(session: Any, *args: Any, **kwargs: Any) -> T:
            await self(session)
            return await real(session, *args, **kwargs)

        return held

    def after(self, real: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        """``real`` (called with the session first), held here once it has run (the first
        time: once ``go`` is set, the calls after it go straight on)."""

        async def held(session: Any, *args: Any, **kwargs: Any) -> T:
            result = await real(session, *args, **kwargs)
            await self(session)
            return result

        return held

    async def ended_before_waiting(self, owner_db: Database, task: asyncio.Future[Any]) -> bool:
        """Whether ``task`` ended before some backend waited for the held request (a check
        that then stops); else it is waiting for it."""
        blocked = asyncio.create_task(_until_blocked_by(owner_db, self.backend))
        done, _ = await asyncio.wait({task, blocked}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            blocked.cancel()
        return task in done

    async def meanwhile(
        self, owner_db: Database, work: Callable[[], Awaitable[T]]
    ) -> asyncio.Task[T]:
        """Once the request is held: ``work`` started and waiting for it; then the request goes
        on."""
        await asyncio.wait_for(self.reached.wait(), GUARD_SECONDS)
        task = asyncio.ensure_future(work())
        await _until_blocked_by(owner_db, self.backend)
        self.go.set()
        return task


async def _three_numbers(
    client: httpx.AsyncClient, owner: Owner
) -> tuple[str, dict[str, str], dict[str, str]]:
    """Delhi's and London's numbers, and Delhi's typed without "+91" ("home", on Delhi's lead),
    each left in a chat: the tag, the numbers by visitor, the leads' ids by number."""
    tail = f"{uuid.uuid4().int % 10**6:06d}"
    tag = uuid.uuid4().hex[:8]
    numbers = {"delhi": f"+91 7911{tail[0]} {tail[1:]}", "home": f"07911 {tail}"}
    numbers["london"] = f"+44 7911 {tail}"
    for who, number in list(numbers.items()):
        numbers[f"{who}-conversation"] = await _chat(
            client, owner, f"call me on {number}", f"{who}-{tag}"
        )
    ids = {lead["phone"]: lead["id"] for lead in await _leads(client, owner)}
    assert set(ids) == {numbers["delhi"], numbers["london"]}
    return tag, numbers, ids


async def test_a_form_sent_during_the_erasure_keeps_its_lead_and_submission(
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tag, numbers, ids = await _three_numbers(client, owner)
    delhi, home, bob = numbers["delhi"], numbers["home"], numbers["home-conversation"]
    stop = _Stop()
    real = lead_service.repo.insert_lead_submission
    held = stop.after(real)
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
    await asyncio.wait_for(stop.reached.wait(), GUARD_SECONDS)
    monkeypatch.setattr(lead_service.repo, "insert_lead_submission", real)
    erasure = asyncio.create_task(_erase_session(client, owner, f"delhi-{tag}"))
    await _until_blocked_by(owner_db, stop.backend)
    stop.go.set()
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
    tag, numbers, ids = await _three_numbers(client, owner)
    home, london = numbers["home"], numbers["london"]
    stop = _Stop()
    held = stop.before(session_repo.lead_repo.phone_only_lead)
    monkeypatch.setattr(session_repo.lead_repo, "phone_only_lead", held)
    erasure = asyncio.create_task(_erase_session(client, owner, f"delhi-{tag}"))
    await asyncio.wait_for(stop.reached.wait(), GUARD_SECONDS)
    form = asyncio.create_task(
        client.post("/api/v1/widget/leads", json={"phone": home}, headers=widget(owner))
    )
    await _until_blocked_by(owner_db, stop.backend)
    stop.go.set()
    erased = await erasure
    assert erased["lead_submissions"] == 1, erased
    sent = await form
    assert sent.status_code == 202, sent.text
    [lead] = await _leads(client, owner)
    assert (lead["id"], lead["phone"]) == (ids[london], london)
    assert sorted(await submitted_phones(client, owner, lead["id"])) == sorted([home, home, london])
