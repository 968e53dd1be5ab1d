"""A PDF's title through the API: its metadata title when its author gave it one, else its
file name (the program that wrote it puts "Untitled" or "Microsoft Word - x.doc" there); a
document an older parser titled so keeps that title when it is processed again."""

from __future__ import annotations

from typing import Any

import httpx
from fpdf import FPDF
from sqlalchemy import text

from core.db import Database
from tests.conftest import Owner
from tests.rag.test_documents_api import get_doc, upload


def _pdf(title: str) -> bytes:
    pdf = FPDF()
    pdf.set_title(title)
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 10, "Returns are free within thirty days of delivery.")
    return bytes(pdf.output())


async def test_a_pdf_is_titled_by_its_real_title_else_its_file_name(
    client: httpx.AsyncClient, owner: Owner, jobs: Any, owner_db: Database
) -> None:
    titled = await upload(client, owner, "a.pdf", _pdf("Returns Policy"), "application/pdf")
    word = await upload(
        client, owner, "returns.pdf", _pdf("Microsoft Word - returns.doc"), "application/pdf"
    )
    assert (titled.status_code, word.status_code) == (202, 202)
    await jobs.drain()
    assert (await get_doc(client, owner, titled.json()["id"]))["title"] == "Returns Policy"
    doc_id = word.json()["id"]
    assert (await get_doc(client, owner, doc_id))["title"] == "returns.pdf"

    # As an older parser left it: titled by the metadata; processed again (a retry), kept.
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "UPDATE documents SET title = 'Microsoft Word - returns.doc', status = 'failed',"
                " error_code = 'queue_unavailable', error = 'The job could not be queued'"
                " WHERE id = :id"
            ),
            {"id": doc_id},
        )
    retry = await client.post(owner.url(f"/documents/{doc_id}/retry"), headers=owner.headers)
    assert retry.status_code == 202, retry.text
    await jobs.drain()
    doc = await get_doc(client, owner, doc_id)
    assert (doc["status"], doc["title"]) == ("ready", "Microsoft Word - returns.doc")
