"""Asking whether a bot answers, many times in one message ("أتكلم مع موظف ? " repeated up to
the message limit), is read in time in proportion to the message. Each question of the run
reduced the whole rest of the message again (its words, its courtesy, the question), once per
question: quadratic (2,000 characters: 64-117 ms of the event loop; 4,000: 243-393 ms).

Counted, not timed: the characters reduced to words for one message."""

from __future__ import annotations

import pytest

from rag.chat import bot_identity
from rag.chat.courtesy import words
from rag.chat.intents import detect_intent


class _CountingWords:
    """``words``, counting the characters it is given."""

    def __init__(self) -> None:
        self.chars = 0

    def __call__(self, text: str, *, fold: bool = True) -> str:
        self.chars += len(text)
        return words(text, fold=fold)


@pytest.mark.parametrize(
    "sentence", ["أتكلم مع موظف ? ", "are you a bot? ", "Bist du ein Bot?\n", "kya aap bot ho? "]
)
@pytest.mark.parametrize("length", [2_000, 8_000])
def test_a_run_of_bot_questions_is_read_in_linear_work(
    monkeypatch: pytest.MonkeyPatch, sentence: str, length: int
) -> None:
    text = sentence * (length // len(sentence))  # whole questions, about ``length``
    counting = _CountingWords()
    monkeypatch.setattr(bot_identity, "words", counting)
    bot_identity._split.cache_clear()
    assert bot_identity.asks_only_if_a_bot(text)
    assert bot_identity.identity_then_question(text) is None
    # Each sentence is reduced a few times (alone, with its neighbours, in a few rests); before,
    # once per question before it (8,000 characters: about 500 times the message).
    assert counting.chars <= 40 * length


# A question of more than three sentences (what ``_cut`` reads) ends the message: only a rest
# read whole finds it one question. Before, past the eighth question no rest was read whole
# but the last, "or... a real... human?", a request for a person: handed off.
LONG_LAST = "are you a bot? or... a real... human?"


@pytest.mark.parametrize("before", [1, 8, 9, 40, 400])
@pytest.mark.parametrize(
    ("last", "only"),
    [
        (LONG_LAST, True),
        ("are you a bot? what are your opening hours?", False),
        ("are you a bot? or... a real... human? what are your opening hours?", False),
    ],
)
def test_where_a_question_stands_in_a_run_does_not_change_the_verdict(
    monkeypatch: pytest.MonkeyPatch, before: int, last: str, only: bool
) -> None:
    text = "are you a bot? " * before + last
    bot_identity._split.cache_clear()
    verdict = (bot_identity.asks_only_if_a_bot(text), bot_identity.identity_then_question(text))
    assert verdict[0] is only, text
    assert (detect_intent(text).intent == "bot_identity") is only
    monkeypatch.setattr(bot_identity, "_RESTS_READ", 10**9)  # every rest read whole
    bot_identity._split.cache_clear()
    uncapped = (bot_identity.asks_only_if_a_bot(text), bot_identity.identity_then_question(text))
    assert verdict == uncapped


def test_a_long_last_question_after_a_long_run_is_read_in_linear_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = "are you a bot? " * 530 + LONG_LAST + " what are your opening hours?"  # ~8,000
    counting = _CountingWords()
    monkeypatch.setattr(bot_identity, "words", counting)
    bot_identity._split.cache_clear()
    assert not bot_identity.asks_only_if_a_bot(text)
    assert counting.chars <= 40 * len(text)
