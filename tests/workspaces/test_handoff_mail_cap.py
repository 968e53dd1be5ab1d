"""Handoff request mails ("a visitor asks for a human") are capped per workspace and clock hour
(NOTIFICATION_HANDOFF_MAILS_PER_HOUR), a budget of their own beside the "New lead" mails': past
it, no more immediate mails, and once the hour is over one summary per member counts them and
quotes the latest few visitors' first words. Delivered to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from core.config import Settings
from core.db import Database
from tests.conftest import Owner, RuntimeFactory, signup
from tests.fakes.smtp import SmtpServer
from tests.workspaces.test_notifications import World, _member_of, _widget_lead, world
from workspaces import notification_delivery, notification_text

HANDOFF_SUBJECT = "[Acme] A visitor asks to talk to a person"


async def _handoff(w: World, owner: Owner, opening: str) -> str:
    """A conversation that opens with ``opening`` and then asks for a human; its id."""
    first = await w.client.post(
        owner.url("/chat"), json={"message": opening}, headers=owner.headers
    )
    assert first.status_code == 200, first.text
    conversation = first.json()["conversation_id"]
    human = await w.client.post(
        owner.url("/chat"),
        json={"message": "I want to talk to a human", "conversation_id": conversation},
        headers=owner.headers,
    )
    assert human.status_code == 200, human.text
    assert human.json()["source"] == "handoff"
    return str(conversation)


async def _into_hour(owner_db: Database, workspace_id: uuid.UUID, hour: datetime) -> None:
    """Move the workspace's events into the clock hour ``hour`` (over by now), one second apart
    in the order they came: the test does not depend on when it runs."""
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "UPDATE notification_events e SET created_at = CAST(:hour AS timestamptz)"
                "   + make_interval(secs => o.n)"
                " FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS n"
                "       FROM notification_events WHERE workspace_id = :ws) o"
                " WHERE e.id = o.id"
            ),
            {"hour": hour, "ws": workspace_id},
        )


@asynccontextmanager
async def _acme(
    runtime_factory: RuntimeFactory, smtp: SmtpServer, **settings: Any
) -> AsyncIterator[tuple[World, Owner]]:
    """A pro workspace "Acme" whose events the test dispatches by hand (no kick after commit),
    once it has moved them into an hour that is over."""
    async with world(runtime_factory, smtp, "pro", **settings) as w:
        owner = await signup(w.client, "Acme")
        await w.settle()
        w.runtime.notifications.stop()
        yield w, owner


async def _dispatch_in_past_hour(w: World, owner_db: Database, owner: Owner) -> datetime:
    """Move the workspace's events into an hour over hours ago, dispatch them: that hour."""
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    await _into_hour(owner_db, uuid.UUID(owner.workspace_id), hour)
    await notification_delivery.dispatch(w.runtime.notifications, uuid.UUID(owner.workspace_id))
    return hour


async def test_a_flood_of_handoffs_mails_the_cap_then_one_summary_with_first_words(
    runtime_factory: RuntimeFactory, smtp: SmtpServer, owner_db: Database
) -> None:
    cap = 2
    async with _acme(runtime_factory, smtp, notification_handoff_mails_per_hour=cap) as (w, owner):
        member = await _member_of(w, owner, "member")
        deps = w.runtime.notifications
        tag = uuid.uuid4().hex[:8]
        openings = [f"Question {tag}-{i} about my order" for i in range(cap + 1)]
        openings += [
            f"Parcel {tag} arrived <b>broken</b>\nand\u202e the box was wet",
            f"Refund {tag} " + "please " * 40,
            *(f"Question {tag}-{i} about my invoice" for i in range(3)),
        ]
        conversations = [await _handoff(w, owner, opening) for opening in openings]
        hour = await _dispatch_in_past_hour(w, owner_db, owner)

        for person in (owner, member):
            mails = await w.notices(person.email)
            assert [m.message["Subject"] for m in mails] == [HANDOFF_SUBJECT] * cap
            # The first ones of the hour, at once (written in one transaction, so they may
            # arrive in either order).
            mailed = {c for c in conversations for m in mails if c in m.text}
            assert mailed == set(conversations[:cap])

        # Not before the hour is over; then one summary each, once.
        await notification_delivery.sweep(deps, hour + timedelta(minutes=59))
        for person in (owner, member):
            assert len(await w.notices(person.email)) == cap
        await notification_delivery.sweep(deps, hour + timedelta(hours=1))
        await notification_delivery.sweep(deps, hour + timedelta(hours=2))
        held = len(openings) - cap
        for person in (owner, member):
            mails = await w.notices(person.email)
            assert len(mails) == cap + 1, [m.message["Subject"] for m in mails]
            summary = mails[-1]
            assert summary.message["Subject"] == (
                f"[Acme] {held} more visitors asked for a person in the last hour"
            )
            body = summary.text
            assert deps.url(f"/app/w/{owner.workspace_id}/conversations?status=handoff") in body
            # The latest SUMMARY_LATEST, newest first, by their first message (not the request).
            quoted = [line for line in body.splitlines() if line.endswith('"')]
            assert len(quoted) == 5  # notification_delivery.SUMMARY_LATEST
            assert f"Question {tag}-2 about my invoice" in quoted[0]
            assert f"Question {tag}-{cap} about my order" not in body  # the oldest held one
            assert f"Question {tag}-0 about my order" not in body  # mailed at once
            assert f'"Parcel {tag} arrived <b>broken</b> and the box was wet"' in body
            refund = next(line for line in quoted if f"Refund {tag}" in line)
            assert refund.endswith('\u2026"')
            assert len(refund.split(': "', 1)[1]) <= 80 + 1  # WORDS_CHARS and the quote
            assert summary.html is not None
            assert "&lt;b&gt;broken&lt;/b&gt;" in summary.html
            assert "<b>broken" not in summary.html
            assert "\u202e" not in summary.html
            assert "\u202e" not in body

        # Every request was handed off, whether mailed or summed up.
        listing = await w.client.get(
            owner.url("/conversations?status=handoff&limit=100"), headers=owner.headers
        )
        assert listing.status_code == 200, listing.text
        assert {item["id"] for item in listing.json()["items"]} == set(conversations)


async def test_handoffs_under_the_cap_are_each_mailed_and_not_summed_up(
    runtime_factory: RuntimeFactory, smtp: SmtpServer, owner_db: Database
) -> None:
    cap = 3
    async with _acme(runtime_factory, smtp, notification_handoff_mails_per_hour=cap) as (w, owner):
        tag = uuid.uuid4().hex[:8]
        conversations = [await _handoff(w, owner, f"Hello {tag}-{i}") for i in range(cap)]
        hour = await _dispatch_in_past_hour(w, owner_db, owner)
        await notification_delivery.sweep(w.runtime.notifications, hour + timedelta(hours=2))
        mails = await w.notices(owner.email)
        assert [m.message["Subject"] for m in mails] == [HANDOFF_SUBJECT] * cap
        # Each request in a mail of its own (dispatched in one transaction, so the mails may
        # arrive in any order).
        assert sorted([c for c in conversations if c in m.text] for m in mails) == sorted(
            [c] for c in conversations
        )


async def test_a_flood_of_leads_does_not_hold_back_a_handoff_mail(
    runtime_factory: RuntimeFactory, smtp: SmtpServer, owner_db: Database
) -> None:
    """Each kind has its own hourly budget: the leads past theirs are summed up, while the
    visitor asking for a person in the same hour is mailed at once."""
    async with _acme(
        runtime_factory,
        smtp,
        notification_lead_mails_per_hour=1,
        notification_handoff_mails_per_hour=1,
    ) as (w, owner):
        for _ in range(3):
            await _widget_lead(w, owner)
        conversation = await _handoff(w, owner, f"Hello {uuid.uuid4().hex[:8]}")
        hour = await _dispatch_in_past_hour(w, owner_db, owner)
        await notification_delivery.sweep(w.runtime.notifications, hour + timedelta(hours=1))
        mails = await w.notices(owner.email)
        subjects = [m.message["Subject"] for m in mails]
        assert sorted(subjects) == sorted(
            [
                "[Acme] New lead: Visitor Vee",
                HANDOFF_SUBJECT,
                "[Acme] 2 more new leads in the last hour",
            ]
        )
        assert (
            conversation in next(m for m in mails if m.message["Subject"] == HANDOFF_SUBJECT).text
        )


def test_first_words_are_one_bounded_line() -> None:
    first_words, WORDS_CHARS = notification_text.first_words, notification_text.WORDS_CHARS
    assert first_words("  Hello\r\n\tthere\x00 \u200bfriend ") == "Hello there friend"
    assert first_words("\u202eevil") == "evil"
    long = first_words("word " * 100)
    assert len(long) <= WORDS_CHARS
    assert long.endswith("\u2026")
    assert first_words("") == ""


@pytest.mark.parametrize("value", [0, -1])
def test_the_handoff_mail_cap_is_at_least_one(value: int) -> None:
    with pytest.raises(ValidationError):
        Settings(notification_handoff_mails_per_hour=value)


async def test_erasing_a_quoted_visitor_takes_the_summary_out_of_the_outbox(
    runtime_factory: RuntimeFactory, smtp: SmtpServer, owner_db: Database
) -> None:
    """The summary quotes the visitor's first words: like a "New lead" mail quoting a lead, it
    leaves the outbox (kept 7 days after sending) when that visitor is erased."""
    async with _acme(runtime_factory, smtp, notification_handoff_mails_per_hour=1) as (w, owner):
        tag = uuid.uuid4().hex[:8]
        await _handoff(w, owner, f"Mailed {tag}")
        quoted = await _handoff(w, owner, f"Quoted {tag}")
        hour = await _dispatch_in_past_hour(w, owner_db, owner)
        await notification_delivery.sweep(w.runtime.notifications, hour + timedelta(hours=1))
        [summary] = [m for m in await w.notices(owner.email) if f"Quoted {tag}" in m.text]
        subject = str(summary.message["Subject"])

        listing = await w.client.get(owner.url("/conversations?limit=100"), headers=owner.headers)
        session_id = next(i["session_id"] for i in listing.json()["items"] if i["id"] == quoted)
        erased = await w.client.post(
            owner.url("/erasures"), json={"session_id": session_id}, headers=owner.headers
        )
        assert erased.status_code == 200, erased.text
        assert erased.json()["erased"]["notification_mails"] >= 1
        async with owner_db.transaction() as session:
            left = (
                await session.execute(
                    text(
                        "SELECT count(*) FROM mail_outbox"
                        " WHERE about_workspace = :ws AND subject = :subject"
                    ),
                    {"ws": uuid.UUID(owner.workspace_id), "subject": subject},
                )
            ).scalar_one()
        assert left == 0
