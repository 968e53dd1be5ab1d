"""A long message of many numbers too long to call and one phone number
("12345678901234567 12345678901234567 ... call me on +91 ...", up to MAX_MESSAGE_CHARS, which
may be raised to 100,000) is read in time in proportion to it. ``booking_reference`` reduced
the whole message before each run of digits to words, once per run: quadratic (10,000
characters: 190-340 ms of the event loop; 20,000: 615-740 ms; a review's measure, 2 shared cores,
load 5-7).

Counted, not timed: the characters reduced to words for one message."""

from __future__ import annotations

import pytest

from rag.chat import contact_details
from tests.rag.test_bot_identity_linear import _CountingWords


@pytest.mark.parametrize(
    "filler", ["12345678901234567 ", "a 12345678901234567 ", "I want to order 12345678901234567 "]
)
@pytest.mark.parametrize("length", [2_000, 10_000])
def test_a_message_of_many_numbers_is_read_in_linear_work(
    monkeypatch: pytest.MonkeyPatch, filler: str, length: int
) -> None:
    text = filler * (length // len(filler)) + " call me on +91 98765 43210"
    counting = _CountingWords()
    monkeypatch.setattr(contact_details, "_words", counting)
    contact_details.leaves_a_phone(text)
    contact_details.number_left(f"{text} jo@example.com")
    # Each check reduces the message a few times; before, once per run of digits before the
    # phone number (10,000 characters: about 1,600 times the message).
    assert counting.chars <= 20 * len(text)
