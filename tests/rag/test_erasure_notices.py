"""An erasure asked in the chat reaches the owner, through the real chat API, the real SMTP
test server and the webhook deliveries written:

- in a conversation handed off already (the visitor asked for a person first), the erasure
  asked later is mailed ("A visitor asks to have their details erased") and sent to the
  webhook (``conversation.handoff``, reason ``erasure``). Before, neither: the mails were
  de-duplicated per conversation and the webhook went only on a status change. Asking again
  sends nothing more (one notice per conversation and kind: a detail typed or none);
- a visitor asking to erase their data typing no number or address ("please delete my data",
  "forget me", "borra mis datos"...) gets the erasure reply without "I haven't saved the
  contact details you just typed", the conversation handed off, the owner mailed. Before,
  it was a question answered by retrieval and the don't-know. A product question ("how do I
  delete my account?") or a file or a filter removed stays a question;
- past the hourly cap on handoff mails, an erasure is still mailed at once. Before, it was held
  and summed up an hour later as "N more visitors asked for a person"."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from core.db import Database
from rag.chat.intents import detect_intent
from rag.chat.reply_language import conversation_language
from rag.chat.translations import erasure_reply
from tests.conftest import Owner, RuntimeFactory, signup
from tests.fakes.smtp import SmtpServer
from tests.rag.test_chat import _deliveries, chat
from tests.rag.test_lead_capture_never import leads_of
from tests.workspaces.test_handoff_mail_cap import _acme, _dispatch_in_past_hour, _handoff
from tests.workspaces.test_notifications import World, w
from workspaces import notification_delivery
from workspaces.notification_text import ERASE_FROM_THE_CONVERSATION

__all__ = ["w"]  # the fixture, used below

ERASED = "[Acme] A visitor asks to have their details erased"
PERSON = "[Acme] A visitor asks to talk to a person"
DATA_ERASURES = [
    "please delete my data",
    "delete everything you have on me",
    "forget me",
    "remove my details",
    "Hi, can you erase all the data you hold about me?",
    "delete my account and all my data",
    "please remove my profile and my email",
    "borra mis datos, por favor",
    "Bitte löschen Sie meine Daten",
    "supprimez mes données s'il vous plaît",
    "apague meus dados",
    "cancellate i miei dati",
    "mera data delete kar do",
    "удалите мои данные",
    "احذف بياناتي",
    "请删除我的信息",
]
NOT_ERASURES = [
    "how do I delete my account?",
    "delete the file",
    "remove the filter",
    "how do I delete my data?",
    "how do I delete my account and all my data?",
    "delete my account",
    "delete my old files and the data folder",
    "can I remove my details from my profile?",
    "I uploaded the wrong file, please delete it",
    "please don't delete my data",
    "¿cómo borro mis datos?",
    "Wie lösche ich meine Daten?",
]


@pytest.mark.parametrize("text", DATA_ERASURES)
def test_an_erasure_asked_without_a_detail_is_an_erasure(text: str) -> None:
    assert detect_intent(text).intent == "erasure", text


@pytest.mark.parametrize("text", NOT_ERASURES)
def test_a_question_or_another_removal_is_no_erasure(text: str) -> None:
    assert detect_intent(text).intent != "erasure", text


async def _said(w: World, owner: Owner, text: str, session: str, **body: Any) -> dict[str, Any]:
    response = await chat(w.client, owner, text, session_id=session, **body)
    assert response.status_code == 200, response.text
    said: dict[str, Any] = response.json()
    return said


async def _hooked(w: World, owner: Owner) -> Owner:
    patched = await w.client.patch(
        owner.url(""), json={"webhook_url": "https://hooks.example.com/tb"}, headers=owner.headers
    )
    assert patched.status_code == 200, patched.text
    return owner


async def _reasons(w: World, owner: Owner) -> list[str]:
    """The reasons of the ``conversation.handoff`` deliveries written, oldest first."""
    rows = await _deliveries(w.runtime, owner)
    return [d.payload["data"]["reason"] for d in reversed(rows)]


async def test_an_erasure_after_a_person_asked_reaches_the_owner_once(w: World) -> None:
    owner = await _hooked(w, await signup(w.client, "Acme"))
    session = f"v-{uuid.uuid4().hex}"
    first = await _said(w, owner, "I want to talk to a human", session)
    assert first["source"] == "handoff", first
    conversation = first["conversation_id"]
    for text in ("98765 43210 is my number, delete it", "please delete my number 98765 43210"):
        said = await _said(w, owner, text, session, conversation_id=conversation)
        assert (said["intent"], said["conversation_id"]) == ("erasure", conversation), said
    mails = await w.notices(owner.email)
    # The notices go out as the dispatcher takes them: in any order between themselves.
    assert sorted(m.message["Subject"] for m in mails) == sorted([PERSON, ERASED])
    (erased,) = [m for m in mails if m.message["Subject"] == ERASED]
    assert conversation in erased.text
    assert "98765" not in erased.text
    assert await _reasons(w, owner) == ["person", "erasure"]


async def test_an_erasure_without_a_detail_is_answered_as_one(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    for text in DATA_ERASURES:
        said = (await chat(client, owner, text, session_id=f"v-{uuid.uuid4().hex}")).json()
        assert (said["intent"], said["source"], said["lead_saved"]) == (
            "erasure",
            "handoff",
            False,
        ), (text, said)
        expected = erasure_reply(conversation_language(text, ()), typed=False)
        assert said["answer"] == expected, (text, said["answer"])
    assert "just typed" not in erasure_reply(None, typed=False)
    assert await leads_of(client, owner) == []


async def test_an_erasure_without_a_detail_reaches_the_owner(w: World) -> None:
    """(Three conversations: the hourly cap on handoff mails, 10, is not reached.)"""
    owner = await _hooked(w, await signup(w.client, "Acme"))
    asked = DATA_ERASURES[:3]
    for text in asked:
        said = await _said(w, owner, text, f"v-{uuid.uuid4().hex}")
        assert said["intent"] == "erasure", said
    mails = await w.notices(owner.email)
    assert [m.message["Subject"] for m in mails] == [ERASED] * len(asked)
    assert all("typed no email address or phone number" in m.text for m in mails)
    # The mail links to the conversation, whose page links to the erase form filled in.
    assert all(ERASE_FROM_THE_CONVERSATION in m.text for m in mails)
    assert await _reasons(w, owner) == ["erasure"] * len(asked)


async def test_each_kind_of_erasure_is_told_once_per_conversation(w: World) -> None:
    """A person asked, then the data erased without a detail, again, then with a number typed:
    one notice for the person and one per kind of erasure."""
    owner = await _hooked(w, await signup(w.client, "Acme"))
    session = f"v-{uuid.uuid4().hex}"
    conversation = (await _said(w, owner, "can I talk to a person?", session))["conversation_id"]
    for text in ("please delete my data", "forget me", "delete my number 98765 43210"):
        said = await _said(w, owner, text, session, conversation_id=conversation)
        assert said["intent"] == "erasure", said
    mails = await w.notices(owner.email)
    assert sorted(m.message["Subject"] for m in mails) == sorted([PERSON, ERASED, ERASED])
    erased = [m.text for m in mails if m.message["Subject"] == ERASED]
    assert sorted("typed no email address" in text for text in erased) == [False, True]
    assert sorted("they typed in the conversation" in text for text in erased) == [False, True]
    assert not any("typed no email address" in t and "they typed in the" in t for t in erased)
    assert await _reasons(w, owner) == ["person", "erasure", "erasure"]


async def test_a_product_question_about_deleting_is_answered_as_one(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    for text in ("how do I delete my account?", "delete the file", "remove the filter"):
        said = (await chat(client, owner, text, session_id=f"v-{uuid.uuid4().hex}")).json()
        assert said["intent"] == "question", (text, said)
        assert said["source"] != "handoff", (text, said)


async def test_an_erasure_is_mailed_past_the_hourly_cap_on_handoffs(
    runtime_factory: RuntimeFactory, smtp: SmtpServer, owner_db: Database
) -> None:
    async with _acme(runtime_factory, smtp, notification_handoff_mails_per_hour=1) as (w, owner):
        await _handoff(w, owner, f"Hello {uuid.uuid4().hex[:8]}")  # the hour's one mail
        erasures = []
        for text in ("please delete my data", "forget me"):
            said = await _said(w, owner, text, f"v-{uuid.uuid4().hex}")
            assert said["intent"] == "erasure", said
            erasures.append(said["conversation_id"])
        hour = await _dispatch_in_past_hour(w, owner_db, owner)
        await notification_delivery.sweep(w.runtime.notifications, hour + timedelta(hours=2))
        mails = await w.notices(owner.email)
        assert sorted(m.message["Subject"] for m in mails) == sorted([PERSON, ERASED, ERASED])
        assert {c for c in erasures for m in mails if c in m.text} == set(erasures)
