"""An FAQ's other phrasings and the widget's suggested questions are kept once each, compared
as visitors' questions are (case, spacing and punctuation aside), the first kept: the same
phrasing given twice, in capitals, or the question itself again were all stored and counted
("Other phrasings: 4"), and a repeated suggested question showed as a second, equal chip (an
exploratory pass over the dashboard found both)."""

from __future__ import annotations

import httpx

from tests.conftest import Owner


async def test_an_faqs_phrasings_are_stored_once_each(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    question = "When do you open?"
    given = ["opening time", "opening time", "OPENING TIME", "when do you open", "Opening  time?"]
    created = await client.post(
        owner.url("/faqs"),
        json={"question": question, "answer": "At nine.", "alt_questions": given},
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    assert created.json()["alt_questions"] == ["opening time"]
    faq = created.json()["id"]
    changed = await client.patch(
        owner.url(f"/faqs/{faq}"),
        json={"alt_questions": ["hours", "Hours!", "opening time", "when DO you open?"]},
        headers=owner.headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["alt_questions"] == ["hours", "opening time"]
    # Twenty given (the most allowed), one a repeat: nineteen kept, in the order given.
    many = [f"phrasing {i}" for i in range(19)] + ["PHRASING 0"]
    taken = await client.post(
        owner.url("/faqs"),
        json={"question": "Another question?", "answer": "Yes.", "alt_questions": many},
        headers=owner.headers,
    )
    assert taken.status_code == 201, taken.text
    assert taken.json()["alt_questions"] == many[:19]


async def test_the_widgets_suggested_questions_are_kept_once_each(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    patched = await client.patch(
        owner.url("/widget"),
        json={"suggested_questions": ["Hours?", "hours?", " Hours? ", "Price?", "Hours?"]},
        headers=owner.headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["suggested_questions"] == ["Hours?", "Price?"]
