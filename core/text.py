"""What of a text a reader sees: characters drawn as nothing (spaces, zero-width and format
characters, combining marks alone, filler letters, control characters)."""

from __future__ import annotations

import unicodedata

from pydantic import BeforeValidator

_BLANK_LETTERS = frozenset("\u115f\u1160\u2800\u3164\uffa0")  # fillers drawn as nothing


def is_invisible(ch: str) -> bool:
    return (
        ch.isspace()
        or ch in _BLANK_LETTERS
        # control characters, format characters (zero-width space, joiners), combining marks
        or unicodedata.category(ch) in ("Cc", "Cf", "Mn", "Me")
    )


def has_visible(text: str) -> bool:
    """Something in ``text`` is drawn: it is not blank to whoever reads it."""
    return not all(is_invisible(ch) for ch in text)


def lf_line_breaks(value: object) -> object:
    """A text's line breaks as one LF each (``\\r\\n`` and a lone ``\\r`` alike); anything else
    as it is. A browser's textarea counts a line break as one character against its
    ``maxlength`` but posts it as CRLF: a schema that counted the posted characters refused
    text the form had allowed. The JSON API's fields take the same text, so they count the
    same way (``LineBreaks``)."""
    if isinstance(value, str) and "\r" in value:
        return value.replace("\r\n", "\n").replace("\r", "\n")
    return value


LineBreaks = BeforeValidator(lf_line_breaks)
"""A multi-line text field's line breaks as LF, before its length is checked:
``Annotated[str, LineBreaks]`` (lead notes, FAQ answers, the widget's greeting)."""
