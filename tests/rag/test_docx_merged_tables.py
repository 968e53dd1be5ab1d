"""A DOCX table with a vertically merged column is read in time linear in its cells.

A price list or a schedule often merges its first column down a long table ("Category"
spanning every row). python-docx finds such a cell's text by walking up the rows one at a
time, recursively, and each step searches the row above: 400 rows took 22 s, 800 rows 90 s
(past PARSE_TIMEOUT_SECONDS: 422 ``parse_timeout``) and past about 1,000 rows the walk ran
out of recursion (422 ``parse_failed``), for a file of some 30 KB. Now the table is read row
by row, a merged cell taking the text of the one above, as before."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Callable

import docx

from rag.knowledge.parse_isolation import parse_isolated
from rag.knowledge.parsing import ParseLimits, parse

_CELL = "<w:tc>{props}<w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:tc>"
_MERGE_START = '<w:tcPr><w:vMerge w:val="restart"/></w:tcPr>'
_MERGED = "<w:tc><w:tcPr><w:vMerge/></w:tcPr><w:p/></w:tc>"


def docx_with(parts: dict[str, Callable[[bytes], bytes]]) -> bytes:
    """python-docx's template, each part named in ``parts`` rewritten by its function."""
    base = io.BytesIO()
    docx.Document().save(base)
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(base.getvalue())) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename in parts:
                data = parts[info.filename](data)
            target.writestr(info.filename, data)
    return out.getvalue()


def _with_table(rows: list[str], columns: int) -> bytes:
    """A DOCX whose body is one table of ``rows`` (``<w:tr>`` elements)."""
    grid = "<w:tblGrid>" + "<w:gridCol/>" * columns + "</w:tblGrid>"
    table = f"<w:tbl>{grid}{''.join(rows)}</w:tbl>".encode()
    return docx_with(
        {"word/document.xml": lambda data: data.replace(b"<w:body>", b"<w:body>" + table, 1)}
    )


def test_a_long_table_merged_down_its_first_column_is_read() -> None:
    category = f"c{uuid.uuid4().hex[:10]}"
    items = [f"i{uuid.uuid4().hex[:10]}" for _ in range(1000)]
    rows = [
        "<w:tr>"
        + (_CELL.format(props=_MERGE_START, text=category) if n == 0 else _MERGED)
        + _CELL.format(props="", text=item)
        + _CELL.format(props="", text=f"{n} INR")
        + "</w:tr>"
        for n, item in enumerate(items)
    ]
    parsed = parse_isolated(
        _with_table(rows, 3),
        filename="prices.docx",
        content_type=None,
        limits=ParseLimits(),  # the defaults: PARSE_TIMEOUT_SECONDS=60
    )
    lines = parsed.text.split("\n")
    for n, item in enumerate(items):  # each row says its category, as before
        assert f"{category} | {item} | {n} INR" in lines


def test_merged_and_spanning_cells_read_as_before() -> None:
    """Cells spanning columns are said once; a row may start past the first column."""
    rows = [
        "<w:tr>"
        + _CELL.format(props=_MERGE_START, text="Tea")
        + _CELL.format(props='<w:tcPr><w:gridSpan w:val="2"/></w:tcPr>', text="Green")
        + "</w:tr>",
        "<w:tr>"
        + _MERGED
        + _CELL.format(props="", text="Oolong")
        + _CELL.format(props="", text="5")
        + "</w:tr>",
        '<w:tr><w:trPr><w:gridBefore w:val="1"/></w:trPr>'
        + _CELL.format(props="", text="Black")
        + _CELL.format(props="", text="4")
        + "</w:tr>",
    ]
    parsed = parse(_with_table(rows, 3), filename="teas.docx", content_type=None)
    assert parsed.text.split("\n") == ["Tea | Green", "Tea | Oolong | 5", "Black | 4"]
