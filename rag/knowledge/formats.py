"""Markdown and PDF to sections (HTML: ``rag.knowledge.html_parsing``, DOCX:
``rag.knowledge.docx_parsing``)."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.errors import AppError
from rag.knowledge.parsed import (
    DocumentTooLarge,
    Notice,
    ParseLimits,
    Section,
    SectionBuilder,
    normalize_text,
    unreadable,
)

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- markdown

# Each pattern is linear in the line it is applied to: from any place it may start, it reads
# no further than the next place another match could start (the next bracket, parenthesis,
# "**" or "<"), so what one start reads in vain no later start reads again. Written as
# "[^\]]+" or ".+?" up to the end of the line, a line of 50 KB of "**a " or "<a" took minutes.
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t](.*))?$")  # the closing #s: ``_atx_text``
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_TARGET = r"\((?:[^()\n]|\([^()\n]*\))*\)"  # a link's target: one level of parentheses inside
_IMAGE = re.compile(r"!\[([^\[\]\n]*)\]" + _TARGET)
_LINK = re.compile(r"\[([^\[\]\n]+)\]" + _TARGET)
_REF_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s+\S+.*$")
_EMPHASIS = re.compile(r"(\*\*|__)(?=\S)((?:(?!\1).)+?)(?<=\S)\1")
_CODE = re.compile(r"`([^`\n]+)`")
_HTML_TAG = re.compile(r"</?[a-zA-Z][^<>\n]*>")


def _md_inline(line: str) -> str:
    line = _IMAGE.sub(r"\1", line)
    line = _LINK.sub(r"\1", line)
    line = _EMPHASIS.sub(r"\2", line)
    line = _CODE.sub(r"\1", line)
    return _HTML_TAG.sub("", line)


def _atx_text(rest: str | None) -> str:
    """An ATX heading's text after its opening #s, without its closing sequence ("## A ##")."""
    body = (rest or "").rstrip(" \t")
    unclosed = body.rstrip("#")
    if len(unclosed) < len(body) and (not unclosed or unclosed[-1] in " \t"):
        body = unclosed.rstrip(" \t")
    return body


def _without_comments(line: str, open_comment: bool, last_close: int) -> tuple[str, bool]:
    """``line`` without its HTML comments (``<!-- ... -->``, which may span lines: given and
    returned ``open_comment``, whether one is open at the line's end). A ``<!--`` inside a code
    span, or past ``last_close`` (where the document's last ``-->`` starts, counted from this
    line's start) is text: a stray one does not hide the rest of the document. Each ``find``
    starts past the last: linear in the line."""
    kept: list[str] = []
    start = 0
    ticks = 0  # backticks kept before ``start``: odd inside a code span
    while True:
        if open_comment:
            close = line.find("-->", start)
            if close == -1:
                return "".join(kept), True
            start, open_comment = close + 3, False
        opening = line.find("<!--", start)
        if opening == -1:
            kept.append(line[start:])
            return "".join(kept), False
        ticks += line.count("`", start, opening)
        open_comment = ticks % 2 == 0 and opening + 4 <= last_close
        end = opening if open_comment else opening + 4
        kept.append(line[start:end])
        start = opening + 4


def _front_title(front: str) -> str | None:
    """The ``title:`` of a front matter block, its quotes taken off."""
    for line in front.split("\n"):
        if line.startswith("title:"):
            value = line[len("title:") :].strip()
            value = value[1:] if value[:1] in ("'", '"') else value
            return value[:-1] if value[-1:] in ("'", '"') else value
    return None


def parse_markdown(text: str) -> tuple[str | None, list[Section]]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    front_title: str | None = None
    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        if end != -1:
            front_title = _front_title(text[4:end])
            text = text[end + 4 :].lstrip("-")
    builder = SectionBuilder()
    first_heading: str | None = None
    para: list[str] = []
    fence: str | None = None

    def flush_para() -> None:
        builder.paragraph("\n".join(para))
        para.clear()

    in_comment = False
    last_close = text.rfind("-->")
    offset = -1  # where the line before ends in ``text`` (its newline)
    for line in text.split("\n"):
        offset += 1
        line_start, offset = offset, offset + len(line)
        if fence is not None:
            if line.strip().startswith(fence):
                fence = None
                flush_para()
            else:
                para.append(line)
            continue
        if in_comment or "<!--" in line:
            line, in_comment = _without_comments(line, in_comment, last_close - line_start)
            if not line.strip():  # a comment's own line: neither text nor a paragraph's end
                continue
        fence_match = _FENCE.match(line)
        if fence_match:
            flush_para()
            fence = fence_match.group(1)[0] * 3
            continue
        atx = _ATX.match(line)
        if atx:
            flush_para()
            heading = _md_inline(_atx_text(atx.group(2))).strip()
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


_WRITERS_TITLE = re.compile(
    r"""^(?:
        untitled(?:[\s_-]*\d+|\s+(?:document|presentation|spreadsheet|drawing))?  # "Untitled-1"
      | microsoft\s+(?:word|powerpoint|excel|office\s+\w+)\s*-.*   # "Microsoft Word - x.doc"
      | (?:document|presentation|book|slide|doc)\s*\d*            # "Document1"
      | .*\.(?:docx?|dotx?|pptx?|xlsx?|odt|odp|rtf|txt|pdf|pages|key|md|html?|indd|tex|qxp)
    )$""",  # the last: a file name ("draft.doc", "C:\\Users\\...\\draft.doc")
    re.IGNORECASE | re.VERBOSE,
)


MAX_STATED_TITLE = 300
"""A DOCX's stated title longer than this (the characters a document's title keeps) is no
title: a line of 3 MB was stored, cut to its first 300 characters."""


def authored_title(stated: str | None, *, limit: int | None = None) -> str | None:
    """A PDF's or DOCX's metadata title when it is a title its author gave it; None for what
    the program that wrote the file put there ("Untitled", "Microsoft Word - x.doc",
    "Document1", a file name, nothing readable) and for one longer than ``limit`` characters:
    the document is then titled by its first heading (a DOCX) or its file name."""
    stated = stated or ""
    if limit is not None and len(" ".join(stated.split())) > limit:
        return None
    title = " ".join(stated[:1000].split())
    if not any(ch.isalnum() for ch in title) or _WRITERS_TITLE.match(title):
        return None
    return title


def parse_pdf(data: bytes, limits: ParseLimits) -> tuple[str | None, list[Section], Notice | None]:
    """The PDF's title, a section per page with text, and a warning naming the pages that
    could not be read (None: every page was)."""
    from pypdf import PdfReader, apply_configuration
    from pypdf.errors import DependencyError, LimitReachedError

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
            raise _pdf_limit(exc, too_large) from exc
        except DependencyError as exc:
            # pypdf's words name a Python package the owner can do nothing about; the operator
            # can (the crypto extra of pypdf is a dependency: this is a broken install).
            log.warning("PDF encryption unsupported, install pypdf[crypto]: %s", exc)
            raise unreadable("pdf", "it uses an encryption this server cannot read") from exc


# How pypdf words the bounds ``parse_pdf`` sets on what a stream decodes to (zlib, LZW, run
# length, Brotli: "Limit reached while decompressing"; arrays of streams: "... output bytes";
# inline images: "Requested image size exceeds ...").
_DECODING_BOUNDS = ("decompress", "output bytes", "image size")


def _pdf_limit(exc: Exception, too_large: DocumentTooLarge) -> AppError:
    """413 ``document_too_large`` for a decoding bound; any other bound of pypdf's (a page tree
    over 100 levels deep, a cycle, an object referring to itself) is the file's structure:
    422 ``parse_failed`` with pypdf's reason. All were "decodes to more than 32 MiB"."""
    reason = str(exc)
    if any(word in reason.lower() for word in _DECODING_BOUNDS):
        return too_large
    return unreadable("pdf", reason)


def _read_pdf(
    reader: Any, limits: ParseLimits, too_large: DocumentTooLarge
) -> tuple[str | None, list[Section], Notice | None]:
    """Each page read on its own: one whose content pypdf cannot run (an operator cut off, a
    filter that does not exist) is left out and named in the warning; it failed the whole
    document ``parse_failed``. A bound (``LimitReachedError``), an encryption the server
    cannot read and running out of memory still end the document."""
    from pypdf.errors import DependencyError, LimitReachedError

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
        title = (
            authored_title(str(metadata.title)) if metadata is not None and metadata.title else None
        )
    except Exception:  # broken metadata must not sink the text
        title = None
    sections: list[Section] = []
    unread: list[int] = []
    extracted = 0
    with _pypdf_trouble() as trouble:
        for number, page in enumerate(reader.pages, start=1):
            before = trouble.seen
            try:
                raw = page.extract_text() or ""
            except (LimitReachedError, DependencyError, MemoryError, AppError):
                raise
            except Exception as exc:  # this page's content: the others are read
                log.info("PDF page %d of %d unreadable: %r", number, pages, exc)
                unread.append(number)
                continue
            extracted += len(raw)
            if extracted > limits.max_decoded_bytes:
                raise too_large
            text = normalize_text(_HYPHEN_BREAK.sub("", raw))
            if text:
                sections.append(Section(text=text, heading_path=[], page=number))
            elif trouble.seen > before:
                unread.append(number)
    if unread and not sections:
        raise unreadable("pdf", f"none of its pages could be read ({len(unread)} of {pages})")
    return title, sections, _unread_warning(unread, pages)


def _unread_warning(unread: list[int], pages: int) -> Notice | None:
    """The warning naming the pages left out, the first ten of them (None: none was)."""
    if not unread:
        return None
    if len(unread) == 1:
        return Notice(
            f"Page {unread[0]} of {pages} could not be read and was left out",
            code="pages_unreadable",
        )
    named = [str(n) for n in unread[:_NAMED_PAGES]]
    more = len(unread) - len(named)
    listed = (
        f"{', '.join(named)} and {more} more"
        if more
        else f"{', '.join(named[:-1])} and {named[-1]}"
    )
    return Notice(
        f"Pages {listed} of {pages} could not be read and were left out", code="pages_unreadable"
    )


_NAMED_PAGES = 10


_REPAIRED = "pypdf.generic._base"
"""pypdf's logger of the values it repairs and reads on: a number or a name it cannot parse
("FloatObject (b'0.0.1') invalid; use 0.0 instead"), a string in no encoding it knows. The
content around it is read: a page that gives no text after such a warning alone is blank."""


class _Trouble(logging.Handler):
    """Counts pypdf's warnings and errors but its repairs (``_REPAIRED``): a page that gives no
    text after some could not be read (pypdf reads a compressed content stream of garbage as
    nothing, saying so only in its log), and is named, not taken for a blank page. A blank page
    with a repaired number on it was named "could not be read" too."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.name != _REPAIRED:
            self.seen += 1


@contextmanager
def _pypdf_trouble() -> Iterator[_Trouble]:
    logger = logging.getLogger("pypdf")
    handler, level = _Trouble(), logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.WARNING:
        logger.setLevel(logging.WARNING)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
