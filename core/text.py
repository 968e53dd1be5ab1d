"""What of a text a reader sees: characters drawn as nothing (spaces, zero-width and format
characters, combining marks alone, filler letters, control characters)."""

from __future__ import annotations

import unicodedata

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
