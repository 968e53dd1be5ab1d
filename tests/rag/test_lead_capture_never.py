"""Lead capture "Never": an owner who chose it gets no visitor asked for contact details.

Every answer the bot writes itself (don't know, the model's fallback, a request for a person, a
sales question) asks for no email address and offers no contact form (``lead_capture`` false),
the model's rules tell it not to offer a follow-up, and an address typed into the chat makes no
lead. The handoff itself still happens (the owner is told a visitor asked for a person), and the
public lead endpoint still takes what a visitor sends explicitly (an owner's own form on their
site, a form a tab showed before the setting changed): "Never" is about asking.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from api.runtime import Runtime
from tests.conftest import Owner, client_for, make_runtime, make_settings, signup
from tests.fakes.openai_server import FakeOpenAI
from tests.rag.test_answers import REFUNDS, ingest
from tests.rag.test_chat import chat, parse_sse, widget_headers


def asks_for_contact(text: str) -> bool:
    return any(word in text.lower() for word in ("email", "e-mail", "leave your", "follow up"))


async def never(client: httpx.AsyncClient, owner: Owner) -> None:
    patched = await client.patch(
        owner.url("/widget"), json={"lead_capture": "off"}, headers=owner.headers
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["lead_capture"] == "off"


async def leads_of(client: httpx.AsyncClient, owner: Owner) -> list[dict[str, Any]]:
    listing = await client.get(owner.url("/leads"), headers=owner.headers)
    assert listing.status_code == 200, listing.text
    return list(listing.json()["items"])


async def test_the_bot_asks_for_nothing_when_it_does_not_know(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    await never(client, owner)
    body = (await chat(client, owner, "Do you sell submarines?")).json()
    assert body["source"] == "fallback"
    assert "don't know" in body["answer"]
    assert not asks_for_contact(body["answer"]), body["answer"]
    assert body["lead_capture"] is False
    # Still a question the owner sees unanswered.
    groups = (await client.get(owner.url("/unanswered"), headers=owner.headers)).json()
    assert [g["count"] for g in groups] == [1]


async def test_a_request_for_a_person_is_handed_off_without_asking_for_an_email(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    await never(client, owner)
    body = (await chat(client, owner, "Can I talk to a real person please?")).json()
    assert (body["intent"], body["source"]) == ("human", "handoff")
    assert not asks_for_contact(body["answer"]), body["answer"]
    assert "contact details on this website" in body["answer"]
    assert body["lead_capture"] is False
    listing = (await client.get(owner.url("/conversations"), headers=owner.headers)).json()
    assert listing["items"][0]["status"] == "handoff"  # the owner still hears of it

    streamed = await client.post(
        "/api/v1/chat",
        json={"message": "I want to speak with a real person", "session_id": "s-human"},
        headers=widget_headers(owner, Accept="text/event-stream"),
    )
    events = dict(parse_sse(streamed.text))
    assert events["meta"]["lead_capture"] is False
    assert events["done"]["lead_capture"] is False
    assert not asks_for_contact(events["done"]["answer"])


async def test_a_sales_question_offers_no_contact_form(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    await never(client, owner)
    body = (await chat(client, owner, "I want to book a demo")).json()
    assert body["intent"] == "lead"
    assert body["lead_capture"] is False
    assert not asks_for_contact(body["answer"]), body["answer"]


async def test_an_email_typed_into_the_chat_makes_no_lead(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    await never(client, owner)
    first = (await chat(client, owner, "Do you sell submarines?", session_id="sea")).json()
    message = "my email is Nemo.Diver@example.com, please get back to me"
    body = (
        await chat(
            client, owner, message, session_id="sea", conversation_id=first["conversation_id"]
        )
    ).json()
    assert body["intent"] == "contact"
    assert body["lead_saved"] is False
    assert body["lead_capture"] is False
    assert "not passed on" in body["answer"]
    assert await leads_of(client, owner) == []
    transcript = await client.get(
        owner.url(f"/conversations/{first['conversation_id']}"), headers=owner.headers
    )
    assert transcript.json()["conversation"]["lead_id"] is None

    # The owner trying it in the playground is told what a visitor would get.
    tried = await client.post(
        owner.url("/chat"), json={"message": "my email is jo@example.com"}, headers=owner.headers
    )
    assert tried.status_code == 200, tried.text
    assert "Never" in tried.json()["answer"]
    assert "not passed on" in tried.json()["answer"]
    assert await leads_of(client, owner) == []


async def test_a_visitor_may_still_send_their_details_explicitly(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """The public lead endpoint is not the bot asking: an owner's own contact form on their
    site sends to it, and so does a form a widget showed before the owner chose "Never"."""
    await never(client, owner)
    sent = await client.post(
        "/api/v1/widget/leads",
        json={"email": "form@example.com", "message": "Please call me"},
        headers=widget_headers(owner),
    )
    assert sent.status_code == 202, sent.text
    assert [lead["email"] for lead in await leads_of(client, owner)] == ["form@example.com"]


# --- with a language model ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
async def llm_client(
    fake_llm: FakeOpenAI, db: Any, redis_client: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    fake_llm.reset_all()
    settings = make_settings(
        openai_api_key="sk-test",
        openai_base_url=fake_llm.base_url,
        llm_timeout_seconds=5.0,
        llm_max_retries=0,
        retrieval_min_similarity=0.05,
    )
    async with make_runtime(settings, db, redis_client) as runtime, client_for(runtime) as c:
        yield c, runtime


async def refunds_never(client: httpx.AsyncClient, runtime: Runtime, name: str) -> Owner:
    """A new workspace ``name`` holding the refunds page, lead capture "Never"."""
    owner = await signup(client, name)
    await ingest(client, owner, runtime, "Refunds", REFUNDS)
    await never(client, owner)
    return owner


async def test_the_model_is_told_not_to_offer_a_follow_up(
    llm_client: tuple[httpx.AsyncClient, Runtime], fake_llm: FakeOpenAI
) -> None:
    client, runtime = llm_client
    owner = await refunds_never(client, runtime, "NeverModel")
    fake_llm.chat_reply = "I'm sorry, I don't know that."
    body = (await chat(client, owner, "Do you ship hardware keys to Japan?")).json()
    assert body["source"] == "fallback"  # cites nothing: the model did not know
    assert body["lead_capture"] is False
    system = fake_llm.chat_requests[-1].json["messages"][0]["content"]
    assert "do not ask for contact details" in system
    assert "know and offer to have the team follow up" not in system


async def test_the_models_failure_asks_for_no_email(
    llm_client: tuple[httpx.AsyncClient, Runtime], fake_llm: FakeOpenAI
) -> None:
    client, runtime = llm_client
    owner = await refunds_never(client, runtime, "NeverFallback")
    fake_llm.fail_next(500)
    body = (await chat(client, owner, "Can I get a refund on a yearly plan?")).json()
    assert body["source"] == "fallback"
    assert "trouble" in body["answer"]
    assert not asks_for_contact(body["answer"]), body["answer"]
    fake_llm.fail_next(500)
    streamed = await client.post(
        "/api/v1/chat",
        json={"message": "Can I get a refund on a yearly plan?", "session_id": "s-fail"},
        headers=widget_headers(owner, Accept="text/event-stream"),
    )
    events = parse_sse(streamed.text)
    replaced = [data["text"] for name, data in events if name == "replace"]
    assert replaced, events
    assert not asks_for_contact(replaced[-1]), replaced
    assert not asks_for_contact(dict(events)["done"]["answer"])
