"""The Unanswered page links its CSV download (every question not dealt with; the page groups
only the latest 2,000), which opens in a spreadsheet (UTF-8 with its BOM)."""

from __future__ import annotations

import uuid

from api.runtime import Runtime
from tests.dashboard.conftest import SAME_ORIGIN, WebOwner, asked_by_a_visitor


async def test_the_unanswered_page_offers_the_csv(web: WebOwner, runtime: Runtime) -> None:
    question = f"Do you rent paddle boards {uuid.uuid4().hex[:6]} by the hour?"
    await asked_by_a_visitor(runtime, web, question)
    page = await web.client.get(web.url("unanswered"))
    assert 'data-testid="export"' in page.text
    download = await web.client.get(web.url("unanswered/export"), headers=SAME_ORIGIN)
    assert download.status_code == 200, download.text[:300]
    assert download.text.startswith("\ufeffasked_at,question,conversation_id,id\r\n")
    assert question in download.text
