# ruff: noqa: RUF001 (digits written in other scripts)
"""What a visitor asks beside a call on their number ("Where is my order? Please call me on
+91 98765 43210") is answered as the question without the call: the FAQ that answers it, the
cached answer to it, the model asked it. The number is on the visitor's lead, never in the
question: with it, no FAQ ever matched (word for word a number more, semantically "other
numbers": ``match_guard``), so a shop answering from its FAQs said "I don't know"; the model
was sent the number, and the response cache kept it in its key for CACHE_TTL_SECONDS, where
no other visitor's same complaint could reuse the answer."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

from redis.asyncio import Redis

from core.models import utcnow
from rag.chat.conversations import group_questions
from rag.chat.intents import question_of
from tests.conftest import signup
from tests.fakes.openai_server import FakeOpenAI
from tests.rag.test_answers import REFUNDS, fake_llm, ingest, llm_client, llm_settings
from tests.rag.test_chat import add_faq, chat
from tests.rag.test_lead_capture_never import leads_of

__all__ = ["fake_llm", "llm_client", "llm_settings"]  # the fixtures, used below


def _phone() -> str:
    """A mobile number of this test alone ("+91 9..."), as a visitor writes it."""
    digits = f"{uuid.uuid4().int % 10**9:09d}"
    return f"+91 9{digits[:4]} {digits[4:]}"


def test_the_question_is_the_message_without_the_call() -> None:
    number = _phone()
    assert question_of(f"Where is my order? Please call me on {number}", "question") == (
        "Where is my order?"
    )
    assert question_of(f"my order is late, please call me on {number}", "question") == (
        "my order is late"
    )
    # Digits and spaces as typed elsewhere: the same clause goes, not the complaint.
    for typed in ("０１７１ ２３４５６７８", "+91\u00a098765\u00a043210"):
        assert question_of(f"my order is late, please call me on {typed}", "question") == (
            "my order is late"
        ), typed
    asked = "मेरा ऑर्डर लेट है, मुझे ९८७६५ ४३२१० पर कॉल करें"
    assert question_of(asked, "question") == "मेरा ऑर्डर लेट है"
    # A number that is no callback stays: it may be what is asked about.
    assert question_of("Is 0171 2345678 your support line?", "question") == (
        "Is 0171 2345678 your support line?"
    )


async def test_an_faq_answers_the_question_asked_beside_a_call(llm_client: Any) -> None:
    client, _ = llm_client
    owner = await signup(client, f"Faq callbacks {uuid.uuid4().hex[:6]}")
    await add_faq(client, owner, "Where is my order?", "Orders ship within 2 days.")
    number = _phone()
    message = f"Where is my order? Please call me on {number}"
    body = (await chat(client, owner, message, session_id=f"v-{uuid.uuid4().hex}")).json()
    assert (body["source"], body["lead_saved"]) == ("faq", True), body
    assert "will call you" in body["answer"], body
    assert body["answer"].endswith("Orders ship within 2 days."), body
    assert [lead["phone"] for lead in await leads_of(client, owner)] == [number]


async def test_the_number_goes_neither_to_the_model_nor_into_the_cache(
    llm_client: Any, fake_llm: FakeOpenAI, redis_client: Redis
) -> None:
    """A's complaint is answered by the model without A's number, cached without it; B's
    same complaint with B's number gets that answer from the cache, B's own call promised and
    B's number on B's lead, nothing of A's."""
    client, runtime = llm_client
    owner = await signup(client, f"Cache callbacks {uuid.uuid4().hex[:6]}")
    await ingest(client, owner, runtime, "Refunds", REFUNDS)
    complaint = (
        "My order of a yearly plan was refunded but the refund has not arrived, please call me on "
    )
    first, second = _phone(), _phone()
    a = (await chat(client, owner, complaint + first, session_id=f"a-{uuid.uuid4().hex}")).json()
    assert (a["source"], a["lead_saved"]) == ("rag", True), a
    sent = str(fake_llm.chat_requests[-1].json)
    assert "refund has not arrived" in sent, sent
    assert first.split()[-1] not in sent, sent
    held = [
        await redis_client.get(key)
        async for key in redis_client.scan_iter(match=f"tb:rc:{owner.workspace_id}:*")
    ]
    assert held, "the answer was not cached"
    assert not [entry for entry in held if first.split()[-1].encode() in (entry or b"")], held
    b = (await chat(client, owner, complaint + second, session_id=f"b-{uuid.uuid4().hex}")).json()
    assert (b["source"], b["lead_saved"]) == ("cache", True), b
    assert "will call you" in b["answer"], b
    assert first.split()[-1] not in b["answer"], b
    assert sorted(lead["phone"] for lead in await leads_of(client, owner)) == sorted(
        [first, second]
    )


async def test_the_unanswered_page_shows_the_question_without_the_visitors_numbers(
    llm_client: Any,
) -> None:
    """Left unanswered, the complaint is on the owner's Unanswered page as asked without the
    call: the group's question and its examples are what an FAQ made from it asks (the
    dashboard ticks the examples as its other wordings), and an FAQ is no visitor's data, so a
    visitor's number copied into one outlived their erasure."""
    client, _ = llm_client
    owner = await signup(client, f"Unanswered callbacks {uuid.uuid4().hex[:6]}")
    complaint = "the app keeps crashing when I upload a photo, can someone phone me at "
    numbers = [_phone(), _phone()]
    for number in numbers:
        body = (
            await chat(client, owner, complaint + number, session_id=f"v-{uuid.uuid4().hex}")
        ).json()
        assert (body["source"], body["lead_saved"]) == ("fallback", True), body
    listing = await client.get(owner.url("/unanswered"), headers=owner.headers)
    assert listing.status_code == 200, listing.text
    shown = [(group["question"], group["examples"], group["count"]) for group in listing.json()]
    assert shown == [
        (
            "the app keeps crashing when I upload a photo",
            ["the app keeps crashing when I upload a photo"],
            2,
        )
    ], shown


def test_an_unanswered_question_recorded_with_the_call_is_shown_without_it() -> None:
    """Rows recorded with the whole message (before the question was kept without the call)."""
    number = _phone()
    row = SimpleNamespace(
        id=uuid.uuid4(),
        question=f"my order is late, please call me on {number}",
        normalized=f"my order is late please call me on {number}",
        embedding=None,
        created_at=utcnow(),
    )
    [group] = group_questions([row], limit=5)
    assert (group["question"], group["examples"]) == ("my order is late", ["my order is late"])


async def test_a_follow_up_beside_a_call_is_rewritten_without_the_number(
    llm_client: Any, fake_llm: FakeOpenAI
) -> None:
    """A follow-up ("and when will it arrive? please call me on ..."), rewritten to stand alone,
    is the question without the call; no request to the model holds the number."""
    client, runtime = llm_client
    owner = await signup(client, f"Follow-up callbacks {uuid.uuid4().hex[:6]}")
    await ingest(client, owner, runtime, "Refunds", REFUNDS)
    session = f"v-{uuid.uuid4().hex}"
    first = (
        await chat(client, owner, "Can I get a refund on a yearly plan?", session_id=session)
    ).json()
    assert first["source"] == "rag", first
    before = len(fake_llm.chat_requests)
    number = _phone()
    body = (
        await chat(
            client,
            owner,
            f"and when will it arrive? please call me on {number}",
            session_id=session,
            conversation_id=first["conversation_id"],
        )
    ).json()
    assert body["lead_saved"] is True, body
    sent = [str(request.json) for request in fake_llm.chat_requests[before:]]
    assert len(sent) == 2, sent  # the rewrite, then the answer
    assert "when will it arrive" in sent[0], sent
    assert not [text for text in sent if number.split()[-1] in text], sent


async def test_an_erasure_by_the_number_takes_the_callback_lead_and_its_conversation(
    client: Any, owner: Any
) -> None:
    """The lead a call asked beside a complaint made, its conversation and the question left
    unanswered go with an erasure by that number, written otherwise ("0" and the national
    number)."""
    number = _phone()
    message = f"the app keeps crashing when I upload a photo, can someone phone me at {number}"
    body = (await chat(client, owner, message, session_id=f"v-{uuid.uuid4().hex}")).json()
    assert (body["intent"], body["lead_saved"]) == ("question", True), body
    national = "".join(number.split()[1:])
    erased = await client.post(
        owner.url("/erasures"), json={"phone": f"0{national}"}, headers=owner.headers
    )
    assert erased.status_code in (200, 201), erased.text
    assert number not in str(await leads_of(client, owner))
    listing = await client.get(owner.url("/unanswered"), headers=owner.headers)
    assert "crashing when I upload" not in listing.text, listing.text
    gone = await client.get(
        owner.url(f"/conversations/{body['conversation_id']}"), headers=owner.headers
    )
    assert gone.status_code == 404, gone.text
