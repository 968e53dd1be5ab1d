"""The FAQ import form names each row to fix under it (``import_refusal``) from the refusal's
details: a row asking another FAQ's question was named in the message only, and the list of
rows to fix stayed empty."""

from __future__ import annotations

import uuid

from tests.dashboard.conftest import WebOwner
from tests.dashboard.test_pages import _import, _imported


async def test_a_row_asking_another_faqs_question_is_listed_to_fix(web: WebOwner) -> None:
    tag = uuid.uuid4().hex[:8]
    await _imported(
        web,
        f'question,answer\n"Opening hours {tag}?",Nine.\n"Shipping {tag}?",Two days.\n'.encode(),
        "2+FAQs+imported",
    )
    refused = await _import(
        web,
        (
            "question,answer,alt_questions\n"
            f'"Opening hours {tag}?",Ten.,"Shipping {tag}?"\n'  # row 2: two FAQs' questions
        ).encode(),
    )
    assert refused.status_code == 422, refused.text[-500:]
    assert "<li>Row 2: " in refused.text, refused.text
    page = (await web.client.get(web.url("knowledge"))).text
    assert "Ten." not in page
