"""ASCII messages take shortcuts through the text helpers every turn runs (issue 15: less CPU
per turn); each must give what the general, character-by-character path gives."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from rag.chat import courtesy, normalize, reply_language

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
