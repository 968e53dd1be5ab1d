"""After a request for a person the bot asks for an email address; a visitor who types their
name instead ("Jane Smith", "my name is jane") is answering it, not asking a question. They got
"I don't know", and their name became a question on the owner's Unanswered page (a browser
walk's finding). Now they are thanked and asked for the address the team needs, the form stays
offered, nothing is left unanswered, and the address typed next makes a lead with that name."""

from __future__ import annotations

import uuid

import httpx
import pytest

from rag.chat.contact_names import given_name
from tests.conftest import Owner
from tests.widget.test_widget_handoff import HUMAN, say


async def _unanswered(client: httpx.AsyncClient, owner: Owner) -> list[str]:
    groups = await client.get(owner.url("/unanswered"), headers=owner.headers)
    assert groups.status_code == 200, groups.text
    return [example for group in groups.json() for example in group["examples"]]


@pytest.mark.parametrize("typed", ["Jane Smith", "my name is jane okafor"])
async def test_a_name_typed_after_the_handoff_is_taken_as_the_answer(
    client: httpx.AsyncClient, owner: Owner, typed: str
) -> None:
    session_id = f"v-{uuid.uuid4().hex[:10]}"
    handed = await say(client, owner, session_id, None, HUMAN)
    assert (handed["intent"], handed["lead_capture"]) == ("human", True)
    conversation = handed["conversation_id"]

    named = await say(client, owner, session_id, conversation, typed)
    assert "don't know" not in named["answer"], named
    assert "email address" in named["answer"], named
    assert named["lead_capture"] is True  # the form stays offered
    assert named["lead_saved"] is False
    assert typed not in await _unanswered(client, owner)

    email = f"jane-{uuid.uuid4().hex[:10]}@example.com"
    left = await say(client, owner, session_id, conversation, email)
    assert left["lead_saved"] is True, left
    leads = await client.get(owner.url("/leads"), params={"q": email}, headers=owner.headers)
    assert [(lead["email"], lead["name"]) for lead in leads.json()["items"]] == [
        (email, given_name(typed))
    ]


async def test_a_name_typed_in_the_chat_goes_onto_the_lead_of_the_form(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """A visitor types their name where the bot asked for contact details, then leaves their
    address through the widget's form without a name: the lead carries the name from the chat
    (the owner saw a nameless lead). A name typed in the form wins; another visitor's
    conversation lends none."""
    session_id = f"v-{uuid.uuid4().hex[:10]}"
    handed = await say(client, owner, session_id, None, HUMAN)
    conversation = handed["conversation_id"]
    await say(client, owner, session_id, conversation, "my name is jane okafor")
    key = {"X-Widget-Key": owner.workspace["public_key"]}

    async def form(email: str, sender: str, **fields: str) -> str | None:
        body = {"email": email, "session_id": sender, "conversation_id": conversation, **fields}
        sent = await client.post("/api/v1/widget/leads", json=body, headers=key)
        assert sent.status_code == 202, sent.text
        found = await client.get(owner.url("/leads"), params={"q": email}, headers=owner.headers)
        [lead] = found.json()["items"]
        name: str | None = lead["name"]
        return name

    marker = uuid.uuid4().hex[:10]
    assert await form(f"jane-{marker}@example.com", session_id) == "jane okafor"
    assert await form(f"jo-{marker}@example.com", session_id, name="Jo Okafor") == "Jo Okafor"
    assert await form(f"other-{marker}@example.com", f"v-{uuid.uuid4().hex[:10]}") is None


async def test_a_name_given_earlier_in_the_chat_goes_onto_the_lead_of_an_address(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """Name, then a question, then the address: the lead carries the name (only the message
    just before the address was read for one)."""
    session_id = f"v-{uuid.uuid4().hex[:10]}"
    handed = await say(client, owner, session_id, None, HUMAN)
    conversation = handed["conversation_id"]
    await say(client, owner, session_id, conversation, "Jane Smith")
    await say(client, owner, session_id, conversation, "what are your opening hours")
    email = f"jane-{uuid.uuid4().hex[:10]}@example.com"
    left = await say(client, owner, session_id, conversation, email)
    assert left["lead_saved"] is True, left
    leads = await client.get(owner.url("/leads"), params={"q": email}, headers=owner.headers)
    assert [lead["name"] for lead in leads.json()["items"]] == ["Jane Smith"]


async def test_a_question_after_the_handoff_is_still_a_question(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """Only a name where an address was asked for: a question typed instead, or a name-like
    message nobody asked for, is answered (and left unanswered) as before."""
    session_id = f"v-{uuid.uuid4().hex[:10]}"
    handed = await say(client, owner, session_id, None, HUMAN)
    question = f"what are your opening hours in branch {uuid.uuid4().hex[:6]}"
    asked = await say(client, owner, session_id, handed["conversation_id"], question)
    assert asked["intent"] == "question", asked
    unprompted = f"Jane Smith {uuid.uuid4().hex[:6]}"
    fresh = await say(client, owner, f"v-{uuid.uuid4().hex[:10]}", None, unprompted)
    assert fresh["intent"] == "question", fresh
    assert {question, unprompted} <= set(await _unanswered(client, owner))


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Jane Smith", "Jane Smith"),
        ("Jane", "Jane"),
        ("María José O'Neill-Díaz", "María José O'Neill-Díaz"),
        ("my name is jane okafor", "jane okafor"),
        ("Name: Ravi Kumar.", "Ravi Kumar"),
        ("I'm Jane Smith", "Jane Smith"),
        ("it's Tom", "Tom"),
        ("jane smith", None),  # lowercase without "my name is": could be anything
        ("I'm confused", None),
        ("Refund Policy", None),
        ("What Plans", None),
        ("Jane Smith?", None),
        ("Jane 2024", None),
        ("My Name Is Not Important To You Today", None),
        ("jane@example.com", None),
    ],
)
def test_what_reads_as_a_name(text: str, name: str | None) -> None:
    assert given_name(text) == name
