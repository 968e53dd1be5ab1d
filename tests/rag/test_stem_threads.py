"""``core.stems.stem`` from several threads at once: each thread gets its own word's stem.

Ingestion computes a document's BM25 terms in a thread (``jobs._terms_of`` through
``asyncio.to_thread``, while the model embeds) while other documents' jobs do the same and the
event loop stems questions. ``stem`` used one module-level Snowball stemmer, a pure-Python
object that keeps the word being stemmed in its own attributes (``current``, ``cursor``,
``limit``); two threads in it at once read each other's word (now each thread has its own
stemmer): ``bench.search_http`` at RETRIEVAL_LEXICAL_WEIGHT=0.3 lost
``library/urllib.parse.html`` to "IndexError: string index out of range" (docs/retrieval.md,
fourteenth session through the real path), and a race that raises nothing returns another
word's stem, which would be stored as a chunk's term.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest
import snowballstemmer

from core import stems

THREADS = 6
WORDS = 3_000


def _words(seed: int) -> list[str]:
    """Distinct words longer than the stem cache keeps (each is stemmed, never looked up),
    different in every thread."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    suffixes = ("ing", "ations", "ness", "fully", "ies", "ed", "ational", "ly")
    pad = "x" * (stems.LONGEST_CACHED_WORD + 1)
    out = []
    for i in range(WORDS):
        stem_part = "".join(letters[(seed * 7 + i // 26**k) % 26] for k in range(3))
        out.append(f"{pad}{letters[seed]}{stem_part}{i}{suffixes[i % len(suffixes)]}")
    return out


@pytest.fixture
def fast_switches() -> Iterator[None]:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads interleave often, as under load
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def test_stem_gives_each_thread_its_own_words_stem(fast_switches: None) -> None:
    reference = snowballstemmer.stemmer("english")  # private, used by this thread alone
    lists = [_words(seed) for seed in range(THREADS)]
    expected = [[str(reference.stemWord(w)) for w in words] for words in lists]
    got: list[list[str] | BaseException | None] = [None] * THREADS
    start = threading.Barrier(THREADS)

    def work(i: int) -> None:
        start.wait()
        try:
            got[i] = [stems.stem(w) for w in lists[i]]
        except BaseException as exc:  # the race's IndexError counts as a wrong result
            got[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == expected
