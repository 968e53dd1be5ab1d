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

from dataclasses import dataclass

_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_WHITESPACE = " \t\r\n"
"""HTTP whitespace."""


def _quoted_text(value: str) -> bool:
    """Solely HTTP quoted-string token code points (tab, visible ASCII and space, U+0080-00FF)."""
    return all(c == "\t" or " " <= c <= "~" or "\x80" <= c <= "\xff" for c in value)


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
            if not value or not _TOKEN.issuperset(value):
                value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            parts.append(f"{name}={value}")
        return "; ".join(parts)


def _quoted_string(text: str, start: int) -> tuple[str, int]:
    """The HTTP quoted string at ``text[start]`` (a ``"``), unescaped, and where it ends (an
    unterminated one runs to the end of ``text``)."""
    value: list[str] = []
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == '"':
            return "".join(value), i + 1
        if c == "\\" and i + 1 < len(text):
            i += 1
            c = text[i]
        value.append(c)
        i += 1
    return "".join(value), i


def split_values(line: str) -> list[str]:
    """A header line's values (Fetch's "getting, decoding, and splitting"): split at commas
    outside quoted strings, each trimmed of spaces and tabs."""
    values: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(line):
        c = line[i]
        if c == ",":
            values.append("".join(current).strip(" \t"))
            current = []
            i += 1
        elif c == '"':
            _, end = _quoted_string(line, i)
            current.append(line[i:end])
            i = end
        else:
            current.append(c)
            i += 1
    values.append("".join(current).strip(" \t"))
    return values


def parse_mime_type(value: str) -> MimeType | None:
    """``value`` parsed as WHATWG's "parse a MIME type" does; None when it is no type."""
    text = value.strip(_WHITESPACE)
    kind, slash, rest = text.partition("/")
    subtype, _, params = rest.partition(";")
    subtype = subtype.rstrip(_WHITESPACE)
    if not slash or not kind or not subtype or not _TOKEN.issuperset(kind + subtype):
        return None
    parameters: dict[str, str] = {}
    i = 0
    while i < len(params):
        while i < len(params) and params[i] in _WHITESPACE:
            i += 1
        end = i
        while end < len(params) and params[end] not in ";=":
            end += 1
        name, i = params[i:end].lower(), end
        if i < len(params) and params[i] == ";":
            i += 1
            continue
        i += 1  # past "="
        if i >= len(params):
            break
        if params[i] == '"':
            item, i = _quoted_string(params, i)
            i = _past_semicolon(params, i)  # what follows the quotes is dropped
        else:
            end = _past_semicolon(params, i)
            item, i = params[i:end].rstrip(_WHITESPACE + ";"), end
            if not item:
                continue
        if name and _TOKEN.issuperset(name) and _quoted_text(item) and name not in parameters:
            parameters[name] = item
    return MimeType(f"{kind}/{subtype}".lower(), tuple(parameters.items()))


def _past_semicolon(text: str, i: int) -> int:
    """Past the next ``;`` from ``i``, or the end of ``text``."""
    end = text.find(";", i)
    return len(text) if end < 0 else end + 1


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
    as the media type (refused as before, with what was sent in the error)."""
    mime = extract_mime_type(header)
    if mime is None:
        return header, header.split(";")[0].strip().lower()
    if len(split_values(header)) == 1:
        return header.strip(_WHITESPACE), mime.essence
    return mime.serialized(), mime.essence
