"""Leads from the public widget key: a visitor adds to a lead, never reads or replaces it.

The widget key is public (it sits in every page that embeds the widget), so whoever holds it must
learn nothing about the workspace's leads from ``POST /widget/leads`` and change nothing an owner
or an earlier submission stored. Owners see every submission.
"""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import httpx

from core.db import Database
from tests.conftest import Owner
from workspaces import usage


def wk(owner: Owner, **extra: str) -> dict[str, str]:
    return {"X-Widget-Key": owner.workspace["public_key"], **extra}


def unique_email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


def received(email: str) -> dict[str, str]:
    """The answer to a form sent with ``email`` (the default thanks, in English): the same for
    a known and a new address."""
    return {"status": "received", "thanks": f"Thanks! We'll be in touch at {email}."}


async def submit(client: httpx.AsyncClient, owner: Owner, **body: Any) -> httpx.Response:
    return await client.post("/api/v1/widget/leads", json=body, headers=wk(owner))


async def owner_lead(client: httpx.AsyncClient, owner: Owner, email: str) -> dict[str, Any]:
    listing = await client.get(owner.url("/leads"), params={"q": email}, headers=owner.headers)
    items = listing.json()["items"]
    assert len(items) == 1, items
    return dict(items[0])


async def submissions(
    client: httpx.AsyncClient, owner: Owner, lead_id: str, **params: Any
) -> dict[str, Any]:
    response = await client.get(
        owner.url(f"/leads/{lead_id}/submissions"), params=params, headers=owner.headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_a_known_email_reveals_nothing_and_replaces_nothing(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    email = unique_email("jane")
    created = await client.post(
        owner.url("/leads"),
        json={
            "email": email,
            "name": "Jane Owner-Entered",
            "phone": "+91 11111 11111",
            "message": "Asked about the yearly plan",
            "notes": "VIP: prefers WhatsApp, budget 2 lakh",
            "status": "qualified",
        },
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    stored = created.json()

    # The attacker knows (or guesses) the email and sends it with the public key.
    known = await submit(
        client,
        owner,
        email=email.upper(),
        name="Mallory",
        phone="+1 555 0100",
        message="Please change my number",
    )
    nobody = unique_email("nobody")
    unknown = await submit(client, owner, email=nobody, name="Mallory")
    # Same status, same body (but for the address sent, in the thanks), whether or not the email
    # was a lead: nothing to read back.
    assert known.status_code == unknown.status_code == 202
    assert (known.json(), unknown.json()) == (
        received(email.split("@")[0].upper() + "@example.com"),
        received(nobody),
    )
    for secret in ("VIP", "Jane", "11111", "qualified", stored["id"]):
        assert secret not in known.text

    lead = (await client.get(owner.url(f"/leads/{stored['id']}"), headers=owner.headers)).json()
    for field in ("name", "phone", "message", "notes", "status", "email"):
        assert lead[field] == stored[field], field
    history = await submissions(client, owner, stored["id"])
    assert [(s["name"], s["phone"], s["message"]) for s in history["items"]] == [
        ("Mallory", "+1 555 0100", "Please change my number")
    ]
    assert history["items"][0]["email"].casefold() == email  # as sent, a known email
    assert history["items"][0]["source"] == "widget"


async def test_the_first_submission_is_kept_later_ones_are_history(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    email = unique_email("vee")
    first = await submit(client, owner, email=email, name="Vee", message="First question")
    assert first.status_code == 202, first.text
    lead = await owner_lead(client, owner, email)
    assert (lead["name"], lead["phone"], lead["source"]) == ("Vee", None, "widget")
    assert lead["message"] == "First question"
    assert lead["notes"] is None

    await client.patch(
        owner.url(f"/leads/{lead['id']}"), json={"notes": "called once"}, headers=owner.headers
    )
    second = await submit(
        client, owner, email=email, name="Someone Else", phone="+91 90000 00000", message="Newer"
    )
    assert second.status_code == 202
    after = await owner_lead(client, owner, email)
    assert after["id"] == lead["id"]
    assert after["name"] == "Vee"  # an earlier submission's value is not replaced
    assert after["phone"] == "+91 90000 00000"  # an empty field may be filled
    assert after["message"] == "First question"
    assert after["notes"] == "called once"  # the owner's edit is kept

    history = await submissions(client, owner, lead["id"])
    assert [s["message"] for s in history["items"]] == ["Newer", "First question"]
    assert history["next_cursor"] is None
    page = await submissions(client, owner, lead["id"], limit=1)
    assert [s["message"] for s in page["items"]] == ["Newer"]
    rest = await submissions(client, owner, lead["id"], limit=1, cursor=page["next_cursor"])
    assert [s["message"] for s in rest["items"]] == ["First question"]


async def test_submissions_are_in_the_csv_export(client: httpx.AsyncClient, owner: Owner) -> None:
    email = unique_email("csv")
    await submit(client, owner, email=email, name="Cee", message="one")
    await submit(client, owner, email=email, message="two, the latest")
    export = await client.get(owner.url("/leads/export"), headers=owner.headers)
    assert export.status_code == 200
    rows = list(csv.DictReader(io.StringIO(export.text)))
    row = next(r for r in rows if r["email"] == email)
    assert row["name"] == "Cee"
    assert row["message"] == "one"
    assert row["submissions"] == "2"
    assert row["latest_submission_message"] == "two, the latest"
    assert row["latest_submission_at"]


async def test_another_workspace_cannot_see_submissions(
    client: httpx.AsyncClient, owner: Owner, other: Owner
) -> None:
    email = unique_email("iso")
    await submit(client, owner, email=email, name="Iso")
    lead = await owner_lead(client, owner, email)
    foreign = await client.get(other.url(f"/leads/{lead['id']}/submissions"), headers=other.headers)
    assert foreign.status_code == 404
    cross = await client.get(owner.url(f"/leads/{lead['id']}/submissions"), headers=other.headers)
    assert cross.status_code == 404
    missing = await client.get(
        owner.url(f"/leads/{uuid.uuid4()}/submissions"), headers=owner.headers
    )
    assert missing.status_code == 404


async def test_a_lead_links_only_the_submitting_visitors_conversation(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    chat = await client.post(
        "/api/v1/chat", json={"message": "hi", "session_id": "victim-session"}, headers=wk(owner)
    )
    victim_conversation = chat.json()["conversation_id"]

    # Another visitor names the victim's conversation (ids show up in logs, screenshots...).
    email = unique_email("intruder")
    for body in (
        {"conversation_id": victim_conversation},
        {"conversation_id": victim_conversation, "session_id": "intruder-session"},
    ):
        response = await submit(client, owner, email=email, **body)
        assert response.status_code == 202
        assert response.json() == received(email)
    intruder = await owner_lead(client, owner, email)
    assert intruder["conversation_id"] is None
    history = await submissions(client, owner, intruder["id"])
    assert [s["conversation_id"] for s in history["items"]] == [None, None]
    conversation = (
        await client.get(owner.url(f"/conversations/{victim_conversation}"), headers=owner.headers)
    ).json()["conversation"]
    assert conversation["lead_id"] is None

    # The visitor whose session the conversation is: linked both ways.
    own_email = unique_email("victim")
    mine = await submit(
        client,
        owner,
        email=own_email,
        conversation_id=victim_conversation,
        session_id="victim-session",
    )
    assert mine.status_code == 202
    lead = await owner_lead(client, owner, own_email)
    assert lead["conversation_id"] == victim_conversation
    conversation = (
        await client.get(owner.url(f"/conversations/{victim_conversation}"), headers=owner.headers)
    ).json()["conversation"]
    assert conversation["lead_id"] == lead["id"]


async def test_invalid_submissions_are_422_and_store_nothing(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    for body in (
        {"email": "nope"},
        {"email": unique_email("x"), "phone": "call me maybe"},
        {"email": unique_email("x"), "session_id": "has spaces"},
        {"email": unique_email("x"), "notes": "owners only"},
        {"email": unique_email("x"), "status": "won"},
    ):
        response = await submit(client, owner, **body)
        assert response.status_code == 422, body
    listing = (await client.get(owner.url("/leads"), headers=owner.headers)).json()
    assert listing["total"] == 0


async def test_deleting_a_lead_deletes_its_submissions(
    client: httpx.AsyncClient, owner: Owner, owner_db: Any
) -> None:
    from sqlalchemy import text

    email = unique_email("gone")
    await submit(client, owner, email=email, message="forget me")
    lead = await owner_lead(client, owner, email)
    deleted = await client.delete(owner.url(f"/leads/{lead['id']}"), headers=owner.headers)
    assert deleted.status_code == 204
    async with owner_db.transaction() as session:
        left = await session.execute(
            text("SELECT count(*) FROM lead_submissions WHERE lead_id = :id"), {"id": lead["id"]}
        )
        assert left.scalar_one() == 0


async def test_a_visitor_leaves_details_when_the_workspace_is_out_of_answers(
    client: httpx.AsyncClient, owner: Owner, db: Database
) -> None:
    """Over the month's messages the widget offers its contact form (a dead end before): the
    form's submission is taken, as the chat is refused."""
    workspace_id = uuid.UUID(owner.workspace_id)
    async with db.transaction(workspace_id=workspace_id) as session:
        await usage.increment(session, workspace_id, messages=1000)
    chat = await client.post(
        "/api/v1/chat", json={"message": "hello", "session_id": "v-q"}, headers=wk(owner)
    )
    assert chat.status_code == 429
    email = unique_email("over")
    taken = await submit(client, owner, email=email, message="Please call me back")
    assert taken.status_code == 202, taken.text
    assert (await owner_lead(client, owner, email))["email"] == email
