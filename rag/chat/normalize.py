"""Text normalisation shared by the FAQ exact match, the response cache keys and the intents, and
the word stems the extractive answerer and the output guard compare."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import unicodedata

from core.stems import LONGEST_CACHED_WORD, STOPWORDS, cached_stem, fold, stem
from core.text import short_text_cache

# Apostrophes (ASCII and typographic) are dropped so that "what's" and "whats" normalise alike.
_APOSTROPHES = frozenset("'\u2018\u2019\u02bc\u0060\u00b4")
# Kept wherever they appear: they change meaning ("c++", "c#", "a@b.com", "$5", "50%", "r&d").
_ALWAYS_KEEP = frozenset("+#@$%&")
# Kept only between two word characters ("v2.0", "1,000", "10:30", "e-mail", "tcp/ip").
_INFIX_KEEP = frozenset(".,:-/_")
# Kept before a digit as well: a minus sign or a leading decimal point ("-40", ".5").
_NUMBER_PREFIX = frozenset("-.")
# Dropped: emoji variation selectors, which only choose a glyph's style.
_INVISIBLE = frozenset("\ufe0e\ufe0f")
KEY_VERSION = 2
"""Version of ``normalize_question``'s keys (FAQ lookups, response-cache keys): 2 keeps math
signs, a number's sign and emoji, and folds accents. Stored keys of an older version are
recomputed by a migration (0023); the cache's version carries it, so old entries retire."""
_SPACES = re.compile(r"\s+")
WORD = re.compile(r"\w+", re.UNICODE)
# Han, Hiragana and Katakana: written without spaces, so a run of them is no word.
_CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


_JOINERS = frozenset("\u200c\u200d")  # ZWNJ, ZWJ: spelling in Indic scripts, emoji sequences
_UNSEEN = frozenset({"Cf", "Co", "Cn"})


def hides_text(text: str) -> bool:
    """``text`` holds characters no reader sees and ``normalize_question`` drops, but a model
    reads: format characters other than the joiners (Unicode tag characters spelling out an
    instruction, zero-width spaces, direction overrides), private-use and unassigned code
    points. An answer to such a message is not the answer to its key's question: it is never
    cached (``Turn.cacheable``)."""
    if text.isascii():  # no ASCII character is of those categories
        return False
    return any(ch not in _JOINERS and unicodedata.category(ch) in _UNSEEN for ch in text)


def _is_word_char(ch: str) -> bool:
    # Letters, combining marks (needed by Devanagari and friends) and digits.
    return unicodedata.category(ch)[0] in "LMN"


# Math signs that compare or compute: "orders < $50" is not "orders > $50".
_MATH_SIGNS = frozenset("<>=\u2260\u2264\u2265\u2248\u00b1\u00d7\u00f7")
# Symbols from here on (Miscellaneous Symbols, Dingbats, the emoji planes...) are emoji: "🍕" is
# not "🍔". Below it, "™", "®", "©", "°", "|" or an arrow change no question and are dropped:
# "TrulyBot™ pricing" is "TrulyBot pricing".
_EMOJI_FROM = "\u2600"
# "™" and "℠" go before NFKC, which would make them letters ("TrulyBot™" -> "trulybottm").
_TRADEMARKS = str.maketrans("", "", "\u2122\u2120")


def is_sign(ch: str) -> bool:
    """A sign that is a token of its own in a question's key: a math sign that compares or
    computes (``< > = ≠ ≤ ≥ ≈ ±``, times and divided by) or an emoji (a symbol from U+2600 on:
    "🍕", "❤")."""
    return ch in _MATH_SIGNS or (ch >= _EMOJI_FROM and unicodedata.category(ch) == "So")


def normalize_question(text: str) -> str:
    """Canonical form of a visitor's question, for exact matching and cache keys.

    ``fold`` (NFKC, casefold, Latin and Greek accents dropped), apostrophes removed, punctuation
    turned into spaces except the meaningful signs (``+ # @ $ % &`` and currency signs everywhere;
    ``. , : - / _`` between two word characters; ``-`` and ``.`` before a digit), the math
    signs that compare or compute and emoji kept as tokens of their own (``is_sign``; other
    symbols such as ``™ © ° |`` dropped), whitespace collapsed, so trailing ``? ! .`` disappear.

    >>> normalize_question("  How do I reset my PASSWORD?? ")
    'how do i reset my password'
    >>> normalize_question("Orders >$50 at -40°C? 🍕")
    'orders > $50 at -40 c 🍕'
    """
    chars = [
        "-" if ch == "\u2212" else ch
        for ch in fold(text.translate(_TRADEMARKS))
        if ch not in _APOSTROPHES and ch not in _INVISIBLE
    ]
    out: list[str] = []
    last = len(chars) - 1
    for i, ch in enumerate(chars):
        if _is_word_char(ch) or ch in _ALWAYS_KEEP or unicodedata.category(ch) == "Sc":
            out.append(ch)
        elif ch in _INFIX_KEEP:
            between = 0 < i < last and _is_word_char(chars[i - 1]) and _is_word_char(chars[i + 1])
            signed = ch in _NUMBER_PREFIX and i < last and chars[i + 1].isdigit()
            out.append(ch if between or signed else " ")
        elif is_sign(ch):
            out.append(f" {ch} ")
        else:
            out.append(" ")
    return _SPACES.sub(" ", "".join(out)).strip()


def terms(text: str) -> list[str]:
    """``text``'s words (``fold``ed), with each run of Chinese or Japanese characters, which
    has no spaces to split on, as its character bigrams ("退款需要" -> "退款", "款需", "需要"; a
    lone character is its own term)."""
    out: list[str] = []
    for token in WORD.findall(fold(text)):
        if not _CJK_RUN.search(token):
            out.append(token)
            continue
        start = 0
        for run in _CJK_RUN.finditer(token):
            if run.start() > start:
                out.append(token[start : run.start()])
            chars = run.group(0)
            out.extend([a + b for a, b in itertools.pairwise(chars)] or [chars])
            start = run.end()
        if start < len(token):
            out.append(token[start:])
    return out


@short_text_cache(512, longest=2000)  # a passage with its title and headings
def content_terms(text: str) -> frozenset[str]:
    """The stems of ``text``'s ``terms`` of two letters or more, without ``STOPWORDS``: what
    the extractive answerer matches sentences on and retrieval checks passages for. Cached:
    the same passages come back turn after turn."""
    return frozenset(
        {stem(token) for token in terms(text) if len(token) >= 2 and token not in STOPWORDS}
    )


def word_stems(text: str) -> set[str]:
    """The stems of every word of ``text`` (casefolded)."""
    return {stem(token) for token in set(WORD.findall(text.casefold()))}


def visitor_hash(session_id: str, salt: str) -> str:
    """Stable pseudonymous id of a visitor (hex HMAC-SHA256), sent as the OpenAI ``user`` field.

    The same session and salt always give the same value; without the salt it cannot be reversed
    to the session id. The salt (the server's JWT secret) is not the HMAC key itself but what it
    derives for this one use: the visitor chooses the session id and the model's endpoint sees
    the result, which must be no signature the secret makes elsewhere (an unsubscribe link's).
    """
    key = hmac.new(salt.encode("utf-8"), _VISITOR_ID_PURPOSE, hashlib.sha256).digest()
    return hmac.new(key, session_id.encode("utf-8"), hashlib.sha256).hexdigest()


_VISITOR_ID_PURPOSE = b"trulybot visitor id for the model"


__all__ = [
    "KEY_VERSION",
    "LONGEST_CACHED_WORD",
    "STOPWORDS",
    "WORD",
    "cached_stem",
    "content_terms",
    "fold",
    "is_sign",
    "normalize_question",
    "stem",
    "terms",
    "visitor_hash",
    "word_stems",
]
