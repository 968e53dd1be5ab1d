"""Checks shared by the tests of numbers left, called on or withheld in a chat message: a
message template ("{n}" the number, "{e}" an address) with a detail drawn for the test alone
(``tests.rag.test_phone_callbacks._phone`` and its neighbours), read by the functions and sent
to the real chat endpoint."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any

import httpx

from rag.chat.contact_details import callback_number, contact_phone
from rag.chat.intents import detect_intent
from tests.conftest import Owner
from tests.rag.test_chat import chat
from tests.rag.test_lead_capture_never import leads_of
from tests.rag.test_phone_callbacks import _phone

Maker = Callable[[], str]


def given(message: str, detail: Maker = _phone) -> tuple[str, str]:
    """The message with a detail of its own (and another number, "{m}"), and that detail."""
    value = detail()
    return message.format(n=value, e=value, m=_phone()), value


def assert_left(message: str, detail: Maker = _phone) -> None:
    """The message leaves its number as the visitor's: a ``contact``."""
    text, number = given(message, detail)
    assert contact_phone(text) == number, text
    assert detect_intent(text).intent == "contact", text


def assert_called(message: str, detail: Maker = _phone, *, intent: str = "contact") -> None:
    """The message asks a call on its number, read as ``intent``."""
    text, number = given(message, detail)
    assert callback_number(text) == number, text
    assert detect_intent(text).intent == intent, text


async def assert_chats(
    client: httpx.AsyncClient,
    owner: Owner,
    cases: Iterable[tuple[str, Maker]],
    *,
    saved: bool,
    intent: str = "question",
) -> None:
    """Each message in a new chat. ``saved``: a ``contact`` thanked, a lead with its number and
    no address; else ``intent`` (a question), no lead, no call nor mail promised."""
    for message, detail in cases:
        text, number = given(message, detail)
        response = await chat(client, owner, text, session_id=f"v-{uuid.uuid4().hex}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        expected = ("contact", True) if saved else (intent, False)
        assert (body["intent"], body["lead_saved"]) == expected, (text, body)
        if saved:
            lead = next(lead for lead in await leads_of(client, owner) if lead["message"] == text)
            assert (lead["phone"], lead["email"]) == (number, None), (text, lead)
        else:
            assert "will call you" not in body["answer"], (text, body)
            assert "will email you" not in body["answer"], (text, body)
    if not saved:
        assert await leads_of(client, owner) == []
