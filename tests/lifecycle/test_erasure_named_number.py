"""Erasure by phone of a number another visitor typed only as an order's (an invoice's, a
ticket's, an account's...) number, in a conversation where they left a phone of their own:
visitor A typed "my order P is late, please call me on +91 Q"; visitor B's own number is P.
Before, erasing P deleted A's conversation and A's lead (phone Q) with B's: the owner lost
another person's lead and conversation. Now A's conversation and lead stay, P replaced by
``[erased]`` wherever they held it (the messages, the lead's message and notes), and B's go.

A number named so with no other phone of the visitor's own in the conversation ("my account
98765 43210 is locked": a telecom's or a utility's account is its phone number) is still the
visitor's own: that conversation goes, as before."""

from __future__ import annotations

import uuid

import httpx
import pytest

from api.runtime import Runtime
from core.db import Database
from core.jobs import JobQueue
from tests.conftest import Owner
from tests.lifecycle.data import first_column, widget
from tests.lifecycle.test_erasure_by_phone import _chat, _erase, _national, _tag, _user_messages
from tests.lifecycle.test_erasure_redaction_mail import _mails_quoting
from workspaces import notifications

ERASED = "[erased]"


def _spaced(n: str) -> str:
    return f"{n[:5]} {n[5:]}"


async def _texts_holding(owner_db: Database, owner: Owner, digits: str) -> list[str]:
    """Every message (any role), lead message, lead's notes, submission's message, unanswered
    question and webhook delivery of the workspace holding ``digits`` (a number's last five,
    as the tests type it: "98765 43210")."""
    return await first_column(
        owner_db,
        "SELECT text FROM messages WHERE workspace_id = :ws AND text LIKE :n"
        " UNION ALL SELECT message FROM leads WHERE workspace_id = :ws AND message LIKE :n"
        " UNION ALL SELECT notes FROM leads WHERE workspace_id = :ws AND notes LIKE :n"
        " UNION ALL SELECT message FROM lead_submissions"
        " WHERE workspace_id = :ws AND message LIKE :n"
        " UNION ALL SELECT question || normalized FROM unanswered_questions"
        " WHERE workspace_id = :ws AND question || normalized LIKE :n"
        " UNION ALL SELECT payload::text FROM webhook_deliveries"
        " WHERE workspace_id = :ws AND payload::text LIKE :n",
        ws=owner.workspace_id,
        n=f"%{digits}%",
    )


@pytest.mark.parametrize(
    "said",
    [
        ["my order {p} is late, please call me on +91 {q}"],
        ["{p} is my order number, call me on +91 {q}"],
        # The visitor's own number in another message of the same conversation.
        ["where is my invoice {p}? {tag}", "please call me on +91 {q}"],
    ],
)
async def test_a_number_named_as_an_order_beside_the_visitors_own_phone_stays_redacted(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database, said: list[str]
) -> None:
    p, q, tag = _national(), _national(), _tag()
    a, b = f"a-{tag}", f"b-{tag}"
    conversation: str | None = None
    for message in said:
        text = message.format(p=_spaced(p), q=_spaced(q), tag=tag)
        text = text if tag in text else f"{text} ({tag})"
        body = {"message": text, "session_id": a, "conversation_id": conversation}
        turn = await client.post("/api/v1/chat", json=body, headers=widget(owner))
        assert turn.status_code == 200, turn.text
        conversation = turn.json()["conversation_id"]
    await _chat(client, owner, f"please call me on +91 {_spaced(p)} ({tag})", b)
    leads = (await client.get(owner.url("/leads"), headers=owner.headers)).json()["items"]
    by_phone = {lead["phone"]: lead["id"] for lead in leads}
    assert set(by_phone) == {f"+91 {_spaced(q)}", f"+91 {_spaced(p)}"}, leads
    a_lead = by_phone[f"+91 {_spaced(q)}"]
    noted = await client.patch(
        owner.url(f"/leads/{a_lead}"),
        json={"notes": f"{tag}: order {p} refunded"},
        headers=owner.headers,
    )
    assert noted.status_code == 200, noted.text

    response = await _erase(client, owner, phone=f"+91 {p}")
    assert response.status_code == 200, response.text
    erased = response.json()["erased"]
    # B's lead and conversation; A's stay.
    assert (erased["leads"], erased["conversations"]) == (1, 1), erased
    leads = (await client.get(owner.url("/leads"), headers=owner.headers)).json()["items"]
    assert [(lead["id"], lead["phone"]) for lead in leads] == [(a_lead, f"+91 {_spaced(q)}")]
    assert await _user_messages(owner_db, owner, tag) == [a] * len(said)
    assert erased["redacted_messages"] >= 1, erased
    # P survives nowhere: A's messages and the lead's notes hold "[erased]" in its place.
    assert await _texts_holding(owner_db, owner, p[5:]) == []
    notes = (await client.get(owner.url(f"/leads/{a_lead}"), headers=owner.headers)).json()
    assert notes["notes"] == f"{tag}: order {ERASED} refunded"
    kept = await first_column(
        owner_db,
        "SELECT m.text FROM messages m JOIN conversations c ON c.id = m.conversation_id"
        " WHERE m.workspace_id = :ws AND m.role = 'user' AND c.session_id = :s"
        " ORDER BY m.created_at",
        ws=owner.workspace_id,
        s=a,
    )
    assert all(ERASED in text for text in kept[:1]), kept
    assert any(_spaced(q) in text for text in kept), kept


async def test_an_account_named_with_no_other_phone_is_still_the_visitors_own(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    """ "my account 98765 43210 is locked": a telecom's or a utility's account is its
    number, and the visitor typed no other: their conversation goes, as before."""
    n, tag = _national(), _tag()
    other = f"o-{uuid.uuid4().hex[:8]}"
    await _chat(client, owner, f"my account {_spaced(n)} is locked ({tag})", f"c-{tag}")
    await _chat(client, owner, f"my account {_spaced(_national())} is locked ({tag})", other)

    response = await _erase(client, owner, phone=f"0{n}")
    assert response.status_code == 200, response.text
    assert response.json()["erased"]["conversations"] == 1, response.json()
    assert await _user_messages(owner_db, owner, tag) == [other]
    assert await _texts_holding(owner_db, owner, n[5:]) == []


async def test_a_handoff_quoting_the_order_number_goes_its_conversation_kept(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database, jobs: JobQueue
) -> None:
    """A handoff's webhook payload quotes the visitor's message: the number typed as an
    order's in a conversation kept leaves the deliveries too (they go)."""
    p, q, tag = _national(), _national(), _tag()
    hook = await client.patch(
        owner.url(""), json={"webhook_url": "https://hooks.example.com/tb"}, headers=owner.headers
    )
    assert hook.status_code == 200, hook.text
    order, phone = _spaced(p), f"+91 {_spaced(q)}"
    message = f"Can I talk to a real person? my order {order} is late, call me on {phone}"
    said = await _chat(client, owner, f"{message} ({tag})", f"a-{tag}")
    await jobs.drain()
    assert (said["source"], said["lead_saved"]) == ("handoff", True), said
    held = await _texts_holding(owner_db, owner, p[5:])
    assert sum('"event"' in text for text in held) == 1, held

    response = await _erase(client, owner, phone=f"+91 {p}")
    assert response.status_code == 200, response.text
    erased = response.json()["erased"]
    assert (erased["conversations"], erased["webhook_deliveries"]) == (0, 1), erased
    assert await _user_messages(owner_db, owner, tag) == [f"a-{tag}"]
    assert await _texts_holding(owner_db, owner, p[5:]) == []


@pytest.mark.parametrize("rater", ["visitor", "team"])
async def test_a_feedback_comment_quoting_the_order_number_loses_it(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database, rater: str
) -> None:
    """A rating's comment on an answer of the conversation kept (the visitor's through the
    widget, or the team's) quoting the number: it becomes ``[erased]`` there too. Before, the
    erased number stayed in the comment (and in the workspace's next export)."""
    p, q, tag = _national(), _national(), _tag()
    session = f"a-{tag}"
    said = await _chat(
        client, owner, f"my order {_spaced(p)} is late, please call me on +91 {_spaced(q)}", session
    )
    comment = f"order {_spaced(p)} still not here ({tag})"
    body = {"message_id": said["message_id"], "rating": "down", "comment": comment}
    if rater == "visitor":
        rated = await client.post(
            "/api/v1/widget/feedback", json={**body, "session_id": session}, headers=widget(owner)
        )
    else:
        rated = await client.post(owner.url("/feedback"), json=body, headers=owner.headers)
    assert rated.status_code == 204, rated.text

    response = await _erase(client, owner, phone=f"+91 {p}")
    assert response.status_code == 200, response.text
    assert response.json()["erased"]["conversations"] == 0, response.json()
    comments = await first_column(
        owner_db,
        "SELECT comment FROM message_feedback WHERE workspace_id = :ws AND comment LIKE :t",
        ws=owner.workspace_id,
        t=f"%{tag}%",
    )
    assert comments == [f"order {ERASED} still not here ({tag})"]


async def test_a_second_number_named_as_an_order_is_not_the_visitors_own_phone(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    """Two numbers, each named as an order's ("my order P is late, and my order Q too"): no
    phone of the visitor's own beside P, so P may be theirs: that conversation goes."""
    p, q, tag = _national(), _national(), _tag()
    said = f"my order {_spaced(p)} is late, and my order {_spaced(q)} too ({tag})"
    await _chat(client, owner, said, f"a-{tag}")

    response = await _erase(client, owner, phone=f"+91 {p}")
    assert response.status_code == 200, response.text
    assert response.json()["erased"]["conversations"] == 1, response.json()
    assert await _user_messages(owner_db, owner, tag) == []


async def test_the_owners_mail_about_a_kept_conversation_quoting_it_goes(
    runtime: Runtime, jobs: JobQueue, client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    """A handoff's mail to the owner quotes the visitor's first words: the number typed there
    as an order's leaves the outbox with the erasure, the conversation kept. (Its lead's
    message quotes it too, which alone takes the mail: this does not tell that path from
    ``erasure._erase_named`` handing the conversations kept to the mails' deletion.)"""
    p, q, tag = _national(), _national(), _tag()
    order, phone = _spaced(p), f"+91 {_spaced(q)}"
    message = f"Can I talk to a real person? my order {order} is late, call me on {phone}"
    said = await _chat(client, owner, f"{message} ({tag})", f"a-{tag}")
    await notifications.settle_kicks()
    await jobs.drain()
    assert said["source"] == "handoff", said
    assert await _mails_quoting(runtime, owner_db, owner, order) >= 1

    response = await _erase(client, owner, phone=f"+91 {p}")
    assert response.status_code == 200, response.text
    erased = response.json()["erased"]
    assert (erased["conversations"], erased["notification_mails"] >= 1) == (0, True), erased
    await jobs.drain()
    assert await _mails_quoting(runtime, owner_db, owner, order) == 0
    assert await _user_messages(owner_db, owner, tag) == [f"a-{tag}"]
