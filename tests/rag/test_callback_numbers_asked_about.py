# ruff: noqa: RUF001, RUF002 (messages written in their own scripts and punctuation)
"""A number the visitor asks how to call is no number to call them back on, through the real
chat path.

callbacks2 read a call asked as a question in Russian and Arabic by the infinitive ("Можете
перезвонить мне ...?", "هل يمكنكم الاتصال بي على ...؟") but without the "me" it needs: "Как
позвонить на номер 8 800 ...?" (how do I call 8 800 ...?) and "هل الاتصال على 800... مجاني؟" (is
calling 800... free?) gave the site's own hotline as the visitor's number: a lead with it, "someone
from the team will call you", and the question answered without its number. The infinitive
asks a call only with "me" ("позвонить мне", "الاتصال بي"), or "перезвонить" (call back) after
"можете", "могли бы вы". Japanese read a number before "に電話" as a call asked whatever came
after it, before the merge too: "0120-123-456に電話できますか？" (can I call ...?) now asks none."""

from __future__ import annotations

import uuid

import httpx
import pytest

from rag.chat.contact_details import callback_number
from tests.conftest import Owner
from tests.rag.test_chat import chat
from tests.rag.test_lead_capture_never import leads_of

ASKED_ABOUT = [
    "Как позвонить на номер 8 800 555 35 35?",
    "Можно ли позвонить по номеру 8 800 555 35 35 бесплатно?",
    "Можно позвонить на 8 800 555 35 35 из-за границы?",
    "Куда позвонить, на 8 800 555 35 35?",
    "Сколько стоит позвонить на 8 800 555 35 35?",
    "Как перезвонить на номер 8 800 555 35 35?",
    "Я не могу дозвониться, пытаюсь набрать 8 800 555 35 35",
    "كيف يمكنني الاتصال على الرقم 920000000؟",
    "هل الاتصال على 8001234567 مجاني؟",
    "ما هي تكلفة الاتصال على الرقم 920000000",
    "هل يمكنني الاتصال على 8001234567 من خارج السعودية؟",
    # Japanese, read so before the merge: "can I call", "I want to call", "how to call",
    # "I called but"
    "0120-123-456に電話できますか？",
    "0120-123-456に電話したいのですが",
    "0120-123-456に電話する方法を教えてください",
    "0120-123-456に電話しましたが繋がりません",
    "0120-123-456に電話しているのに繋がらない",
]
# Asked with "me", or a call back asked of "you": the visitor's number.
ASKED_OF_YOU = [
    "Можете перезвонить мне по номеру +7 916 123-45-67?",
    "Не могли бы вы позвонить мне на +7 916 123-45-67?",
    "Можете перезвонить на +7 916 123-45-67?",
    "Не могли бы вы перезвонить по номеру +7 916 123-45-67?",
    "Позвоните на +7 916 123-45-67",
    "هل يمكنكم الاتصال بي على الرقم 0501234567؟",
    "ممكن تتصلوا بي على 0501234567؟",
    "090-1234-5678に電話してください",
    "090-1234-5678に電話していただけますか？",
    "090-1234-5678に折り返しお電話いただけますか",
    "090-1234-5678にご連絡ください",
    "090-1234-5678までお電話ください",
]


@pytest.mark.parametrize("message", ASKED_ABOUT)
def test_a_number_asked_about_is_none_to_call_back(message: str) -> None:
    assert callback_number(message) is None, message


@pytest.mark.parametrize("message", ASKED_OF_YOU)
def test_a_call_asked_of_the_team_gives_the_number(message: str) -> None:
    assert callback_number(message) is not None, message


async def test_a_number_asked_about_makes_no_lead(client: httpx.AsyncClient, owner: Owner) -> None:
    for message in ASKED_ABOUT:
        body = (await chat(client, owner, message, session_id=f"v-{uuid.uuid4().hex}")).json()
        assert (body["intent"], body["lead_saved"]) == ("question", False), (message, body)
        assert "call you" not in body["answer"], (message, body)
    assert await leads_of(client, owner) == []
