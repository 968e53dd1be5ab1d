"""A fetched response's Content-Type as browsers read it: the WHATWG MIME Sniffing standard's
"parse a MIME type" and the Fetch standard's "extract a MIME type".

A server may send the header more than once (a proxy or a framework adding its own beside the
page's), and httpx joins the lines with ", ": read as one type, ``text/html, text/html`` was no
type at all (415). Browsers split the lines into values (commas inside a quoted string kept),
and the last value that parses as a type (``*/*`` aside) decides; it keeps the charset of an
earlier value of the same type when it names none, so ``text/html; charset=utf-8`` followed by
``text/html`` is UTF-8, while ``text/plain; charset=gbk`` followed by ``text/html`` is HTML in no
declared charset. Conflicting types are decided the same way: the last one is the page's type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_QUOTED_TEXT = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
"""Solely HTTP quoted-string token code points (tab, visible ASCII and space, U+0080-00FF)."""
_WHITESPACE = " \t\r\n"
"""HTTP whitespace."""
_QUOTED_STRING = r'"((?:[^"\\]|\\[\s\S]|\\\Z)*+)"?'
"""An HTTP quoted string (an unterminated one runs to the end), its text still escaped."""
_ESCAPED = re.compile(r"\\([\s\S])")
"""A backslash and the character it escapes (split at, the character kept: no call each)."""
_PIECE = re.compile(r'[^",]++|"(?:[^"\\]|\\[\s\S]|\\\Z)*+"?|,')
"""What a header line is made of: text, a quoted string (its commas kept), a comma."""
_PARAMETER = re.compile(rf"[ \t\r\n]*+([^;=]*+)(?:=(?:{_QUOTED_STRING}[^;]*+|([^;]*+)))?;?")
"""One parameter: its name, then its value quoted (what follows the quotes up to the next
``;`` dropped) or not, up to the next ``;``."""
# The scanning is done by these expressions (possessive: they keep no backtracking state), not
# character by character in Python: a 64 KiB header took 100-300 ms of the event loop so.

MAX_READ = 1024
"""The longest Content-Type read as browsers read it: a real one is a few dozen characters, and
a server's 100 KiB header (what httpcore lets through) cost 30-90 ms of the event loop to read
so. A longer one is read as before: its type is what comes before its first ``;``."""


@dataclass(frozen=True, slots=True)
class MimeType:
    essence: str
    """``type/subtype``, lower case."""
    parameters: tuple[tuple[str, str], ...] = ()
    """Each name (lower case) once, the first value given, in the order given."""

    def parameter(self, name: str) -> str | None:
        return next((value for key, value in self.parameters if key == name), None)

    def serialized(self) -> str:
        parts = [self.essence]
        for name, value in self.parameters:
            if not _TOKEN.fullmatch(value):
                value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            parts.append(f"{name}={value}")
        return "; ".join(parts)


def split_values(line: str) -> list[str]:
    """A header line's values (Fetch's "getting, decoding, and splitting"): split at commas
    outside quoted strings, each trimmed of spaces and tabs."""
    if '"' not in line:
        return [value.strip(" \t") for value in line.split(",")]
    values: list[str] = []
    current: list[str] = []
    for piece in _PIECE.findall(line):
        if piece == ",":
            values.append("".join(current).strip(" \t"))
            current = []
        else:
            current.append(piece)
    values.append("".join(current).strip(" \t"))
    return values


def parse_mime_type(value: str) -> MimeType | None:
    """``value`` parsed as WHATWG's "parse a MIME type" does; None when it is no type."""
    text = value.strip(_WHITESPACE)
    kind, slash, rest = text.partition("/")
    subtype, _, params = rest.partition(";")
    subtype = subtype.rstrip(_WHITESPACE)
    if not slash or not _TOKEN.fullmatch(kind) or not _TOKEN.fullmatch(subtype):
        return None
    parameters: dict[str, str] = {}
    for match in _PARAMETER.finditer(params):
        name, quoted, plain = match.groups()
        if quoted is not None:
            item = "".join(_ESCAPED.split(quoted)) if "\\" in quoted else quoted
        elif plain is not None and plain.rstrip(_WHITESPACE):
            item = plain.rstrip(_WHITESPACE)
        else:
            continue  # a name alone, or an empty value
        name = name.lower()
        if _TOKEN.fullmatch(name) and _QUOTED_TEXT.fullmatch(item) and name not in parameters:
            parameters[name] = item
    return MimeType(f"{kind}/{subtype}".lower(), tuple(parameters.items()))


def extract_mime_type(header: str) -> MimeType | None:
    """The type a Content-Type ``header`` gives (Fetch's "extract a MIME type"; its lines joined
    with ", ", as httpx joins them): the last value that parses (``*/*`` aside), with an earlier
    value's charset when it is of the same type and names none; None when no value parses."""
    found: MimeType | None = None
    essence: str | None = None
    charset: str | None = None
    for value in split_values(header):
        mime = parse_mime_type(value)
        if mime is None or mime.essence == "*/*":
            continue
        if mime.essence != essence:
            essence, charset = mime.essence, mime.parameter("charset")
        elif charset is not None and mime.parameter("charset") is None:
            mime = MimeType(mime.essence, (*mime.parameters, ("charset", charset)))
        found = mime
    return found


def response_type(header: str) -> tuple[str, str]:
    """The Content-Type a response's ``header`` (its lines joined) gives, and its media type
    (lower case). One value is kept as it was sent; several are read as browsers read them and
    written as one (``extract_mime_type``). When none is a type: the header, and its first part
    as the media type (refused as before, with what was sent in the error). So is a header
    longer than ``MAX_READ``."""
    mime = extract_mime_type(header) if len(header) <= MAX_READ else None
    if mime is None:
        return header, header.split(";")[0].strip().lower()
    if len(split_values(header)) == 1:
        return header.strip(_WHITESPACE), mime.essence
    return mime.serialized(), mime.essence
