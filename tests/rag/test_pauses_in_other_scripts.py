# ruff: noqa: RUF001, RUF002 (messages in their own letters and punctuation)
"""Sentences end and clauses pause with the marks of the visitor's script, not only "." and ",":
Hindi's danda "।" and double danda "॥", the ideographic full stop "。", the fullwidth comma
"，" and "！" (typed with a Chinese or Japanese keyboard, whatever the language). Before, a
request for a person or a demo was read in one clause with a question before or after it across
one of those: "मुझे किसी इंसान से बात करनी होगी। रिफंड कब मिलेगा?" (I'll have to talk to a
person। When will the refund come?) and "Мне нужен оператор。Когда вы работаете?" were questions
whether one is needed (no hand-off), "क्या रिफंड मिलेगा। मुझे डेमो चाहिए" no lead; with "." each
was already what it is."""

from __future__ import annotations

import pytest

from rag.chat.intents import detect_intent

ROWS = [
    ("hi", "मुझे किसी इंसान से बात करनी होगी। रिफंड कब मिलेगा?", "human"),
    ("hi", "मुझे किसी इंसान से बात करनी होगी॥ रिफंड कब मिलेगा?", "human"),
    ("hinglish", "mujhe kisi insaan se baat karni padegi। refund kab milega?", "human"),
    ("hi", "क्या रिफंड मिलेगा। मुझे डेमो चाहिए", "lead"),
    ("hi", "क्या रिफंड मिलेगा॥ मुझे डेमो चाहिए", "lead"),
    ("hinglish", "kya refund milega। mujhe demo chahiye", "lead"),
    ("ru", "Мне нужен оператор。Когда вы работаете?", "human"),
    ("ru", "Мне нужен оператор，когда вы работаете?", "human"),
    ("ru", "Мне нужен оператор！Когда вы работаете?", "human"),
    # still asked whether one is needed, in the request's own clause or sentence
    ("hinglish", "kya mujhe kisi insaan se baat karni padegi। refund kab milega", "question"),
    ("hi", "क्या मुझे डेमो चाहिए। रिफंड कब मिलेगा", "question"),
    ("ru", "Мне нужен оператор，чтобы отменить заказ？", "question"),
    ("ru", "Нужен ли оператор。", "question"),
]


@pytest.mark.parametrize(
    ("language", "text", "intent"), ROWS, ids=[f"{r[0]}-{i}" for i, r in enumerate(ROWS)]
)
def test_a_pause_of_the_visitors_script_ends_the_requests_clause(
    language: str, text: str, intent: str
) -> None:
    assert detect_intent(text).intent == intent, (language, text)
