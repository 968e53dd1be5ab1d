"""The thanks a visitor reads once they left their contact details with the widget's form: the
owner's ``lead_thanks`` when set, else the default in the visitor's language (the widget showed
its built-in English default to every visitor: a German visitor chatting in German read "Thanks!
We'll be in touch at ..."). ``POST /widget/leads`` answers it as ``thanks``; the dashboard's
transcript shows the same words."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rag.chat.reply_language import Language, conversation_language
from rag.chat.repository import conversations as conversation_repo
from rag.chat.translations import translated
from workspaces.widget_texts import lead_thanks, owner_text, with_email

_HISTORY = 20
"""How many of the conversation's latest messages tell the visitor's language."""


def lead_thanks_in(config: Mapping[str, Any] | None, email: str, language: Language | None) -> str:
    """The owner's ``lead_thanks`` (``{email}`` filled in), else the default in ``language``
    (English without a translation)."""
    if owner_text(config, "lead_thanks") is None:
        own_language = translated("lead_thanks", language)
        if own_language is not None:
            return with_email(own_language, email)
    return lead_thanks(config, email)


def language_of(message: str | None, history: Iterable[tuple[str, str]]) -> Language | None:
    """The visitor's language by ``message`` (what the form carries: their last message), else
    by their earlier messages (``history``: (role, text), oldest first)."""
    return conversation_language(message or "", history)


async def form_thanks(
    session: AsyncSession,
    *,
    config: Mapping[str, Any] | None,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID | None,
    message: str | None,
    contact: str,
) -> str:
    """What the widget thanks a visitor with who left ``contact`` with its form (their email
    address, or without one their phone number: ``{email}`` in the owner's text), in the
    language of their conversation (``conversation_id``: theirs, checked by the caller; None
    for none)."""
    history: list[tuple[str, str]] = []
    if conversation_id is not None:
        recent = await conversation_repo.recent_messages(
            session, workspace_id=workspace_id, conversation_id=conversation_id, limit=_HISTORY
        )
        history = [(m.role, m.text) for m in recent]
    return lead_thanks_in(config, contact, language_of(message, history))
