"""The widget settings' ``texts`` object as the owner sets it (``WidgetTextsIn``: plain text,
bounded, no HTML, no control characters) and as it is served (``WidgetTextsOut``: each field
the owner's text, or null for the English default). The names, limits and defaults are
``workspaces.widget_texts.TEXT_FIELDS``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, create_model, field_validator

from core.errors import ValidationFailed
from core.text import LineBreaks, has_visible, refuse_controls
from workspaces.widget_texts import TEXT_FIELDS, TextName, unknown_placeholder

_MARKUP = re.compile(r"<\s*/?\s*[A-Za-z!?]|&(?:#\d+|#x[0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]*);")
"""An HTML tag, comment or character reference: shown as typed by the widget, never applied."""

MultiLine = Annotated[str | None, LineBreaks]


def _refuse_placeholder(field: str, name: TextName, value: str) -> None:
    """422 ``invalid_text`` for a ``{...}`` the text ``name`` does not fill in: shown as typed
    (a misspelt ``{e-mail}``, a ``{bot_name}`` where the name is not put in)."""
    found = unknown_placeholder(name, value)
    if found is None:
        return
    allowed = TEXT_FIELDS[name].placeholders
    takes = (
        "takes " + ", ".join("{" + p + "}" for p in allowed) + " only"
        if allowed
        else "takes no placeholder"
    )
    raise ValidationFailed(
        f"{field} holds {found}, which is no placeholder it fills in: it {takes}",
        code="invalid_text",
        details=[{"field": field, "message": f"unknown placeholder {found}: it {takes}"}],
    )


def _plain_text(cls: Any, value: str | None, info: ValidationInfo) -> str | None:
    if value is None:
        return None
    name = str(info.field_name)
    spec = TEXT_FIELDS[name]  # type: ignore[index]
    refuse_controls(f"texts.{name}", value, multiline=spec.multiline)
    if _MARKUP.search(value):
        raise ValueError("must be plain text: the widget shows HTML tags and entities as typed")
    _refuse_placeholder(f"texts.{name}", name, value)  # type: ignore[arg-type]
    # Nothing visible (spaces, zero-width characters): the default, as an empty one.
    return value.strip() if has_visible(value) else None


def _field_in(name: TextName) -> Any:
    spec = TEXT_FIELDS[name]
    kind = MultiLine if spec.multiline else str | None
    return (kind, Field(default=None, max_length=spec.max_length, description=spec.label))


if TYPE_CHECKING:  # one field per text, made from TEXT_FIELDS below

    class WidgetTextsIn(BaseModel):
        def __init__(self, **texts: str | None) -> None: ...

    class WidgetTextsOut(BaseModel):
        def __init__(self, **texts: str | None) -> None: ...

else:
    WidgetTextsIn = create_model(
        "WidgetTextsIn",
        __config__=ConfigDict(extra="forbid"),
        __doc__="Texts the visitor reads, in the owner's words (null or blank: the English "
        "default). Each: its length limit, one line or several, no markup, no control "
        "characters, only its own placeholders.",
        __validators__={"plain_text": field_validator("*")(_plain_text)},
        **{name: _field_in(name) for name in TEXT_FIELDS},
    )
    WidgetTextsOut = create_model(
        "WidgetTextsOut",
        __doc__="The owner's texts; null: the English default the widget and the bot use.",
        **{
            name: (str | None, Field(default=None, description=spec.label))
            for name, spec in TEXT_FIELDS.items()
        },
    )


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
