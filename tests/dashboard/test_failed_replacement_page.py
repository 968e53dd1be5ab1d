"""The knowledge page and a document's page after a file uploaded again under its name (the
dashboard's replacement) fails to ingest: they say the last good version keeps answering (its
chunks, when it was ingested), and of a first upload that failed, that nothing answers from it.
Before, the row said only "No text could be extracted from this document"."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

from tests.dashboard.conftest import WebOwner
from tests.rag.test_documents_api import MD


async def _upload(web: WebOwner, name: str, data: bytes) -> None:
    sent = await web.post(
        web.url("knowledge/upload"), files={"files": (name, data, "text/markdown")}
    )
    assert sent.status_code == 303, sent.text


def _row(page: str, title: str) -> str:
    """The documents table's row of the document titled ``title``."""
    rows = re.findall(r"<tr data-document=.*?</tr>", page, flags=re.S)
    [row] = [r for r in rows if f">{title}</a>" in r]
    return row


async def test_the_pages_say_what_answers_from_a_failed_document(web: WebOwner, jobs: Any) -> None:
    guide = (MD + f"\nReference {uuid.uuid4().hex}.\n").encode()
    await _upload(web, "guide.md", guide)
    await jobs.drain()
    await _upload(web, "guide.md", f"<!-- draft {uuid.uuid4().hex} -->\n".encode())  # no text
    await _upload(web, "draft.md", f"<!-- draft {uuid.uuid4().hex} -->\n".encode())
    await jobs.drain()

    page = (await web.client.get(web.url("knowledge"))).text
    row = _row(page, "Widget guide")  # its title: its first heading
    assert 'data-status="failed"' in row
    chunks = re.search(r'data-label="Chunks">(\d+)', row)
    assert chunks is not None
    assert int(chunks.group(1)) >= 3
    answering = re.search(r'data-answering="[^"]+">(.*?)</div>', row, flags=re.S)
    assert answering is not None, row
    said = re.sub(r"<[^>]+>", "", answering.group(1))
    assert re.fullmatch(
        r"of its last good version, ingested \d{4}-\d\d-\d\d \d\d:\d\d UTC: they keep answering",
        said,
    ), said
    first = _row(page, "draft.md")
    assert 'data-status="failed"' in first
    assert "nothing answers from it" in first

    doc_id = re.search(r'data-document="([^"]+)"', row)
    assert doc_id is not None
    detail = await web.client.get(web.url(f"knowledge/documents/{doc_id.group(1)}"))
    assert detail.status_code == 200, detail.text
    text = html.unescape(detail.text)
    assert "Chunks of its last good version (they keep answering)" in text
    assert "<dt>Ingested</dt>" in text
    assert "keeps answering until a new version is ingested" in text
    assert "Retry runs the version that failed again" in text
