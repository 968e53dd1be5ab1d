"""A message of numbers offered one after another as the visitor's ("my number is A or B or B
..." up to MAX_MESSAGE_CHARS, which may be raised to 100,000) is read in time in proportion to
it. ``call_phrases.or_numbers`` read the whole message's digits again for each number offered:
quadratic (4,000 characters: 1.5 s of the event loop for one reading of the intent; a review's
measure, 2 shared cores).

Counted, not timed: the characters whose digit is read for one message."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest

from rag.chat import call_phrases
from rag.chat.contact_details import contact_phone


class _CountingDigits:
    """``unicodedata`` for ``call_phrases``, counting the characters whose digit it reads."""

    def __init__(self) -> None:
        self.reads = 0

    def decimal(self, ch: str, *default: int) -> int:
        self.reads += 1
        return unicodedata.decimal(ch, *default)

    def __getattr__(self, name: str) -> Any:
        return getattr(unicodedata, name)


@pytest.mark.parametrize(
    "message", ["my number is 98765 43210{rest}", "call me on 98765 43210{rest}"]
)
@pytest.mark.parametrize("other", [" or 98765 43211", ", or on my other number 98765 43211"])
@pytest.mark.parametrize("length", [2_000, 8_000])
def test_numbers_offered_one_after_another_are_read_in_linear_work(
    monkeypatch: pytest.MonkeyPatch, message: str, other: str, length: int
) -> None:
    text = message.format(rest=other * (length // len(other)))
    counting = _CountingDigits()
    monkeypatch.setattr(call_phrases, "unicodedata", counting)
    assert contact_phone(text) == "98765 43210"
    # Each check reads the message's digits a few times; before, once per number offered
    # (8,000 characters: about 1,100 times the message's digits).
    assert counting.reads <= 20 * len(text)
