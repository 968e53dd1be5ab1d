"""Markdown, PDF and DOCX to sections (HTML: ``rag.knowledge.html_parsing``)."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from core.errors import AppError
from rag.knowledge.parsed import (
    DocumentTooLarge,
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


def _pdf_title(stated: str | None) -> str | None:
    """A PDF's metadata title when it is a title its author gave it; None for what the program
    that wrote the PDF put there ("Untitled", "Microsoft Word - x.doc", "Document1", a file
    name, nothing readable): the document is then titled by its file name."""
    title = " ".join((stated or "")[:1000].split())
    if not any(ch.isalnum() for ch in title) or _WRITERS_TITLE.match(title):
        return None
    return title


def parse_pdf(data: bytes, limits: ParseLimits) -> tuple[str | None, list[Section]]:
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
        title = _pdf_title(str(metadata.title)) if metadata is not None and metadata.title else None
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


@dataclass(frozen=True, slots=True)
class _DocxStyle:
    style_id: str
    name: str
    paragraph: bool  # of type paragraph (what a paragraph's style may be)
    based_on: str | None


class _DocxStyles:
    """A paragraph's role (title, heading level) by style id, as python-docx would tell it
    (its style, or the default paragraph style for none or an unknown id; a heading by the
    name or id of the style or of up to four bases), looked up once per style id.

    The styles are read once into a map: python-docx finds a style, and each base, by scanning
    every style of the document, so 4,000 paragraphs each in a style of its own took 76 s
    (``parse_timeout``); a scan per paragraph cost milliseconds before that."""

    def __init__(self, document: Any) -> None:
        from docx.enum.style import WD_STYLE_TYPE

        self._styles: dict[str, _DocxStyle] = {}
        default: str | None = None
        for element in document.styles.element.style_lst:
            style_id = element.styleId
            if style_id is None:
                continue
            paragraph = element.type == WD_STYLE_TYPE.PARAGRAPH
            self._styles.setdefault(  # python-docx takes the first of an id
                style_id,
                _DocxStyle(style_id, element.name_val or "", paragraph, element.basedOn_val),
            )
            if paragraph and element.default:
                default = style_id  # the last default, as python-docx takes it
        self._default = self._styles.get(default) if default is not None else None
        self._roles: dict[str | None, tuple[bool, int | None]] = {}

    def role(self, paragraph: Any) -> tuple[bool, int | None]:
        style_id = paragraph._p.style
        role = self._roles.get(style_id)
        if role is None:
            style = self._styles.get(style_id) if style_id else None
            if style is None or not style.paragraph:
                style = self._default
            name = style.name.strip().lower() if style is not None else ""
            role = (name == "title", self._heading_level(style))
            self._roles[style_id] = role
        return role

    def _heading_level(self, style: _DocxStyle | None) -> int | None:
        depth = 0
        while style is not None and depth < 5:
            for name in (style.name, style.style_id):
                match = _HEADING_STYLE.match(name.strip())
                if match:
                    return int(match.group(1))
            style = self._styles.get(style.based_on) if style.based_on else None
            depth += 1
        return None


def _docx_blocks(document: Any) -> Iterator[tuple[str, Any]]:
    from docx.table import Table

    for block in document.iter_inner_content():
        if isinstance(block, Table):
            yield "table", _docx_table(block)
        else:
            yield "paragraph", block


def _controlled(parent: Any, tag: str) -> Iterator[Any]:
    """``parent``'s children named ``tag`` (a table's rows, a row's cells) and those the
    content controls among its children hold (``w:sdt``/``w:sdtContent``, nested ones too),
    in document order."""
    from docx.oxml.ns import qn

    wanted, control, content = qn(tag), qn("w:sdt"), qn("w:sdtContent")
    stack = list(reversed(parent))
    while stack:
        child = stack.pop()
        if child.tag == wanted:
            yield child
        elif child.tag == control:
            for part in reversed(child):
                if part.tag == content:
                    stack.extend(reversed(part))


def _docx_table(table: Any) -> str:
    """A table's rows, one line each, its cells separated by " | ": a cell merged down from
    the row above says that cell's text again, a cell spanning columns says it once.

    Read from the rows' XML in one pass. python-docx's ``row.cells`` finds a merged cell's text
    by walking up the rows, recursively, searching each: a first column merged down 800 rows
    took 90 s, and past about 1,000 rows the walk ran out of recursion. Rows and cells inside
    content controls (``w:sdt``) are read too, and a cell says every paragraph under it, those
    of a table nested in it and of its content controls (``cell.text`` said its own alone)."""
    rows = []
    above: dict[int, str] = {}  # the row above: each cell's text by its first grid column
    for tr in _controlled(table._tbl, "w:tr"):
        here: dict[int, str] = {}
        cells: list[str] = []
        column = tr.grid_before
        for tc in _controlled(tr, "w:tc"):
            if tc.vMerge == "continue":
                value = above.get(column, "")
            else:
                value = " ".join("\n".join(p.text for p in tc.xpath(".//w:p")).split())
            here[column] = value
            column += tc.grid_span
            if value and (not cells or cells[-1] != value):  # merged cells repeat
                cells.append(value)
        above = here
        if cells:
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def parse_docx(data: bytes) -> tuple[str | None, list[Section]]:
    import docx

    document = docx.Document(io.BytesIO(data))  # check_size has bounded every part
    title = (document.core_properties.title or "").strip() or None
    style_title: str | None = None
    first_heading: str | None = None
    builder = SectionBuilder()
    styles = _DocxStyles(document)
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
