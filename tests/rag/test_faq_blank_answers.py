"""An FAQ answer that shows nothing (spaces, a zero-width space) is refused with 422 by the API,
as the dashboard and the CSV import refuse a blank one: visitors asking the question got an
empty reply from the FAQ (a reviewer's finding)."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import signup
from tests.rag.test_chat import add_faq, chat

BLANKS = ["   \n ", "\u200b", " \u200b\u2060 "]


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["field"] == "answer"


@pytest.mark.parametrize("blank", BLANKS)
async def test_a_new_faq_with_a_blank_answer_is_refused(
    client: httpx.AsyncClient, blank: str
) -> None:
    owner = await signup(client, "BlankFaq")
    made = await client.post(
        owner.url("/faqs"),
        json={"question": "Where is the office?", "answer": blank},
        headers=owner.headers,
    )
    assert_refused(made)
    listed = (await client.get(owner.url("/faqs"), headers=owner.headers)).json()
    assert listed["total"] == 0
    got = (await chat(client, owner, "Where is the office?")).json()
    assert got["source"] != "faq"


@pytest.mark.parametrize("blank", BLANKS)
async def test_an_faq_answer_changed_to_blank_is_refused_and_kept(
    client: httpx.AsyncClient, blank: str
) -> None:
    owner = await signup(client, "BlankFaqEdit")
    faq_id = await add_faq(client, owner, "Where is the office?", "At 12 Park Street.")
    changed = await client.patch(
        owner.url(f"/faqs/{faq_id}"),
        json={"answer": blank, "question": "Where is your office?"},
        headers=owner.headers,
    )
    assert_refused(changed)
    kept = (await client.get(owner.url(f"/faqs/{faq_id}"), headers=owner.headers)).json()
    assert (kept["question"], kept["answer"]) == ("Where is the office?", "At 12 Park Street.")
    got = (await chat(client, owner, "Where is the office?")).json()
    assert (got["source"], got["answer"]) == ("faq", "At 12 Park Street.")
