"""A German or French visitor asking whether they must talk to a person ("Muss ich mit einem
Mitarbeiter sprechen, um zu kündigen?", "Dois-je parler à un conseiller pour annuler ?") asks
about the shop, as "Do I need to talk to a human to cancel?" does in English: no hand-off. Before,
each was handed off and the question never answered. The same words as a statement ("Dann muss
ich mit einem Mitarbeiter sprechen", "Je dois parler à un conseiller") still ask for one."""

from __future__ import annotations

import httpx
import pytest

from rag.chat.intents import detect_intent
from tests.conftest import Owner
from tests.rag.test_person_declined_languages import assert_not_handed_off

ASKED_ABOUT = [
    "Muss ich mit einem Mitarbeiter sprechen, um zu kündigen?",
    "Müssen wir mit einem Berater sprechen?",
    "Um zu kündigen, muss ich mit einem Mitarbeiter telefonieren?",
    "Dois-je parler à un conseiller pour annuler ?",
    "Faut-il parler à un conseiller pour annuler ?",
    "Est-ce que je dois parler à un conseiller ?",
]
STILL_ASKS = [
    "Dann muss ich mit einem Mitarbeiter sprechen",
    "Ich muss mit einem Mitarbeiter sprechen",
    "Je dois parler à un conseiller",
    "Kann ich mit einem Mitarbeiter sprechen?",
]


@pytest.mark.parametrize("text", ASKED_ABOUT)
def test_asking_whether_a_person_is_needed_is_no_request(text: str) -> None:
    assert detect_intent(text).intent != "human"


@pytest.mark.parametrize("text", STILL_ASKS)
def test_saying_a_person_is_needed_is_still_a_request(text: str) -> None:
    assert detect_intent(text).intent == "human"


async def test_asking_whether_a_person_is_needed_keeps_the_conversation_open(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    await assert_not_handed_off(
        client, owner, "Muss ich mit einem Mitarbeiter sprechen, um zu kündigen?"
    )
