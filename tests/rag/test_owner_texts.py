"""The bot's own answers in the owner's words (the widget settings' ``texts``): the "don't
know" answer, the reply to a request for a person, the thanks for an address typed into the
chat, and the fallback when the model fails (its JSON answer, the stream's ``replace``, a model
that wrote nothing). A change applies to the next answer; another workspace keeps the English
defaults."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from api.runtime import Runtime
from tests.conftest import Owner, RuntimeFactory, client_for, signup
from tests.fakes.openai_server import FakeOpenAI
from tests.rag.test_answers import REFUNDS, ingest
from tests.rag.test_chat import chat, new_session, parse_sse, widget_headers
from tests.rag.test_lead_capture_never import fake_llm, llm_client  # noqa: F401 (fixtures)

DONT_KNOW = "Das weiß ich leider nicht. Schreiben Sie uns gern eine E-Mail."
HANDOFF = "Gern verbindet Sie unser Team: hinterlassen Sie Ihre E-Mail-Adresse."
UNAVAILABLE = "Gerade klappt es nicht. Bitte versuchen Sie es gleich noch einmal."


async def _texts(client: httpx.AsyncClient, owner: Owner, **texts: str | None) -> None:
    saved = await client.patch(owner.url("/widget"), json={"texts": texts}, headers=owner.headers)
    assert saved.status_code == 200, saved.text


async def test_dont_know_and_handoff_answers_are_the_owners_and_change_with_the_next_answer(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    other = await signup(client, "English shop")
    await _texts(client, owner, dont_know=DONT_KNOW, handoff=HANDOFF)

    unknown = (await chat(client, owner, "Verkaufen Sie Geschenkkarten?")).json()
    assert (unknown["source"], unknown["answer"]) == ("fallback", DONT_KNOW)
    assert unknown["lead_capture"] is True
    person = (await chat(client, owner, "Ich möchte mit einem Menschen sprechen")).json()
    assert (person["intent"], person["source"]) == ("human", "handoff")
    assert person["answer"] == HANDOFF
    listing = (await client.get(owner.url("/conversations"), headers=owner.headers)).json()
    assert listing["items"][0]["status"] == "handoff"  # still handed off

    # The other workspace's bot keeps its English texts.
    english = (await chat(client, other, "Do you sell gift cards?")).json()
    assert english["answer"].startswith("Sorry, I don't know")
    human = (await chat(client, other, "I want to talk to a human")).json()
    assert human["answer"].startswith("I'm an automated assistant")

    # A change applies to the next answer (the widget key's cached workspace is checked).
    await _texts(client, owner, dont_know="Keine Ahnung, leider.")
    again = await chat(client, owner, "Verkaufen Sie Geschenkkarten?", session_id=new_session())
    assert again.json()["answer"] == "Keine Ahnung, leider."
    # Streamed alike.
    streamed = await client.post(
        "/api/v1/chat",
        json={"message": "Haben Sie ein U-Boot?", "session_id": new_session()},
        headers=widget_headers(owner, Accept="text/event-stream"),
    )
    assert dict(parse_sse(streamed.text))["done"]["answer"] == "Keine Ahnung, leider."

    # Back to the default: the English answer again.
    await _texts(client, owner, dont_know=None)
    default = await chat(client, owner, "Verkaufen Sie Geschenkkarten?", session_id=new_session())
    assert default.json()["answer"].startswith("Sorry, I don't know")


async def test_an_address_typed_in_the_chat_is_thanked_in_the_owners_words(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    await _texts(client, owner, lead_thanks="Danke! Wir schreiben an {email}.")
    email = f"kunde-{uuid.uuid4().hex[:8]}@example.com"
    body = (await chat(client, owner, f"my email is {email}", session_id=new_session())).json()
    assert (body["answer"], body["lead_saved"]) == (f"Danke! Wir schreiben an {email}.", True)


async def test_thanks_and_goodbyes_are_answered_in_the_owners_words(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """The courtesy replies were fixed English ("You're welcome!") in a German shop's chat."""
    english = (await chat(client, owner, "thank you!", session_id=new_session())).json()
    assert english["answer"] == "You're welcome! Is there anything else I can help you with?"
    await _texts(
        client, owner, thanks_reply="Gern geschehen!", goodbye_reply="Tschüss und bis bald!"
    )
    thanks = (await chat(client, owner, "danke", session_id=new_session())).json()
    assert (thanks["intent"], thanks["answer"]) == ("thanks", "Gern geschehen!")
    bye = (await chat(client, owner, "bye", session_id=new_session())).json()
    assert (bye["intent"], bye["answer"]) == ("goodbye", "Tschüss und bis bald!")


async def test_a_goodbye_names_the_bot_and_a_bot_asking_nothing_sends_to_the_owners_contact(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """The default goodbye names the bot, the owner's could not (a name typed in went stale
    with a rename): ``{bot_name}`` is filled in. Under lead capture "Never" the bot sent a
    visitor who wanted the team to "the contact details on this website" in English whatever
    the owner wrote: their ``no_contact_hint`` replaces it."""
    await _texts(
        client,
        owner,
        goodbye_reply="Danke für das Gespräch mit {bot_name}!",
        no_contact_hint="Sie erreichen uns unter 030 1234567.",
    )
    renamed = await client.patch(
        owner.url("/widget"),
        json={"bot_name": "Lotte", "lead_capture": "off"},
        headers=owner.headers,
    )
    assert renamed.status_code == 200, renamed.text
    bye = (await chat(client, owner, "bye", session_id=new_session())).json()
    assert (bye["intent"], bye["answer"]) == ("goodbye", "Danke für das Gespräch mit Lotte!")
    person = (
        await chat(client, owner, "I want to talk to a human", session_id=new_session())
    ).json()
    assert person["intent"] == "human"
    assert person["answer"].endswith(" Sie erreichen uns unter 030 1234567."), person["answer"]
    assert "contact details on this website" not in person["answer"]
    email = f"kunde-{uuid.uuid4().hex[:8]}@example.com"
    typed = (await chat(client, owner, f"my email is {email}", session_id=new_session())).json()
    assert "not passed on" in typed["answer"]
    assert typed["answer"].endswith(" Sie erreichen uns unter 030 1234567."), typed["answer"]


async def test_a_quoted_answer_carries_the_owners_label_also_from_the_cache(
    runtime_factory: RuntimeFactory,
) -> None:
    """Without a language model the bot quotes the documents after "From our documentation:";
    the owner's label replaces it, and a label changed later is not hidden by an answer the
    response cache holds from before."""
    question = "How long do refunds take to arrive?"
    async with (
        runtime_factory(retrieval_min_similarity=0.05) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client, "Dokumente")
        await ingest(client, owner, runtime, "Refunds", REFUNDS)
        english = (await chat(client, owner, question, session_id=new_session())).json()
        assert english["answer"].startswith("From our documentation: "), english
        await _texts(client, owner, documentation_prefix="Aus unserer Dokumentation:")
        german = (await chat(client, owner, question, session_id=new_session())).json()
        again = (await chat(client, owner, question, session_id=new_session())).json()
        await _texts(client, owner, documentation_prefix="Laut unseren Unterlagen:")
        changed = (await chat(client, owner, question, session_id=new_session())).json()
    body = english["answer"].removeprefix("From our documentation: ")
    assert (german["source"], german["answer"]) == ("rag", f"Aus unserer Dokumentation: {body}")
    assert (again["source"], again["answer"]) == ("cache", german["answer"])
    assert changed["answer"] == f"Laut unseren Unterlagen: {body}"


# --- with a language model ---------------------------------------------------------------------


async def test_the_models_failure_gets_the_owners_fallback(
    llm_client: tuple[httpx.AsyncClient, Runtime],  # noqa: F811
    fake_llm: FakeOpenAI,  # noqa: F811
) -> None:
    client, runtime = llm_client
    owner = await signup(client, "Modell")
    await ingest(client, owner, runtime, "Refunds", REFUNDS)
    await _texts(client, owner, unavailable=UNAVAILABLE)
    question = "Can I get a refund on a yearly plan?"
    answers = await failed_model_answers(client, owner, fake_llm, question)
    assert answers == [UNAVAILABLE] * 4


async def failed_model_answers(
    client: httpx.AsyncClient, owner: Owner, llm: FakeOpenAI, question: str
) -> list[str]:
    """What a visitor asking ``question`` gets from a model that fails: answered whole, then
    streamed (the last "replace" and the recorded answer), then a model that wrote nothing
    visible. Each is a fallback."""
    llm.fail_next(500)
    body = (await chat(client, owner, question, session_id=new_session())).json()
    assert body["source"] == "fallback", body

    llm.fail_next(500)
    streamed = await client.post(
        "/api/v1/chat",
        json={"message": question, "session_id": new_session()},
        headers=widget_headers(owner, Accept="text/event-stream"),
    )
    events = parse_sse(streamed.text)
    replaced = [data["text"] for name, data in events if name == "replace"][-1]

    llm.chat_reply = " "
    empty = (await chat(client, owner, question, session_id=new_session())).json()
    return [body["answer"], replaced, dict(events)["done"]["answer"], empty["answer"]]


async def test_the_model_is_told_to_say_it_does_not_know_in_the_owners_words(
    llm_client: tuple[httpx.AsyncClient, Runtime],  # noqa: F811
    fake_llm: FakeOpenAI,  # noqa: F811
) -> None:
    """Sources found but silent on the question: the model's "I don't know" was in its own
    words, while the owner's text reached only retrieval that found nothing."""
    client, runtime = llm_client
    owner = await signup(client, "Modell")
    other = await signup(client, "Other")
    for workspace in (owner, other):
        await ingest(client, workspace, runtime, "Refunds", REFUNDS)
    await _texts(client, owner, dont_know=DONT_KNOW)
    question = "Can I pay for a yearly plan by bank transfer?"

    def obeying(body: dict[str, Any]) -> str:
        system = body["messages"][0]["content"]
        if "cite nothing:\n" not in system:
            return "?"
        return system.split("cite nothing:\n", 1)[1].split("\n", 1)[0]

    fake_llm.chat_reply = obeying
    answer = (await chat(client, owner, question, session_id=new_session())).json()
    assert (answer["source"], answer["answer"]) == ("fallback", DONT_KNOW)
    # Another workspace's model gets no such line (its rule 3 alone).
    default = (await chat(client, other, question, session_id=new_session())).json()
    assert default["answer"] == "?"
    assert DONT_KNOW not in fake_llm.chat_requests[-1].json["messages"][0]["content"]
