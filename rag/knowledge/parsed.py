"""What parsing produces and what it may cost: sections under their heading paths, the parsed
document, the bounds (``ParseLimits``) and their errors, and the text normalisation every format
shares (``normalize_text``, ``SectionBuilder``). The formats live in ``rag.knowledge.html_parsing``
and ``rag.knowledge.formats``; ``rag.knowledge.parsing`` detects the kind and parses.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

from core.errors import AppError
from core.text import LONE_SURROGATE

Kind = Literal["txt", "md", "html", "pdf", "docx"]

MIB = 1_048_576
MAX_HEADING = 300
"""The most characters a heading keeps in a heading path (and so in every chunk's metadata
under it); its section's text keeps all of it."""


class DocumentTooLarge(AppError):
    code = "document_too_large"
    status_code = 413
    message = "The document is too large to parse"


class ParseTimeout(AppError):
    code = "parse_timeout"
    status_code = 422
    message = "Parsing the document took too long"


def unreadable(kind: str, reason: str) -> AppError:
    """422 ``parse_failed``: the file is of ``kind`` but cannot be read."""
    return AppError(
        f"Could not read the {kind.upper()} file: {reason}",
        code="parse_failed",
        status_code=422,
        details={"kind": kind},
    )


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """What parsing one document may cost (see ``PARSE_*`` in .env.example).

    ``max_decoded_bytes``: the most a document may expand to: a DOCX's parts together, each
    decoded PDF stream and the text extracted from a PDF, a text/Markdown/HTML body.
    ``max_pages``: PDF pages. ``max_zip_ratio``: a DOCX part over 1 MiB may be at most this many
    times its compressed size (None: unchecked), as zip bombs are. ``timeout_seconds`` and
    ``max_memory_bytes`` (address space, None: unbounded) apply to ``parse_isolated``'s child.
    """

    max_decoded_bytes: int = 32 * MIB
    max_pages: int = 2000
    timeout_seconds: float = 60.0
    max_memory_bytes: int | None = 1024 * MIB
    max_zip_ratio: int | None = 100


@dataclass(frozen=True, slots=True)
class Notice:
    """What a parser left out of a document it read (``pages_unreadable``: PDF pages)."""

    message: str
    code: str


@dataclass(slots=True)
class Section:
    """A run of text under one heading path (html/md/docx) or on one page (pdf)."""

    text: str
    heading_path: list[str] = field(default_factory=list)
    page: int | None = None
    headings: list[str] = field(default_factory=list)
    """The headings inside ``text`` that ``heading_path`` does not name: those of the small
    sections joined into this one (``chunking.merge_small``), each as its own paragraph."""


@dataclass(slots=True)
class ParsedDocument:
    """A parsed document: best-guess title, detected kind and its sections in reading order."""

    title: str
    sections: list[Section]
    kind: Kind = "txt"
    # The title as the document states it (<title>...), when the parser chose another one
    # (a man page's NAME line): a stored title equal to it was the parser's, not an owner's.
    source_title: str | None = None
    # What was left out though the rest was read (a PDF's unreadable pages), for the owner: the
    # ready document's ``error`` and ``error_code``.
    warning: Notice | None = None

    @property
    def text(self) -> str:
        return "\n\n".join(s.text for s in self.sections)


_LIGATURES = str.maketrans({"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st"})
_INVISIBLE = re.compile(r"[\u200b-\u200d\u2060\ufeff\u00ad]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_HSPACE = re.compile(r"[^\S\n]+")
_BLANKS = re.compile(r"\n{3,}")


def normalize_text(text: str) -> str:
    """Collapse runs of spaces, trim lines, keep single line breaks and one blank line as a
    paragraph break."""
    if text.isascii() and text.isprintable() and "  " not in text:
        return text.strip()  # one line, no control characters: only its ends change
    text = unicodedata.normalize("NFC", text).translate(_LIGATURES)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub(" ", text)
    text = _HSPACE.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANKS.sub("\n\n", text).strip()


def storable(text: str) -> str:
    """``text`` as the database can hold it: a lone surrogate (which some charsets decode to:
    ``unicode_escape``, UTF-7's ``+2AA-``; a PDF's character map) becomes U+FFFD, as a byte
    that does not decode does (a pair of them the character they stand for), and a control
    character (a NUL, which PostgreSQL refuses in text and JSON) a space, as body text's do in
    ``normalize_text``. Headings and titles kept theirs, and the job failed ``internal_error``."""
    if LONE_SURROGATE.search(text) is not None:
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return _CONTROL.sub(" ", text)


def text_sections(text: str, heading_path: list[str]) -> list[Section]:
    text = normalize_text(text)
    return [Section(text=text, heading_path=list(heading_path))] if text else []


def short_heading(text: str) -> str:
    """``text`` as a heading path holds it: at most ``MAX_HEADING`` characters, cut at a word
    with an ellipsis. Every chunk under a heading carries its path: a heading of 245 KB (one
    Markdown line) gave 1,213 chunks 594 MB of metadata."""
    if len(text) <= MAX_HEADING:
        return text
    cut = text[: MAX_HEADING - 1]
    word = cut.rsplit(" ", 1)[0]
    return (word if len(word) >= MAX_HEADING // 2 else cut).rstrip() + "…"


class SectionBuilder:
    """Accumulates paragraphs under a heading stack and cuts a section at every heading."""

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self._stack: list[tuple[int, str]] = []
        self._paragraphs: list[str] = []
        self._heading_only = False

    @property
    def path(self) -> list[str]:
        return [text for _, text in self._stack]

    def heading(self, level: int, text: str) -> None:
        text = " ".join(text.split())
        if not text:
            return
        self.flush()
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, short_heading(text)))
        self._paragraphs = [text]
        self._heading_only = True

    def paragraph(self, text: str) -> None:
        if not text or text.isspace():  # nothing to normalise (a parser's empty buffer)
            return
        text = normalize_text(text)
        if text:
            self._paragraphs.append(text)
            self._heading_only = False

    def flush(self) -> None:
        # A heading directly followed by a sub-heading lives on in the sub-sections' path.
        if self._paragraphs and not self._heading_only:
            self.sections.append(
                Section(text="\n\n".join(self._paragraphs), heading_path=self.path)
            )
        self._paragraphs = []
        self._heading_only = False

    def finish(self) -> list[Section]:
        pending = list(self._paragraphs)
        self.flush()
        if not self.sections and pending:
            self.sections.append(Section(text="\n\n".join(pending), heading_path=self.path))
        return self.sections
