"""The widget settings' ``texts`` object as the owner sets it (``WidgetTextsIn``: plain text,
bounded, no HTML, no control characters) and as it is served (``WidgetTextsOut``: each field
the owner's text, or null for the English default). The names, limits and defaults are
``workspaces.widget_texts.TEXT_FIELDS``."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from core.errors import ValidationFailed
from core.text import LineBreaks, has_visible
from workspaces.widget_texts import TEXT_FIELDS

_MARKUP = re.compile(r"<\s*/?\s*[A-Za-z!?]|&(?:#\d+|#x[0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]*);")
"""An HTML tag, comment or character reference: shown as typed by the widget, never applied."""

MultiLine = Annotated[str | None, LineBreaks]

_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Explicit embeddings, overrides and isolates: one the owner leaves open turns the text after
it around, in the widget and in the sentences it is put in ("Hi! I'm <name>. How can I
help?"). The marks (U+200E, U+200F) stay allowed."""
_LINE_SEPARATORS = frozenset("\u2028\u2029")


def refuse_controls(field: str, value: str, *, multiline: bool) -> None:
    """422 ``invalid_text`` for a character of ``value`` the widget cannot show as plain text:
    a control character (a NUL, as anywhere text is stored; a tab or a bell, shown as nothing
    or a box), a bidirectional embedding, override or isolate, and a line break in a text of
    one line (a title, a button, a suggested question). ``field`` names it in the answer."""
    for ch in value:
        if multiline and ch == "\n":
            continue
        if not (
            unicodedata.category(ch) == "Cc"
            or ch in _BIDI_CONTROLS
            or (not multiline and ch in _LINE_SEPARATORS)
        ):
            continue
        what = "a NUL" if ch == "\x00" else f"the control character U+{ord(ch):04X}"
        raise ValidationFailed(
            f"{field} holds {what}: write plain text"
            + (" (line breaks are fine)" if multiline else " on one line"),
            code="invalid_text",
            details=[{"field": field, "message": f"contains {what}"}],
        )


def _limit(name: str) -> Any:
    spec = TEXT_FIELDS[name]  # type: ignore[index]
    return Field(default=None, max_length=spec.max_length, description=spec.label)


class WidgetTextsIn(BaseModel):
    """Texts the visitor reads, in the owner's words (null or blank: the English default)."""

    model_config = ConfigDict(extra="forbid")
    dont_know: MultiLine = _limit("dont_know")
    unavailable: MultiLine = _limit("unavailable")
    handoff: MultiLine = _limit("handoff")
    lead_prompt: str | None = _limit("lead_prompt")
    lead_thanks: str | None = _limit("lead_thanks")
    placeholder: str | None = _limit("placeholder")
    send_button: str | None = _limit("send_button")
    skip_button: str | None = _limit("skip_button")
    email_label: str | None = _limit("email_label")
    name_label: str | None = _limit("name_label")
    phone_label: str | None = _limit("phone_label")
    thanks_reply: MultiLine = _limit("thanks_reply")
    goodbye_reply: MultiLine = _limit("goodbye_reply")
    bot_identity_reply: MultiLine = _limit("bot_identity_reply")
    documentation_prefix: str | None = _limit("documentation_prefix")
    error_connection: str | None = _limit("error_connection")
    error_generic: str | None = _limit("error_generic")
    retry_button: str | None = _limit("retry_button")
    new_conversation: str | None = _limit("new_conversation")
    close_label: str | None = _limit("close_label")

    @field_validator("*")
    @classmethod
    def _plain_text(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        name = str(info.field_name)
        refuse_controls(f"texts.{name}", value, multiline=TEXT_FIELDS[name].multiline)  # type: ignore[index]
        if _MARKUP.search(value):
            raise ValueError("must be plain text: the widget shows HTML tags and entities as typed")
        # Nothing visible (spaces, zero-width characters): the default, as an empty one.
        return value.strip() if has_visible(value) else None


class WidgetTextsOut(BaseModel):
    """The owner's texts; null: the English default the widget and the bot use."""

    dont_know: str | None = None
    unavailable: str | None = None
    handoff: str | None = None
    lead_prompt: str | None = None
    lead_thanks: str | None = None
    placeholder: str | None = None
    send_button: str | None = None
    skip_button: str | None = None
    email_label: str | None = None
    name_label: str | None = None
    phone_label: str | None = None
    thanks_reply: str | None = None
    goodbye_reply: str | None = None
    bot_identity_reply: str | None = None
    documentation_prefix: str | None = None
    error_connection: str | None = None
    error_generic: str | None = None
    retry_button: str | None = None
    new_conversation: str | None = None
    close_label: str | None = None


def texts_out(config: dict[str, Any] | None) -> WidgetTextsOut:
    """The saved texts as served (blank or unknown entries left out)."""
    saved = (config or {}).get("texts")
    saved = saved if isinstance(saved, dict) else {}
    return WidgetTextsOut(
        **{
            name: value
            for name in WidgetTextsOut.model_fields
            if isinstance(value := saved.get(name), str) and has_visible(value)
        }
    )
