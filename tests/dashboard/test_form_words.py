"""Refusals an owner meets without going around the browser, in the form's words rather than
pydantic's: 21 other phrasings ("List should have at most 20 items after validation, not
21"), 7 suggested questions (the same, "at most 6"), and a CSV row with an empty question
("Row 2, question: String should have at least 1 character"), an exploratory pass's finding."""

from __future__ import annotations

import html

from tests.dashboard.conftest import WebOwner
from tests.dashboard.test_faq_quota import import_csv


async def test_too_many_lines_and_an_empty_csv_cell_are_said_plainly(web: WebOwner) -> None:
    phrasings = "\n".join(f"phrasing {i}" for i in range(21))
    faq = await web.post(
        web.url("knowledge/faqs"),
        {"question": "Many phrasings?", "answer": "Yes.", "alt_questions": phrasings},
    )
    assert faq.status_code == 422, faq.text
    said = html.unescape(faq.text)
    assert "Use at most 20 lines (21 given)." in said
    assert "List should have" not in said

    questions = "\n".join(f"Question {i}?" for i in range(7))
    widget = await web.post(
        web.url("widget"),
        {"bot_name": "Helper", "position": "bottom-right", "suggested_questions": questions},
    )
    assert widget.status_code == 422, widget.text
    assert "Use at most 6 lines (7 given)." in html.unescape(widget.text)

    refused = await import_csv(web, b"question,answer\n,Missing question\n")
    assert refused.status_code == 422, refused.text
    said = html.unescape(refused.text)
    assert "Row 2, question: is empty: fill it in" in said
    assert "String should have" not in said
