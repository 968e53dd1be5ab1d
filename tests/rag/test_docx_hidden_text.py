"""Text Word keeps outside a paragraph's plain runs reaches the index: content controls (a
template's or a form's fields, at block and at run level), tracked insertions, text boxes,
smart tags, simple fields and custom XML. python-docx's ``Paragraph.text`` and
``iter_inner_content`` read direct runs, hyperlinks, paragraphs and tables only: such text was
dropped silently, and a document all in content controls or in a tracked edit was refused
``nothing_extractable`` (an exploratory pass over the API found it). Deleted text stays out."""

from __future__ import annotations

import io

import docx
import pytest
from docx.oxml import parse_xml

from core.errors import AppError
from rag.knowledge.docx_parsing import parse_docx
from rag.knowledge.parsing import parse

W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
MC = 'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"'
WPS = 'xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape"'
V = 'xmlns:v="urn:schemas-microsoft-com:vml"'


def _run(text: str) -> str:
    return f"<w:r><w:t xml:space='preserve'>{text}</w:t></w:r>"


def _docx(*blocks: str) -> bytes:
    """A document of python-docx's template with these body blocks (WordprocessingML) before
    its section properties, as Word writes them."""
    document = docx.Document()
    body = document.element.body
    for block in blocks:
        body.insert(len(body) - 1, parse_xml(block))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _text(data: bytes) -> str:
    _, sections = parse_docx(data)
    return "\n\n".join(section.text for section in sections)


def test_a_document_all_in_a_content_control_or_a_tracked_insertion_is_read() -> None:
    control = _docx(
        f"<w:sdt {W}><w:sdtContent><w:p>{_run('Returns are accepted within 60 days.')}</w:p>"
        "</w:sdtContent></w:sdt>"
    )
    assert "Returns are accepted within 60 days." in _text(control)
    inserted = _docx(
        f'<w:p {W}><w:ins w:id="1" w:author="Ann" w:date="2026-01-01T00:00:00Z">'
        f"{_run('Exchanges are free within 90 days.')}</w:ins></w:p>"
    )
    assert "Exchanges are free within 90 days." in _text(inserted)


def test_run_level_wrappers_keep_their_words_and_deleted_text_stays_out() -> None:
    paragraph = (
        f"<w:p {W}>{_run('Opening hours: ')}"
        f"<w:sdt><w:sdtContent>{_run('9 to 5')}</w:sdtContent></w:sdt>"
        f"<w:smartTag w:uri='u' w:element='place'>{_run(' in Pune')}</w:smartTag>"
        f"<w:customXml w:element='x'>{_run(', Monday')}</w:customXml>"
        f"<w:fldSimple w:instr='DOCPROPERTY Days'>{_run(' to Friday')}</w:fldSimple>"
        f'<w:del w:id="2" w:author="Ann" w:date="2026-01-01T00:00:00Z">'
        "<w:r><w:delText> and Sunday</w:delText></w:r></w:del>"
        f'<w:moveFrom w:id="3" w:author="Ann" w:date="2026-01-01T00:00:00Z">'
        f"{_run(' (moved away)')}</w:moveFrom>"
        f"{_run('.')}</w:p>"
    )
    assert _text(_docx(paragraph)) == "Opening hours: 9 to 5 in Pune, Monday to Friday."


def test_a_text_box_is_read_once_after_its_paragraph() -> None:
    box = f"<w:txbxContent><w:p>{_run('Call us on 020 5555 0100.')}</w:p></w:txbxContent>"
    paragraph = (
        f"<w:p {W} {MC} {WPS} {V}>{_run('Our support desk.')}<w:r><mc:AlternateContent>"
        f"<mc:Choice Requires='wps'><w:drawing><wps:txbx>{box}</wps:txbx></w:drawing></mc:Choice>"
        f"<mc:Fallback><w:pict><v:shape><v:textbox>{box}</v:textbox></v:shape></w:pict>"
        "</mc:Fallback></mc:AlternateContent></w:r></w:p>"
    )
    text = _text(_docx(paragraph, f"<w:p {W}>{_run('Next paragraph.')}</w:p>"))
    assert text.split("\n\n") == [
        "Our support desk.",
        "Call us on 020 5555 0100.",
        "Next paragraph.",
    ]


def test_a_table_cell_reads_its_content_controls_and_insertions() -> None:
    cell = (
        f"<w:tc><w:p><w:sdt><w:sdtContent>{_run('Family plan')}</w:sdtContent></w:sdt></w:p></w:tc>"
        f'<w:tc><w:p><w:ins w:id="4" w:author="A" w:date="2026-01-01T00:00:00Z">{_run("599")}'
        "</w:ins></w:p></w:tc>"
    )
    table = f"<w:tbl {W}><w:tblGrid><w:gridCol/><w:gridCol/></w:tblGrid><w:tr>{cell}</w:tr></w:tbl>"
    assert _text(_docx(table)) == "Family plan | 599"


def test_a_document_of_only_deleted_text_is_still_refused() -> None:
    deleted = _docx(
        f'<w:p {W}><w:del w:id="5" w:author="A" w:date="2026-01-01T00:00:00Z">'
        "<w:r><w:delText>Gone.</w:delText></w:r></w:del></w:p>"
    )
    assert "Gone" not in _text(deleted)
    with pytest.raises(AppError) as refused:
        parse(deleted, filename="gone.docx", content_type=None)
    assert refused.value.code == "nothing_extractable"
