"""``Lexicon.found`` runs on every visitor message (intent detection asks for a person and for
a demo or quote in each language; issue 15: CPU per turn). A message with no phrase of any
language, which most are, is read by the lexicon's one pattern, not by each language's; the
phrases found are the ones each language's pattern finds."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from rag.chat import bot_identity, human_languages, lead_languages
from rag.chat.courtesy import Lexicon, words

LEXICONS: dict[str, Lexicon] = {
    "person": human_languages._LEXICON,
    "sales": lead_languages.SALES_ELSEWHERE,
    "bot": bot_identity._LEXICON,
}


class _Counting:
    """A language's pattern that counts the scans asked of it."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self.scans = 0

    def finditer(self, text: str) -> Any:
        self.scans += 1
        return self.pattern.finditer(text)


def _each_language(lexicon: Lexicon, reduced: str) -> list[tuple[str, tuple[int, int]]]:
    """What ``found`` gave before: every language's pattern run over the text."""
    return [
        (language, match.span())
        for language, pattern in lexicon._each.items()
        for match in pattern.finditer(reduced)
    ]


def test_a_message_with_no_phrase_is_read_once() -> None:
    message = words("Hi! Do students get a discount on Acme Cloud Backup plans? Reference 83-J.")
    for name, lexicon in LEXICONS.items():
        counting: Any = Lexicon({})
        counting.pattern = lexicon.pattern
        counting._each = {lang: _Counting(p) for lang, p in lexicon._each.items()}
        assert list(counting.found(message)) == [], name
        assert sum(c.scans for c in counting._each.values()) == 0, name


PHRASES = [
    "ich möchte eine demo buchen",
    "kann ich ein angebot für 50 nutzer bekommen",
    "quiero hablar con una persona",
    "je voudrais parler à un humain",
    "posso falar com um atendente",
    "vorrei parlare con un operatore",
    "sind sie ein bot",
    "eres un robot",
    "no quiero una demo",
    "what is the refund policy",
    "reference 8371 j",
]
TEXT = st.lists(st.sampled_from(PHRASES), min_size=1, max_size=3).map(" ".join)


@given(TEXT)
def test_the_phrases_found_are_each_languages(text: str) -> None:
    reduced = words(text)
    for lexicon in LEXICONS.values():
        found = [(language, match.span()) for language, match in lexicon.found(reduced)]
        assert found == _each_language(lexicon, reduced)


def test_the_phrases_are_found() -> None:  # the property above is not vacuous
    assert list(human_languages._LEXICON.found(words("Quiero hablar con una persona")))
    assert list(lead_languages.SALES_ELSEWHERE.found(words("Ich möchte eine Demo buchen")))
