"""What a question's key keeps (chat review F1, F4): signs that change its meaning ("<", ">",
a number's minus, emoji) make another question; accents ("café", "cafe") do not. The FAQ exact
match, the duplicate-FAQ check and the response cache's exact key all use it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Owner, client_for, make_runtime, signup
from tests.rag.test_answers import fake_llm, ingest, llm_settings  # noqa: F401 (fixtures)
from tests.rag.test_chat import add_faq, chat


@pytest.mark.parametrize(
    ("stored", "asked"),
    [
        ("Is shipping free on orders > $50?", "Is shipping free on orders < $50?"),
        ("Does the sensor work at 40°C?", "Does the sensor work at -40°C?"),
        ("Is the discount 5%?", "Is the discount .5%?"),
        ("Is the 🍕 vegan?", "Is the 🍔 vegan?"),
    ],
)
async def test_the_opposite_question_does_not_get_the_faq_answer(
    client: httpx.AsyncClient, owner: Owner, stored: str, asked: str
) -> None:
    await add_faq(client, owner, stored, "Yes.")
    body = (await chat(client, owner, asked)).json()
    assert body["source"] != "faq", body
    assert body["answer"] != "Yes.", body


async def test_the_opposite_faq_can_be_added(client: httpx.AsyncClient, owner: Owner) -> None:
    await add_faq(client, owner, "Is shipping free on orders > $50?", "Yes.")
    response = await client.post(
        owner.url("/faqs"),
        json={"question": "Is shipping free on orders < $50?", "answer": "No, $5 flat."},
        headers=owner.headers,
    )
    assert response.status_code == 201, response.text
    body = (await chat(client, owner, "Is shipping free on orders < $50?")).json()
    assert (body["source"], body["answer"]) == ("faq", "No, $5 flat."), body


@pytest.mark.parametrize(
    ("stored", "asked"),
    [
        ("Is the cafe open on Sundays?", "Is the café open on Sundays?"),
        ("Do you deliver to Zürich?", "Do you deliver to Zurich?"),
        # A brand's sign changes no question (session-diff review U4).
        ("Is TrulyBot pricing per seat?", "Is TrulyBot™ pricing per seat?"),
        ("Is the Acme® kettle open on Sundays?", "Is the Acme kettle open on Sundays?"),
    ],
)
async def test_an_accent_or_a_brands_sign_is_the_same_question(
    client: httpx.AsyncClient, owner: Owner, stored: str, asked: str
) -> None:
    await add_faq(client, owner, stored, "Yes, 10 to 4.")
    body = (await chat(client, owner, asked)).json()
    assert (body["source"], body["answer"]) == ("faq", "Yes, 10 to 4."), body


async def test_the_cache_does_not_serve_the_opposite_temperature(
    llm_settings: Any,  # noqa: F811
    db: Any,
    redis_client: Any,
    fake_llm: Any,  # noqa: F811
) -> None:
    async with (
        make_runtime(llm_settings, db, redis_client) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client, "Sensors")
        await ingest(
            client,
            owner,
            runtime,
            "Sensor",
            "# Operating range\n\nThe sensor works from -40°C up to 40°C. Below -40°C it stops.",
        )
        fake_llm.chat_reply = "Yes, the sensor works at -40°C [1]."
        first = (await chat(client, owner, "Does the sensor work at -40°C?", session_id="a")).json()
        assert first["source"] == "rag", first
        fake_llm.chat_reply = "Yes, 40°C is the top of its range [1]."
        second = (await chat(client, owner, "Does the sensor work at 40°C?", session_id="b")).json()
        assert second["source"] == "rag", second
        assert "top of its range" in second["answer"], second
