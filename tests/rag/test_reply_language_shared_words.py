"""Words two languages share do not make a message English:

- "in" counts for English, German and Italian alike (fix-i18n4), and a short German or Italian
  message with one more shared word ("Versand in die Schweiz?", "Come posso pagare in
  contanti?", "Il prodotto è in stock?") tied with English and was then told English by those
  same shared words: a German or Italian conversation got its next "I don't know" in English.
  Only words English alone has ("the", "stock") tell English now; a tie otherwise tells nothing,
  and the conversation keeps its language;
- the Nepali "मलाई" ("to me") is the Hindi "मलाई" (cream: "मलाई कोफ्ता"), and Mumbai's Hindi says
  "काय": a Hindi message with one of them ("क्या मलाई कोफ्ता मिलेगा?") got English. A word only
  Hindi writes ("क्या", "है", "मुझे") keeps it Hindi; Marathi and Nepali still get English."""

from __future__ import annotations

import uuid

import httpx
import pytest

from rag.chat.reply_language import conversation_language, visitor_language
from tests.conftest import Owner
from tests.rag.test_chat import chat

GERMAN = [("user", "Hallo, ich habe eine Frage zu meiner Bestellung")]
ITALIAN = [("user", "Ciao, vorrei sapere quando arriva il mio ordine")]


@pytest.mark.parametrize(
    ("message", "history", "language"),
    [
        ("Versand in die Schweiz?", GERMAN, "de"),
        ("Die Farbe in Rot?", GERMAN, "de"),
        ("Was kostet die Lieferung?", GERMAN, "de"),
        ("Come posso pagare in contanti?", ITALIAN, "it"),
        ("Il prodotto è in stock?", ITALIAN, "it"),
        ("Per la spedizione in Italia quanto ci vuole?", ITALIAN, "it"),
        # English words of its own still tell English, whatever came before
        ("Is the blue one in stock?", GERMAN, None),
        ("Die Hard box set, was it in stock?", ITALIAN, None),
    ],
)
def test_shared_words_keep_the_conversations_language(
    message: str, history: list[tuple[str, str]], language: str | None
) -> None:
    assert conversation_language(message, history) == language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("क्या मलाई कोफ्ता मिलेगा?", "hi"),  # is malai kofta available?
        ("मलाई टिक्का कितने का है?", "hi"),  # how much is the malai tikka?
        ("काय को टेंशन लेने का, मेरा ऑर्डर कब आएगा?", "hi"),
        ("मलाई मद्दत चाहिन्छ", None),  # Nepali: I need help
        ("मला मदत हवी आहे", None),  # Marathi: I need help
        ("तुम्ही मला मदत करू शकता का?", None),  # Marathi: can you help me?
    ],
)
def test_hindi_with_a_word_it_shares_with_nepali_or_marathi_stays_hindi(
    text: str, language: str | None
) -> None:
    assert visitor_language(text) == language


async def test_the_dont_know_reply_stays_german_and_hindi(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    session = f"s-{uuid.uuid4().hex[:12]}"
    first = await chat(client, owner, GERMAN[0][1], session_id=session)
    conversation = str(first.json()["conversation_id"])
    reply = await chat(
        client, owner, "Versand in die Schweiz?", session_id=session, conversation_id=conversation
    )
    body = reply.json()
    assert body["source"] == "fallback", body
    assert body["answer"].startswith("Entschuldigung"), body
    hindi = await chat(client, owner, "क्या मलाई कोफ्ता मिलेगा?", session_id=f"s-{uuid.uuid4().hex}")
    assert hindi.json()["answer"].startswith("क्षमा करें"), hindi.json()
