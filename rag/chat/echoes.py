"""What keeps one visitor's words out of the response cache: a model's answer that repeats
something of the visitor's message the passages do not hold is theirs alone.

The semantic cache gives an answer to whoever asks almost the same question, and a name or an
account number barely moves a question's embedding ("...? Regards, Priya" and "...? Regards,
Rahul" are 0.99 apart with MiniLM). So a model's answer is not cached when it repeats a word of
the visitor's message that is neither in the passages it was written from nor a common word:
a name however it is typed ("Thanks, Priya", "regards, priya", "hi im jo", "王小明" inside a run
of Chinese: in a script written without spaces, character bigrams are compared), a number, an
address. Names are not guessed from capital letters (a reviewer's finding: "Regards, Priya" and
every lowercase name passed); the rule errs toward not caching, an answer in the passages' own
words ("get your money back": ordinary words the passages or the stopwords cover) is cached.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.text import short_text_cache
from rag.chat.courtesy import ACKNOWLEDGEMENTS, FILLER
from rag.chat.normalize import STOPWORDS, stem, terms
from rag.chat.prompts import Passage

# Courtesy a model answers in kind ("Hi! ...", "Thanks for asking"): no visitor's own.
_COURTESY_WORDS = frozenset(
    {"hi", "hello", "hey", "thanks", "thank", "regards", "cheers", "greetings", "welcome"}
    | {"good", "morning", "afternoon", "evening", "kind", "best", "sorry", "hope"}
)
COMMON = STOPWORDS | FILLER | ACKNOWLEDGEMENTS | _COURTESY_WORDS
"""Words an answer may share with the visitor's message without repeating anything of theirs."""

# A capitalized word inside a sentence: "Thanks, Will", "Hi May" (common words that are names).
_NAMED = re.compile(r"(?<=[^\s.!?]\s)\w+")


# Characters that glue words together in Chinese (particles, pronouns, "is", question words)
# and Japanese (any hiragana: particles, endings): ``_across_an_edge``.
_CJK_GLUE = frozenset(
    "的了吗呢吧啊呀么是们我你您他她它这那哪什怎些个几多少在和与及或就都也很到从给对把被有请问"
)
_HIRAGANA = re.compile(r"[\u3040-\u309f]")


def _across_an_edge(word: str, passages: Sequence[Passage]) -> bool:
    """A pair of Chinese or Japanese characters across a word's edge: one of them glue
    (``_CJK_GLUE``, any hiragana) and the other in the passages ("政策是什么" gives "策是", "政策"
    being the passages'). An answer repeating the question's phrasing ("运费是多少" answered
    "运费是10元") repeats no word of the visitor's, yet such pairs kept nearly every such
    answer out of the cache (a reviewer's finding: six of six realistic ones). A name holding
    a glue character ("张和平") still counts: its other characters are not the passages'."""
    rest = [ch for ch in word if ch not in _CJK_GLUE and not _HIRAGANA.match(ch)]
    if len(word) != 2 or len(rest) == 2:
        return False
    return all(any(ch in p.text for p in passages) for ch in rest)


def _own_words(message: str) -> set[str]:
    """The message's words of two characters or more, folded (``terms``: a run of Chinese or
    Japanese characters is its character bigrams). A whole run was one word: "谢谢" + "王小明"
    (thanks, Wang Xiaoming) answered "王小明您好" shared no word with it, and the answer
    naming the visitor was cached for others (a red-team's finding)."""
    return {w for w in terms(message) if len(w) >= 2}


def _named(text: str) -> set[str]:
    """Capitalized words inside a sentence (not its first), casefolded."""
    return {m.group(0).casefold() for m in _NAMED.finditer(text) if m.group(0)[0].isupper()}


@short_text_cache(512, longest=2000)  # a passage with its title and headings
def _passage_stems(text: str) -> frozenset[str]:
    """The stems of a passage's words. Cached: the same passages come back turn after turn, and
    stemming every word of five of them was about 0.25 ms of each answered turn."""
    return frozenset(stem(w) for w in _own_words(text))


def echoes_the_visitor(answer: str, message: str, passages: Sequence[Passage]) -> bool:
    """The answer repeats a word of the visitor's message that no passage holds and that is no
    common word (``COMMON``), compared by stem ("Priya's" repeats "priya"); or a common word
    the visitor capitalized as a name inside a sentence and the answer capitalizes too
    ("Regards, Will" answered "Hi Will!"). Such an answer is this visitor's, so it is not
    cached for others."""
    answered = {stem(w) for w in _own_words(answer)}
    known: list[frozenset[str]] | None = None  # the passages' stems, once a turn at most
    for word in _own_words(message):
        s = stem(word)
        if word in COMMON or s not in answered:
            continue
        if known is None:  # a passage longer than the cache keeps is stemmed here, once
            known = [_passage_stems(p.text) for p in passages]
        if not any(s in stems for stems in known) and not _across_an_edge(word, passages):
            return True
    return bool(_named(message) & _named(answer) & COMMON)


__all__ = ["COMMON", "echoes_the_visitor"]
