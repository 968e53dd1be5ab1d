"""The texts a visitor reads that the owner may write in their visitors' language: the widget
settings' ``texts`` object (``widget_config["texts"]``). Each is optional: unset (or blank), the
English default. Read here by the answer pipeline (``rag.chat``: the don't-know answer, the
fallback when the model fails, the hand-off reply, the thanks for an address typed into the
chat, the replies to thanks, goodbyes and "are you a bot?", the label of a quoted answer) and by
the dashboard; validated by ``widget.texts`` (the API's and the dashboard's schema); served to
widget.js by ``/api/v1/widget/config``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from core.text import has_visible

TextName = Literal[
    "dont_know",
    "unavailable",
    "handoff",
    "lead_prompt",
    "lead_thanks",
    "placeholder",
    "send_button",
    "skip_button",
    "email_label",
    "name_label",
    "phone_label",
    "thanks_reply",
    "goodbye_reply",
    "bot_identity_reply",
    "documentation_prefix",
    "error_connection",
    "error_generic",
    "retry_button",
    "new_conversation",
    "close_label",
]


@dataclass(frozen=True)
class TextField:
    label: str
    """What the dashboard calls it."""
    max_length: int
    multiline: bool
    default: str
    """The English text used when the owner sets none (as the visitor reads it)."""


EMAIL = "{email}"
"""In ``lead_thanks``: replaced by the address the visitor left."""

TEXT_FIELDS: dict[TextName, TextField] = {
    "dont_know": TextField(
        "Answer when the bot does not know",
        500,
        True,
        "Sorry, I don't know the answer to that based on the information available. Would you "
        "like to leave your email address so the team can follow up with you?",
    ),
    "unavailable": TextField(
        "Answer when answering fails for a moment",
        500,
        True,
        "Sorry, I'm having trouble answering right now. Please try again in a moment, or leave "
        "your email address and the team will get back to you.",
    ),
    "handoff": TextField(
        "Reply to a request for a person",
        500,
        True,
        "I'm an automated assistant, but I can get a person from the team to follow up. Please "
        "leave your email address, and someone will get back to you.",
    ),
    "lead_prompt": TextField(
        "Contact form: its prompt", 300, False, "Leave your details and we'll get back to you."
    ),
    "lead_thanks": TextField(
        "Thanks once contact details are left",
        300,
        False,
        "Thanks! We'll be in touch at {email}.",
    ),
    "placeholder": TextField("Message box: placeholder", 80, False, "Type your message…"),
    "send_button": TextField("Contact form: send button", 30, False, "Send"),
    "skip_button": TextField("Contact form: dismiss button", 30, False, "Not now"),
    "email_label": TextField("Contact form: email label", 40, False, "Email"),
    "name_label": TextField("Contact form: name label", 40, False, "Name"),
    "phone_label": TextField("Contact form: phone label", 40, False, "Phone"),
    "thanks_reply": TextField(
        "Reply to thanks",
        300,
        True,
        "You're welcome! Is there anything else I can help you with?",
    ),
    "goodbye_reply": TextField(
        "Reply to a goodbye",
        300,
        True,
        "Thanks for chatting with (the bot's name). Have a great day!",
    ),
    "bot_identity_reply": TextField(
        'Reply to "are you a bot?"',
        300,
        True,
        "I'm an automated assistant for (the bot's name). If you'd like a person from the team, "
        "just say so.",
    ),
    "documentation_prefix": TextField(
        "Label before an answer quoted from your documents (no language model)",
        60,
        False,
        "From our documentation:",
    ),
    "error_connection": TextField(
        "Widget: a lost connection",
        200,
        False,
        "Connection problem. Check your internet and try again.",
    ),
    "error_generic": TextField(
        "Widget: any other failure", 200, False, "Something went wrong. Please try again."
    ),
    "retry_button": TextField("Widget: the retry button", 30, False, "Retry"),
    "new_conversation": TextField(
        "Widget: the new-conversation button (read by screen readers)",
        60,
        False,
        "New conversation",
    ),
    "close_label": TextField(
        "Widget: the close button (read by screen readers)", 60, False, "Close chat"
    ),
}


def owner_text(config: Mapping[str, Any] | None, name: TextName) -> str | None:
    """The owner's text ``name`` from the widget settings ``config``; None when unset or blank
    (the caller's default then)."""
    texts = (config or {}).get("texts")
    value = texts.get(name) if isinstance(texts, Mapping) else None
    return value if isinstance(value, str) and has_visible(value) else None


def with_email(text: str, email: str) -> str:
    """``text`` with ``{email}`` replaced by the visitor's address."""
    return text.replace(EMAIL, email)


def lead_thanks(config: Mapping[str, Any] | None, email: str) -> str:
    """What the widget thanks a visitor with once they left ``email`` with its form."""
    text = owner_text(config, "lead_thanks") or TEXT_FIELDS["lead_thanks"].default
    return with_email(text, email)
