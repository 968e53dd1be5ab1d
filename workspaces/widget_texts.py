"""The texts a visitor reads that the owner may write in their visitors' language: the widget
settings' ``texts`` object (``widget_config["texts"]``). Each is optional: unset (or blank), the
default: English, or, for the bot's replies to greetings, thanks, goodbyes, a typed address, a
request for a person, "are you a bot?", a wordless message and under lead capture "Never", the
visitor's language where ``rag.chat.translations`` has it. Read here by the answer
pipeline (``rag.chat``: the don't-know answer, the fallback when the model fails, the hand-off
reply, the thanks for an address typed into the chat, the replies to thanks, goodbyes, "are you
a bot?" and a message without words, the label of a quoted answer) and by the dashboard;
validated by ``widget.texts`` (the API's and the dashboard's schema); served to widget.js by
``/api/v1/widget/config``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from core.text import has_visible

TextName = Literal[
    # the bot's replies
    "dont_know",
    "unavailable",
    "handoff",
    "thanks_reply",
    "goodbye_reply",
    "bot_identity_reply",
    "unclear_reply",
    "documentation_prefix",
    "no_contact_hint",
    # the contact form
    "lead_prompt",
    "lead_prompt_before",
    "lead_prompt_handoff",
    "lead_prompt_unavailable",
    "lead_thanks",
    "email_label",
    "name_label",
    "phone_label",
    "send_button",
    "skip_button",
    "lead_form_label",
    "lead_invalid_email",
    "lead_invalid_phone",
    "lead_contact_missing",
    "lead_name_too_long",
    "lead_check_details",
    "lead_rate_limited",
    # the message box and buttons
    "placeholder",
    "retry_button",
    "new_conversation",
    "close_label",
    "answer_interrupted",
    "feedback_thanks",
    "feedback_failed",
    "count_label",
    "shortened_label",
    "source_label",
    "page_label",
    # the error messages
    "error_connection",
    "error_offline",
    "error_generic",
    "error_not_enabled",
    "error_unavailable",
    "error_over_quota",
    "error_busy",
    "error_rate_limited",
    "error_conversation_limit",
    "error_too_long",
    "error_invalid_text",
    "error_empty",
    "error_refused",
    "error_ended",
    "error_stream",
    "error_timeout",
    "error_cut_off",
    # what screen readers read
    "open_label",
    "panel_label",
    "message_label",
    "send_label",
    "typing_label",
    "you_label",
    "conversation_label",
    "suggestions_label",
    "sources_label",
    "helpful_label",
    "not_helpful_label",
]


@dataclass(frozen=True)
class TextField:
    label: str
    """What the dashboard calls it."""
    max_length: int
    multiline: bool
    default: str
    """The English text used when the owner sets none (as the visitor reads it, placeholders
    and all)."""
    placeholders: tuple[str, ...] = ()
    """The ``{name}``s it may hold (``PLACEHOLDERS``), replaced where it is shown; any other
    ``{...}`` is refused (422 ``invalid_text``)."""

    @property
    def takes(self) -> tuple[tuple[str, str], ...]:
        """Each placeholder as written (``{email}``) with what it stands for."""
        return tuple(("{" + name + "}", PLACEHOLDERS[name]) for name in self.placeholders)


EMAIL = "{email}"
"""In ``lead_thanks``: replaced by the address the visitor left."""
BOT_NAME = "{bot_name}"
"""In ``thanks_reply``, ``goodbye_reply`` and the screen readers' labels: the bot's name."""

PLACEHOLDERS: dict[str, str] = {
    "email": "the address the visitor left",
    "bot_name": "the bot's name",
    "minutes": "the minutes to wait (at least 1)",
    "max": "the longest message, in characters",
    "count": "the characters typed",
    "page": "the page of the document cited",
}
"""Every placeholder a text may hold, with what it stands for (the dashboard says so)."""

PLACEHOLDER = re.compile(r"\{\s*([^{}\s]{1,40})\s*\}")
"""Curly braces around one word: a placeholder, known or not (``{ email }`` too, which is not
filled in). Braces around several words, or alone, are text."""


def _bot(label: str, max_length: int, default: str, *names: str) -> TextField:
    return TextField(label, max_length, True, default, names)


def _line(label: str, max_length: int, default: str, *names: str) -> TextField:
    return TextField(label, max_length, False, default, names)


_TOO_MANY = "Please try again in about {minutes} minutes."

TEXT_FIELDS: dict[TextName, TextField] = {
    "dont_know": _bot(
        "Answer when the bot does not know",
        500,
        "Sorry, I don't know the answer to that based on the information available. Would you "
        "like to leave your email address so the team can follow up with you?",
    ),
    "unavailable": _bot(
        "Answer when answering fails for a moment",
        500,
        "Sorry, I'm having trouble answering right now. Please try again in a moment, or leave "
        "your email address and the team will get back to you.",
    ),
    "handoff": _bot(
        "Reply to a request for a person",
        500,
        "I'm an automated assistant, but I can get a person from the team to follow up. Please "
        "leave your email address, and someone will get back to you.",
    ),
    "thanks_reply": _bot(
        "Reply to thanks",
        300,
        "You're welcome! Is there anything else I can help you with?",
        "bot_name",
    ),
    "goodbye_reply": _bot(
        "Reply to a goodbye",
        300,
        "Thanks for chatting with {bot_name}. Have a great day!",
        "bot_name",
    ),
    "bot_identity_reply": _bot(
        'Reply to "are you a bot?"',
        300,
        "I'm an automated assistant for {bot_name}. If you'd like a person from the team, just "
        "say so.",
        "bot_name",
    ),
    "unclear_reply": _bot(
        'Reply to a message without words ("😡", "???")',
        300,
        "I'm not sure what you mean. Could you tell me in a few words what you need help with?",
    ),
    "documentation_prefix": _line(
        "Label before an answer quoted from your documents (no language model)",
        60,
        "From our documentation:",
    ),
    "no_contact_hint": _line(
        'Where to reach the team, when contact details are never asked for ("Never" above)',
        200,
        "To reach the team, please use the contact details on this website.",
    ),
    "lead_prompt": _line(
        "Prompt (also for each situation below left empty)",
        300,
        "Leave your details and we'll get back to you.",
    ),
    "lead_prompt_before": _line(
        "Prompt before the chat starts",
        300,
        "Before we start, please tell us how to reach you.",
    ),
    "lead_prompt_handoff": _line(
        "Prompt when a visitor asks for a person",
        300,
        "Want a person from our team to follow up? Leave your details and we'll get back to you.",
    ),
    "lead_prompt_unavailable": _line(
        "Prompt when the assistant is out of answers (quota)",
        300,
        "The assistant can't answer right now. Leave your details and our team will get back to "
        "you.",
    ),
    "lead_thanks": _line(
        "Thanks once contact details are left (with the form or typed into the chat)",
        300,
        "Thanks! We'll be in touch at {email}.",
        "email",
    ),
    "email_label": _line("Email label", 40, "Email"),
    "name_label": _line("Name label", 40, "Name"),
    "phone_label": _line("Phone label", 40, "Phone"),
    "send_button": _line("Send button", 30, "Send"),
    "skip_button": _line("Dismiss button", 30, "Not now"),
    "lead_form_label": _line("The form's name (read by screen readers)", 60, "Contact details"),
    "lead_invalid_email": _line(
        "An email address that is not one", 200, "Please enter a valid email address."
    ),
    "lead_invalid_phone": _line(
        "A phone number that is not one",
        200,
        "Please enter a valid phone number: 3 to 40 digits, spaces or + ( ) - . characters.",
    ),
    "lead_contact_missing": _line(
        "Neither an email address nor a phone number (a form with the phone field)",
        200,
        "Please enter your email address or your phone number.",
    ),
    "lead_name_too_long": _line("A name too long", 200, "Please shorten your name."),
    "lead_check_details": _line("Any other refused detail", 200, "Please check your details."),
    "lead_rate_limited": _line(
        "Too many forms sent from one place",
        200,
        "Too many requests from here. " + _TOO_MANY,
        "minutes",
    ),
    "placeholder": _line("Message box: placeholder", 80, "Type your message…"),
    "retry_button": _line("The retry button", 30, "Retry"),
    "new_conversation": _line(
        "The new-conversation button (its tooltip, read by screen readers)",
        60,
        "New conversation",
    ),
    "close_label": _line("The close buttons (read by screen readers)", 60, "Close chat"),
    "answer_interrupted": _line("Under an answer cut off", 100, "This answer was interrupted."),
    "feedback_thanks": _line("After a rating of an answer", 100, "Thanks for your feedback"),
    "feedback_failed": _line("A rating that could not be sent", 100, "Could not send feedback"),
    "count_label": _line(
        "The counter near the length limit",
        60,
        "{count}/{max} characters",
        "count",
        "max",
    ),
    "shortened_label": _line(
        "A paste cut at the length limit",
        150,
        "Shortened to {max} characters: the rest did not fit.",
        "max",
    ),
    "source_label": _line("A cited source with neither a title nor a link", 40, "Source"),
    "page_label": _line(
        "The page of a cited source (shown in brackets after it)", 30, "p. {page}", "page"
    ),
    "error_connection": _line(
        "The chat's server cannot be reached (also offline, unless set below)",
        200,
        "The chat can't be reached right now. Please try again in a few minutes.",
    ),
    "error_offline": _line(
        "The visitor's device is offline",
        200,
        "You seem to be offline. Check your internet connection and try again.",
    ),
    "error_generic": _line("Any other failure", 200, "Something went wrong. Please try again."),
    "error_not_enabled": _line(
        "A website not allowed to embed the widget",
        200,
        "This chat is not enabled on this website.",
    ),
    "error_unavailable": _line(
        "A widget key no longer valid (a new key made)",
        200,
        "This chat is not available right now.",
    ),
    "error_over_quota": _line(
        "Out of answers (the plan's quota)",
        200,
        "The assistant is unavailable right now. Please try again later.",
    ),
    "error_busy": _line(
        "A message still being answered",
        200,
        "The assistant is still answering. Please try again in a moment.",
    ),
    "error_rate_limited": _line(
        "Too many messages", 200, "Too many messages. " + _TOO_MANY, "minutes"
    ),
    "error_conversation_limit": _line(
        "Too many new conversations (your limits above)",
        200,
        "Too many new conversations from here. " + _TOO_MANY,
        "minutes",
    ),
    "error_too_long": _line(
        "A message too long",
        200,
        "Your message is longer than {max} characters. Please shorten it.",
        "max",
    ),
    "error_invalid_text": _line(
        "A message with characters that cannot be sent",
        200,
        "Your message has characters that can't be sent. Please remove them and try again.",
    ),
    "error_empty": _line("An empty message", 200, "Please type a message first."),
    "error_refused": _line(
        "A message refused for another reason",
        200,
        "This message can't be sent as written. Please change it and try again.",
    ),
    "error_ended": _line(
        "A conversation that ended",
        200,
        "This conversation has ended. Please start a new one.",
    ),
    "error_stream": _line(
        "An answer that failed midway",
        200,
        "The answer could not be finished. Please try again.",
    ),
    "error_timeout": _line(
        "An answer that takes too long",
        200,
        "The assistant is taking too long to answer. Please try again.",
    ),
    "error_cut_off": _line("An answer cut off", 200, "The answer was cut off. Please try again."),
    "open_label": _line(
        "The button that opens the chat", 100, "Open chat with {bot_name}", "bot_name"
    ),
    "panel_label": _line("The chat window", 100, "Chat with {bot_name}", "bot_name"),
    "message_label": _line("The message box", 100, "Message {bot_name}", "bot_name"),
    "send_label": _line("The send button", 60, "Send message"),
    "typing_label": _line("While the bot writes", 100, "{bot_name} is typing", "bot_name"),
    "you_label": _line("Before each of the visitor's messages", 30, "You:"),
    "conversation_label": _line("The conversation", 60, "Conversation"),
    "suggestions_label": _line("The suggested questions", 60, "Suggested questions"),
    "sources_label": _line("An answer's list of sources", 60, "Sources"),
    "helpful_label": _line("The thumbs-up button", 60, "Helpful"),
    "not_helpful_label": _line("The thumbs-down button", 60, "Not helpful"),
}


def unknown_placeholder(name: TextName, value: str) -> str | None:
    """The first ``{...}`` in ``value`` that text ``name`` does not take, or None. A placeholder
    in doubled braces (``{{bot_name}}``, a template habit) is none: its inner braces were
    filled in and the visitor read "{Aria}"."""
    allowed = TEXT_FIELDS[name].placeholders
    for found in PLACEHOLDER.finditer(value):
        start, end = found.span()
        doubled = value[start - 1 : start] == "{" or value[end : end + 1] == "}"
        if doubled:
            return value[max(start - 1, 0) : end + 1]
        if found.group(1) not in allowed or found.group(0) != "{" + found.group(1) + "}":
            return found.group(0)
    return None


def owner_text(config: Mapping[str, Any] | None, name: TextName) -> str | None:
    """The owner's text ``name`` from the widget settings ``config``; None when unset or blank
    (the caller's default then)."""
    texts = (config or {}).get("texts")
    value = texts.get(name) if isinstance(texts, Mapping) else None
    return value if isinstance(value, str) and has_visible(value) else None


def with_email(text: str, email: str) -> str:
    """``text`` with ``{email}`` replaced by the visitor's address."""
    return text.replace(EMAIL, email)


def with_bot_name(text: str, bot_name: str) -> str:
    """``text`` with ``{bot_name}`` replaced by the bot's name."""
    return text.replace(BOT_NAME, bot_name)


def lead_thanks(config: Mapping[str, Any] | None, email: str) -> str:
    """What the widget thanks a visitor with once they left ``email`` with its form."""
    text = owner_text(config, "lead_thanks") or TEXT_FIELDS["lead_thanks"].default
    return with_email(text, email)
