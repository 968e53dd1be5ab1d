"""Text normalisation shared by the FAQ exact match, the response cache keys and the intents, and
the word stems the extractive answerer and the output guard compare."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from functools import lru_cache

import snowballstemmer

# Apostrophes (ASCII and typographic) are dropped so that "what's" and "whats" normalise alike.
_APOSTROPHES = frozenset("'\u2018\u2019\u02bc\u0060\u00b4")
# Kept wherever they appear: they change meaning ("c++", "c#", "a@b.com", "$5", "50%", "r&d").
_ALWAYS_KEEP = frozenset("+#@$%&")
# Kept only between two word characters ("v2.0", "1,000", "10:30", "e-mail", "tcp/ip").
_INFIX_KEEP = frozenset(".,:-/_")
_SPACES = re.compile(r"\s+")
WORD = re.compile(r"\w+", re.UNICODE)
_STEMMER = snowballstemmer.stemmer("english")


def _is_word_char(ch: str) -> bool:
    # Letters, combining marks (needed by Devanagari and friends) and digits.
    return unicodedata.category(ch)[0] in "LMN"


def normalize_question(text: str) -> str:
    """Canonical form of a visitor's question, for exact matching and cache keys.

    NFKC, casefold, apostrophes removed, punctuation and symbols turned into spaces except the
    meaningful ones (``+ # @ $ % &`` and currency signs everywhere; ``. , : - / _`` between two
    word characters), whitespace collapsed, so trailing ``? ! .`` disappear.

    >>> normalize_question("  How do I reset my PASSWORD?? ")
    'how do i reset my password'
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    chars = [ch for ch in folded if ch not in _APOSTROPHES]
    out: list[str] = []
    last = len(chars) - 1
    for i, ch in enumerate(chars):
        if _is_word_char(ch) or ch in _ALWAYS_KEEP or unicodedata.category(ch) == "Sc":
            out.append(ch)
        elif ch in _INFIX_KEEP:
            between = 0 < i < last and _is_word_char(chars[i - 1]) and _is_word_char(chars[i + 1])
            out.append(ch if between else " ")
        else:
            out.append(" ")
    return _SPACES.sub(" ", "".join(out)).strip()


@lru_cache(maxsize=65_536)
def stem(token: str) -> str:
    """The Snowball (Porter2) English stem of a casefolded word, so "refunds"/"refund" and
    "resetting"/"reset" meet. Cached: answers and passages repeat their words."""
    return str(_STEMMER.stemWord(token))


_STOPWORD_TEXT = (
    "a an the and or but if of to in on at by for with from as is are was were be been being "
    "do does did doing have has had i you he she it we they me my your our their this that these "
    "those what which who whom whose when where why how can could should would will shall may "
    "might must not no yes so than then there here about into over under up down out any some "
    "all each more most other such only own same too very just also am its please tell know "
    "want need get"
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
"""Common English function words, which say nothing of what a question is about."""


def content_terms(text: str) -> set[str]:
    """The stems of ``text``'s words of two letters or more, without ``STOPWORDS``: what the
    extractive answerer matches sentences on and retrieval checks passages for."""
    return {
        stem(token)
        for token in WORD.findall(text.casefold())
        if len(token) >= 2 and token not in STOPWORDS
    }


def word_stems(text: str) -> set[str]:
    """The stems of every word of ``text`` (casefolded)."""
    return {stem(token) for token in set(WORD.findall(text.casefold()))}


def visitor_hash(session_id: str, salt: str) -> str:
    """Stable pseudonymous id of a visitor (hex HMAC-SHA256), sent as the OpenAI ``user`` field.

    The same session and salt always give the same value; without the salt it cannot be reversed
    to the session id.
    """
    return hmac.new(salt.encode("utf-8"), session_id.encode("utf-8"), hashlib.sha256).hexdigest()


__all__ = ["WORD", "normalize_question", "stem", "visitor_hash", "word_stems"]
