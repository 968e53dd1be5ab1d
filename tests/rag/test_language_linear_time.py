"""Telling a visitor's language takes time in proportion to the message, whatever it holds.

The addresses in a message were left out with ``\\S+@\\S+``, which the regex engine tried from
every character of a run without a space and scanned to the run's end each time: quadratic. A
visitor's lead form (``message`` up to 5,000 characters) of one letter repeated held the
server's event loop about a second per request, every workspace's visitors waiting; a chat
message too, the longer MAX_MESSAGE_CHARS (up to 100,000) the worse (8,000 characters: 2.4 s).
"""

from __future__ import annotations

import json
import re

import pytest

from rag.chat.reply_language import conversation_language, without_addresses
from tests.bounded_child import run_bounded
from tests.conftest import ROOT

_LONG = (
    "import json, sys\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "from rag.chat.reply_language import conversation_language\n"
    "from rag.chat.lead_thanks import language_of\n"
    "runs = ['\\u00df' * 40_000, 'a' * 40_000, 'x@' + 'a' * 40_000, 'Danke ' + 'e' * 40_000]\n"
    "print(json.dumps([conversation_language(r, []) for r in runs] + [language_of(runs[0], [])]))\n"
)


def test_a_long_run_without_spaces_is_told_in_linear_time() -> None:
    """A time bound, on purpose: before, most of these took half a minute or more each (40,000
    ``ß``: about 45 s; the five, two minutes); now well under a second each, so 60 s cannot be
    missed by a slow machine, only by a quadratic pass. In a process of its own, so a
    regression fails this test instead of holding the suite (a regex cannot be interrupted)."""
    printed = run_bounded(
        _LONG,
        str(ROOT),
        seconds=60,
        too_slow="telling the language of 40,000 characters took over 60 s: not linear",
    )
    # "Danke" is German thanks: the courtesy word tells the language.
    assert json.loads(printed) == [None, None, None, "de", None]


_OLD = re.compile(r"\S+@\S+")


@pytest.mark.parametrize(
    "text",
    [
        "write to max@beispiel.de bitte",
        "max@beispiel.de",
        "@handle on twitter",
        "at the end@",
        "a@b@ and c@d",
        "two  spaces\tand\na@b.c line",
        "x@y",
        "@",
        "@@",
        "a@",
        "no address here",
        "",
        "mail: \u00e9l\u00e8ve@\u00e9cole.fr, merci",
    ],
)
def test_addresses_are_left_out_as_before(text: str) -> None:
    """What the old pattern took out (a run holding an ``@`` with a character on each side of
    it), the new pass takes out, and nothing else."""
    assert without_addresses(text) == _OLD.sub(" ", text)


@pytest.mark.parametrize(
    ("message", "language"),
    [
        ("Ich möchte mit einem Menschen sprechen, max@beispiel.de", "de"),
        ("Quiero hablar con una persona: ana@ejemplo.es", "es"),
    ],
)
def test_a_message_with_an_address_is_told_by_its_words(message: str, language: str) -> None:
    assert conversation_language(message, []) == language
