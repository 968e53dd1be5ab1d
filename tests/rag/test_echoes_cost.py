"""``echoes_the_visitor`` runs on every answer a model wrote (issue 15: CPU per turn). The
same passages come back turn after turn, so their words are stemmed once, not on every turn;
the verdict stays the one the whole-set rule gives."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rag.chat import echoes
from rag.chat.echoes import COMMON, echoes_the_visitor
from rag.chat.normalize import stem
from rag.chat.prompts import Passage

PASSAGES = [
    Passage(1, 1, 1, "Refunds", None, None, "Refunds are made within 30 days of purchase.", 0.6),
    Passage(2, 2, 2, "Plans", None, None, "A yearly plan may be cancelled in month one.", 0.5),
]


def _by_the_rule(answer: str, message: str, passages: list[Passage]) -> bool:
    """The rule as written before the passages' stems were kept: every set built whole."""
    answered = {stem(w) for w in echoes._own_words(answer)}
    known = {stem(w) for p in passages for w in echoes._own_words(p.text)}
    for word in echoes._own_words(message):
        s = stem(word)
        if word not in COMMON and s not in known and s in answered:
            return True
    return bool(echoes._named(message) & echoes._named(answer) & COMMON)


def test_the_passages_words_are_stemmed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counting(word: str) -> str:
        calls.append(word)
        return stem(word)

    monkeypatch.setattr(echoes, "stem", counting)
    answer, message = "Hi Priya, refunds take 30 days.", "Regards, Priya: how long do refunds take?"
    first = echoes_the_visitor(answer, message, PASSAGES)
    calls.clear()
    assert echoes_the_visitor(answer, message, PASSAGES) is first is True
    # the second turn over the same passages stems the answer's and the message's words only
    own = len(echoes._own_words(answer)) + len(echoes._own_words(message))
    assert len(calls) <= own, calls


WORDS = st.sampled_from(
    [
        *("refund", "refunds", "Priya", "priya's", "plan", "yearly", "Will", "will", "30"),
        *("days", "hi", "regards", "thanks", "month", "cancel", "cancelled", "jo", "A1-77"),
        "the",
    ]
)
TEXT = st.lists(WORDS, max_size=12).map(" ".join)


@given(TEXT, TEXT, st.lists(TEXT, max_size=3))
def test_the_verdict_is_the_rules(answer: str, message: str, texts: list[str]) -> None:
    passages: list[Any] = [Passage(i, i, i, "T", None, None, t, 0.5) for i, t in enumerate(texts)]
    assert echoes_the_visitor(answer, message, passages) == _by_the_rule(answer, message, passages)


def test_a_passage_too_long_to_keep_is_stemmed_once_a_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    """A passage longer than the stems' cache keeps (``longest``) is worked out each time it is
    asked for: asked once per repeated message word, a message repeating the passage's words
    stemmed the passage's words once per word (2,100-character passages: 3.6 ms a turn before
    the cache, 188 ms with it, a review's finding). Once a turn, as before the cache."""
    vocabulary = [f"term{i:03d}x" for i in range(300)]
    text = " ".join(vocabulary)
    assert len(text) > echoes._passage_stems.longest
    long_passages = [Passage(1, 1, 1, "Manual", None, None, text, 0.6)]
    message = " ".join(vocabulary[:100])  # each word in the passage and in the answer
    calls: list[str] = []

    def counting(word: str) -> str:
        calls.append(word)
        return stem(word)

    monkeypatch.setattr(echoes, "stem", counting)
    assert echoes_the_visitor(message, message, long_passages) is False
    own = 2 * len(echoes._own_words(message)) + len(echoes._own_words(text))
    assert len(calls) <= own, len(calls)
