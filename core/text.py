"""What of a text a reader sees: characters drawn as nothing (spaces, zero-width and format
characters, combining marks alone, filler letters, control characters); a bounded cache of
what is worked out from short texts (``ShortTextCache``); the characters plain text may not
hold (``refuse_controls``)."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

from pydantic import BeforeValidator

from core.errors import ValidationFailed

_BLANK_LETTERS = frozenset("\u115f\u1160\u2800\u3164\uffa0")  # fillers drawn as nothing

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Explicit embeddings, overrides and isolates: one left open turns the text after it around,
in the text itself and in the sentences it is put in ("Hi! I'm <name>. How can I help?").
The marks (U+200E, U+200F) stay allowed."""

_LINE_SEPARATORS = frozenset("\u2028\u2029")
# An unpaired UTF-16 surrogate: what UTF-8 cannot encode (JSON escapes, forms decoded as UTF-7 or
# ``unicode_escape``, a PDF's character map).
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def refuse_controls(field: str, value: str, *, multiline: bool) -> None:
    """422 ``invalid_text`` for a character of ``value`` a text shown as plain text cannot hold
    (the widget's texts, a person's display name): a control character (a NUL, as anywhere
    text is stored; a tab or a bell, shown as nothing or a box), a bidirectional embedding,
    override or isolate, and a line break in a text of one line (a title, a button, a
    suggested question, a name). ``field`` names it in the answer."""
    for ch in value:
        if multiline and ch == "\n":
            continue
        if not (
            unicodedata.category(ch) == "Cc"
            or ch in BIDI_CONTROLS
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


_LOWERED_OTHERWISE = ("\u0130", "\u03a3")
"""The letters Python's ``str.lower`` lowers otherwise than PostgreSQL's ``lower`` (libc's
letter-by-letter mapping): "İ" to two characters ("i" and a combining dot), not "i"; a capital
sigma at a word's end to the final sigma, not the small one. Every other code point is lowered
alike (checked over all of them: tests/hardening/test_address_variants.py)."""


def lowered_as_postgres(text: str) -> str:
    """``text`` lowered letter by letter, each letter to one, as PostgreSQL's ``lower`` does
    ("İzmir": "izmir", "ΟΔΟΣ": "οδοσ"): a text compared in Python with what the database
    lowered (a search, an address it found) must be lowered the same way, and a place in the
    result is the same place in ``text``."""
    if not any(letter in text for letter in _LOWERED_OTHERWISE):
        return text.lower()
    return "".join(letter.lower()[0] for letter in text)


LineBreaks = BeforeValidator(lf_line_breaks)
"""A multi-line text field's line breaks as LF, before its length is checked:
``Annotated[str, LineBreaks]`` (lead notes, FAQ answers, the widget's greeting)."""


P = ParamSpec("P")
R = TypeVar("R")

SHORT_TEXT = 1000
"""The longest text ``ShortTextCache`` keeps by default: a chat message of more is rare."""


class ShortTextCache(Generic[P, R]):
    """``fn`` of a text (and hashable keyword or further arguments) with an LRU cache of at
    most ``maxsize`` results for texts of at most ``longest`` characters; a longer text is
    worked out each time, so what the cache holds stays small whatever ``MAX_MESSAGE_CHARS``
    allows. For pure functions of text that one chat turn asks of the same message many
    times."""

    def __init__(
        self, fn: Callable[Concatenate[str, P], R], *, maxsize: int, longest: int = SHORT_TEXT
    ) -> None:
        self._fn = fn
        self._cached: Any = functools.lru_cache(maxsize=maxsize)(fn)
        self.longest = longest
        functools.update_wrapper(self, fn)

    def __call__(self, text: str, /, *args: P.args, **kwargs: P.kwargs) -> R:
        if len(text) > self.longest:
            return self._fn(text, *args, **kwargs)
        result: R = self._cached(text, *args, **kwargs)
        return result

    def cache_info(self) -> Any:
        return self._cached.cache_info()

    def cache_clear(self) -> None:
        self._cached.cache_clear()


def short_text_cache(
    maxsize: int, *, longest: int = SHORT_TEXT
) -> Callable[[Callable[Concatenate[str, P], R]], ShortTextCache[P, R]]:
    """``ShortTextCache`` as a decorator."""

    def wrap(fn: Callable[Concatenate[str, P], R]) -> ShortTextCache[P, R]:
        return ShortTextCache(fn, maxsize=maxsize, longest=longest)

    return wrap
