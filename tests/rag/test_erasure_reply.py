"""A visitor who types their number or address and asks to have it removed ("98765 43210 is
my number, delete it", "please delete my email ...", "borra mi número ...": the messages of
tests/rag/test_contact_removal_asked.py) gets a reply that fits, through the real chat API:
in their language (English where the bot has no translation), saying the chat kept no
contact, that it cannot erase data, and that the business can; the owner's words for where
to reach them when they wrote them (``no_contact_hint``); never asking for contact details,
never the contact form. The conversation is handed to the team (status ``handoff``, the
owner's Conversations page), so an owner finds the request. Before, the visitor got the
don't-know answer asking them to "leave your email address so the team can follow up"."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from rag.chat.reply_language import conversation_language
from rag.chat.translations import erasure_reply
from tests.conftest import Owner
from tests.rag.number_leads import given
from tests.rag.test_chat import chat
from tests.rag.test_contact_removal_asked import REMOVALS, _email
from tests.rag.test_lead_capture_never import asks_for_contact, leads_of, never
from tests.rag.test_owner_texts import _texts
from tests.rag.test_phone_callbacks import _phone
from tests.rag.test_phone_other_number_beside_a_call import _german, _spanish

# (message, detail maker, what the reply starts with)
OPENINGS = [
    ("{n} is my number, delete it", _phone, "I haven't saved the contact details you just typed."),
    ("please delete my email {e}", _email, "I haven't saved the contact details you just typed."),
    ("hi, remove me from your list, my number is {n}", _phone, "I haven't saved"),
    ("{n} es mi número, bórralo", _spanish, "No he guardado los datos de contacto"),
    ("bitte löschen Sie meine Nummer {n}", _german, "Ich habe die Kontaktdaten"),
    ("удалите мой номер {n}", _phone, "Я не сохранил контактные данные"),
]


async def _asked(client: httpx.AsyncClient, owner: Owner, text: str) -> dict[str, Any]:
    response = await chat(client, owner, text, session_id=f"v-{uuid.uuid4().hex}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_removal_asked_is_told_the_business_can_erase(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    for message, detail in REMOVALS:
        text, _ = given(message, detail)
        body = await _asked(client, owner, text)
        assert (body["intent"], body["source"]) == ("erasure", "handoff"), (text, body)
        assert (body["lead_saved"], body["lead_capture"]) == (False, False), (text, body)
        assert body["answer"] == erasure_reply(conversation_language(text, ())), (text, body)
        assert not asks_for_contact(body["answer"]), (text, body["answer"])
    assert await leads_of(client, owner) == []


async def test_the_reply_is_in_the_visitors_language(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    for message, detail, opening in OPENINGS:
        text, _ = given(message, detail)
        answer = (await _asked(client, owner, text))["answer"]
        assert answer.startswith(opening), (text, answer)
        assert "leave your" not in answer.lower(), (text, answer)
    english = (await _asked(client, owner, given("remove my number {n}")[0]))["answer"]
    assert "can't erase data from this chat" in english, english
    assert "can erase your details" in english, english


async def test_the_owner_finds_the_request_handed_to_the_team(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    text, _ = given("{n} is my number, please delete it")
    body = await _asked(client, owner, text)
    listing = await client.get(
        owner.url("/conversations"), params={"status": "handoff"}, headers=owner.headers
    )
    assert listing.status_code == 200, listing.text
    assert [c["id"] for c in listing.json()["items"]] == [body["conversation_id"]]


async def test_the_owners_words_for_where_to_reach_them_follow(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    hint = "Write to privacy@acme.example or call 020 7946 0000."
    await _texts(client, owner, no_contact_hint=hint)
    english = (await _asked(client, owner, given("please delete my number {n}")[0]))["answer"]
    assert english.endswith(f"I've passed your request on to them. {hint}"), english
    spanish = (await _asked(client, owner, given("borra mi número {n}", _spanish)[0]))["answer"]
    assert spanish.startswith("No he guardado"), spanish
    assert spanish.endswith(hint), spanish


async def test_lead_capture_never_gets_the_same_reply(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    await never(client, owner)
    text, _ = given("{n} is my number, delete it")
    body = await _asked(client, owner, text)
    assert (body["intent"], body["lead_saved"]) == ("erasure", False), body
    assert body["answer"].startswith("I haven't saved the contact details"), body
    assert "doesn't collect contact details" not in body["answer"], body
