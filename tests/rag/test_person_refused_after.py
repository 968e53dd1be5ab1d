"""Refusing a person in the languages that say "not" after the verb, or with no spaces, was a
request for one: "मुझे किसी इंसान से बात नहीं करनी है" and "mujhe kisi insaan se baat nahi
karni" (I don't want to talk to a person), "我不要转人工" (I don't want a human agent) and
"担当者と話したくない" (I don't want to talk to staff) were handed off, the team alerted for a
visitor who had said no; so was asking whether one must ("kya mujhe kisi insaan se baat karni
padegi?"). Found by a sweep of requests, refusals and questions in every language the bot
answers in; asking still hands off, and so does saying one cannot reach a person."""

from __future__ import annotations

import pytest

from rag.chat.intents import detect_intent

NOT_ASKED = [
    "मुझे किसी इंसान से बात नहीं करनी है",
    "मुझे एजेंट से बात नहीं करनी, बस डिलीवरी का समय बताइए",
    "क्या मुझे किसी इंसान से बात करनी होगी?",
    "mujhe kisi insaan se baat nahi karni",
    "agent se baat mat karao",
    "kya mujhe kisi insaan se baat karni padegi?",
    "我不要转人工",
    "不用转人工\uff0c告诉我营业时间",
    "担当者と話したくない",
    "担当者と話す必要はないです",
]
STILL_ASKED = [
    "मुझे किसी इंसान से बात करनी है",
    "mujhe kisi insaan se baat karni hai",
    "nahi, mujhe agent se baat karni hai",
    "我要转人工",
    "担当者と話したい",
    "担当者と話せないのですか\uff1f",
]


@pytest.mark.parametrize("text", NOT_ASKED)
def test_a_person_refused_or_asked_about_is_no_hand_off(text: str) -> None:
    assert detect_intent(text).intent != "human"


@pytest.mark.parametrize("text", STILL_ASKED)
def test_a_person_asked_for_is_a_hand_off(text: str) -> None:
    assert detect_intent(text).intent == "human"
