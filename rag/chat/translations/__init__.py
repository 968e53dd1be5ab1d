"""The bot's canned replies in the languages it recognises requests in besides English (German,
French, Spanish, Portuguese, Italian, Hindi in Devanagari and in Latin letters, Russian, Arabic,
Chinese, Japanese): what a visitor gets when the owner wrote no text of their own (widget
settings' ``texts`` and ``greeting``, which always win) and the message was written in one of
them (``rag.chat.reply_language``). English is ``rag.chat.intents.persona_reply``; a reply with
no translation here stays English. The texts are in one module a family of replies:
``courtesy``, ``handoff`` (a person asked for, contact details), ``answers`` (don't-know, a
failed model), ``leads``, ``erasure`` (a removal of the visitor's details asked)."""

from __future__ import annotations

import re
from typing import Literal

from rag.chat.intents import persona_reply
from rag.chat.prompts import dont_know_answer, fallback_answer
from rag.chat.reply_language import Language
from rag.chat.translations.answers import ANSWERS
from rag.chat.translations.courtesy import COURTESY
from rag.chat.translations.erasure import ERASURE, ERASURE_REPLY
from rag.chat.translations.handoff import HANDOFF
from rag.chat.translations.leads import LEADS

Reply = Literal[
    "bot_identity", "human", "human_address_left", "human_no_contact", "no_contact_hint",
    "contact_declined", "unclear", "greeting", "thanks", "goodbye", "contact", "dont_know",
    "dont_know_offer", "dont_know_address_left", "unavailable", "unavailable_offer",
    "lead_thanks", "lead", "lead_leave", "lead_address_left", "lead_no_contact", "name_given",
    "contact_phone", "erasure",
]  # fmt: skip

_T: dict[Reply, dict[Language, str]] = {**COURTESY, **HANDOFF, **ANSWERS, **LEADS, **ERASURE}


def translated(reply: Reply, language: Language | None, *, name: str = "") -> str | None:
    """``reply`` in ``language`` (``{name}`` filled in with the bot's name); None for English,
    an unknown language, or a reply with no translation in it."""
    if language is None:
        return None
    text = _T[reply].get(language)
    return None if text is None else text.replace("{name}", name)


def languages(reply: Reply) -> frozenset[Language]:
    """The languages ``reply`` has a translation in."""
    return frozenset(_T[reply])


def _joined(language: Language, first: str, then: str | None) -> str:
    """Two sentences of a reply (no blank between them in Chinese and Japanese)."""
    if then is None:
        return first
    return first + ("" if language in ("zh", "ja") else " ") + then


def dont_know_reply(
    language: Language | None, *, offer_contact: bool = True, address_left: bool = False
) -> str:
    """``prompts.dont_know_answer`` in ``language`` (English without a translation)."""
    first = translated("dont_know", language)
    if language is None or first is None:
        return dont_know_answer(offer_contact=offer_contact, address_left=address_left)
    then: Reply | None = (
        "dont_know_address_left" if address_left else "dont_know_offer" if offer_contact else None
    )
    return _joined(language, first, None if then is None else translated(then, language))


def lead_reply(
    language: Language | None,
    bot_name: str,
    *,
    offer_contact: bool = True,
    address_left: bool = False,
    hint: str | None = None,
) -> str:
    """``intents.persona_reply("lead")`` in ``language`` (English without a translation):
    ``hint``, the owner's words for where to reach the team under lead capture "Never", as
    they wrote it (else the default hint in ``language``)."""
    first = translated("lead", language)
    if language is None or first is None:
        return persona_reply(
            "lead", bot_name, offer_contact=offer_contact, address_left=address_left, hint=hint
        )
    if address_left:
        return _joined(language, first, translated("lead_address_left", language))
    if not offer_contact:
        cannot = translated("lead_no_contact", language) or first
        return _joined(language, cannot, hint or translated("no_contact_hint", language))
    return _joined(language, first, translated("lead_leave", language))


def unavailable_reply(language: Language | None, *, offer_contact: bool = True) -> str:
    """``prompts.fallback_answer`` in ``language`` (English without a translation)."""
    first = translated("unavailable", language)
    if language is None or first is None:
        return fallback_answer("", offer_contact=offer_contact)
    then = translated("unavailable_offer", language) if offer_contact else None
    return _joined(language, first, then)


def erasure_reply(language: Language | None, hint: str | None = None, *, typed: bool = True) -> str:
    """The reply to a removal of the visitor's details asked (``translations.erasure``) in
    ``language`` (English without a translation), then ``hint``, the owner's words for where
    to reach them, as they wrote it. It asks for no contact details. ``typed``: the message
    held the number or address; else ("please delete my data") the reply starts at its second
    sentence (no "I haven't saved the contact details you just typed")."""
    first = translated("erasure", language) or ERASURE_REPLY
    if not typed:
        first = _FIRST_SENTENCE.sub("", first, count=1)
    if hint is None:
        return first
    return f"{first} {hint}" if language is None else _joined(language, first, hint)


# The first sentence of a reply and the space after it, in the translations' scripts.
_FIRST_SENTENCE = re.compile(r"^[^.।。]*[.।。]\s*")
