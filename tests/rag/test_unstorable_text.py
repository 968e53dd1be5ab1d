"""Uploads whose text decodes to characters UTF-8 cannot hold (lone surrogates).

A text part may declare any charset Python knows, and a few of those decode bytes to lone
surrogates (``\\ud800``): ``unicode_escape`` and ``raw_unicode_escape`` (Python's own codecs,
no charset a browser or a mail client sends) from ``\\ud800`` written out, UTF-7 from
``+2AA-``. The upload was accepted (202) and its job failed with ``internal_error`` (the
database driver could not encode the chunk), an error report sent each time, and none of the
document's text was searchable. Now what the charset decodes to is stored, a lone surrogate
as U+FFFD, as a byte that does not decode is (whatever the format: ``parse`` makes every
section's text, heading and the title storable)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from rag.knowledge.parsing import parse
from tests.conftest import Owner
from tests.rag.test_documents_api import ingested_text, upload
from tests.rag.test_pdf_structure_limits import pdf_of

TEA = "Tea costs two euros"


@pytest.mark.parametrize(
    ("charset", "data"),
    [
        ("unicode_escape", b"Tea costs two euros \\ud800 at the kiosk."),
        ("raw_unicode_escape", b"Tea costs two euros \\ud800 at the kiosk."),
        ("utf-7", b"Tea costs two euros +2AA- at the kiosk."),
    ],
)
@pytest.mark.parametrize("name", ["prices.txt", "prices.md"])
def test_parsed_text_is_always_storable(charset: str, data: bytes, name: str) -> None:
    parsed = parse(data, filename=name, content_type=f"text/plain; charset={charset}")
    parsed.text.encode("utf-8")  # no lone surrogate
    parsed.title.encode("utf-8")
    assert TEA in parsed.text


def test_headings_and_titles_are_storable() -> None:
    data = b"# Prices \\udc00\n\nTea costs two euros.\n\n## Coffee \\ud800\n\nThree euros.\n"
    parsed = parse(data, filename="prices.md", content_type="text/markdown; charset=unicode_escape")
    parsed.title.encode("utf-8")
    for section in parsed.sections:
        section.text.encode("utf-8")
        for heading in section.heading_path:
            heading.encode("utf-8")


async def test_an_upload_decoding_to_a_lone_surrogate_is_stored_and_searchable(
    client: httpx.AsyncClient, owner: Owner, jobs: Any
) -> None:
    word = f"kiosk{uuid.uuid4().hex[:8]}"
    accepted = await upload(
        client,
        owner,
        "prices.txt",
        f"Tea costs two euros \\ud800 at the {word}.".encode(),
        "text/plain; charset=unicode_escape",
    )
    assert word in await ingested_text(client, owner, jobs, accepted)
    found = await client.post(
        owner.url("/search"), json={"query": word, "mode": "fulltext"}, headers=owner.headers
    )
    assert found.status_code == 200, found.text
    assert found.json()["results"], found.json()


PAD = b"Tea costs two euros at the kiosk by the station. " * 60  # under 1 % control bytes


def _pdf(title: bytes) -> bytes:
    """A one-page PDF saying ``PAD``'s first words, its metadata title the string ``title``
    (the bytes between the parentheses, as written)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length 44 >>\nstream\nBT /F1 12 Tf 72 720 Td (Tea costs two) Tj ET\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Title (" + title + b") >>",
    ]
    return pdf_of(objects, b"/Info 6 0 R ")


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("prices.md", b"# Pri\x00ces\n\n" + PAD),  # a heading
        ("prices.md", b"Pri\x00ces\n======\n\n" + PAD),
        ("prices.md", b"---\ntitle: Pri\x00ces\n---\n\n" + PAD),  # the front matter's title
        ("prices.html", b"<title>Pri\x01ces</title><h2>Te\x02a</h2><p>" + PAD + b"</p>"),
        ("prices.pdf", _pdf(b"Pri\\000ces")),  # a metadata title with a NUL
    ],
)
def test_control_characters_in_titles_and_headings_are_not_kept(name: str, data: bytes) -> None:
    """A NUL (which PostgreSQL refuses in text and JSON) or another control character in a
    heading or a title reached the chunk's text and metadata: body text dropped them
    (``normalize_text``), headings and titles did not, and the job failed ``internal_error``."""
    parsed = parse(data, filename=name, content_type=None)
    for text in (parsed.title, *(s.text for s in parsed.sections)):
        assert not any(ord(ch) < 32 and ch not in "\t\n" for ch in text), repr(text)
    for section in parsed.sections:
        for heading in section.heading_path:
            assert heading.isprintable(), repr(heading)


async def test_an_upload_with_a_nul_in_a_heading_is_stored(
    client: httpx.AsyncClient, owner: Owner, jobs: Any
) -> None:
    word = f"kiosk{uuid.uuid4().hex[:8]}"
    accepted = await upload(
        client, owner, "prices.md", b"# Pri\x00ces\n\n" + PAD + word.encode(), "text/markdown"
    )
    assert word in await ingested_text(client, owner, jobs, accepted)


def _with_mark(text: str, encoding: str) -> bytes:
    """``text`` in ``encoding`` with its byte order mark (``utf-32`` writes one itself)."""
    return text.encode(encoding) if encoding == "utf-32" else ("\ufeff" + text).encode(encoding)


@pytest.mark.parametrize("encoding", ["utf-32", "utf-32-le", "utf-32-be"])
@pytest.mark.parametrize("name", ["prices.txt", "prices.md", "prices.html"])
def test_utf32_with_its_byte_order_mark_is_read(encoding: str, name: str) -> None:
    """UTF-32 with its mark (as the FAQ import reads it) was taken for UTF-16, whose
    little-endian mark begins the same: a NUL between letters, refused as binary data (415)."""
    text = "Prices\n\nTea costs two euros; café au lait three.\n"
    parsed = parse(
        _with_mark(("<p>" + text + "</p>" if name.endswith(".html") else text), encoding),
        filename=name,
        content_type=None,
    )
    assert "café au lait three" in parsed.text
