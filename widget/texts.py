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

    @field_validator("*")
    @classmethod
    def _plain_text(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        name = str(info.field_name)
        multiline = TEXT_FIELDS[name].multiline  # type: ignore[index]
        for ch in value:
            if unicodedata.category(ch) == "Cc" and not (multiline and ch == "\n"):
                # As a NUL anywhere text is stored (422 invalid_text), and a tab or a bell,
                # which the widget would show as nothing or a box.
                what = "a NUL" if ch == "\x00" else f"the control character U+{ord(ch):04X}"
                raise ValidationFailed(
                    f"texts.{name} holds {what}: write plain text"
                    + (" (line breaks are fine)" if multiline else " on one line"),
                    code="invalid_text",
                    details=[{"field": f"texts.{name}", "message": f"contains {what}"}],
                )
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
