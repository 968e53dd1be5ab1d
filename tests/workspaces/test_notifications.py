"""Owner notifications by email, through the HTTP API, delivered to a real SMTP server (aiosmtpd):
who gets which mail, once; the daily digest; the preferences API; unsubscribe links."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from api.runtime import Runtime
from core.db import Database
from core.mail_repository import OUTBOX_SENDER
from core.scheduler import Scheduler
from lifecycle import deletion
from tests.conftest import Owner, RuntimeFactory, client_for, join, signup
from tests.fakes.smtp import Received, SmtpServer
from tests.rag.test_chat import chat
from workspaces import notification_delivery, notifications
from workspaces.usage import month_key


@dataclass
class World:
    runtime: Runtime
    client: httpx.AsyncClient
    smtp: SmtpServer

    async def settle(self) -> None:
        """Every dispatch, flush and job requested so far, done."""
        for _ in range(3):
            await notifications.settle_kicks()
            await self.runtime.jobs.drain()
            await self.runtime.mailer.settle()
            await self.runtime.jobs.drain()

    async def notices(self, address: str) -> list[Received]:
        """The notification mails ``address`` received (subjects start with ``[workspace]``)."""
        await self.settle()
        return [r for r in self.smtp.to(address) if str(r.message["Subject"]).startswith("[")]


@asynccontextmanager
async def world(
    runtime_factory: RuntimeFactory, smtp: SmtpServer, plan: str, **settings: Any
) -> AsyncIterator[World]:
    async with (
        runtime_factory(
            smtp_url=smtp.url, smtp_starttls="off", default_plan=plan, **settings
        ) as runtime,
        client_for(runtime, ip=_address()) as client,
    ):
        yield World(runtime, client, smtp)


@pytest.fixture
async def w(runtime_factory: RuntimeFactory, smtp: SmtpServer) -> AsyncIterator[World]:
    """New workspaces on the pro plan (room for a team)."""
    async with world(runtime_factory, smtp, "pro") as it:
        yield it


@pytest.fixture
async def free(runtime_factory: RuntimeFactory, smtp: SmtpServer) -> AsyncIterator[World]:
    """New workspaces on the free plan (100 conversations a month)."""
    async with world(runtime_factory, smtp, "free") as it:
        yield it


def _address() -> str:
    """A client address of this test alone (the per-IP rate limits count per address)."""
    raw = uuid.uuid4().bytes
    return f"10.{raw[0]}.{raw[1]}.{raw[2] or 1}"


async def _widget_lead(w: World, owner: Owner, email: str | None = None) -> str:
    email = email or f"lead-{uuid.uuid4().hex[:10]}@example.com"
    response = await w.client.post(
        "/api/v1/widget/leads",
        json={"email": email, "name": "Visitor Vee", "message": "Call me"},
        headers={"X-Widget-Key": owner.workspace["public_key"]},
    )
    assert response.status_code == 202, response.text
    return email


async def _put(
    w: World, who: Owner, prefs: dict[str, str], workspace: Owner | None = None
) -> httpx.Response:
    return await w.client.put(
        (workspace or who).url("/notifications/preferences"),
        json={"preferences": prefs},
        headers=who.headers,
    )


async def _member_of(w: World, owner: Owner, role: str, name: str = "Member") -> Owner:
    person = await signup(w.client, name)
    await join(w.client, owner, person, role)
    return person


# --- who receives what -------------------------------------------------------------------------


async def test_a_new_lead_mails_the_members_who_want_it_and_nobody_else(w: World) -> None:
    owner = await signup(w.client, "Acme")
    admin = await _member_of(w, owner, "admin")
    quiet = await _member_of(w, owner, "member")
    removed = await _member_of(w, owner, "member")
    assert (await _put(w, quiet, {"lead.created": "off"}, owner)).status_code == 200
    gone = await w.client.delete(owner.url(f"/members/{removed.user_id}"), headers=owner.headers)
    assert gone.status_code == 204, gone.text
    other = await signup(w.client, "Globex")
    unverified = await signup(w.client, "Initech", verify=False)

    lead_email = await _widget_lead(w, owner)
    await _widget_lead(w, owner, lead_email)  # the same visitor again: not a new lead
    await _widget_lead(w, unverified)

    [mail] = await w.notices(owner.email)
    assert mail.message["Subject"] == "[Acme] New lead: Visitor Vee"
    assert lead_email in mail.text
    assert "Call me" in mail.text
    assert f"/app/w/{owner.workspace_id}/leads/" in mail.text
    assert mail.html is not None
    assert lead_email in mail.html
    assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert len(await w.notices(admin.email)) == 1
    for nobody in (quiet, removed, other, unverified):
        assert await w.notices(nobody.email) == [], nobody.email


async def test_a_handoff_request_mails_once_per_conversation(w: World) -> None:
    owner = await signup(w.client, "Acme")
    member = await _member_of(w, owner, "member")
    first = await w.client.post(
        owner.url("/chat"), json={"message": "I want to talk to a human"}, headers=owner.headers
    )
    assert first.status_code == 200, first.text
    assert first.json()["source"] == "handoff"
    again = await w.client.post(
        owner.url("/chat"),
        json={
            "message": "Can I talk to a human please?",
            "conversation_id": first.json()["conversation_id"],
        },
        headers=owner.headers,
    )
    assert again.status_code == 200, again.text
    for person in (owner, member):
        [mail] = await w.notices(person.email)
        assert mail.message["Subject"] == "[Acme] A visitor asks to talk to a person"
        assert first.json()["conversation_id"] in mail.text


async def test_an_erasure_asked_in_the_chat_mails_the_owner_what_it_is(w: World) -> None:
    """A visitor typing their number with its removal asked: no lead, the conversation handed
    to the team, and the mail says it is an erasure request (not a person asked for)."""
    owner = await signup(w.client, "Acme")
    asked = await chat(w.client, owner, "98765 43210 is my number, delete it")
    assert asked.status_code == 200, asked.text
    assert (asked.json()["intent"], asked.json()["source"]) == ("erasure", "handoff")
    [mail] = await w.notices(owner.email)
    assert mail.message["Subject"] == "[Acme] A visitor asks to have their details erased"
    assert asked.json()["conversation_id"] in mail.text
    assert "Settings, Your data" in mail.text
    assert "98765" not in mail.text  # the number stays in the conversation, not in mails


async def test_a_failed_document_mails_its_reason_to_owners_and_admins(w: World) -> None:
    owner = await signup(w.client, "Acme")
    admin = await _member_of(w, owner, "admin")
    member = await _member_of(w, owner, "member")
    assert (await _put(w, admin, {"ingestion.failed": "immediate"}, owner)).status_code == 200
    html = b"<html><body><nav>Home</nav><script>x()</script></body></html>"
    response = await w.client.post(
        owner.url("/documents"),
        files={"file": ("empty.html", html, "text/html")},
        data={"title": "Empty page"},
        headers=owner.headers,
    )
    assert response.status_code == 202, response.text
    for person in (owner, admin):
        [mail] = await w.notices(person.email)
        assert mail.message["Subject"] == "[Acme] Document failed: Empty page"
        assert "Reason: No text" in mail.text
    assert await w.notices(member.email) == []


# --- quotas ------------------------------------------------------------------------------------


async def _set_usage(owner_db: Database, owner: Owner, conversations: int) -> None:
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO usage_counters (workspace_id, month, conversations, messages,"
                " documents, chunks, llm_tokens, updated_at)"
                " VALUES (:w, :m, :c, :c, 0, 0, 0, now())"
                " ON CONFLICT (workspace_id, month) DO UPDATE SET conversations = :c,"
                " messages = :c"
            ),
            {"w": owner.workspace_id, "m": month_key(), "c": conversations},
        )


async def _chats(w: World, owner: Owner, n: int) -> list[int]:
    async def one(i: int) -> int:
        response = await w.client.post(
            owner.url("/chat"), json={"message": f"hello there {i}"}, headers=owner.headers
        )
        return response.status_code

    return list(await asyncio.gather(*(one(i) for i in range(n))))


async def test_quota_80_and_100_mail_once_each_month(free: World, owner_db: Database) -> None:
    w = free
    owner = await signup(w.client, "Acme")  # free plan: 100 conversations a month
    await _set_usage(owner_db, owner, 77)
    assert await _chats(w, owner, 6) == [200] * 6  # 78..83: crosses 80 once, concurrently
    [eighty] = await w.notices(owner.email)
    assert eighty.message["Subject"] == "[Acme] Conversations at 80% of your monthly quota"
    assert "80 of 100 conversations" in eighty.text

    await _set_usage(owner_db, owner, 97)
    codes = await _chats(w, owner, 5)  # 98, 99, 100, then two refusals
    assert sorted(codes) == [200, 200, 200, 429, 429]
    assert await _chats(w, owner, 2) == [429, 429]
    mails = await w.notices(owner.email)
    assert [m.message["Subject"] for m in mails] == [
        "[Acme] Conversations at 80% of your monthly quota",
        "[Acme] Conversations quota reached",
    ]
    async with owner_db.transaction() as session:
        kinds = (
            await session.execute(
                text(
                    "SELECT kind, dedupe_key FROM notification_events WHERE workspace_id = :w"
                    " AND kind LIKE 'quota.%' ORDER BY kind"
                ),
                {"w": owner.workspace_id},
            )
        ).all()
    month = month_key()
    assert [tuple(k) for k in kinds] == [
        ("quota.100", f"conversations:{month}:free"),
        ("quota.80", f"conversations:{month}:free"),
    ]

    # Upgraded in the same month: the new plan's thresholds mail again (they were silenced, the
    # key being only metric and month; a tester's finding).
    async with owner_db.transaction() as session:
        await session.execute(
            text("UPDATE workspaces SET plan = 'starter' WHERE id = :w"), {"w": owner.workspace_id}
        )
    await _set_usage(owner_db, owner, 1599)  # starter: 2,000 a month, 80 % at 1,600
    assert await _chats(w, owner, 1) == [200]
    mails = await w.notices(owner.email)
    assert len(mails) == 3
    assert "1600 of 2000 conversations" in mails[-1].text.replace(",", "")


async def test_a_paid_period_ending_over_the_fallback_limit_mails_quota_reached_once(
    free: World, owner_db: Database
) -> None:
    """Billing review 3, F2: Starter paid until a moment ago, 150 conversations this month; on
    Free (100) every visitor message is refused for the rest of the month, and the owners were
    never told: the count never crossed 100, and the refusal rolled back."""
    w = free
    owner = await signup(w.client, "Acme")
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "UPDATE workspaces SET plan = 'starter', plan_expires_at = now()"
                " + interval '1 hour', fallback_plan = 'free' WHERE id = :w"
            ),
            {"w": owner.workspace_id},
        )
    await _set_usage(owner_db, owner, 150)
    assert await _chats(w, owner, 1) == [200]
    usage = await w.client.get(owner.url("/usage"), headers=owner.headers)
    assert usage.json()["limits_reached"] == []
    async with owner_db.transaction() as session:  # the paid period ends
        await session.execute(
            text(
                "UPDATE workspaces SET plan_expires_at = now() - interval '1 minute' WHERE id = :w"
            ),
            {"w": owner.workspace_id},
        )
    assert await _chats(w, owner, 3) == [429, 429, 429]  # concurrently: one event all the same
    assert await _chats(w, owner, 1) == [429]
    mails = await w.notices(owner.email)
    assert [m.message["Subject"] for m in mails] == ["[Acme] Conversations quota reached"]
    assert "151 of 100 conversations" in mails[0].text.replace(",", "")
    usage = await w.client.get(owner.url("/usage"), headers=owner.headers)
    assert usage.json()["plan"] == "free"
    assert usage.json()["limits_reached"] == ["conversations"]


def test_quota_thresholds_are_crossed_once() -> None:
    crossed = notifications.quota_thresholds
    assert crossed(100, 79, 80) == [80]
    assert crossed(100, 80, 81) == []
    assert crossed(100, 99, 100) == [100]
    assert crossed(100, 70, 100) == [80, 100]
    assert crossed(1, 0, 1) == [80, 100]
    assert crossed(None, 0, 10**9) == []
    assert crossed(0, 0, 1) == []


# --- payments ------------------------------------------------------------------------------------


# --- the daily digest --------------------------------------------------------------------------


async def _digest_run(w: World) -> int:
    return await notification_delivery.send_digests(
        w.runtime.notifications, datetime.now(UTC) + timedelta(seconds=1)
    )


async def test_the_digest_sends_one_mail_with_the_events_then_nothing(w: World) -> None:
    owner = await signup(w.client, "Acme")
    member = await _member_of(w, owner, "member")
    switched = await _put(
        w, owner, {"lead.created": "daily_digest", "handoff.requested": "daily_digest"}
    )
    assert switched.status_code == 200, switched.text
    leads = [await _widget_lead(w, owner) for _ in range(2)]
    human = await w.client.post(
        owner.url("/chat"), json={"message": "I want to talk to a human"}, headers=owner.headers
    )
    assert human.status_code == 200
    await w.settle()
    assert await w.notices(owner.email) == []  # digest mode: nothing at once
    assert len(await w.notices(member.email)) == 3  # the member's defaults: at once

    assert await _digest_run(w) >= 1
    [digest] = await w.notices(owner.email)
    assert digest.message["Subject"] == "[Acme] Your daily summary: 3 notifications"
    for lead in leads:
        assert lead in digest.text
    assert "A visitor asks to talk to a person" in digest.text
    assert digest.text.count("/app/unsubscribe?token=") == 2  # one per kind in it
    assert digest.message["List-Unsubscribe"] is None  # two kinds: links in the body only

    await _digest_run(w)  # nothing new: nothing sent
    assert len(await w.notices(owner.email)) == 1
    assert len(await w.notices(member.email)) == 3


async def test_the_scheduled_digest_on_two_runners_sends_once(
    w: World, runtime_factory: RuntimeFactory, smtp: SmtpServer, db: Database
) -> None:
    owner = await signup(w.client, "Acme")
    assert (await _put(w, owner, {"lead.created": "daily_digest"})).status_code == 200
    lead = await _widget_lead(w, owner)
    await w.settle()
    # Two processes' schedulers with the deployment's digest job under a name of this test
    # (a lease row of its own), both ticking at a due time.
    async with runtime_factory(smtp_url=smtp.url, smtp_starttls="off") as second:
        jobs = []
        name = f"notification_digest-{uuid.uuid4().hex[:8]}"
        for runtime in (w.runtime, second):
            [job] = [j for j in runtime.scheduler.jobs if j.name == "notification_digest"]
            jobs.append(Scheduler(db, [type(job)(name, job.schedule, job.run, job.lease)]))
        now = datetime.now(UTC)
        assert await jobs[0].tick(now) == []  # registers the job: first due at the next hour
        tomorrow = now + timedelta(days=1, hours=1)  # past that hour, whatever it is
        ran = await asyncio.gather(*(s.tick(tomorrow) for s in jobs))
        assert sorted(len(r) for r in ran) == [0, 1]
        await second.mailer.settle()
        await second.jobs.drain()
    [digest] = await w.notices(owner.email)
    assert lead in digest.text
    assert digest.message["List-Unsubscribe"] is not None  # one kind: the header too


# --- preferences API ---------------------------------------------------------------------------


async def test_preferences_defaults_and_validation(w: World) -> None:
    owner = await signup(w.client, "Acme")
    member = await _member_of(w, owner, "member")

    mine = await w.client.get(owner.url("/notifications/preferences"), headers=owner.headers)
    assert mine.status_code == 200, mine.text
    modes = {p["kind"]: p["mode"] for p in mine.json()["preferences"]}
    assert modes == dict.fromkeys(notifications.KINDS, "immediate")
    theirs = await w.client.get(owner.url("/notifications/preferences"), headers=member.headers)
    by_kind = {p["kind"]: p for p in theirs.json()["preferences"]}
    assert by_kind["lead.created"]["mode"] == "immediate"
    assert by_kind["quota.80"]["mode"] == "off"
    assert by_kind["payment.failed"]["allowed"] is False

    cases: list[tuple[Any, int, str]] = [
        ({"lead.created": "weekly"}, 422, "invalid_notification_mode"),
        ({"lead.deleted": "off"}, 422, "invalid_notification_kind"),
        ({}, 422, "validation_error"),
        ("off", 422, "validation_error"),
        ({"payment.failed": "immediate"}, 403, "notification_not_allowed"),
    ]
    for prefs, status, code in cases:
        response = await _put(w, member, prefs, owner)  # type: ignore[arg-type]
        assert response.status_code == status, (prefs, response.text)
        assert response.json()["error"]["code"] == code, (prefs, response.text)
    assert (await _put(w, member, {"payment.failed": "off"}, owner)).status_code == 200

    changed = await _put(w, member, {"lead.created": "daily_digest"}, owner)
    assert changed.status_code == 200
    assert {p["kind"]: p["mode"] for p in changed.json()["preferences"]}["lead.created"] == (
        "daily_digest"
    )
    # Own preferences only: the owner's are untouched.
    mine = await w.client.get(owner.url("/notifications/preferences"), headers=owner.headers)
    assert {p["kind"]: p["mode"] for p in mine.json()["preferences"]}["lead.created"] == "immediate"
    # Another workspace: 404; an API key: 403.
    other = await signup(w.client, "Globex")
    foreign = await _put(w, other, {"lead.created": "off"}, owner)
    assert foreign.status_code == 404
    key = await w.client.post(owner.url("/api-keys"), json={"name": "k"}, headers=owner.headers)
    by_key = await w.client.get(
        owner.url("/notifications/preferences"),
        headers={"Authorization": f"Bearer {key.json()['key']}"},
    )
    assert by_key.status_code == 403
    assert by_key.json()["error"]["code"] == "user_token_required"


# --- unsubscribe ----------------------------------------------------------------------------------


async def test_the_unsubscribe_link_turns_one_kind_off_without_login(w: World) -> None:
    owner = await signup(w.client, "Acme")
    await _widget_lead(w, owner)
    [mail] = await w.notices(owner.email)
    link = mail.link("/app/unsubscribe")
    path = link.split("//", 1)[1].split("/", 1)[1]
    async with client_for(w.runtime) as browser:  # no cookies, no token
        page = await browser.get("/" + path)
        assert page.status_code == 200, page.text
        assert "New lead" in page.text
        token = path.split("token=", 1)[1]
        csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        for _ in range(2):  # idempotent
            done = await browser.post("/app/unsubscribe", data={"csrf_token": csrf, "token": token})
            assert done.status_code == 200, done.text
            assert "no longer get" in done.text
        bad = await browser.get("/app/unsubscribe?token=" + token[:-2] + "xx")
        assert bad.status_code == 400
    prefs = await w.client.get(owner.url("/notifications/preferences"), headers=owner.headers)
    modes = {p["kind"]: p["mode"] for p in prefs.json()["preferences"]}
    assert modes["lead.created"] == "off"
    assert modes["handoff.requested"] == "immediate"  # one kind only
    await _widget_lead(w, owner)
    assert len(await w.notices(owner.email)) == 1

    # The one-click address of the List-Unsubscribe header (RFC 8058), as mail clients read it:
    # the URL itself on the wire, not =?utf-8?q?...?= words (Gmail's one-click ignores those).
    one_click = str(mail.message["List-Unsubscribe"]).strip("<>")
    assert f"List-Unsubscribe: <{one_click}>".encode() in mail.raw
    api_path = "/" + one_click.split("//", 1)[1].split("/", 1)[1]
    posted = await w.client.post(api_path, content=b"List-Unsubscribe=One-Click")
    assert posted.status_code == 204
    forged = await w.client.post("/api/v1/notifications/unsubscribe?token=abc.def")
    assert forged.status_code == 400
    assert forged.json()["error"]["code"] == "link_invalid"


async def test_an_event_whose_dispatch_was_lost_is_sent_by_the_sweep(w: World) -> None:
    owner = await signup(w.client, "Acme")
    w.runtime.notifications.stop()  # as if the process died between the commit and the job
    await _widget_lead(w, owner)
    assert await w.notices(owner.email) == []
    swept = await notification_delivery.sweep(
        w.runtime.notifications, datetime.now(UTC) + timedelta(minutes=1)
    )
    assert swept >= 1
    [mail] = await w.notices(owner.email)
    assert mail.message["Subject"] == "[Acme] New lead: Visitor Vee"
    await notification_delivery.sweep(  # dispatched events are not swept again
        w.runtime.notifications, datetime.now(UTC) + timedelta(minutes=1)
    )
    assert len(await w.notices(owner.email)) == 1


async def test_a_member_removed_before_the_digest_gets_nothing(w: World) -> None:
    owner = await signup(w.client, "Acme")
    leaving = await _member_of(w, owner, "member")
    staying = await _member_of(w, owner, "member")
    for person in (leaving, staying):
        assert (await _put(w, person, {"lead.created": "daily_digest"}, owner)).status_code == 200
    await _widget_lead(w, owner)
    await w.settle()
    gone = await w.client.delete(owner.url(f"/members/{leaving.user_id}"), headers=owner.headers)
    assert gone.status_code == 204, gone.text
    await _digest_run(w)
    assert await w.notices(leaving.email) == []
    [digest] = await w.notices(staying.email)
    assert digest.message["Subject"] == "[Acme] Your daily summary: 1 notification"


# --- erasure and purge ---------------------------------------------------------------------------


async def _outbox_quoting(db: Database, needle: str) -> int:
    async with db.transaction(lookup=OUTBOX_SENDER) as session:
        found = await session.execute(
            text("SELECT count(*) FROM mail_outbox WHERE text_body LIKE :needle"),
            {"needle": f"%{needle}%"},
        )
        return int(found.scalar_one())


async def test_erasing_a_visitor_takes_the_mails_quoting_them_out_of_the_outbox(
    w: World, owner_db: Database
) -> None:
    """A "new lead" mail quotes the visitor; the outbox keeps it (sent or not) for days. Erasing
    the visitor deletes it, and only it; purging the workspace deletes the rest."""
    owner = await signup(w.client, "Acme")
    erased = await _widget_lead(w, owner)
    kept = await _widget_lead(w, owner)
    assert len(await w.notices(owner.email)) == 2  # both sent, and kept in the outbox
    assert await _outbox_quoting(owner_db, erased) == 1
    assert await _outbox_quoting(owner_db, kept) == 1

    response = await w.client.post(
        owner.url("/erasures"), json={"email": erased.upper()}, headers=owner.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["erased"]["notification_mails"] == 1
    assert await _outbox_quoting(owner_db, erased) == 0
    assert await _outbox_quoting(owner_db, kept) == 1  # another visitor's mail stays

    # The workspace deleted and purged: no mail about it is left.
    slug = owner.workspace["slug"]
    gone = await w.client.request(
        "DELETE", owner.url(), json={"confirm": slug}, headers=owner.headers
    )
    assert gone.status_code == 202, gone.text
    later = datetime.now(UTC) + timedelta(
        hours=w.runtime.settings.workspace_deletion_grace_hours + 1
    )
    assert (
        await deletion.purge_workspace(
            w.runtime.db,
            w.runtime.settings,
            None,
            workspace_id=uuid.UUID(owner.workspace_id),
            now=later,
        )
        == "purged"
    )
    assert await _outbox_quoting(owner_db, kept) == 0


# --- what reaches the SMTP server ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("\U0001f600" * 200, "hi"),  # a Subject of one encoded word, 1100 octets unfolded
        ("Vee", "&\x0c" * 250),  # looked short to str.splitlines(); 1500 octets of HTML
    ],
)
async def test_a_lead_with_a_long_name_or_odd_message_still_reaches_the_owner(
    w: World, owner_db: Database, name: str, message: str
) -> None:
    """A line over 998 octets was refused by the server ("500 Line too long"), retried for
    hours and given up on: the owner never heard of the lead."""
    owner = await signup(w.client, "Acme")
    response = await w.client.post(
        "/api/v1/widget/leads",
        json={
            "email": f"lead-{uuid.uuid4().hex[:10]}@example.com",
            "name": name,
            "message": message,
        },
        headers={"X-Widget-Key": owner.workspace["public_key"]},
    )
    assert response.status_code == 202, response.text
    notices = await w.notices(owner.email)
    async with owner_db.transaction() as s:
        error = (
            await s.execute(
                text(
                    "SELECT last_error FROM mail_outbox WHERE recipient = :r"
                    " AND template = 'notification'"
                ),
                {"r": owner.email},
            )
        ).scalar_one()
    assert len(notices) == 1, error
    [notice] = notices
    assert name in str(notice.message["Subject"])
    assert max(len(line) for line in notice.raw.splitlines()) <= 998
    assert message.replace("\x0c", "") in notice.text.replace("\x0c", "")


async def test_a_member_removed_while_their_mail_waits_does_not_get_it(
    runtime_factory: RuntimeFactory, smtp: SmtpServer, owner_db: Database
) -> None:
    """The relay failed, the lead's mail waited in the outbox, the admin was removed meanwhile:
    once the relay was back they still got the lead's email, name and message."""
    async with world(runtime_factory, smtp, "pro", mail_retry_seconds=0.01) as w:
        owner = await signup(w.client, "Acme")
        admin = await _member_of(w, owner, "admin")
        await w.settle()
        smtp.handler.refuse_next = 10_000  # the relay is down (451)
        lead = await _widget_lead(w, owner)
        await w.settle()
        gone = await w.client.delete(owner.url(f"/members/{admin.user_id}"), headers=owner.headers)
        assert gone.status_code == 204, gone.text
        smtp.handler.refuse_next = 0  # the relay is back; the waiting mails are due again
        async with owner_db.transaction() as s:
            await s.execute(
                text(
                    "UPDATE mail_outbox SET next_attempt_at = now()"
                    " WHERE sent_at IS NULL AND recipient = ANY(:to)"
                ),
                {"to": [owner.email, admin.email]},
            )
        await w.runtime.mailer.flush()
        async with owner_db.transaction() as s:
            left = (
                await s.execute(
                    text(
                        "SELECT count(*) FROM mail_outbox"
                        " WHERE recipient = :to AND template = 'notification'"
                    ),
                    {"to": admin.email},
                )
            ).scalar_one()
    assert [r for r in smtp.to(admin.email) if lead in r.text] == []
    assert [r for r in smtp.to(owner.email) if lead in r.text] != []  # still a member
    assert left == 0  # and the mail quoting the lead is gone, not kept


async def test_a_flood_of_leads_mails_the_cap_then_one_summary_and_stores_them_all(
    runtime_factory: RuntimeFactory, smtp: SmtpServer, owner_db: Database
) -> None:
    cap = 3
    async with world(runtime_factory, smtp, "pro", notification_lead_mails_per_hour=cap) as w:
        owner = await signup(w.client, "Acme")
        admin = await _member_of(w, owner, "admin")
        await w.settle()
        # Dispatch by hand, with every lead in one clock hour that is over: the test does not
        # depend on when it runs (no lead falls into the next hour).
        w.runtime.notifications.stop()
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
        deps = w.runtime.notifications
        workspace_id = uuid.UUID(owner.workspace_id)
        leads: set[str] = set()
        for batch in (2, cap + 3):  # the second dispatch counts the mails of the first
            leads |= {await _widget_lead(w, owner) for _ in range(batch)}
            async with owner_db.transaction() as session:
                await session.execute(
                    text(
                        "UPDATE notification_events"
                        " SET created_at = CAST(:hour AS timestamptz) + interval '1 second'"
                        " WHERE workspace_id = :ws AND kind = 'lead.created'"
                    ),
                    {"hour": hour, "ws": workspace_id},
                )
            assert await notification_delivery.dispatch(deps, workspace_id) == batch
        for person in (owner, admin):
            mails = await w.notices(person.email)
            assert [m.message["Subject"] for m in mails] == ["[Acme] New lead: Visitor Vee"] * cap

        # Not before the hour is over; then one summary each, once.
        assert await notification_delivery.send_summaries(deps, hour + timedelta(minutes=59)) == 0
        await notification_delivery.sweep(deps, hour + timedelta(hours=1))
        await notification_delivery.sweep(deps, hour + timedelta(hours=2))
        for person in (owner, admin):
            mails = await w.notices(person.email)
            assert len(mails) == cap + 1, [m.message["Subject"] for m in mails]
            summary = mails[-1]
            assert summary.message["Subject"] == "[Acme] 5 more new leads in the last hour"
            leads_page = deps.url(f"/app/w/{owner.workspace_id}/leads")
            assert leads_page in summary.text.splitlines()
            assert not any(lead in summary.text for lead in leads)

        listing = await w.client.get(owner.url("/leads?limit=100"), headers=owner.headers)
        assert listing.status_code == 200, listing.text
        assert {item["email"] for item in listing.json()["items"]} == leads
