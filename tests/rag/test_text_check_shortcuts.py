"""ASCII messages take shortcuts through the text helpers every turn runs, and their results
are cached for short texts (issue 15: less CPU per turn); each must give what the general,
character-by-character path gives, and a long message must not stay in memory."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from core.text import SHORT_TEXT
from rag.chat import bot_identity, courtesy, normalize, reply_language

ASCII = st.text(alphabet=st.characters(max_codepoint=127), max_size=80)
EVERY_ASCII = "".join(chr(i) for i in range(128))


@given(ASCII)
def test_words_of_ascii_text_are_the_general_paths(text: str) -> None:
    for fold in (True, False):
        assert courtesy.words(text, fold=fold) == courtesy._unicode_words(text, fold=fold)


def test_words_of_every_ascii_character() -> None:
    for text in (EVERY_ASCII, " ".join(EVERY_ASCII), "Don't `quote` me, it's 9-5 A.M.!"):
        for fold in (True, False):
            assert courtesy.words(text, fold=fold) == courtesy._unicode_words(text, fold=fold)


@given(ASCII)
def test_script_of_ascii_text_is_the_general_paths(text: str) -> None:
    assert reply_language._script(text) == reply_language._script_by_names(text)


def test_no_ascii_character_hides_text() -> None:
    assert not normalize.hides_text(EVERY_ASCII)
    assert not any(unicodedata.category(ch) in normalize._UNSEEN for ch in EVERY_ASCII)
    assert normalize.hides_text("refund\u200b policy")  # a zero-width space still does


def test_content_terms_cached_are_the_same_terms() -> None:
    text = "Refunds are issued within 14 days; Resetting passwords takes a minute."
    first = normalize.content_terms(text)
    assert first == {"refund", "issu", "within", "14", "day", "reset", "password", "take", "minut"}
    assert normalize.content_terms(text) == first


def test_a_long_message_is_worked_out_but_not_kept() -> None:
    """MAX_MESSAGE_CHARS may allow 100,000 characters: such a message is not cached (its short
    sentences may be), so the caches stay small whatever visitors send."""
    long = "Do students get a discount? " * (SHORT_TEXT // 5)
    checks = [
        (courtesy.words, courtesy._unicode_words(long, fold=True)),
        (reply_language._told, "en"),
        (bot_identity._split, None),
        (normalize.content_terms, frozenset({"student", "discount"})),
    ]
    for helper, expected in checks:
        assert len(long) > helper.longest >= SHORT_TEXT
        helper.cache_clear()
        assert helper(long) == expected
        assert helper.cache_info().currsize == 0
    short = "Do students get a discount?"
    courtesy.words.cache_clear()
    assert courtesy.words(short) == courtesy.words(short) == "do students get a discount"
    assert courtesy.words.cache_info().hits == 1
