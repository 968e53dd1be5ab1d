"""A DOCX whose document properties (``docProps/core.xml``: title, author, dates) are broken is
read for its body, titled by its first heading or its file name.

python-docx parses that part as it opens the file, so malformed XML there, XML of another
root, or a title past the 10 MB text node lxml reads failed the whole upload ``parse_failed``
although every paragraph was fine; a stated title of 3 MB became the document's title (cut to
300 characters of hex)."""

from __future__ import annotations

import io
import secrets
import uuid
import zipfile
from collections.abc import Callable
from typing import Any

import docx
import httpx
import pytest

from rag.knowledge.parsing import DOCX_MIME, parse
from tests.conftest import Owner
from tests.rag.test_documents_api import chunks_of, get_doc, upload

_NS = (
    'xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"'
    ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
)


def _core(title: str) -> bytes:
    return f"<cp:coreProperties {_NS}><dc:title>{title}</dc:title></cp:coreProperties>".encode()


def _handbook(words: list[str], *, heading: bool = True) -> bytes:
    document = docx.Document()
    document.core_properties.title = "Staff handbook"
    if heading:
        document.add_heading("Onboarding handbook", level=1)
    document.add_paragraph(f"New employees receive a laptop on their first day {words[0]}.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Item", "Owner"
    table.cell(1, 0).text, table.cell(1, 1).text = "Badge", f"Reception {words[1]}"
    if heading:
        document.add_heading("Payroll", level=2)
    document.add_paragraph(f"Salaries are paid on the last working day {words[2]}.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _with_core(data: bytes, core: bytes) -> bytes:
    """``data`` with its ``docProps/core.xml`` replaced by ``core``."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            name = info.filename
            archive.writestr(name, core if name == "docProps/core.xml" else source.read(name))
    return out.getvalue()


BROKEN: dict[str, Callable[[], bytes]] = {
    "malformed": lambda: b"<cp:coreProperties><dc:title>Broken",
    "empty": lambda: b"",
    "not_xml": lambda: b"\x00\xff\xfe not xml at all",
    "another_root": lambda: f"<properties {_NS}><dc:title>Else</dc:title></properties>".encode(),
    # 10.5 MB of hex: past the text node lxml reads, and too random to be a zip bomb
    "past_the_text_node_limit": lambda: _core(secrets.token_hex(5_250_000)),
    "huge": lambda: _core(secrets.token_hex(1_500_000)),
    "long": lambda: _core("Handbook " * 400),
    "writers_name": lambda: _core("Document1"),
    "no_letters": lambda: _core(" -- "),
}


def _words() -> list[str]:
    return [f"w{uuid.uuid4().hex[:12]}" for _ in range(3)]


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_or_odd_title_part_loses_nothing_of_the_body(case: str) -> None:
    words = _words()
    intact = parse(_handbook(words), filename="handbook.docx", content_type=DOCX_MIME)
    assert intact.title == "Staff handbook"
    parsed = parse(
        _with_core(_handbook(words), BROKEN[case]()),
        filename="handbook.docx",
        content_type=DOCX_MIME,
    )
    assert parsed.title == "Onboarding handbook"  # the first heading
    assert [(s.text, s.heading_path) for s in parsed.sections] == [
        (s.text, s.heading_path) for s in intact.sections
    ]
    for word in words:
        assert word in parsed.text


def test_without_a_heading_the_file_name_titles_it() -> None:
    words = _words()
    data = _with_core(_handbook(words, heading=False), BROKEN["malformed"]())
    parsed = parse(data, filename="handbook.docx", content_type=DOCX_MIME)
    assert parsed.title == "handbook.docx"
    for word in words:
        assert word in parsed.text


def test_a_real_title_is_still_read_from_a_title_with_markup_inside() -> None:
    data = _with_core(_handbook(_words()), _core("Staff <b>handbook</b> 2026"))
    assert parse(data, filename="h.docx", content_type=DOCX_MIME).title == "Staff handbook 2026"


async def test_an_upload_with_broken_properties_is_ready_with_all_its_text(
    client: httpx.AsyncClient, owner: Owner, jobs: Any
) -> None:
    words = _words()
    data = _with_core(_handbook(words), BROKEN["malformed"]())
    response = await upload(client, owner, "handbook.docx", data, DOCX_MIME)
    assert response.status_code == 202, response.text
    await jobs.drain()
    document = await get_doc(client, owner, response.json()["id"])
    assert document["status"] == "ready", document
    assert document["title"] == "Onboarding handbook"
    assert document["error"] is None
    text = " ".join(c["text"] for c in await chunks_of(client, owner, document["id"]))
    for word in words:
        assert word in text
