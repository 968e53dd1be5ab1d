"""Uploads whose name or declared type says one format and whose bytes are another: a file the
bytes show to be a PDF or a DOCX is read as that whatever it is called; text (or HTML) claimed
to be a PDF or a DOCX is refused with 415 ``content_type_mismatch`` saying what the bytes are,
and nothing is stored."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Owner
from tests.rag.test_documents_api import ingested_text, make_docx, make_pdf, upload

TEXT = b"Tea costs two euros; coffee costs three.\n"
MARKDOWN = b"# Prices\n\nTea costs two euros; coffee costs three.\n"
HTML = b"<!doctype html><html><body><p>Tea costs two euros.</p></body></html>"


async def _documents(client: httpx.AsyncClient, owner: Owner) -> list[dict[str, Any]]:
    listed = await client.get(owner.url("/documents"), headers=owner.headers)
    assert listed.status_code == 200, listed.text
    items: list[dict[str, Any]] = listed.json()["items"]
    return items


@pytest.mark.parametrize(
    ("name", "content_type", "data", "claimed", "found", "says"),
    [
        # Named .pdf, sent as text: "File does not look like a valid TXT" named the wrong format.
        ("prices.pdf", "text/plain", TEXT, "PDF", "text", "named prices.pdf"),
        ("prices.pdf", "application/pdf", TEXT, "PDF", "text", "named prices.pdf"),
        ("prices.pdf", "", MARKDOWN, "PDF", "text", "named prices.pdf"),
        ("page.pdf", "text/html", HTML, "PDF", "HTML", "named page.pdf"),
        ("prices.md", "application/pdf", MARKDOWN, "PDF", "text", "sent as application/pdf"),
        ("prices.docx", "", TEXT, "DOCX", "text", "named prices.docx"),
    ],
)
async def test_text_claimed_to_be_a_pdf_or_docx_is_refused_saying_what_it_is(
    client: httpx.AsyncClient,
    owner: Owner,
    name: str,
    content_type: str,
    data: bytes,
    claimed: str,
    found: str,
    says: str,
) -> None:
    before = await _documents(client, owner)
    refused = await upload(client, owner, name, data, content_type)
    assert refused.status_code == 415, refused.text
    error = refused.json()["error"]
    assert error["code"] == "content_type_mismatch"
    assert error["message"].startswith(f"File does not look like a valid {claimed}")
    assert says in error["message"]
    assert f"holds {found}" in error["message"]
    assert error["details"]["claimed"] == claimed.lower()
    assert error["details"]["found"] == found.lower()
    assert await _documents(client, owner) == before  # nothing stored


@pytest.mark.parametrize(
    ("name", "content_type", "data", "kind", "words"),
    [
        ("shipping.txt", "text/plain", make_pdf(), "pdf", "three to five business days"),
        ("shipping.md", "text/markdown", make_pdf(), "pdf", "forty countries"),
        ("handbook.pdf", "application/pdf", make_docx(), "docx", "laptop on their first day"),
    ],
)
async def test_a_pdf_or_docx_under_another_name_is_read_as_what_its_bytes_are(
    client: httpx.AsyncClient,
    owner: Owner,
    jobs: Any,
    name: str,
    content_type: str,
    data: bytes,
    kind: str,
    words: str,
) -> None:
    accepted = await upload(client, owner, name, data, content_type)
    assert words in await ingested_text(client, owner, jobs, accepted)
