"""Every canned reply in every language, pinned: ``translated`` for each (reply, language), the
languages each reply has, and the composed replies (don't-know, lead, unavailable, a removal
of the visitor's details asked) for each of their options, against
tests/rag/canned_replies.json. Moving the table around (rag/chat/translations/) must leave
every text as it was; a deliberate change of a reply changes the JSON file in the same
commit."""

from __future__ import annotations

import json
from itertools import product
from pathlib import Path
from typing import Any, get_args

from rag.chat.reply_language import Language
from rag.chat.translations import (
    Reply,
    dont_know_reply,
    erasure_reply,
    languages,
    lead_reply,
    translated,
    unavailable_reply,
)

PINNED = Path(__file__).with_name("canned_replies.json")
# Not a language's word in any of the replies, so a reply that drops its {name} shows.
BOT = "Zyx-7"
LANGUAGES: list[Language | None] = [None, *get_args(Language)]
FLAGS = [False, True]


def _key(language: Language | None) -> str:
    return language or "none"


def current_replies() -> dict[str, Any]:
    """What the code says today, in the JSON file's shape."""
    return {
        "translated": {
            reply: {_key(lang): translated(reply, lang, name=BOT) for lang in LANGUAGES}
            for reply in get_args(Reply)
        },
        "languages": {reply: sorted(languages(reply)) for reply in get_args(Reply)},
        "dont_know_reply": {
            f"{_key(lang)} offer={offer} address_left={left}": dont_know_reply(
                lang, offer_contact=offer, address_left=left
            )
            for lang, offer, left in product(LANGUAGES, FLAGS, FLAGS)
        },
        "lead_reply": {
            f"{_key(lang)} offer={offer} address_left={left} hint={hint}": lead_reply(
                lang, BOT, offer_contact=offer, address_left=left, hint=hint
            )
            for lang, offer, left, hint in product(LANGUAGES, FLAGS, FLAGS, [None, "Call 0123."])
        },
        "unavailable_reply": {
            f"{_key(lang)} offer={offer}": unavailable_reply(lang, offer_contact=offer)
            for lang, offer in product(LANGUAGES, FLAGS)
        },
        "erasure_reply": {
            f"{_key(lang)} hint={hint}" + ("" if typed else " typed=False"): erasure_reply(
                lang, hint, typed=typed
            )
            for lang, hint, typed in product(LANGUAGES, [None, "Call 0123."], FLAGS)
        },
    }


def test_every_reply_in_every_language_is_as_pinned() -> None:
    pinned = json.loads(PINNED.read_text(encoding="utf-8"))
    current = current_replies()
    for section, texts in pinned.items():
        assert current[section] == texts, section
    assert current.keys() == pinned.keys()


def test_the_pinned_file_covers_every_reply_and_language() -> None:
    pinned = json.loads(PINNED.read_text(encoding="utf-8"))
    assert set(pinned["translated"]) == set(get_args(Reply))
    for reply, texts in pinned["translated"].items():
        assert set(texts) == {_key(lang) for lang in LANGUAGES}, reply
        assert texts["none"] is None, reply
        assert all(texts[lang] for lang in pinned["languages"][reply]), reply
