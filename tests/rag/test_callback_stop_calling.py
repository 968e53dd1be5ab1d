"""A visitor asking the team to stop calling them on a number is promised no call, through the
real chat path.

callbacks2 added the infinitive of the call to the call phrases ("richiamarmi", "chiamarmi",
"ligar-me", "الاتصال بي") so that a call asked as a question is read ("Potete richiamarmi al
...?"). It read "Smettete di chiamarmi al ..." (stop calling me at ...), "Por que continuam a
ligar-me para o ...?" (why do you keep calling me on ...?) and "توقفوا عن الاتصال بي على ..."
the same way: the number went on a lead and the visitor was told "someone from the team will
call you". A call turned down (``contact_details._NO_CALLS``) now includes asking to stop, or
why the calls go on, in every language of the call phrases (French, Portuguese's "deixem de me
ligar", Hindi's "call karna band karo" and Chinese's "不要再打电话给我" were taken the same way
before)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from rag.chat.contact_details import callback_number
from tests.conftest import Owner
from tests.rag.test_chat import chat
from tests.rag.test_lead_capture_never import leads_of

STOP = [
    "Smettete di chiamarmi al 333 123 4567!",
    "Perché continuate a chiamarmi al 333 123 4567?",
    "Non dovete più chiamarmi al 333 123 4567",
    "Parem de ligar-me para o 912 345 678!",
    "Por que continuam a ligar-me para o 912 345 678?",
    "Deixem de me ligar no 11 91234 5678",
    "توقفوا عن الاتصال بي على 0501234567",
    "لماذا تستمرون في الاتصال بي على 0501234567؟",
    "Arrêtez de m'appeler au 06 12 34 56 78",
    "mujhe 98765 43210 par call karna band karo",
    "不要再打电话给我 13812345678",
]


@pytest.mark.parametrize("message", STOP)
def test_stop_calling_me_gives_no_number_to_call(message: str) -> None:
    assert callback_number(message) is None, message


async def test_stop_calling_me_is_promised_no_call(client: httpx.AsyncClient, owner: Owner) -> None:
    for message in STOP:
        body = (await chat(client, owner, message, session_id=f"v-{uuid.uuid4().hex}")).json()
        assert body["lead_saved"] is False, (message, body)
        assert body["intent"] != "contact", (message, body)
    assert await leads_of(client, owner) == []
