"""DOCX to sections: paragraphs under the heading styles' levels, tables row by row.

The package is opened as python-docx opens it, but for its document properties
(``docProps/core.xml``: title, author, dates), which python-docx parses as it opens the file: a
malformed one (or one of another root element, or a title past the 10 MB text node lxml reads)
failed the whole upload ``parse_failed`` though the body was fine. That part is read here, its
title kept when it is one an author gave (``authored_title``), else the document is titled by
its first heading or its file name.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rag.knowledge.formats import MAX_STATED_TITLE, authored_title
from rag.knowledge.parsed import Section, SectionBuilder

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


_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_NS = {"w": _W, "mc": "http://schemas.openxmlformats.org/markup-compatibility/2006"}


@functools.cache
def _xpath(expression: str) -> Any:
    from lxml import etree  # type: ignore[import-untyped]

    return etree.XPath(expression, namespaces=_NS)


def _depth(element: Any) -> int:
    """How many text boxes hold ``element``."""
    return int(_xpath("count(ancestor::w:txbxContent)")(element))


def paragraph_text(p: Any) -> str:
    """A paragraph's text (``w:p``): every run of it that is not deleted, wherever Word puts
    it: in a hyperlink, a content control (``w:sdt``), a tracked insertion (``w:ins``,
    ``w:moveTo``), a smart tag, a simple field, custom XML. python-docx's ``Paragraph.text``
    reads direct runs and hyperlinks only, so a template's form fields and an edit made with
    changes tracked were dropped (a document all in content controls: ``nothing_extractable``).
    Runs in a text box inside the paragraph are left to the box's own paragraphs
    (``_docx_blocks``)."""
    runs = _xpath(
        ".//w:r[count(ancestor::w:txbxContent) = $depth"
        " and not(ancestor::w:del) and not(ancestor::w:moveFrom)]"
    )
    return "".join(run.text for run in runs(p, depth=_depth(p)))


def _docx_blocks(document: Any) -> Iterator[tuple[str, Any]]:
    """The body's tables (as text) and paragraphs in reading order, those in block-level
    content controls and in text boxes included (each box's after the paragraph it sits in;
    a box Word also saves as a fallback picture is read once)."""
    from docx.text.paragraph import Paragraph

    def blocks(parent: Any) -> Iterator[tuple[str, Any]]:
        for element in _controlled(parent, ("w:p", "w:tbl")):
            if element.tag == f"{{{_W}}}tbl":
                yield "table", _docx_table(element)
                continue
            yield "paragraph", Paragraph(element, document._body)
            boxes = _xpath(
                ".//w:txbxContent[count(ancestor::w:txbxContent) = $depth"
                " and not(ancestor::mc:Fallback)]"
            )
            for box in boxes(element, depth=_depth(element)):
                yield from blocks(box)

    yield from blocks(document.element.body)


def _controlled(parent: Any, tags: tuple[str, ...]) -> Iterator[Any]:
    """``parent``'s children named one of ``tags`` (the body's paragraphs and tables, a
    table's rows, a row's cells) and those the content controls among its children hold
    (``w:sdt``/``w:sdtContent``, nested ones too), in document order."""
    from docx.oxml.ns import qn

    wanted, control, content = {qn(tag) for tag in tags}, qn("w:sdt"), qn("w:sdtContent")
    stack = list(reversed(parent))
    while stack:
        child = stack.pop()
        if child.tag in wanted:
            yield child
        elif child.tag == control:
            for part in reversed(child):
                if part.tag == content:
                    stack.extend(reversed(part))


def _docx_table(tbl: Any) -> str:
    """A table's rows, one line each, its cells separated by " | ": a cell merged down from
    the row above says that cell's text again, a cell spanning columns says it once.

    Read from the rows' XML in one pass. python-docx's ``row.cells`` finds a merged cell's text
    by walking up the rows, recursively, searching each: a first column merged down 800 rows
    took 90 s, and past about 1,000 rows the walk ran out of recursion. Rows and cells inside
    content controls (``w:sdt``) are read too, and a cell says every paragraph under it, those
    of a table nested in it and of its content controls (``cell.text`` said its own alone)."""
    rows = []
    above: dict[int, str] = {}  # the row above: each cell's text by its first grid column
    for tr in _controlled(tbl, ("w:tr",)):
        here: dict[int, str] = {}
        cells: list[str] = []
        column = tr.grid_before
        for tc in _controlled(tr, ("w:tc",)):
            if tc.vMerge == "continue":
                value = above.get(column, "")
            else:
                value = " ".join("\n".join(paragraph_text(p) for p in tc.xpath(".//w:p")).split())
            here[column] = value
            column += tc.grid_span
            if value and (not cells or cells[-1] != value):  # merged cells repeat
                cells.append(value)
        above = here
        if cells:
            rows.append(" | ".join(cells))
    return "\n".join(rows)


_CORE_PROPERTIES = "{http://schemas.openxmlformats.org/package/2006/metadata/core-properties}"
_DUBLIN_CORE = "{http://purl.org/dc/elements/1.1/}"


def _open(data: bytes) -> tuple[Any, str | None]:
    """The document, as ``docx.Document`` opens it, and the title its properties state (None:
    no properties, or unreadable ones). check_size has bounded every part."""
    from docx.opc.constants import CONTENT_TYPE, RELATIONSHIP_TYPE
    from docx.opc.package import Unmarshaller
    from docx.opc.part import Part, PartFactory
    from docx.opc.pkgreader import PackageReader
    from docx.package import Package

    def part(partname: Any, content_type: str, reltype: str, blob: bytes, package: Any) -> Any:
        if content_type == CONTENT_TYPE.OPC_CORE_PROPERTIES:  # kept as bytes, read below
            return Part(partname, content_type, blob, package)
        return PartFactory(partname, content_type, reltype, blob, package)

    package = Package()
    Unmarshaller.unmarshal(PackageReader.from_file(io.BytesIO(data)), package, part)
    main = package.main_document_part
    if main.content_type != CONTENT_TYPE.WML_DOCUMENT_MAIN:
        raise ValueError(f"not a Word document: its main part is {main.content_type}")
    properties = [
        rel.target_part
        for rel in package.rels.values()
        if rel.reltype == RELATIONSHIP_TYPE.CORE_PROPERTIES and not rel.is_external
    ]
    title = _stated_title(properties[0].blob) if properties else None
    return main.document, title


def _stated_title(xml: bytes) -> str | None:
    """The ``dc:title`` of a core properties part, None when the part is not one (malformed,
    another root element, a text node past lxml's 10 MB)."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(xml, parser)
    except (etree.XMLSyntaxError, ValueError):
        return None
    if root is None or root.tag != f"{_CORE_PROPERTIES}coreProperties":
        return None
    element = root.find(f"{_DUBLIN_CORE}title")
    if element is None:
        return None
    return authored_title("".join(element.itertext()), limit=MAX_STATED_TITLE)


def parse_docx(data: bytes) -> tuple[str | None, list[Section]]:
    document, title = _open(data)
    style_title: str | None = None
    first_heading: str | None = None
    builder = SectionBuilder()
    styles = _DocxStyles(document)
    for kind, block in _docx_blocks(document):
        if kind == "table":
            builder.paragraph(block)
            continue
        text = paragraph_text(block._p)
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
