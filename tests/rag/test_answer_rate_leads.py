"""Analytics' answer rate is over the questions the knowledge was to answer. A sales lead the bot
sends to the team ("Can I get a quote for my team?": the contact form, "someone will get back to
you") is no answer from the knowledge, and no gap in it either: the Unanswered page leaves it out
(``recording.knowledge_gap``), yet the ``unanswered`` figure counted it, so a sales site's answer
rate fell with every lead it routed (an earlier closing note: "Analytics' answer rate still counts
a sales lead's fallback"). Such answers are counted apart (``sales_routed``); a price question
nothing answers stays unanswered, and so does a lead where lead capture is "Never".

Through the widget's chat API on the real database and Redis, with the local fake model: the
routed lead's fallback comes from the model citing nothing (a passage was found) and from
retrieval finding nothing (a workspace without documents)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.runtime import Runtime
from core.models import utcnow
from rag.chat import analytics
from tests.conftest import Owner, RuntimeFactory, signup
from tests.rag.test_analytics import (
    HOURS,
    Visitor,
    add_faq,
    around_today,
    figures,
    rebuild,
    with_model,
)
from tests.rag.test_answers import REFUNDS, ingest
from tests.rag.test_lead_capture_never import never

REFUNDS_ASKED = "How long do refunds take to arrive?"
QUOTE = "Can I get a quote for my team?"
DEMO = "I'd like to book a demo"
GIFT_CARD = "How much does a gift card cost?"  # a price question: intent lead, not a sales lead
SUBMARINES = "Do you rent out submarines for weddings?"


def model(body: dict[str, Any]) -> str:
    """Answers the refunds question from passage 1; anything else it cites nothing for (the
    model's "I don't know")."""
    if REFUNDS_ASKED.lower() in str(body["messages"][-1]["content"]).lower():
        return "Refunds arrive within 5 to 7 business days [1]."
    return "I can't tell from the documentation; our team can help with that."


@pytest.fixture
async def app(runtime_factory: RuntimeFactory) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    async with with_model(runtime_factory, model) as app:
        yield app


async def ask(client: httpx.AsyncClient, owner: Owner, message: str) -> dict[str, Any]:
    """A new visitor's one message through the widget."""
    return await Visitor(client, owner).say(message)


async def unanswered_page(client: httpx.AsyncClient, owner: Owner) -> int:
    listing = await client.get(owner.url("/unanswered"), headers=owner.headers)
    assert listing.status_code == 200, listing.text
    return sum(group["count"] for group in listing.json())


async def test_a_sales_lead_sent_to_the_team_is_neither_answered_nor_unanswered(
    app: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, runtime = app
    owner = await signup(client, "Sales site")
    await add_faq(client, owner)
    await ingest(client, owner, runtime, "Refunds", REFUNDS)

    assert (await ask(client, owner, HOURS))["source"] == "faq"
    assert (await ask(client, owner, REFUNDS_ASKED))["source"] == "rag"
    for lead in (QUOTE, DEMO):
        said = await ask(client, owner, lead)
        assert (said["intent"], said["source"], said["lead_capture"]) == ("lead", "fallback", True)
    gift = await ask(client, owner, GIFT_CARD)
    assert (gift["intent"], gift["source"]) == ("lead", "fallback")
    assert (await ask(client, owner, SUBMARINES))["source"] == "fallback"

    await rebuild(runtime, owner, utcnow())
    body = await figures(client, owner, **around_today())
    totals = body["totals"]
    # The knowledge answered 2 of the 4 questions it was asked; the 2 leads went to the team.
    assert (totals["answered"], totals["unanswered"]) == (2, 2), totals
    assert body["answer_rate"] == 0.5
    assert totals["sales_routed"] == 2
    # The unanswered figure is the Unanswered page's questions, no more.
    assert await unanswered_page(client, owner) == totals["unanswered"]
    assert body["stages"]["fallback"]["count"] == 4  # the stages still say where answers came from
    assert sum(day["sales_routed"] for day in body["days"]) == 2

    # Nothing relevant found at all (no documents): the lead's reply, counted apart too.
    bare = await signup(client, "No documents")
    said = await ask(client, bare, QUOTE)
    assert (said["intent"], said["source"], said["lead_capture"]) == ("lead", "fallback", True)
    await ask(client, bare, SUBMARINES)
    await rebuild(runtime, bare, utcnow())
    bare_body = await figures(client, bare, **around_today())
    bare_totals = bare_body["totals"]
    assert (bare_totals["answered"], bare_totals["unanswered"]) == (0, 1), bare_totals
    assert bare_totals["sales_routed"] == 1
    assert bare_body["answer_rate"] == 0.0


async def test_a_lead_where_the_bot_asks_for_no_contact_stays_unanswered(
    app: tuple[httpx.AsyncClient, Runtime],
) -> None:
    """Lead capture "Never": no lead reaches the team through the chat; the owner has only the
    question (on the Unanswered page), so it is counted unanswered as before."""
    client, runtime = app
    owner = await signup(client, "No contact")
    await never(client, owner)
    said = await ask(client, owner, QUOTE)
    assert (said["intent"], said["source"], said["lead_capture"]) == ("lead", "fallback", False)
    await rebuild(runtime, owner, utcnow())
    body = await figures(client, owner, **around_today())
    assert (body["totals"]["unanswered"], body["totals"]["sales_routed"]) == (1, 0)
    assert body["answer_rate"] == 0.0
    assert await unanswered_page(client, owner) == 1


async def test_a_routed_lead_erased_stays_counted_apart_on_its_day(
    app: tuple[httpx.AsyncClient, Runtime],
) -> None:
    """The visitor who asked for a quote is erased (their conversation goes): their day still
    counts the routed lead apart (``analytics_daily_purged.sales_routed``), not as unanswered,
    after a later message recounts the day."""
    client, runtime = app
    owner = await signup(client, "Erased lead")
    lead, stays = Visitor(client, owner), Visitor(client, owner)
    assert (await lead.say(QUOTE))["source"] == "fallback"
    await stays.say(SUBMARINES)
    await rebuild(runtime, owner, utcnow())
    before = (await figures(client, owner, **around_today()))["totals"]
    assert (before["unanswered"], before["sales_routed"]) == (1, 1), before

    erasure = await client.post(
        owner.url("/erasures"), json={"session_id": lead.session_id}, headers=owner.headers
    )
    assert erasure.status_code == 200, erasure.text
    assert erasure.json()["erased"]["conversations"] == 1
    await stays.say(SUBMARINES)  # the day is recounted from what remains
    await rebuild(runtime, owner, utcnow())
    after = (await figures(client, owner, **around_today()))["totals"]
    assert (after["unanswered"], after["sales_routed"]) == (2, 1), after


async def test_the_conversation_export_says_which_answers_were_routed_to_the_team(
    app: tuple[httpx.AsyncClient, Runtime],
) -> None:
    """The export's ``sales_routed`` (CSV column and JSON lines key), per message as the
    figures count it: the lead's fallback sent to the team, not a fallback nothing answered nor
    a visitor's message. Before, the export had no such column: an owner could not tell from
    it which of the fallbacks the ``sales_routed`` figure counted."""
    client, _ = app
    owner = await signup(client, "Export routed")
    await ask(client, owner, QUOTE)  # no documents: the lead's reply, routed
    await ask(client, owner, SUBMARINES)  # nothing answers it: a fallback, not routed

    got = await client.get(owner.url("/conversations/export"), headers=owner.headers)
    assert got.status_code == 200, got.text
    header = got.text.splitlines()[0]
    # Added last: a reader that takes the columns by position reads the others as before.
    assert header.split(",") == [*analytics.EXPORT_COLUMNS[:-1], "sales_routed"], header
    assert analytics.EXPORT_COLUMNS[-2] == "text"
    rows = list(csv.DictReader(io.StringIO(got.text)))
    said = {(r["role"], r["text"]): r["sales_routed"] for r in rows}
    assert said[("user", QUOTE)] == "false"
    assert said[("user", SUBMARINES)] == "false"
    answers = [(r["source"], r["sales_routed"]) for r in rows if r["role"] == "assistant"]
    assert sorted(answers) == [("fallback", "false"), ("fallback", "true")], answers

    got = await client.get(
        owner.url("/conversations/export"), params={"format": "jsonl"}, headers=owner.headers
    )
    messages = [m for m in map(json.loads, got.text.splitlines()) if m["type"] == "message"]
    assert sorted(m["sales_routed"] for m in messages) == [False, False, False, True], messages
    [routed] = [m for m in messages if m["sales_routed"]]
    assert (routed["role"], routed["source"]) == ("assistant", "fallback")
