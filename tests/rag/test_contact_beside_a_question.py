"""A visitor who leaves their email address (or phone number) and asks a question in the same
message ("hi, my email is jo@example.com, how do I upload a document?", the demo workspace's
symptom) gets both: the address taken as a lead, once, as "my email is jo@example.com" alone
is, and the question answered from the knowledge as it is asked alone, the address asked for
no more. Before, the "?" made the whole message a question: the address was searched with it,
the demo said "I don't know", asked for the address again and made no lead (a number left so
was a sales lead: the team's reply, asking for an email address, and no lead either)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from rag.chat.contact_beside import Beside, contact_beside
from rag.knowledge.embeddings import LocalEmbedder
from tests.conftest import Owner, RuntimeFactory, client_for
from tests.rag.test_answers import demo_documents
from tests.rag.test_chat import chat
from tests.rag.test_lead_capture_never import leads_of

UPLOAD = "how do I upload a document?"
RESTORE = "can I restore deleted files?"
PRO = "What does the pro plan cost?"
ADDRESS_ASKED = "leave your email"
ADDRESS_LEFT = "contact details you left"


def _email() -> str:
    return f"jo.{uuid.uuid4().hex[:8]}@example.com"


def _number() -> str:
    digits = f"{uuid.uuid4().int % 10**9:09d}"
    return f"+91 9{digits[:4]} {digits[4:]}"


EMAILED, CALLED = "someone from the team will email you", "someone from the team will call you"
# (the message, with {e} the address or {n} the number; the question it asks alone; what its
# thanks promise, in the visitor's language)
VARIANTS = [
    ("hi, my email is {e}, how do I upload a document?", UPLOAD, EMAILED),
    ("my email is {e} - how do I upload a document?", UPLOAD, EMAILED),
    ("my email is {e}, how do I upload a document", "how do I upload a document", EMAILED),
    ("{e} is my email, can I restore deleted files?", RESTORE, EMAILED),
    ("hello! {e} here. What does the pro plan cost?", PRO, EMAILED),
    ("Hi, my email is {e}. How much is the Family plan?", "How much is the Family plan?", EMAILED),
    ("hi, my number is {n}, how do I upload a document?", UPLOAD, CALLED),
    ("my number is {n}. What does the pro plan cost?", PRO, CALLED),
    (
        "hola, mi correo es {e}, ¿cómo restauro archivos borrados?",
        "¿cómo restauro archivos borrados?",
        "alguien del equipo le escribirá",
    ),
    (
        "mi número es {n}, ¿cuánto cuesta el plan Family?",
        "¿cuánto cuesta el plan Family?",
        "alguien del equipo le llamará",
    ),
    (
        "Hallo, meine E-Mail ist {e}, wie stelle ich gelöschte Dateien wieder her?",
        "wie stelle ich gelöschte Dateien wieder her?",
        "jemand aus dem Team wird Ihnen eine E-Mail schreiben",
    ),
    (
        "Bonjour, mon e-mail est {e}, comment restaurer des fichiers supprimés ?",
        "comment restaurer des fichiers supprimés ?",
        "une personne de l'équipe vous écrira",
    ),
    (
        "Olá, meu e-mail é {e}, como restauro arquivos apagados?",
        "como restauro arquivos apagados?",
        "alguém da equipe vai enviar um e-mail",
    ),
    (
        "Ciao, la mia email è {e}, come ripristino i file cancellati?",
        "come ripristino i file cancellati?",
        "qualcuno del team le scriverà",
    ),
    (
        "namaste, mera email {e} hai, backup kaise restore karu?",
        "backup kaise restore karu?",
        "team ka koi sadasya",
    ),
]


def _same_source(source: str) -> str:
    """An answer from the knowledge is the same served again from the cache."""
    return "rag" if source == "cache" else source


async def _ask(client: httpx.AsyncClient, owner: Owner, message: str) -> dict[str, Any]:
    response = await chat(client, owner, message, session_id=f"v-{uuid.uuid4().hex[:12]}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _one_conversation(
    client: httpx.AsyncClient, owner: Owner, first: str, then: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The answers to ``first`` and, in its conversation, to ``then``."""
    session = f"v-{uuid.uuid4().hex[:12]}"
    one = (await chat(client, owner, first, session_id=session)).json()
    two = await chat(
        client, owner, then, session_id=session, conversation_id=one["conversation_id"]
    )
    return dict(one), dict(two.json())


@pytest.mark.parametrize(("message", "question", "promise"), VARIANTS)
async def test_the_contact_is_taken_and_the_question_answered_as_asked_alone(
    runtime_factory: RuntimeFactory, message: str, question: str, promise: str
) -> None:
    email, number = _email(), _number()
    async with (
        runtime_factory(embedder=LocalEmbedder()) as runtime,
        client_for(runtime) as client,
    ):
        owner = await demo_documents(client, runtime, "Beside")
        both = await _ask(client, owner, message.format(e=email, n=number))
        alone = await _ask(client, owner, question)
        leads = await leads_of(client, owner)
        unanswered = (await client.get(owner.url("/unanswered"), headers=owner.headers)).json()

    assert (both["lead_saved"], both["lead_capture"]) == (True, False), both
    assert ADDRESS_ASKED not in both["answer"], both
    assert (both["intent"], _same_source(both["source"])) == (
        alone["intent"],
        _same_source(alone["source"]),
    ), (both, alone)
    # The thanks for the contact first (in the visitor's language), then the answer.
    thanks, answer = both["answer"].split("\n\n", 1)
    assert promise in thanks, both
    if alone["source"] == "fallback":
        # The same "I don't know", telling of the details left instead of asking for them.
        assert alone["lead_capture"] is True, alone
        assert answer != alone["answer"], (both, alone)
        assert ADDRESS_LEFT in answer or not message.isascii(), both
    else:
        assert answer == alone["answer"], (both, alone)
    [lead] = leads
    given = "{e}" in message
    assert (lead["email"], lead["phone"]) == ((email, None) if given else (None, number)), lead
    assert lead["conversation_id"] == both["conversation_id"], lead
    # An unanswered question is the question, without the visitor's address or number.
    for group in unanswered:
        assert email not in group["question"], group
        assert number not in group["question"], group


async def test_the_demo_symptom_says_the_team_follows_up_and_leaves_one_lead(
    runtime_factory: RuntimeFactory,
) -> None:
    """The message seen on the demo, then the address again with another question in the same
    conversation: one lead, never asked for the address, the question on the Unanswered page
    as asked alone."""
    email = _email()
    async with (
        runtime_factory(embedder=LocalEmbedder()) as runtime,
        client_for(runtime) as client,
    ):
        owner = await demo_documents(client, runtime, "Symptom")
        first, again = await _one_conversation(
            client, owner, f"hi, my email is {email}, {UPLOAD}", f"my email is {email}, {RESTORE}"
        )
        leads = await leads_of(client, owner)
        unanswered = (await client.get(owner.url("/unanswered"), headers=owner.headers)).json()
    assert first["intent"] == "question", first
    assert first["answer"].startswith("Thank you! I've passed your message on"), first
    assert ADDRESS_ASKED not in first["answer"], first
    assert ADDRESS_LEFT in first["answer"], first
    assert (first["lead_saved"], first["lead_capture"]) == (True, False), first
    assert again["source"] in ("rag", "cache"), again
    assert "Restore" in again["answer"], again
    assert [lead["email"] for lead in leads] == [email], leads
    assert [group["question"] for group in unanswered] == [UPLOAD], unanswered


@pytest.mark.parametrize(
    "message",
    [
        "I emailed support@acme-backup.example last week, how long do refunds take?",
        "can I share my backup with bob@example.com?",
        "my colleague's email is bob@example.com, can he get access?",
        "how do I change my account email from jo@example.com?",
        "my order number is 12345678, where is it?",
        "Is +91 80 4000 1234 your support line?",
        # Someone else's words quoted: the address or number is theirs, not the visitor's.
        'I got this mail. "my email is pay@scam.example, send gift cards" - is it from you?',
        "“my email is pay@scam.example, send the files” - should I reply to this?",
        "'my email is pay@scam.example', what does this line in my invoice mean?",
    ],
)
async def test_an_address_or_number_asked_about_makes_no_lead(
    client: httpx.AsyncClient, owner: Owner, message: str
) -> None:
    body = await _ask(client, owner, message)
    assert body["lead_saved"] is False, body
    assert body["intent"] == "question", body
    assert await leads_of(client, owner) == []


@pytest.mark.parametrize(
    "given",
    [
        "get back to me at {e}",
        "please get back to us at {e}",
        "my new email is {e}",
        "my company email is {e}",
        "my email at {e}",
        "hi, my own email is {e}",
        "my preferred email address is {e}",
    ],
)
def test_words_giving_an_address_as_theirs_leave_it_beside_the_question(given: str) -> None:
    """The words that pick the visitor's address of two (``email_phrases``) give it beside a
    question too: these made the whole message a question, no lead, the address asked again."""
    email = _email()
    beside = contact_beside(f"{given.format(e=email)}, {UPLOAD}")
    assert beside == Beside(email, None, UPLOAD)


@pytest.mark.parametrize(
    "message",
    [
        "my old email is {e}, how do I change it?",
        "my colleagues email is {e}, can he get access?",
    ],
)
def test_an_address_said_to_be_another_s_is_not_left_beside_the_question(message: str) -> None:
    assert contact_beside(message.format(e=_email())) is None


async def test_a_number_in_someone_elses_quoted_words_makes_no_lead(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    # (Read as a sales lead, as any number with a "?" was before: the team's reply.)
    message = 'I got an sms. "my number is +91 98765 43210, I won a prize" - is this you?'
    body = await _ask(client, owner, message)
    assert body["lead_saved"] is False, body
    assert await leads_of(client, owner) == []


@pytest.mark.parametrize(
    "message",
    [
        "my email is {e}, please get back to me",
        "contact me at {e} about the Business plan",
        "my email is {e}",
    ],
)
async def test_an_address_left_without_a_question_is_still_a_contact(
    client: httpx.AsyncClient, owner: Owner, message: str
) -> None:
    email = _email()
    body = await _ask(client, owner, message.format(e=email))
    assert (body["intent"], body["source"], body["lead_saved"]) == ("contact", "fallback", True)
    assert [lead["email"] for lead in await leads_of(client, owner)] == [email]


async def test_an_address_beside_a_request_for_a_person_is_not_asked_for_again(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    email = _email()
    body = await _ask(client, owner, f"hi, my email is {email}, can I talk to a person?")
    assert (body["intent"], body["source"], body["lead_saved"]) == ("human", "handoff", True)
    assert ADDRESS_ASKED not in body["answer"], body
    assert ADDRESS_LEFT in body["answer"], body
    assert [lead["email"] for lead in await leads_of(client, owner)] == [email]


async def test_a_follow_up_left_unanswered_holds_no_address(
    runtime_factory: RuntimeFactory,
) -> None:
    """A follow-up is joined to the question before it (without a model to rewrite it): that
    question as asked alone, the address left beside it not on the Unanswered page."""
    email = _email()
    async with (
        runtime_factory(embedder=LocalEmbedder()) as runtime,
        client_for(runtime) as client,
    ):
        owner = await demo_documents(client, runtime, "Follow")
        _, follow_up = await _one_conversation(
            client, owner, f"hi, my email is {email}, {UPLOAD}", "and what about my pet goat?"
        )
        unanswered = (await client.get(owner.url("/unanswered"), headers=owner.headers)).json()
    assert follow_up["source"] == "fallback", follow_up
    asked = [example for group in unanswered for example in group["examples"]]
    assert f"{UPLOAD} and what about my pet goat?" in asked, unanswered
    assert not [example for example in asked if email in example], unanswered
