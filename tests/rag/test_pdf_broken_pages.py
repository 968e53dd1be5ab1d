"""A PDF with one broken page (its content stream corrupt) is read for its other pages, and the
document says which pages were left out; a PDF that needs a password fails with a stable code.

A page whose content stream pypdf cannot run (an operator cut off mid-string, a filter that
does not exist) raised out of ``extract_text`` and failed the whole document ``parse_failed``;
a page whose compressed stream is garbage was read as a blank page, silently."""

from __future__ import annotations

import io
import uuid
import zlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter
from pypdf.generic import NameObject

from core.errors import AppError
from rag.knowledge.parsing import parse
from tests.conftest import Owner
from tests.rag.test_documents_api import chunks_of, get_doc, upload
from tests.rag.test_parsing import encrypted_pdf


def _pdf(words: list[str]) -> bytes:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for number, word in enumerate(words, start=1):
        pdf.add_page()
        pdf.multi_cell(0, 8, f"Page {number} says {word}.")
    return bytes(pdf.output())


def _cut_string(stream: Any) -> None:
    stream.set_data(b"BT /F1 12 Tf 10 10 Td (a string never closed Tj ET")


def _unknown_filter(stream: Any) -> None:
    stream[NameObject("/Filter")] = NameObject("/NoSuchDecode")


def _garbage(stream: Any) -> None:
    stream._data = zlib.compress(b"x")[:2] + b"\x00\x01 not a deflate stream" * 40


BREAKS: dict[str, Callable[[Any], None]] = {
    "cut_string": _cut_string,
    "unknown_filter": _unknown_filter,
    "garbage": _garbage,
}


def _broken(data: bytes, pages: set[int], how: Callable[[Any], None]) -> bytes:
    """``data`` with the content streams of ``pages`` (1-based) broken by ``how``."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    for number in pages:
        how(writer.pages[number - 1]["/Contents"].get_object())
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _words(n: int) -> list[str]:
    return [f"w{uuid.uuid4().hex[:12]}" for _ in range(n)]


@pytest.mark.parametrize("how", sorted(BREAKS))
def test_the_other_pages_are_read_and_the_broken_one_is_named(how: str) -> None:
    words = _words(4)
    data = _broken(_pdf(words), {2}, BREAKS[how])
    parsed = parse(data, filename="guide.pdf", content_type="application/pdf")
    assert [s.page for s in parsed.sections] == [1, 3, 4]
    for kept in (words[0], words[2], words[3]):
        assert kept in parsed.text
    assert parsed.warning is not None
    assert parsed.warning.code == "pages_unreadable"
    assert "page 2 of 4" in parsed.warning.message.lower()


def test_an_intact_pdf_has_no_warning() -> None:
    parsed = parse(_pdf(_words(2)), filename="guide.pdf", content_type="application/pdf")
    assert parsed.warning is None


def test_a_pdf_whose_every_page_is_broken_is_parse_failed() -> None:
    data = _broken(_pdf(_words(2)), {1, 2}, _cut_string)
    with pytest.raises(AppError) as info:
        parse(data, filename="guide.pdf", content_type="application/pdf")
    assert (info.value.code, info.value.status_code) == ("parse_failed", 422)


async def test_an_upload_with_a_broken_page_is_ready_with_a_warning(
    client: httpx.AsyncClient, owner: Owner, jobs: Any
) -> None:
    words = _words(3)
    data = _broken(_pdf(words), {2}, _cut_string)
    response = await upload(client, owner, "guide.pdf", data, "application/pdf")
    assert response.status_code == 202, response.text
    await jobs.drain()
    document = await get_doc(client, owner, response.json()["id"])
    assert document["status"] == "ready", document
    assert document["error_code"] == "pages_unreadable"
    assert "page 2 of 3" in document["error"].lower()
    text = " ".join(c["text"] for c in await chunks_of(client, owner, document["id"]))
    assert words[0] in text
    assert words[2] in text


async def test_a_pdf_that_needs_a_password_fails_with_a_stable_code(
    client: httpx.AsyncClient, owner: Owner, jobs: Any
) -> None:
    data = encrypted_pdf(_pdf(_words(1)), "AES-128", user_password="user-secret")
    response = await upload(client, owner, "salaries.pdf", data, "application/pdf")
    assert response.status_code == 202, response.text
    await jobs.drain()
    document = await get_doc(client, owner, response.json()["id"])
    assert document["status"] == "failed"
    assert document["error_code"] == "nothing_extractable"
    assert document["error"] == (
        "The PDF is password-protected."
        " Nothing answers from it: no version of it has been ingested yet."
    )


def test_several_broken_pages_are_named_together() -> None:
    words = _words(4)
    data = _broken(_pdf(words), {2, 3}, _unknown_filter)
    parsed = parse(data, filename="guide.pdf", content_type="application/pdf")
    assert [s.page for s in parsed.sections] == [1, 4]
    assert parsed.warning is not None
    assert parsed.warning.message == "Pages 2 and 3 of 4 could not be read and were left out"


def _repaired_number(shown: str) -> Callable[[Any], None]:
    """A content stream that shows ``shown`` and sets a line width pypdf cannot parse
    (``0.0.1``): it warns "FloatObject (b'0.0.1') invalid; use 0.0 instead" and reads on."""

    def how(stream: Any) -> None:
        stream.set_data(f"BT /F1 12 Tf 10 10 Td 0.0.1 w ({shown}) Tj ET".encode())

    return how


def test_a_page_read_with_a_harmless_warning_is_not_named() -> None:
    """pypdf warned while reading page 2 and returned its text: nothing was left out."""
    words = _words(3)
    data = _broken(_pdf(words), {2}, _repaired_number(f"Page 2 says {words[1]}."))
    parsed = parse(data, filename="guide.pdf", content_type="application/pdf")
    assert [s.page for s in parsed.sections] == [1, 2, 3]
    assert words[1] in parsed.text
    assert parsed.warning is None


def test_a_blank_page_read_with_a_harmless_warning_is_not_named() -> None:
    """Page 2 shows no text (an empty string) and pypdf repaired a number on it: the page was
    read, and is blank. Before, a page without text after any pypdf warning was named "could
    not be read"."""
    words = _words(3)
    data = _broken(_pdf(words), {2}, _repaired_number(""))
    parsed = parse(data, filename="guide.pdf", content_type="application/pdf")
    assert [s.page for s in parsed.sections] == [1, 3]
    assert parsed.warning is None
