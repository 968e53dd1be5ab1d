"""Two ways the canned replies took the wrong language:

- a place or product name typed in small letters inside an English message ("los angeles to
  las vegas shipping?", "la vie est belle in stock?") made it Spanish or French by the name's
  "los", "las", "la", "est": "Lo siento, no sé la respuesta..." to an English visitor. English
  words around the name ("in stock", "shipping") now count; a Spanish or French message about
  the same names keeps its language;
- Marathi and Nepali, written in Devanagari as Hindi is, got the Hindi replies: a language the
  bot has no replies in gets English, as Ukrainian, Persian and Urdu do (a reply in a neighbour's
  language is worse). Hindi keeps its replies."""

from __future__ import annotations

import uuid

import httpx
import pytest

from rag.chat.reply_language import visitor_language
from tests.conftest import Owner
from tests.rag.test_chat import chat

ENGLISH = [
    "los angeles to las vegas shipping?",
    "la vie est belle in stock?",
    "le labo santal 33 in stock?",
    "Le Labo Santal 33 in stock?",
    "Dolce & Gabbana Light Blue pour homme in stock?",
    "मला मदत हवी आहे",  # Marathi: I need help
    "तुमचे दुकान कधी उघडे असते?",  # Marathi: when is your shop open?
    "मलाई मद्दत चाहिन्छ",  # Nepali: I need help
    "तपाईंको पसल कति बजे खुल्छ?",  # Nepali: when does your shop open?
]
KEPT = [
    ("quiero saber el precio del envío de los angeles a las vegas", "es"),
    ("¿Hacen envíos a las vegas? Necesito el precio por favor", "es"),
    ("je cherche la vie est belle, vous l'avez ?", "fr"),
    ("Est-ce que le parfum est disponible ?", "fr"),
    ("Ist die Jacke in Blau noch da?", "de"),
    ("Vorrei sapere se il prodotto è in stock", "it"),
    ("मुझे मदद चाहिए", "hi"),
    ("आपकी दुकान कब खुलती है?", "hi"),
    ("क्या आप मेरी मदद कर सकते हैं?", "hi"),
]


@pytest.mark.parametrize("text", ENGLISH)
def test_names_in_english_and_devanagari_neighbours_get_english(text: str) -> None:
    assert visitor_language(text) is None


@pytest.mark.parametrize(("text", "language"), KEPT)
def test_the_languages_beside_them_keep_their_replies(text: str, language: str) -> None:
    assert visitor_language(text) == language


@pytest.mark.parametrize(
    ("message", "starts"),
    [
        ("los angeles to las vegas shipping?", "Sorry, I don't know"),
        ("la vie est belle in stock?", "Sorry, I don't know"),
        ("मला मदत हवी आहे", "Sorry, I don't know"),
        ("quiero saber el precio del envío de los angeles a las vegas", "Lo siento"),
        ("मुझे मदद चाहिए", "क्षमा करें"),
    ],
)
async def test_i_dont_know_is_in_the_visitors_language(
    client: httpx.AsyncClient, owner: Owner, message: str, starts: str
) -> None:
    session = f"s-{uuid.uuid4().hex[:12]}"
    body = (await chat(client, owner, message, session_id=session)).json()
    assert body["source"] == "fallback", body
    assert body["answer"].startswith(starts), body
