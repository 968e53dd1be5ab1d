"""Erasing one visitor's data through the HTTP API, by email or by widget session id."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from core.db import Database
from core.jobs import JobQueue
from tests.conftest import Owner
from tests.lifecycle.data import Filled, count_mentions, fill, widget


async def _rows(owner_db: Database, workspace_id: str, needle: str) -> dict[str, int]:
    """Rows of the workspace that still mention ``needle`` (a value only one visitor has)."""
    queries = {
        "conversations": "SELECT count(*) FROM conversations c WHERE workspace_id = :ws AND"
        " (session_id LIKE :n OR EXISTS (SELECT 1 FROM messages m"
        "  WHERE m.conversation_id = c.id AND m.text LIKE :n))",
        # The visitors' own words (an answer may quote a document that carries the tag too).
        "messages": "SELECT count(*) FROM messages WHERE workspace_id = :ws AND role = 'user'"
        " AND text LIKE :n",
        "leads": "SELECT count(*) FROM leads WHERE workspace_id = :ws"
        " AND (email LIKE :n OR message LIKE :n)",
        "lead_submissions": "SELECT count(*) FROM lead_submissions WHERE workspace_id = :ws"
        " AND (email LIKE :n OR message LIKE :n)",
        "unanswered_questions": "SELECT count(*) FROM unanswered_questions"
        " WHERE workspace_id = :ws AND question LIKE :n",
    }
    return await count_mentions(owner_db, workspace_id, needle, queries)


async def _erase(client: httpx.AsyncClient, owner: Owner, **body: Any) -> httpx.Response:
    return await client.post(owner.url("/erasures"), json=body, headers=owner.headers)


async def _audit(client: httpx.AsyncClient, owner: Owner) -> list[dict[str, Any]]:
    response = await client.get(
        owner.url("/audit"), params={"action": "visitor.erased"}, headers=owner.headers
    )
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.mark.parametrize("key", ["email", "session_id"])
async def test_an_owner_erases_one_visitor_and_nobody_else(
    key: str, client: httpx.AsyncClient, owner: Owner, owner_db: Database, jobs: JobQueue
) -> None:
    visitor = await fill(client, owner, jobs)
    bystander = await fill(client, owner, jobs)
    # The visitor came back later in the same browser, and asked something the bot can't answer.
    again = await client.post(
        "/api/v1/chat",
        json={
            "message": f"Warranty of gadget {visitor.tag}?",
            "session_id": visitor.visitor_session,
        },
        headers=widget(owner),
    )
    assert again.status_code == 200, again.text
    await jobs.drain()
    before = await _rows(owner_db, owner.workspace_id, visitor.tag)
    assert before["conversations"] == 2  # a second conversation from the same browser
    assert before["messages"] == 2  # the visitor's own words
    async with owner_db.transaction() as session:
        all_messages = (
            await session.execute(
                text(
                    "SELECT count(*) FROM messages m JOIN conversations c"
                    " ON c.id = m.conversation_id WHERE c.session_id = :s"
                ),
                {"s": visitor.visitor_session},
            )
        ).scalar_one()
    assert before["lead_submissions"] == 1
    assert before["leads"] == 2  # the owner's lead and the visitor's (same tag in both)
    bystander_before = await _rows(owner_db, owner.workspace_id, bystander.tag)

    name: str = visitor.visitor_email if key == "email" else visitor.visitor_session
    response = await _erase(client, owner, **{key: name.upper() if key == "email" else name})
    assert response.status_code == 200, response.text
    erased = response.json()["erased"]
    assert erased["conversations"] == 2
    assert erased["messages"] == all_messages
    assert erased["leads"] == 1
    assert erased["lead_submissions"] == 1

    after = await _rows(owner_db, owner.workspace_id, visitor.tag)
    # Left: only the lead the owner typed in for another person (it shares the tag, not the
    # visitor's email or conversation).
    assert after == {
        "conversations": 0,
        "messages": 0,
        "leads": 1,
        "lead_submissions": 0,
        "unanswered_questions": 0,
    }
    assert await _rows(owner_db, owner.workspace_id, bystander.tag) == bystander_before
    leads = await client.get(owner.url("/leads"), headers=owner.headers)
    emails = {lead["email"] for lead in leads.json()["items"]}
    assert visitor.visitor_email not in emails
    assert {visitor.lead_email, bystander.lead_email, bystander.visitor_email} <= emails

    entries = await _audit(client, owner)
    assert len(entries) == 1
    entry = entries[0]
    assert entry["details"] == {"by": key, "erased": erased, "withdrawn_exports": []}
    dumped = json.dumps(entry)
    assert visitor.tag not in dumped
    assert visitor.visitor_email not in dumped


async def test_erasure_needs_exactly_one_key_and_an_owner(
    client: httpx.AsyncClient, owner: Owner, other: Owner, jobs: JobQueue
) -> None:
    visitor: Filled = await fill(client, owner, jobs)
    for body in ({}, {"email": visitor.visitor_email, "session_id": visitor.visitor_session}):
        response = await _erase(client, owner, **body)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "erasure_key"
    # A session id the chat would not take is no visitor's: refused, not "erased" with nothing.
    for session_id in (f"{visitor.visitor_session} x", "<b>"):
        response = await _erase(client, owner, session_id=session_id)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "erasure_key"
        assert response.json()["error"]["details"] == [{"field": "session_id"}]
    # Nor is a typo of an address ("Visitor erased: 0 conversations" before): the visitor's
    # own, mistyped, and a text with no @, each refused; the visitor's data stays.
    user, _, domain = visitor.visitor_email.partition("@")
    for email in (f"{user}@{domain.replace('.', ',')}", f"{user} @{domain}", user):
        response = await _erase(client, owner, email=email)
        assert response.status_code == 422, (email, response.text)
        assert response.json()["error"]["code"] == "erasure_key"
        assert response.json()["error"]["details"] == [{"field": "email"}]
    leads = await client.get(owner.url("/leads"), headers=owner.headers)
    assert visitor.visitor_email in {lead["email"] for lead in leads.json()["items"]}
    # Another workspace's owner erases in their own workspace: nothing of ours goes.
    response = await _erase(client, other, email=visitor.visitor_email)
    assert response.status_code == 200
    assert set(response.json()["erased"].values()) == {0}
    leads = await client.get(owner.url("/leads"), headers=owner.headers)
    assert visitor.visitor_email in {lead["email"] for lead in leads.json()["items"]}
    assert await _audit(client, owner) == []


async def _chat(client: httpx.AsyncClient, owner: Owner, message: str, session: str) -> str:
    response = await client.post(
        "/api/v1/chat", json={"message": message, "session_id": session}, headers=widget(owner)
    )
    assert response.status_code == 200, response.text
    conversation_id: str = response.json()["conversation_id"]
    return conversation_id


async def test_erasure_by_email_finds_the_address_typed_in_the_chat(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database, jobs: JobQueue
) -> None:
    """With lead capture off no lead is made, but the messages keep the address: erasing by
    that email used to find nothing. Only that exact address counts."""
    tag = uuid.uuid4().hex[:10]
    off = await client.patch(
        owner.url("/widget"), json={"lead_capture": "off"}, headers=owner.headers
    )
    assert off.status_code == 200, off.text
    email = f"jo-{tag}@example.com"
    await _chat(client, owner, email.upper(), f"jo-{tag}")
    await _chat(client, owner, f"My parcel {tag} never arrived, write to {email}.", f"jo-{tag}")
    # The same browser earlier, without the address: the visitor's too (one step by session).
    await _chat(client, owner, f"Opening hours? ({tag}-earlier)", f"jo-{tag}")
    # Other visitors whose addresses merely contain it.
    await _chat(client, owner, f"Write to a{email} please {tag}", f"ajo-{tag}")
    await _chat(client, owner, f"Write to {email}.au please {tag}", f"au-{tag}")
    await jobs.drain()
    leads = await client.get(owner.url("/leads"), headers=owner.headers)
    assert leads.json()["total"] == 0

    response = await _erase(client, owner, email=email)
    assert response.status_code == 200, response.text
    assert response.json()["erased"]["conversations"] >= 1
    assert response.json()["erased"]["messages"] >= 3
    async with owner_db.transaction() as session:
        left = (
            await session.execute(
                text(
                    "SELECT c.session_id FROM messages m JOIN conversations c"
                    " ON c.id = m.conversation_id WHERE m.workspace_id = :ws AND m.role = 'user'"
                    " AND m.text LIKE :n ORDER BY c.session_id"
                ),
                {"ws": owner.workspace_id, "n": f"%{tag}%"},
            )
        ).scalars()
        assert list(left) == [f"ajo-{tag}", f"au-{tag}"]


@pytest.mark.parametrize("local", ["ΟΔΟΣ", "vİctor"])
async def test_erasure_by_email_finds_an_address_python_lowers_otherwise(
    local: str, client: httpx.AsyncClient, owner: Owner, owner_db: Database, jobs: JobQueue
) -> None:
    """The messages are picked by PostgreSQL's ``lower`` and then confirmed by the chat's own
    reading of addresses: Python's ``lower`` makes a capital sigma ending a word the final
    sigma and "İ" two characters, where PostgreSQL makes them the small sigma and "i", so an
    address with either, typed in the chat, was searched for in a form no lowered message
    holds, and its erasure left every message that gave it."""
    tag = uuid.uuid4().hex[:10]
    off = await client.patch(
        owner.url("/widget"), json={"lead_capture": "off"}, headers=owner.headers
    )
    assert off.status_code == 200, off.text
    email = f"{local}-{tag}@example.com"
    await _chat(client, owner, f"My parcel {tag} never arrived, write to {email}.", f"s-{tag}")
    await jobs.drain()

    response = await _erase(client, owner, email=email)
    assert response.status_code == 200, response.text
    assert response.json()["erased"]["messages"] >= 1
    assert await _rows(owner_db, owner.workspace_id, f"%{tag}%") == {
        "conversations": 0,
        "messages": 0,
        "leads": 0,
        "lead_submissions": 0,
        "unanswered_questions": 0,
    }


async def test_erasing_one_session_leaves_another_visitor_with_the_same_address(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database, jobs: JobQueue
) -> None:
    """Alice and Bob share info@ and each sent the contact form from their own browser.
    Erasing Alice's session used to delete Bob's submission and the lead with his details."""
    tag = uuid.uuid4().hex[:8]
    shared = f"info-{tag}@example.com"
    for who in ("alice", "bob"):
        session = f"{who}-{tag}"
        conversation_id = await _chat(client, owner, f"Hello from {who}", session)
        form = await client.post(
            "/api/v1/widget/leads",
            json={
                "email": shared,
                "name": who,
                "message": f"{who.upper()}-{tag} call me",
                "conversation_id": conversation_id,
                "session_id": session,
            },
            headers=widget(owner),
        )
        assert form.status_code < 300, form.text
    await jobs.drain()
    [lead] = (await client.get(owner.url("/leads"), headers=owner.headers)).json()["items"]
    assert (lead["name"], lead["message"]) == ("alice", f"ALICE-{tag} call me")

    response = await _erase(client, owner, session_id=f"alice-{tag}")
    assert response.status_code == 200, response.text
    erased = response.json()["erased"]
    assert (erased["conversations"], erased["lead_submissions"], erased["leads"]) == (1, 1, 0)
    after = await client.get(owner.url(f"/leads/{lead['id']}"), headers=owner.headers)
    assert after.status_code == 200, after.text
    # Bob's details now, none of Alice's.
    assert (after.json()["name"], after.json()["message"]) == ("bob", f"BOB-{tag} call me")
    assert after.json()["conversation_id"] is None
    submissions = await client.get(
        owner.url(f"/leads/{lead['id']}/submissions"), headers=owner.headers
    )
    assert [s["message"] for s in submissions.json()["items"]] == [f"BOB-{tag} call me"]
    assert (await _rows(owner_db, owner.workspace_id, "ALICE-"))["lead_submissions"] == 0
    assert (await _rows(owner_db, owner.workspace_id, f"bob-{tag}"))["conversations"] == 1

    # Bob asks too: now nothing of the lead remains.
    response = await _erase(client, owner, session_id=f"bob-{tag}")
    erased = response.json()["erased"]
    assert (erased["conversations"], erased["lead_submissions"], erased["leads"]) == (1, 1, 1)
    gone = await client.get(owner.url(f"/leads/{lead['id']}"), headers=owner.headers)
    assert gone.status_code == 404


async def test_erasure_by_session_reaches_a_handoff_whose_conversation_is_gone(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database, jobs: JobQueue
) -> None:
    """A handoff's webhook payload quotes the visitor's message and session id. Its
    conversation went earlier (a retention purge before retention took the deliveries too):
    erasure matched deliveries by conversation only, and found nothing."""
    tag = uuid.uuid4().hex[:10]
    hook = await client.patch(
        owner.url(""), json={"webhook_url": "https://hooks.example.com/tb"}, headers=owner.headers
    )
    assert hook.status_code == 200, hook.text
    await _chat(client, owner, f"Can I talk to a real person? My account is {tag}", f"v-{tag}")
    await jobs.drain()
    async with owner_db.transaction() as session:
        await session.execute(
            text("DELETE FROM conversations WHERE workspace_id = :ws AND session_id = :s"),
            {"ws": owner.workspace_id, "s": f"v-{tag}"},
        )
    response = await _erase(client, owner, session_id=f"v-{tag}")
    assert response.json()["erased"]["webhook_deliveries"] == 1
    async with owner_db.transaction() as session:
        kept = (
            await session.execute(
                text(
                    "SELECT count(*) FROM webhook_deliveries WHERE workspace_id = :ws"
                    " AND payload::text LIKE :n"
                ),
                {"ws": owner.workspace_id, "n": f"%{tag}%"},
            )
        ).scalar_one()
    assert kept == 0


async def test_a_question_made_into_an_faq_leaves_no_visitor_words_in_the_audit_log(
    client: httpx.AsyncClient, owner: Owner, jobs: JobQueue
) -> None:
    """The Unanswered page prefills a new FAQ with the visitor's exact question; its creation
    and deletion were audited with that text, in a log erasure cannot touch."""
    tag = uuid.uuid4().hex[:8]
    await _chat(client, owner, f"Why was card 4111{tag} of Jo Privat charged twice?", f"v-{tag}")
    await jobs.drain()
    groups = (await client.get(owner.url("/unanswered"), headers=owner.headers)).json()
    [group] = [g for g in groups if tag in g["question"]]
    faq = await client.post(
        owner.url("/faqs"),
        json={"question": group["question"], "answer": "We refund duplicates within 5 days."},
        headers=owner.headers,
    )
    assert faq.status_code == 201, faq.text
    deleted = await client.delete(owner.url(f"/faqs/{faq.json()['id']}"), headers=owner.headers)
    assert deleted.status_code == 204
    erased = await _erase(client, owner, session_id=f"v-{tag}")
    assert erased.json()["erased"]["unanswered_questions"] == 1
    log = await client.get(owner.url("/audit"), params={"limit": 100}, headers=owner.headers)
    entries = log.json()["items"]
    assert {"faq.created", "faq.deleted"} <= {e["action"] for e in entries}
    assert tag not in json.dumps(entries)
