"""A long message of punctuation or emoji costs what a short one does when its language and
intent are told: each character's Unicode category or name was looked up one by one, three
times a turn (its script, its words, its signs), so 4,000 "¿" took a thousand times the work of
four (about 1 ms against 1 us; 100,000 characters, which MAX_MESSAGE_CHARS allows, 28 ms of the
event loop). Each distinct character is now looked up once, after a pass in C over the text.

The work is counted, not timed: the Python and C functions called, which a lookup per
character multiplies by the message's length."""

from __future__ import annotations

import gc
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rag.chat import courtesy, intents, reply_language
from rag.chat.reply_language import conversation_language


def _calls(work: Callable[[], object]) -> int:
    """How many functions (Python or C) ``work`` calls."""
    seen = 0

    def count(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal seen
        if event in ("call", "c_call"):
            seen += 1

    # A collection during the count would add its finalizers' and callbacks' calls.
    collecting = gc.isenabled()
    gc.disable()
    sys.setprofile(count)
    try:
        work()
    finally:
        sys.setprofile(None)
        if collecting:
            gc.enable()
    return seen


def _told(text: str) -> object:
    reply_language._told.cache_clear()
    courtesy.words.cache_clear()
    return conversation_language(text, [])


def _intent(text: str) -> str:
    courtesy.words.cache_clear()
    return intents.detect_intent(text).intent


@pytest.mark.parametrize("sign", ["¿", "…", "😡", "?!", "¡¿ "])
def test_a_long_message_of_signs_costs_what_a_short_one_does(sign: str) -> None:
    short, long = sign * 4, sign * 4000
    assert _told(short) is _told(long) is None
    assert _intent(long) == _intent(short)
    # The same functions, whatever the length (a few more for a cache the short one fills).
    assert _calls(lambda: _told(long)) <= _calls(lambda: _told(short)) + 10
    assert _calls(lambda: _intent(long)) <= _calls(lambda: _intent(short)) + 10


def test_a_long_word_of_one_letter_looks_up_its_letter_once() -> None:
    short, long = "ß" * 4, "ß" * 4000
    # A lookup per letter would be thousands of calls more; a cache filled once a few.
    assert (
        _calls(lambda: reply_language._script(long))
        <= _calls(lambda: reply_language._script(short)) + 10
    )
    assert (
        _calls(lambda: courtesy._unicode_words(long, fold=True))
        <= _calls(lambda: courtesy._unicode_words(short, fold=True)) + 10
    )


# What each helper did character by character: the new ones must give the same.
def _script_one_by_one(text: str) -> str | None:
    counts: Counter[str] = Counter()
    for ch in text:
        if not ch.isalpha():
            continue
        name = unicodedata.name(ch, "")
        scripts = reply_language._SCRIPTS
        counts[next((lang for prefix, lang in scripts if name.startswith(prefix)), "other")] += 1
    if not counts:
        return None
    if counts["ja"] and counts["zh"]:
        counts["ja"] += counts.pop("zh")
    return counts.most_common(1)[0][0]


def _words_one_by_one(text: str, *, fold: bool) -> str:
    folded = unicodedata.normalize("NFKC", text)
    folded = (folded.casefold() if fold else folded).translate(courtesy._APOSTROPHES)
    chars = [ch if unicodedata.category(ch)[0] in "LMN" else " " for ch in folded]
    return " ".join("".join(chars).split())


MIXED = st.text(
    alphabet=st.sampled_from(
        list("aßé¿?!. ,'\u2019😡👍🏽\ufe0f\u200bदेवनागरी\u0430\u0431\u0432\u0433")
        + list("\u0627\u0633\u0644\u0627\u0645日本語ひらがなカタカナ漢字한글ไทย\u0661\u06623")
    ),
    max_size=60,
)


@given(MIXED)
def test_the_script_is_what_it_was(text: str) -> None:
    assert reply_language._script_by_names(text) == _script_one_by_one(text)


@given(MIXED | st.text(max_size=40))
def test_the_words_are_what_they_were(text: str) -> None:
    for fold in (True, False):
        assert courtesy._unicode_words(text, fold=fold) == _words_one_by_one(text, fold=fold)


@given(MIXED)
def test_the_intent_of_a_wordless_message_is_what_it_was(text: str) -> None:
    if not courtesy.words(text):
        signs = {
            ch
            for ch in text
            if not ch.isspace()
            and unicodedata.category(ch)[0] not in "PMC"
            and ch not in "\ufe0f"
            and not "\U0001f3fb" <= ch <= "\U0001f3ff"
        }
        result = intents._wordless(text)
        if signs and signs <= intents.THANKS_EMOJI | intents.GREETING_EMOJI:
            assert result.intent in ("thanks", "greeting")
        elif signs and ("?" in text or "\uff1f" in text):
            assert result.intent == "question"
        else:
            assert result.intent == "unclear"
