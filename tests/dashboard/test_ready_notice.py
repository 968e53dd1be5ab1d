"""A ready document with a warning (a PDF whose broken page was left out, ``pages_unreadable``)
reads on the dashboard as ready with a notice, not as an error: the knowledge page's row and the
document's page show the warning in the notice style, labelled as one; a failed document's
reason keeps the error style. Before, the row showed the warning in the red ``field-error`` a
failed document's reason has, under a green "ready"."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

from tests.dashboard.conftest import WebOwner
from tests.dashboard.test_failed_replacement_page import _row
from tests.rag.test_pdf_broken_pages import _broken, _cut_string, _pdf, _words


async def test_a_ready_document_with_a_warning_reads_as_ready_with_a_notice(
    web: WebOwner, jobs: Any
) -> None:
    pdf = _broken(_pdf(_words(3)), {2}, _cut_string)
    sent = await web.post(
        web.url("knowledge/upload"),
        files=[
            ("files", ("manual.pdf", pdf, "application/pdf")),
            ("files", ("draft.md", f"<!-- {uuid.uuid4().hex} -->\n".encode(), "text/markdown")),
        ],
    )
    assert sent.status_code == 303, sent.text
    await jobs.drain()
    page = (await web.client.get(web.url("knowledge"))).text

    row = _row(page, "manual.pdf")
    assert 'data-status="ready"' in row, row
    assert "field-error" not in row, row
    notice = re.search(r'<div class="field-notice"[^>]*>(.*?)</div>', row, flags=re.S)
    assert notice is not None, row
    assert re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", notice.group(1))).strip() == (
        "Notice: Page 2 of 3 could not be read and was left out"
    )
    failed = _row(page, "draft.md")
    assert 'data-status="failed"' in failed
    assert '<div class="field-error">' in failed, failed  # a failure still reads as one

    doc_id = re.search(r'data-document="([^"]+)"', row)
    assert doc_id is not None
    detail = await web.client.get(web.url(f"knowledge/documents/{doc_id.group(1)}"))
    assert detail.status_code == 200, detail.text
    status = re.search(r"<dt>Status</dt><dd>(.*?)</dd>", detail.text, flags=re.S)
    assert status is not None, detail.text
    assert "could not be read" not in status.group(1)  # the status says ready, alone
    said = re.search(r'<dt>Notice</dt><dd class="field-notice">(.*?)</dd>', detail.text)
    assert said is not None, detail.text
    assert html.unescape(said.group(1)) == "Page 2 of 3 could not be read and was left out"
