"""A DOCX table cell is read whole: the text of a table nested in it, and of content controls
(``w:sdt``, what Word's forms and templates put their fields in) around its paragraphs, its
cells or its rows.

Read with python-docx's ``cell.text`` (and since with the same rule from the XML), a cell said
only its own paragraphs and a row only its own cells: a price list laid out as a table inside
a table cell, or a form whose answers sit in content controls, was stored without that text,
and the assistant could not answer from it."""

from __future__ import annotations

import uuid

from rag.knowledge.parsing import parse
from tests.rag.test_docx_merged_tables import _CELL, _with_table


def _para(text: str) -> str:
    return f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"


def _control(inner: str) -> str:
    return f"<w:sdt><w:sdtContent>{inner}</w:sdtContent></w:sdt>"


def test_nested_tables_and_content_controls_in_a_table_are_read() -> None:
    words = {
        name: f"{name}{uuid.uuid4().hex[:10]}"
        for name in ("outer", "nested", "para", "cell", "deep", "row", "last")
    }
    nested = (
        "<w:tbl><w:tblGrid><w:gridCol/></w:tblGrid><w:tr>"
        f"<w:tc>{_para(words['nested'])}</w:tc></w:tr></w:tbl>"
    )
    nested_control = (  # a table in a cell in a content control, its cell in one too
        "<w:tbl><w:tblGrid><w:gridCol/></w:tblGrid><w:tr>"
        + _control(f"<w:tc>{_para(words['deep'])}</w:tc>")
        + "</w:tr></w:tbl>"
    )
    rows = [
        "<w:tr>"
        + f"<w:tc>{_para(words['outer'])}{nested}<w:p/></w:tc>"
        + f"<w:tc>{_control(_para(words['para']))}<w:p/></w:tc>"
        + "</w:tr>",
        "<w:tr>"
        + _CELL.format(props="", text="Size")
        + _control(f"<w:tc>{_para(words['cell'])}{nested_control}<w:p/></w:tc>")
        + "</w:tr>",
        _control(
            "<w:tr>"
            + _CELL.format(props="", text="Colour")
            + _CELL.format(props="", text=words["row"])
            + "</w:tr>"
        ),
        "<w:tr>"
        + _CELL.format(props="", text="Weight")
        + _CELL.format(props="", text=words["last"])
        + "</w:tr>",
    ]
    parsed = parse(_with_table(rows, 2), filename="form.docx", content_type=None)
    lines = parsed.text.split("\n")
    assert f"{words['outer']} {words['nested']} | {words['para']}" in lines
    assert f"Size | {words['cell']} {words['deep']}" in lines
    assert parsed.text.count(words["deep"]) == 1  # said once, in its cell
    assert f"Colour | {words['row']}" in lines
    assert f"Weight | {words['last']}" in lines
    assert lines.index(f"Colour | {words['row']}") < lines.index(f"Weight | {words['last']}")
