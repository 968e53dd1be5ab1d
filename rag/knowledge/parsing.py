"""Turn uploaded or fetched bytes (txt, md, html, pdf, docx) into titled, structured sections.

Parsing is synchronous and CPU-bound (pypdf in particular). What one document may cost is bounded
by :class:`ParseLimits`: its decoded size is checked before and while parsing (``parse``), and
``parse_isolated`` runs the parser in a child process that is killed when it runs out of time or
memory, so a hostile file can neither hang a worker nor grow the worker's memory. Call
``parse_isolated`` through ``asyncio.to_thread`` from async code.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import multiprocessing
import os
import re
import struct
import sys
import threading
import types
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import CData, Comment, Declaration, Doctype, ProcessingInstruction

from core.errors import AppError, UnsupportedMediaType

Kind = Literal["txt", "md", "html", "pdf", "docx"]

log = logging.getLogger(__name__)

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MIB = 1_048_576
MAX_ZIP_MEMBERS = 10_000  # a real DOCX has dozens of parts; the zip directory is read first
_RATIO_CHECKED_FROM = MIB  # parts smaller than this are not checked for their ratio


class DocumentTooLarge(AppError):
    code = "document_too_large"
    status_code = 413
    message = "The document is too large to parse"


class ParseTimeout(AppError):
    code = "parse_timeout"
    status_code = 422
    message = "Parsing the document took too long"


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


_CONTENT_TYPES: dict[str, Kind] = {
    "text/plain": "txt",
    "text/markdown": "md",
    "text/x-markdown": "md",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
    "application/x-pdf": "pdf",
    DOCX_MIME: "docx",
}
_GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream", "application/unknown"}
_EXTENSIONS: dict[str, Kind] = {
    ".txt": "txt",
    ".text": "txt",
    ".md": "md",
    ".markdown": "md",
    ".mdown": "md",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".pdf": "pdf",
    ".docx": "docx",
}


@dataclass(slots=True)
class Section:
    """A run of text under one heading path (html/md/docx) or on one page (pdf)."""

    text: str
    heading_path: list[str] = field(default_factory=list)
    page: int | None = None


@dataclass(slots=True)
class ParsedDocument:
    """A parsed document: best-guess title, detected kind and its sections in reading order."""

    title: str
    sections: list[Section]
    kind: Kind = "txt"
    # The title as the document states it (<title>...), when the parser chose another one
    # (a man page's NAME line): a stored title equal to it was the parser's, not an owner's.
    source_title: str | None = None

    @property
    def text(self) -> str:
        return "\n\n".join(s.text for s in self.sections)


def sha256_text(text: str) -> str:
    """Hex SHA-256 of the UTF-8 encoding of ``text``."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- normalization

_LIGATURES = str.maketrans({"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st"})
_INVISIBLE = re.compile(r"[\u200b-\u200d\u2060\ufeff\u00ad]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_HSPACE = re.compile(r"[^\S\n]+")
_BLANKS = re.compile(r"\n{3,}")


def normalize_text(text: str) -> str:
    """Collapse runs of spaces, trim lines, keep single line breaks and one blank line as a
    paragraph break."""
    text = unicodedata.normalize("NFC", text).translate(_LIGATURES)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub(" ", text)
    text = _HSPACE.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANKS.sub("\n\n", text).strip()


# Encodings taken from detection (charset_normalizer) when a file is neither UTF-8 nor declares
# its charset: the multibyte East Asian ones and the Cyrillic and Greek single-byte ones, which
# cp1252 would turn into mojibake. Western European text stays cp1252, which detection mistakes
# for cp1250 ("Genčve" for "Genève").
_EAST_ASIAN = (
    *("cp932", "shift_jis", "shift_jis_2004", "euc_jp", "iso2022_jp"),
    *("gb2312", "gbk", "gb18030", "hz", "big5", "big5hkscs", "cp950"),
    *("cp949", "euc_kr", "johab", "iso2022_kr"),
)
_CYRILLIC = ("cp1251", "koi8_r", "koi8_u", "iso8859_5", "mac_cyrillic", "cp866", "cp855")
_GREEK = ("cp1253", "iso8859_7")
_DETECTED = frozenset((*_EAST_ASIAN, *_CYRILLIC, *_GREEK))


def _utf16_without_bom(data: bytes) -> str | None:
    """``utf-16-le`` or ``-be`` when every other byte of the start is NUL (text of Latin script
    in UTF-16 without a byte order mark, which UTF-8 would "decode" with a NUL between
    letters)."""
    head = data[:4096]
    if len(head) < 8 or head.count(0) < len(head) // 4:
        return None
    odd, even = head[1::2], head[0::2]
    if odd.count(0) >= 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) >= 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def _decode(data: bytes, content_type: str | None) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    charset = _charset(content_type)
    if charset is None and (utf16 := _utf16_without_bom(data)) is not None:
        return data.decode(utf16, errors="replace")  # an odd last byte (a cut body) too
    for encoding in (charset, "utf-8"):
        if not encoding:
            continue
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
    import charset_normalizer

    best = charset_normalizer.from_bytes(data[:200_000]).best()
    if best is not None and best.encoding in _DETECTED:
        text = data.decode(best.encoding, errors="replace")
        if _in_its_script(text, best.encoding):
            return text
    return data.decode("cp1252", errors="replace")


def _in_its_script(text: str, encoding: str) -> bool:
    """Whether most letters of ``text`` are of the script ``encoding`` is for: detection takes
    short Western text for cp932 (a multiplication sign read as a half-width katakana) or for
    Cyrillic, where the letters stay Latin but for a few."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return False
    if encoding in _CYRILLIC:
        ours = sum("\u0400" <= c <= "\u04ff" for c in letters)
    elif encoding in _GREEK:
        ours = sum("\u0370" <= c <= "\u03ff" for c in letters)
    else:  # East Asian: kana, ideographs, Hangul; never half-width katakana
        ours = sum(
            "\u3040" <= c <= "\u30ff" or "\u3400" <= c <= "\u9fff" or "\uac00" <= c <= "\ud7af"
            for c in letters
        )
    return ours >= 0.5 * len(letters)


def _charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = re.search(r"charset=\"?([\w.:-]+)", content_type, re.IGNORECASE)
    return match.group(1) if match else None


# --------------------------------------------------------------------------- type detection


def _zip_entries(data: bytes) -> int | None:
    """The entry count the zip's end-of-central-directory record declares (None: not found or
    ZIP64), read before the directory itself is."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if end == -1 or end + 22 > len(data):
        return None
    (entries,) = struct.unpack_from("<H", data, end + 10)
    return None if entries == 0xFFFF else int(entries)


def _magic(data: bytes) -> Kind | None:
    if data[:1024].lstrip().startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        entries = _zip_entries(data)
        if entries is not None and entries > MAX_ZIP_MEMBERS:
            raise DocumentTooLarge(
                f"The archive has {entries} parts; at most {MAX_ZIP_MEMBERS} are read",
                details={"parts": entries, "limit": MAX_ZIP_MEMBERS},
            )
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                if "word/document.xml" in archive.namelist():
                    return "docx"
        except zipfile.BadZipFile:
            return None
    return None


def _looks_like_text(data: bytes) -> bool:
    head = data[:4096]
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    controls = sum(1 for b in head if b < 9 or 13 < b < 32)
    return controls <= len(head) // 100


def _looks_like_html(text: str) -> bool:
    head = text[:2048].lstrip().lower()
    return head.startswith(("<!doctype html", "<html")) or bool(
        re.search(r"<(head|body|p|div|h1)[\s>]", head)
    )


def detect_kind(data: bytes, *, filename: str | None, content_type: str | None) -> Kind:
    """Pick the parser: binary magic first, then content type, then extension, then sniffing.
    A file named or typed as text whose bytes no text has (garbage.txt, a program renamed .md)
    is refused: it was indexed as pages of control characters the bot then cited."""
    kind = _claimed_kind(data, filename=filename, content_type=content_type)
    if kind in ("txt", "md", "html") and _binary(data, content_type):
        raise UnsupportedMediaType(
            f"File does not look like {kind.upper()}: it holds binary data",
            details={"content_type": content_type, "filename": filename},
        )
    return kind


def _binary(data: bytes, content_type: str | None) -> bool:
    """Bytes of no text: its start, decoded as the parser would decode it (a byte order mark,
    the charset, UTF-16 without a mark...), holds more than 1 % control characters."""
    if _looks_like_text(data):
        return False
    head = _decode(data[:4096], content_type)
    controls = sum(1 for ch in head if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    return controls > len(head) // 100


def _claimed_kind(data: bytes, *, filename: str | None, content_type: str | None) -> Kind:
    magic = _magic(data)
    if magic is not None:
        return magic
    media = (content_type or "").split(";")[0].strip().lower()
    ext_kind = _EXTENSIONS.get(PurePosixPath(filename or "").suffix.lower())
    ct_kind = _CONTENT_TYPES.get(media)
    if ct_kind in ("pdf", "docx") or ext_kind in ("pdf", "docx"):
        # Claimed binary format without its signature: corrupt or mislabelled.
        raise UnsupportedMediaType(
            f"File does not look like a valid {(ct_kind or ext_kind or '').upper()}",
            details={"content_type": content_type, "filename": filename},
        )
    if ct_kind == "txt" and ext_kind in ("md", "html"):
        return ext_kind
    if ct_kind is not None:
        return ct_kind
    if media not in _GENERIC_TYPES and not media.startswith("text/") and ext_kind is None:
        raise UnsupportedMediaType(
            f"Unsupported file type {media!r}: expected text, Markdown, HTML, PDF or DOCX",
            details={"content_type": content_type, "filename": filename},
        )
    if ext_kind is not None:
        return ext_kind
    if _looks_like_text(data):
        return "html" if _looks_like_html(_decode(data[:4096], content_type)) else "txt"
    raise UnsupportedMediaType(
        "Unsupported file type: expected text, Markdown, HTML, PDF or DOCX",
        details={"content_type": content_type, "filename": filename},
    )


# --------------------------------------------------------------------------- entry point


def check_size(data: bytes, kind: Kind, limits: ParseLimits) -> None:
    """Refuse (413 ``document_too_large``) what would decode past the limits, before parsing:
    a DOCX by its zip directory (the sizes zipfile then enforces while reading), text formats
    by their length. PDF streams and pages are bounded while parsing."""
    if kind == "docx":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            _check_docx_archive(archive, limits)
    elif kind != "pdf" and len(data) > limits.max_decoded_bytes:
        raise DocumentTooLarge(
            f"The document is {len(data)} bytes; at most {limits.max_decoded_bytes} are parsed",
            details={"size": len(data), "limit": limits.max_decoded_bytes},
        )


def _check_docx_archive(archive: zipfile.ZipFile, limits: ParseLimits) -> None:
    infos = archive.infolist()
    if len(infos) > MAX_ZIP_MEMBERS:
        raise DocumentTooLarge(
            f"The DOCX file has {len(infos)} parts; at most {MAX_ZIP_MEMBERS} are read",
            details={"parts": len(infos), "limit": MAX_ZIP_MEMBERS},
        )
    ratio = limits.max_zip_ratio
    for info in infos:
        packed = max(info.compress_size, 1)
        if (
            ratio is not None
            and info.file_size > _RATIO_CHECKED_FROM
            and info.file_size > ratio * packed
        ):
            raise DocumentTooLarge(
                f"The DOCX part {info.filename} expands {info.file_size // packed} times"
                f" (to {info.file_size} bytes): refused as a compression bomb",
                details={"member": info.filename, "size": info.file_size, "ratio": ratio},
            )
    total = sum(info.file_size for info in infos)
    if total > limits.max_decoded_bytes:
        raise DocumentTooLarge(
            f"The DOCX file expands to {total} bytes; at most {limits.max_decoded_bytes} are"
            " parsed",
            details={"size": total, "limit": limits.max_decoded_bytes},
        )


def parse(
    data: bytes,
    *,
    filename: str | None,
    content_type: str | None,
    limits: ParseLimits | None = None,
) -> ParsedDocument:
    """Parse ``data`` into a :class:`ParsedDocument` within ``limits`` (the defaults if None).

    Raises ``UnsupportedMediaType`` for unknown types, ``DocumentTooLarge`` past a limit,
    ``AppError(code="nothing_extractable")`` when no text comes out and
    ``AppError(code="parse_failed")`` for corrupt files.
    """
    limits = limits or ParseLimits()
    kind = detect_kind(data, filename=filename, content_type=content_type)
    try:
        check_size(data, kind, limits)
        if kind == "pdf":
            title, sections = _parse_pdf(data, limits)
        elif kind == "docx":
            title, sections = _parse_docx(data)
        elif kind == "html":
            title, sections = _parse_html(data, content_type)
        elif kind == "md":
            title, sections = _parse_markdown(_decode(data, content_type))
        else:
            title, sections = None, _text_sections(_decode(data, content_type), [])
    except (AppError, MemoryError):
        raise
    except Exception as exc:
        raise AppError(
            f"Could not read the {kind.upper()} file: {exc}",
            code="parse_failed",
            status_code=422,
            details={"kind": kind},
        ) from exc
    sections = [s for s in sections if s.text]
    if not sections:
        raise AppError(
            "No text could be extracted from this document",
            code="nothing_extractable",
            status_code=422,
            details={"kind": kind},
        )
    stated = _clean_title(title)
    title, sections = _man_page_name(title, sections)
    title = _clean_title(title) or _clean_title(filename) or "Untitled"
    return ParsedDocument(
        title=title, sections=sections, kind=kind, source_title=stated if stated != title else None
    )


# A manual page's NAME section: "git-add - Add file contents to the index".
_NAME_LINE = re.compile(r"^(\S+(?:, ?\S+)*) +[-\u2013\u2014] +(\S.*)$")


def _man_page_name(title: str | None, sections: list[Section]) -> tuple[str | None, list[Section]]:
    """A manual page (a section headed NAME holding one "command - what it does" line) is
    titled by that line: "git-add(1)" becomes "git-add - Add file contents to the index", and a
    heading that only repeats the old title ("git-add(1) Manual Page") leaves every heading
    path. Anything else is returned as it is."""
    for section in sections[:3]:
        if not section.heading_path or section.heading_path[-1] != "NAME":
            continue
        lines = section.text.split("\n\n")
        body = " ".join(" ".join(lines[1:]).split()) if lines[0].strip() == "NAME" else ""
        if not _NAME_LINE.match(body) or len(body) > 200:
            return title, sections
        old = " ".join((title or "").split()).casefold()
        if old:
            for s in sections:
                s.heading_path = [
                    h for h in s.heading_path if not " ".join(h.split()).casefold().startswith(old)
                ]
        return body, sections
    return title, sections


def _clean_title(title: str | None) -> str | None:
    if not title:
        return None
    cleaned = " ".join(title.split())[:300]
    return cleaned or None


def _text_sections(text: str, heading_path: list[str]) -> list[Section]:
    text = normalize_text(text)
    return [Section(text=text, heading_path=list(heading_path))] if text else []


class _SectionBuilder:
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
        self._stack.append((level, text))
        self._paragraphs = [text]
        self._heading_only = True

    def paragraph(self, text: str) -> None:
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


# --------------------------------------------------------------------------- html

_DROP_TAGS = [
    "nav",
    "aside",
    "script",
    "style",
    "noscript",
    "form",
    "template",
    "svg",
    "iframe",
    "button",
    "select",
    "textarea",
    "canvas",
    "object",
    "embed",
    "head",
]
_BLOCK_TAGS = {
    "p",
    "div",
    "section",
    "article",
    "main",
    "blockquote",
    "pre",
    "ul",
    "ol",
    "li",
    "dl",
    "dt",
    "dd",
    "table",
    "thead",
    "tbody",
    "tfoot",
    "tr",
    "figure",
    "figcaption",
    "address",
    "details",
    "summary",
    "hr",
    "header",
    "footer",
    "caption",
}
_DROP_ROLES = {"navigation", "banner", "contentinfo", "search", "complementary"}
# Page chrome that generators mark by class or id rather than by tag or role: DocBook's
# navigation tables, AsciiDoc's and Sphinx's "Last updated"/copyright footers.
_CHROME_CLASSES = {"navheader", "navfooter", "footer", "related", "sphinxsidebar"}
_CHROME_IDS = {"footer", "footer-text"}
# A link whose whole text is one of these is a heading's permalink (Sphinx, MkDocs, GitHub).
_PERMALINK_GLYPHS = {"¶", "#", "§", "🔗", "⚓"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")  # HTML white space; NBSP is kept as content
_SKIP_STRINGS = (Comment, Declaration, Doctype, ProcessingInstruction, CData)


def _parse_html(data: bytes, content_type: str | None) -> tuple[str | None, list[Section]]:
    charset = _charset(content_type)
    soup = BeautifulSoup(data, "lxml", from_encoding=charset) if charset else None
    if soup is None:
        soup = BeautifulSoup(data, "lxml")
    title_tag = soup.find("title")
    title = title_tag.get_text(" ", strip=True) if title_tag else None
    root = _main_content(soup)
    for tag in root.find_all(_is_boilerplate):
        if not tag.decomposed:
            tag.decompose()
    if not title:
        h1 = root.find("h1")
        title = h1.get_text(" ", strip=True) if h1 else None
    builder = _SectionBuilder()
    buffer: list[str] = []
    _walk_html(root, builder, buffer)
    builder.paragraph("".join(buffer))
    return title, builder.finish()


def _is_boilerplate(tag: Tag) -> bool:
    """Navigation, chrome, scripts, forms and hidden elements: never document content."""
    name = tag.name
    if name in _DROP_TAGS:
        return True
    if name == "footer" or (name == "header" and tag.find_parent("article") is None):
        return True
    if tag.has_attr("hidden") or str(tag.get("aria-hidden", "")).lower() == "true":
        return True
    if name == "a" and tag.get_text(strip=True) in _PERMALINK_GLYPHS:
        return True
    classes = tag.get_attribute_list("class")
    if any(c in _CHROME_CLASSES for c in classes) or tag.get("id") in _CHROME_IDS:
        return True
    return str(tag.get("role", "")).lower() in _DROP_ROLES


def _main_content(soup: BeautifulSoup) -> Tag:
    for finder in (
        lambda: soup.find("main"),
        lambda: soup.find(lambda tag: tag.get("role") == "main"),
    ):
        found = finder()
        if isinstance(found, Tag):
            return found
    articles = soup.find_all("article")
    if len(articles) == 1 and isinstance(articles[0], Tag):
        return articles[0]
    body = soup.find("body")
    return body if isinstance(body, Tag) else soup


def _walk_html(node: Tag, builder: _SectionBuilder, buffer: list[str]) -> None:
    for child in node.children:
        if isinstance(child, NavigableString):
            if not isinstance(child, _SKIP_STRINGS):
                buffer.append(_HTML_SPACE.sub(" ", str(child)))
            continue
        if not isinstance(child, Tag):
            continue
        name = child.name
        if name in _HEADINGS:
            builder.paragraph("".join(buffer))
            buffer.clear()
            builder.heading(_HEADINGS[name], child.get_text(" ", strip=True))
        elif name == "br":
            buffer.append("\n")
        elif name == "pre":
            builder.paragraph("".join(buffer))
            buffer.clear()
            builder.paragraph(child.get_text())
        elif name in ("td", "th"):
            buffer.append(" ")
            _walk_html(child, builder, buffer)
            buffer.append(" ")
        elif name in _BLOCK_TAGS:
            builder.paragraph("".join(buffer))
            buffer.clear()
            if name == "li":
                buffer.append("- ")
            _walk_html(child, builder, buffer)
            builder.paragraph("".join(buffer))
            buffer.clear()
        elif name == "img":
            alt = child.get("alt")
            if isinstance(alt, str) and alt.strip():
                buffer.append(f" {alt.strip()} ")
        else:
            _walk_html(child, builder, buffer)


# --------------------------------------------------------------------------- markdown

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_REF_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s+\S+.*$")
_EMPHASIS = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_CODE = re.compile(r"`([^`\n]+)`")
_HTML_TAG = re.compile(r"</?[a-zA-Z][^>\n]*>")
_FRONT_TITLE = re.compile(r"^title:\s*[\"']?(.*?)[\"']?\s*$", re.MULTILINE)


def _md_inline(line: str) -> str:
    line = _IMAGE.sub(r"\1", line)
    line = _LINK.sub(r"\1", line)
    line = _EMPHASIS.sub(r"\2", line)
    line = _CODE.sub(r"\1", line)
    return _HTML_TAG.sub("", line)


def _parse_markdown(text: str) -> tuple[str | None, list[Section]]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    front_title: str | None = None
    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        if end != -1:
            match = _FRONT_TITLE.search(text[4:end])
            front_title = match.group(1) if match else None
            text = text[end + 4 :].lstrip("-")
    builder = _SectionBuilder()
    first_heading: str | None = None
    para: list[str] = []
    fence: str | None = None

    def flush_para() -> None:
        builder.paragraph("\n".join(para))
        para.clear()

    for line in text.split("\n"):
        if fence is not None:
            if line.strip().startswith(fence):
                fence = None
                flush_para()
            else:
                para.append(line)
            continue
        fence_match = _FENCE.match(line)
        if fence_match:
            flush_para()
            fence = fence_match.group(1)[0] * 3
            continue
        atx = _ATX.match(line)
        if atx:
            flush_para()
            heading = _md_inline(atx.group(2) or "").strip()
            builder.heading(len(atx.group(1)), heading)
            first_heading = first_heading or heading or None
            continue
        setext = _SETEXT.match(line)
        if setext and len(para) == 1 and para[0].strip():
            heading = _md_inline(para.pop()).strip()
            builder.heading(1 if setext.group(1)[0] == "=" else 2, heading)
            first_heading = first_heading or heading or None
            continue
        if not line.strip():
            flush_para()
            continue
        if _REF_DEF.match(line) or re.fullmatch(r" {0,3}([-*_])( *\1){2,} *", line):
            flush_para()
            continue
        para.append(_md_inline(line.lstrip(" >") if line.lstrip().startswith(">") else line))
    flush_para()
    return front_title or first_heading, builder.finish()


# --------------------------------------------------------------------------- pdf

_HYPHEN_BREAK = re.compile(r"(?<=[a-z])-\n(?=[a-z])")


def _parse_pdf(data: bytes, limits: ParseLimits) -> tuple[str | None, list[Section]]:
    from pypdf import PdfReader, apply_configuration
    from pypdf.errors import LimitReachedError

    bound = limits.max_decoded_bytes
    too_large = DocumentTooLarge(
        f"The PDF decodes to more than {bound} bytes", details={"limit": bound}
    )
    with apply_configuration(  # every decoded stream within the bound
        zlib_maximum_output_length=bound,
        lzw_maximum_output_length=bound,
        run_length_maximum_output_length=bound,
        brotli_maximum_output_length=bound,
        jbig2_maximum_output_length=bound,
        array_based_stream_maximum_output_length=bound,
        image_maximum_buffer_size=bound,
    ):
        try:
            return _read_pdf(PdfReader(io.BytesIO(data)), limits, too_large)
        except LimitReachedError as exc:
            raise too_large from exc


def _read_pdf(
    reader: Any, limits: ParseLimits, too_large: DocumentTooLarge
) -> tuple[str | None, list[Section]]:
    if reader.is_encrypted and not reader.decrypt(""):
        raise AppError("The PDF is password-protected", code="nothing_extractable", status_code=422)
    pages = len(reader.pages)
    if pages > limits.max_pages:
        raise DocumentTooLarge(
            f"The PDF has {pages} pages; at most {limits.max_pages} pages are read",
            details={"pages": pages, "limit": limits.max_pages},
        )
    title: str | None = None
    try:
        metadata = reader.metadata
        title = str(metadata.title) if metadata is not None and metadata.title else None
    except Exception:  # broken metadata must not sink the text
        title = None
    sections: list[Section] = []
    extracted = 0
    for number, page in enumerate(reader.pages, start=1):
        raw = page.extract_text() or ""
        extracted += len(raw)
        if extracted > limits.max_decoded_bytes:
            raise too_large
        text = normalize_text(_HYPHEN_BREAK.sub("", raw))
        if text:
            sections.append(Section(text=text, heading_path=[], page=number))
    return title, sections


# --------------------------------------------------------------------------- docx

_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)


def _docx_heading_level(style: Any) -> int | None:
    depth = 0
    while style is not None and depth < 5:
        for name in (style.name or "", style.style_id or ""):
            match = _HEADING_STYLE.match(name.strip())
            if match:
                return int(match.group(1))
        style = style.base_style
        depth += 1
    return None


class _DocxStyles:
    """A paragraph's role (title, heading level) by style id, looked up once per style.

    python-docx resolves a paragraph's style by scanning every style of the document, which
    costs milliseconds per paragraph: once per distinct style id is enough.
    """

    def __init__(self) -> None:
        self._roles: dict[str | None, tuple[bool, int | None]] = {}

    def role(self, paragraph: Any) -> tuple[bool, int | None]:
        style_id = paragraph._p.style
        role = self._roles.get(style_id)
        if role is None:
            style = paragraph.style
            name = ((style.name if style is not None else "") or "").strip().lower()
            role = (name == "title", _docx_heading_level(style))
            self._roles[style_id] = role
        return role


def _docx_blocks(document: Any) -> Iterator[tuple[str, Any]]:
    from docx.table import Table

    for block in document.iter_inner_content():
        if isinstance(block, Table):
            rows = []
            for row in block.rows:
                cells: list[str] = []
                for cell in row.cells:
                    value = " ".join(cell.text.split())
                    if value and (not cells or cells[-1] != value):  # merged cells repeat
                        cells.append(value)
                if cells:
                    rows.append(" | ".join(cells))
            yield "table", "\n".join(rows)
        else:
            yield "paragraph", block


def _parse_docx(data: bytes) -> tuple[str | None, list[Section]]:
    import docx

    document = docx.Document(io.BytesIO(data))  # check_size has bounded every part
    title = (document.core_properties.title or "").strip() or None
    style_title: str | None = None
    first_heading: str | None = None
    builder = _SectionBuilder()
    styles = _DocxStyles()
    for kind, block in _docx_blocks(document):
        if kind == "table":
            builder.paragraph(block)
            continue
        text = block.text
        is_title, level = styles.role(block)
        if is_title:
            style_title = style_title or " ".join(text.split()) or None
            builder.paragraph(text)
            continue
        if level is not None:
            first_heading = first_heading or " ".join(text.split()) or None
            builder.heading(level, text)
        else:
            builder.paragraph(text)
    return title or style_title or first_heading, builder.finish()


# --------------------------------------------------------------------------- isolation

# Parser children fork from a small server process that has the parsers imported (started once,
# on first use; it exits with this process), so a child costs milliseconds, not an import.
_PRELOAD = ["rag.knowledge.parsing", "bs4", "docx", "pypdf", "lxml.etree"]
_context_lock = threading.Lock()
_context: Any = None


def _forkserver() -> Any:
    global _context
    with _context_lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(_PRELOAD)
            _context = context
        return _context


_BARE_MAIN = types.ModuleType("__main__")
_start_lock = threading.Lock()


def _start(child: Any) -> None:
    """Start ``child`` without re-running this program's main script in it.

    CPython's fork server does not import the parent's ``__main__`` once, so every child would
    execute the script again (for ``trulybot``: importing the whole CLI, a quarter of a second
    per document). The target lives in this module, so the child needs nothing from
    ``__main__``: while the child is started, multiprocessing sees a bare one.
    """
    with _start_lock:
        main = sys.modules["__main__"]
        sys.modules["__main__"] = _BARE_MAIN
        try:
            try:
                child.start()
            except ChildProcessError:
                _forget_fork_server()
                child.start()
        finally:
            sys.modules["__main__"] = main


def _forget_fork_server() -> None:
    """Let the next start launch a new fork server.

    multiprocessing checks that its fork server is alive with ``waitpid(pid, WNOHANG)``; when the
    server has exited and something else in this process already reaped it (a ``waitpid(-1)`` or
    an ignored SIGCHLD in a library: seen in the test suite after the browser tests), that check
    raises ECHILD on every later start instead of launching a new server, and no document could
    be parsed again. Forget the dead server's pid, socket and pipe; multiprocessing starts anew.
    """
    from multiprocessing import forkserver, util

    server: Any = forkserver._forkserver
    with contextlib.suppress(OSError, TypeError):
        os.close(server._forkserver_alive_fd)
    address = server._forkserver_address
    server._forkserver_alive_fd = None
    server._forkserver_pid = None
    server._forkserver_address = None
    if address and not util.is_abstract_socket_namespace(address):
        with contextlib.suppress(OSError):
            os.unlink(address)


def _near_memory_limit(limit: int | None) -> bool:
    """Whether this process's address space peaked at half its limit or more."""
    if limit is None:
        return False
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmPeak:"):
                    return int(line.split()[1]) * 1024 >= limit // 2
    except OSError:
        return False
    return False


def _parse_child(
    conn: Any, data: bytes, filename: str | None, content_type: str | None, limits: ParseLimits
) -> None:
    """In the child: parse within an address-space limit and send back the outcome."""
    import resource

    if limits.max_memory_bytes is not None:
        resource.setrlimit(resource.RLIMIT_AS, (limits.max_memory_bytes, limits.max_memory_bytes))
    outcome: tuple[Any, ...]
    try:
        outcome = ("ok", parse(data, filename=filename, content_type=content_type, limits=limits))
    except MemoryError:
        outcome = ("memory",)
    except AppError as exc:
        outcome = ("error", exc.code, exc.message, exc.status_code, exc.details)
        if exc.code == "parse_failed" and _near_memory_limit(limits.max_memory_bytes):
            outcome = ("memory",)  # C parsers report a failed allocation as a parse error
    try:
        conn.send(outcome)
    except MemoryError:
        conn.send(("memory",))
    conn.close()


def parse_isolated(
    data: bytes, *, filename: str | None, content_type: str | None, limits: ParseLimits
) -> ParsedDocument:
    """:func:`parse` in a child process, killed after ``limits.timeout_seconds`` (422
    ``parse_timeout``) and held to ``limits.max_memory_bytes`` (413 ``document_too_large``).

    Blocks the calling thread until the child answers or is killed: call it through
    ``asyncio.to_thread``.
    """
    context = _forkserver()
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_parse_child,
        args=(sender, data, filename, content_type, limits),
        name="trulybot-parse",
        daemon=True,
    )
    outcome: tuple[Any, ...] | None = None
    try:
        try:
            _start(child)
        finally:
            sender.close()  # the child has its own copy; ours would hide the child's exit
        if not receiver.poll(limits.timeout_seconds):
            raise ParseTimeout(
                f"Parsing took longer than {limits.timeout_seconds:g} s and was stopped",
                details={"limit_seconds": limits.timeout_seconds},
            )
        try:
            outcome = receiver.recv()
        except EOFError:  # the child died without an answer
            outcome = None
    finally:
        receiver.close()
        exitcode = None
        if child.pid is not None:  # started
            if child.is_alive():
                child.kill()
            child.join()
            exitcode = child.exitcode
            child.close()
    if outcome is not None and outcome[0] == "ok":
        parsed: ParsedDocument = outcome[1]
        return parsed
    if outcome is not None and outcome[0] == "error":
        _, code, message, status_code, details = outcome
        if code == DocumentTooLarge.code:
            raise DocumentTooLarge(message, details=details)
        raise AppError(message, code=code, status_code=status_code, details=details)
    if outcome is not None or exitcode == -9:  # out of memory (ours, or the kernel's killer)
        limit = limits.max_memory_bytes
        raise DocumentTooLarge(
            "Parsing the document needs more memory than allowed"
            + (f" ({limit // MIB} MiB)" if limit else ""),
            details={"limit_bytes": limit},
        )
    log.warning("document parser exited with %s without an answer", exitcode)
    raise AppError(
        "The document could not be read (the parser stopped)",
        code="parse_failed",
        status_code=422,
        details={"exitcode": exitcode},
    )


__all__ = [
    "DOCX_MIME",
    "DocumentTooLarge",
    "Kind",
    "ParseLimits",
    "ParseTimeout",
    "ParsedDocument",
    "Section",
    "check_size",
    "detect_kind",
    "normalize_text",
    "parse",
    "parse_isolated",
    "sha256_text",
]
