"""Words as every text matcher sees them: ``fold`` (NFKC, casefold, Latin and Greek accents
dropped), ``stem`` (Snowball English, cached) and the English ``STOPWORDS``. Shared by the chat's
normalisation (``rag.chat.normalize`` re-exports them) and the lexical ranking of retrieval
(``rag.knowledge.lexical``), which may not import ``rag.chat``."""

from __future__ import annotations

import threading
import unicodedata
from functools import lru_cache

import snowballstemmer

_LOCAL = threading.local()
# Scripts whose accents are folded away ("café" is "cafe"); elsewhere (Devanagari, Arabic...)
# combining marks are vowels and stay.
_FOLDED_SCRIPTS = ("LATIN", "GREEK")


@lru_cache(maxsize=4096)
def _folds(base: str) -> bool:
    return unicodedata.name(base, "").startswith(_FOLDED_SCRIPTS)


def fold(text: str) -> str:
    """NFKC, casefold, and the accents of Latin and Greek letters dropped ("Café" -> "cafe",
    "İ" -> "i"); other scripts' combining marks are kept."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    if folded.isascii():
        return folded
    out: list[str] = []
    base = ""
    for ch in unicodedata.normalize("NFD", folded):
        if unicodedata.category(ch) == "Mn":
            if base and _folds(base):
                continue
        else:
            base = ch
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


LONGEST_CACHED_WORD = 64
"""The longest word ``stem`` keeps in its cache: a visitor's "word" of 1,900 letters (one run
without spaces or punctuation) was kept too, about 7 KB each: half a gigabyte per process once
65,536 were."""


def stem(token: str) -> str:
    """The Snowball (Porter2) English stem of a casefolded word, so "refunds"/"refund" and
    "resetting"/"reset" meet. Cached (``cached_stem``): answers and passages repeat their
    words; a word longer than ``LONGEST_CACHED_WORD`` is stemmed each time."""
    if len(token) > LONGEST_CACHED_WORD:
        return _stemmed(token)
    return cached_stem(token)


@lru_cache(maxsize=65_536)
def cached_stem(token: str) -> str:
    """``stem`` of a word, kept (a plain LRU cache: ``stem`` runs thousands of times a turn)."""
    return _stemmed(token)


def _stemmed(token: str) -> str:
    """The word stemmed by this thread's own Snowball stemmer: the pure-Python stemmer keeps
    the word it is working on in its attributes, so one shared by threads (ingestion computes
    terms in worker threads while the event loop stems questions) returned other words' stems
    or raised IndexError (tests/rag/test_stem_threads.py)."""
    stemmer = getattr(_LOCAL, "stemmer", None)
    if stemmer is None:
        stemmer = _LOCAL.stemmer = snowballstemmer.stemmer("english")
    return str(stemmer.stemWord(token))


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
