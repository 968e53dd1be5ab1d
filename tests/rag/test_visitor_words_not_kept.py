"""What a visitor types is not kept in the process's caches when it is long.

The stems of words (``normalize.stem``), a question's words for the match guard
(``match_guard.words``) and the owners' normalised questions were each kept in an LRU cache of
thousands of entries whatever their length. A visitor's message of one long "word" (1,900
letters: a single ``\\w+`` run) was stemmed by the extractive answer and the relevance check and
kept: about 7 KB a message in Deseret letters (4 bytes each in a ``str``), half a gigabyte per API
process once the 65,536 entries were full, never given back. A long word or text is now worked
out each time; short ones are still cached.
"""

from __future__ import annotations

import secrets
import string

import httpx

from api.runtime import Runtime
from rag.chat import match_guard
from rag.chat.conversations import _normalized
from rag.chat.normalize import cached_stem, stem
from tests.conftest import Owner
from tests.rag.test_answers import REFUNDS, ingest
from tests.rag.test_chat import chat


def _long_word(length: int) -> str:
    """Letters no other test sends: a word of ``length`` characters, new each time."""
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(length))


async def test_a_visitors_long_word_is_not_kept_by_the_stem_cache(
    client: httpx.AsyncClient, owner: Owner, runtime: Runtime
) -> None:
    await ingest(client, owner, runtime, "Refunds", REFUNDS)
    word = _long_word(1_800)
    asked = await chat(
        client, owner, f"Can yearly plans be refunded within 30 days of purchase {word}"
    )
    assert asked.status_code == 200, asked.text
    assert asked.json()["source"] == "rag", asked.text  # the passages were read for the word
    kept = cached_stem.cache_info()
    assert stem(word) == stem(word)
    assert cached_stem.cache_info() == kept  # worked out again, neither found nor kept
    stem("refunded")
    hits = cached_stem.cache_info().hits
    stem("refunded")
    assert cached_stem.cache_info().hits == hits + 1  # a word is still cached


def test_a_long_question_is_not_kept_by_the_match_guards_cache() -> None:
    question = "Can yearly plans be refunded " + _long_word(1_500)
    match_guard.words(question)
    hits = match_guard.words.cache_info().hits
    match_guard.words(question)
    assert match_guard.words.cache_info().hits == hits
    short = "Can yearly plans be refunded " + _long_word(8)
    match_guard.words(short)
    hits = match_guard.words.cache_info().hits
    match_guard.words(short)
    assert match_guard.words.cache_info().hits == hits + 1


def test_a_long_question_is_not_kept_by_the_unanswered_pages_cache() -> None:
    question = "Can yearly plans be refunded " + _long_word(1_500)
    _normalized(question)
    hits = _normalized.cache_info().hits
    _normalized(question)
    assert _normalized.cache_info().hits == hits
