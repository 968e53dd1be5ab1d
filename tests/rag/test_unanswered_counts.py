"""What the owner reads of the questions the bot could not answer: a visitor asking "are you a
bot?" before their question is listed (and counted among the top questions) by the question,
not by the words about the bot; a group dealt with stays gone, however many times its question
was asked before the page's window of the latest questions."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import text

from api.runtime import Runtime
from core.models import utcnow
from rag.chat import conversations
from rag.chat.normalize import normalize_question
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


async def test_a_group_dealt_with_stays_gone_past_the_window(
    app: tuple[httpx.AsyncClient, Runtime],
) -> None:
    """A busy workspace: the question was also asked before the latest UNANSWERED_WINDOW
    unanswered questions. Marking its group dealt with resolves those asks too; before, they
    came back as the group on the next page load."""
    client, runtime = app
    owner = await signup(client, "Window")
    ws = uuid.UUID(owner.workspace_id)
    asked = f"Do you ship to Antarctica base {uuid.uuid4().hex[:6]}?"
    window = conversations.UNANSWERED_WINDOW
    async with runtime.db.transaction(workspace_id=ws) as session:
        rows = [(asked, 3)] + [
            (f"Other question {i} {uuid.uuid4().hex[:6]}?", 0) for i in range(window)
        ]
        rows.append((asked, 0))
        # Oldest first: the question asked three times long ago, then a window's worth of
        # other questions, then the question once more.
        for n, (question, times) in enumerate(rows):
            for _ in range(max(times, 1)):
                await session.execute(
                    text(
                        "INSERT INTO unanswered_questions"
                        " (id, workspace_id, question, normalized, resolved, created_at)"
                        " VALUES (:id, :ws, :q, :n, false,"
                        "  now() - make_interval(mins => :age))"
                    ),
                    {
                        "id": uuid.uuid4(),
                        "ws": ws,
                        "q": question,
                        "n": normalize_question(question),
                        "age": len(rows) - n,
                    },
                )
    groups = (await client.get(owner.url("/unanswered"), headers=owner.headers)).json()
    mine = [g for g in groups if g["question"] == asked]
    assert mine
    assert len(mine[0]["ids"]) == 1
    resolved = await client.post(
        owner.url("/unanswered/resolve"), json={"ids": mine[0]["ids"]}, headers=owner.headers
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json() == {"resolved": 4}
    after = (await client.get(owner.url("/unanswered"), headers=owner.headers)).json()
    assert asked not in [g["question"] for g in after]
    # The owner deals with the other questions: the window reaches back to the old asks,
    # which stay dealt with (they came back as a group of three before).
    others = [g["ids"][0] for g in after[:10]]
    await client.post(owner.url("/unanswered/resolve"), json={"ids": others}, headers=owner.headers)
    later = (await client.get(owner.url("/unanswered"), headers=owner.headers)).json()
    assert asked not in [g["question"] for g in later]


async def test_price_questions_are_among_the_top_questions(
    app: tuple[httpx.AsyncClient, Runtime],
) -> None:
    """ "How much is the Pro plan?" is a lead's intent, yet a question the bot answers (or not:
    then it is unanswered and listed): the top questions count it like any other. Before, only
    messages of the ``question`` intent were read, so a sales site's most asked question was
    missing from its top questions while counted in its answer rate."""
    client, runtime = app
    owner = await signup(client, "Prices")
    await ingest(client, owner, runtime, "Refunds", REFUNDS)
    for _ in range(3):
        price = await Visitor(client, owner).say("How much is the Pro plan?")
        assert price["intent"] == "lead"
    await Visitor(client, owner).say("How long do refunds take?")
    await Visitor(client, owner).say("are you a bot?")
    await Visitor(client, owner).say("Hello!")
    await Visitor(client, owner).say("I want to talk to a human")
    await rebuild(runtime, owner, utcnow())
    body = await figures(client, owner, **around_today())
    top = {q["question"].lower(): q["count"] for q in body["top_questions"]}
    assert top == {"how much is the pro plan?": 3, "how long do refunds take?": 1}
    assert body["top_questions_window"]["questions"] == 4
