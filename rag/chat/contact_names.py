"""A visitor's name typed into the chat where the bot had asked for contact details (after a
request for a person, a sales lead, an "I don't know" offering the team): the visitor answering,
not asking. Read only right after such a request (``rag.chat.stages.record``); anywhere else
"Jane Smith" stays a question, as before."""

from __future__ import annotations

import re
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from rag.chat.contact_beside import contact_beside
from rag.chat.contact_details import gives_asked_address
from rag.chat.courtesy import FILLER, QUESTION_STARTERS, has_question_mark
from rag.chat.intents import _REQUEST_STEMS, Intent
from rag.chat.normalize import stem
from rag.chat.repository import conversations as conversation_repo

MAX_NAME_WORDS = 4
"""Words a name may have ("María José O'Neill-Díaz")."""

# "my name is ...", "name: ...", "call me ...": a name follows, written in any case.
_SAID_NAME = re.compile(
    r"(?:(?:my|the)\s+name(?:\s+is|[\u2019']s)?|name\s*[:\-]|call\s+me)\s+", re.IGNORECASE
)
# "I'm ...", "it's ...", "this is ...": a name only when it is written as one (capitalised).
_SAID_SELF = re.compile(r"(?:i\s+am|i[\u2019']?m|it\s+is|it[\u2019']s|this\s+is)\s+", re.I)
# Letters, with an inner apostrophe, hyphen or dot ("O'Neill-Díaz", "J.R."); no digits.
_NAME_WORD = re.compile(r"[^\W\d_]+(?:[\u2019'.\-][^\W\d_]+)*\.?")


def given_name(text: str) -> str | None:
    """The name ``text`` gives ("Jane Smith", "my name is jane okafor", "I'm Tom"), or None: one
    to four words of letters, each capitalised unless introduced by "my name is", none a word
    of a request or a question ("Refund Policy", "What Plans"), no "?", digit or address."""
    if has_question_mark(text) or "@" in text or any(ch.isdigit() for ch in text):
        return None
    body = text.strip().rstrip(".!").strip()
    capitalised = True
    if said := _SAID_NAME.match(body):
        body, capitalised = body[said.end() :], False
    elif said := _SAID_SELF.match(body):
        body = body[said.end() :]
    words = body.strip(" ,").split()
    if not 1 <= len(words) <= MAX_NAME_WORDS:
        return None
    for word in words:
        plain = word.rstrip(".").casefold()
        if not _NAME_WORD.fullmatch(word) or (capitalised and not word[0].isupper()):
            return None
        if plain in QUESTION_STARTERS or plain in FILLER or stem(plain) in _REQUEST_STEMS:
            return None
    return " ".join(words).rstrip(".")


def answers_contact_request(message: str, intent: Intent) -> bool:
    """Right after the bot asked for contact details: a message giving them, in the visitor's
    own words: an address (``gives_asked_address``), or their name where a question was
    seen. An address left beside a question ("my email is ..., how do I ...") asks it
    (``contact_beside``)."""
    if contact_beside(message) is not None:
        return False
    if gives_asked_address(message):
        return True
    return intent == "question" and given_name(message) is not None


def name_before(history: tuple[tuple[str, str], ...]) -> str | None:
    """The name the visitor's previous message gave (they typed their name, then their address,
    as the bot asked), for the lead their address makes."""
    previous = next((text for role, text in reversed(history) if role == "user"), None)
    return None if previous is None else given_name(previous)


CONTACT_REPLIES_READ = 10
"""The visitor's latest answers to a request for contact details read for a name."""


async def name_in_conversation(
    session: AsyncSession, *, workspace_id: uuid.UUID, conversation_id: uuid.UUID
) -> str | None:
    """The name the visitor gave in the conversation where the bot asked for contact details
    (the latest one), or None: for the lead they leave later through the form without one."""
    replies = await conversation_repo.contact_replies(
        session,
        workspace_id=workspace_id,
        conversation_id=conversation_id,
        limit=CONTACT_REPLIES_READ,
    )
    return next((name for text in replies if (name := given_name(text)) is not None), None)


NAME_REPLY = (
    "Thank you! So that someone from the team can get back to you, please leave your email "
    "address too."
)
"""The bot's reply to a name typed where contact details were asked for (English; the
translations are ``rag.chat.translations``' ``name_given``)."""
