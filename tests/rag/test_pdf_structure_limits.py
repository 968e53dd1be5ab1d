"""A PDF refused for its structure says so, not that it is too large.

pypdf stops at bounds of a PDF's structure (a page tree deeper than 100 levels, a cycle in it,
an object referring to itself) with the same exception as at the decoding bounds set from
PARSE_MAX_DECODED_BYTES, and every one was told to the owner as 413 ``document_too_large``
"The PDF decodes to more than 33554432 bytes", for a file of a few KB that decodes to
nothing of the kind. Now it is 422 ``parse_failed`` with pypdf's reason, as a PDF that
pypdf finds cyclic elsewhere already was; a stream decoding past the bound is still 413."""

from __future__ import annotations

import uuid

import pytest

from core.errors import AppError
from rag.knowledge.parsing import parse


def pdf_of(objects: list[bytes], trailer: bytes = b"") -> bytes:
    """A PDF of ``objects`` (numbered from 1; the first is the catalog) with its xref table;
    ``trailer``: more entries of its trailer (``/Info 6 0 R``)."""
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        trailer,
        xref,
    )
    return out


def _deep_page_tree(levels: int, words: str) -> bytes:
    """One page under ``levels`` nested /Pages nodes (objects 4 onwards)."""
    content = b"BT /F1 12 Tf 72 720 Td (%s) Tj ET" % words.encode()
    objects = [
        b"<< /Type /Catalog /Pages 4 0 R >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    page = 4 + levels
    for level in range(levels):
        me = 4 + level
        parent = b"/Parent %d 0 R " % (me - 1) if level else b""
        objects.append(b"<< /Type /Pages %s/Kids [%d 0 R] /Count 1 >>" % (parent, me + 1))
    objects.append(
        b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents 2 0 R"
        b" /Resources << /Font << /F1 3 0 R >> >> >>" % (page - 1)
    )
    return pdf_of(objects)


def test_a_page_tree_past_the_depth_pypdf_reads_is_unreadable_not_too_large() -> None:
    words = f"Shipping {uuid.uuid4().hex[:8]}"
    shallow = parse(_deep_page_tree(3, words), filename="ok.pdf", content_type="application/pdf")
    assert words in shallow.text
    with pytest.raises(AppError) as info:
        parse(_deep_page_tree(150, words), filename="deep.pdf", content_type="application/pdf")
    assert (info.value.status_code, info.value.code) == (422, "parse_failed")
    assert "page tree depth" in info.value.message
    assert "decodes to more than" not in info.value.message
