"""What the owner reads of the questions the bot could not answer: a visitor asking "are you a
bot?" before their question is listed (and counted among the top questions) by the question,
not by the words about the bot; a group dealt with stays gone, however many times its question
was asked before the page's window of the latest questions."""

from __future__ import annotations

import httpx

from api.runtime import Runtime
from core.models import utcnow
from tests.conftest import signup
from tests.rag.test_analytics import Visitor, app, around_today, figures, rebuild
from tests.rag.test_answers import REFUNDS, ingest

__all__ = ["app"]

UNKNOWN = "Do you rent out submarines for weddings?"


async def test_are_you_a_bot_before_a_question_lists_the_question(
    app: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, runtime = app
    owner = await signup(client, "Identity")
    await ingest(client, owner, runtime, "Refunds", REFUNDS)
    mixed = await Visitor(client, owner).say(f"are you a bot? {UNKNOWN}")
    assert (mixed["intent"], mixed["source"]) == ("question", "fallback")
    await Visitor(client, owner).say(UNKNOWN)
    answered = await Visitor(client, owner).say("Are you a bot? How long do refunds take?")
    assert answered["source"] == "rag"
    await Visitor(client, owner).say("How long do refunds take?")

    groups = (await client.get(owner.url("/unanswered"), headers=owner.headers)).json()
    assert len(groups) == 1
    # One question asked twice, listed (and offered as the FAQ's phrasings) by its words only:
    # "are you a bot? ..." would become an FAQ phrasing the bot matches.
    assert groups[0]["count"] == 2
    assert groups[0]["examples"] == [UNKNOWN]

    await rebuild(runtime, owner, utcnow())
    body = await figures(client, owner, **around_today())
    assert body["totals"]["unanswered"] == 2
    assert body["totals"]["answered"] == 2
    assert body["answer_rate"] == 0.5
    top = {q["question"].lower(): q["count"] for q in body["top_questions"]}
    assert top == {UNKNOWN.lower(): 2, "how long do refunds take?": 2}
