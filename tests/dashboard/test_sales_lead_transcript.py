"""A sales lead the bot passed to the team ("Can I get a quote for my team?") read in its
transcript as "Answered by the fallback (nothing relevant was found...)": a knowledge gap,
which it is not (it is not on the Unanswered page either). A question the knowledge missed,
a price question too, keeps that label."""

from __future__ import annotations

import uuid

from api.runtime import Runtime
from tests.dashboard.conftest import WebOwner, widget_key

NOTHING_FOUND = "nothing relevant was found"


async def _transcript(runtime: Runtime, web: WebOwner, message: str) -> str:
    asked = await web.client.post(
        "/api/v1/chat",
        json={"message": message, "session_id": f"visitor-{uuid.uuid4().hex}"},
        headers={"X-Widget-Key": await widget_key(runtime, web)},
    )
    body = asked.json()
    assert body["source"] == "fallback", body
    page = await web.client.get(web.url(f"conversations/{body['conversation_id']}"))
    assert page.status_code == 200
    return page.text


async def test_a_sales_leads_transcript_names_the_team_not_a_gap(
    runtime: Runtime, web: WebOwner
) -> None:
    quote = await _transcript(runtime, web, "Can I get a quote for my team?")
    assert NOTHING_FOUND not in quote
    assert "Answered by the reply to a sales lead" in quote
    price = await _transcript(runtime, web, "How much does a gift card cost?")
    assert NOTHING_FOUND in price
    question = await _transcript(runtime, web, "Do you ship to Norway?")
    assert NOTHING_FOUND in question
