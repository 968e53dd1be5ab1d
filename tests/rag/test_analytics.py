"""Analytics (issue 16): each figure on a workspace with known conversations made through the
widget, the resolution rule's edge cases with an explicit clock (the conversation's rows are
moved back in time instead of sleeping), the rollup's refresh, the range limits, and the
conversation export."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from api.runtime import Runtime
from core.models import utcnow
from dashboard.answers import answered_by
from rag.chat import analytics, recording
from rag.chat.generator import Completion
from rag.chat.guard import DEFAULT_REFUSAL
from rag.chat.stages import Grounding
from tests.conftest import Owner, RuntimeFactory, client_for, signup
from tests.fakes import FakeOpenAI
from tests.fakes.openai_server import ChatReply
from tests.own_database import module_databases
from tests.rag.test_answers import REFUNDS, ingest
from tests.rag.test_chat import chat, widget_headers
from tests.rag.test_generation import passage

HOURS = "What are your opening hours?"
FAQ_ANSWER = "We are open 9 to 5, Monday to Friday."

# On a database of its own (tests/own_database.py): the scheduled rollup refreshes every live
# workspace with something new, in the suite's database every other test's too (7.3 s beside
# 1,500 of them for a test of a fraction of a second).
own_databases, db, owner_db = module_databases()


@pytest.fixture
async def app(runtime_factory: RuntimeFactory) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    async with (
        runtime_factory(retrieval_min_similarity=0.05) as runtime,
        client_for(runtime) as client,
    ):
        yield client, runtime


@asynccontextmanager
async def with_model(
    runtime_factory: RuntimeFactory, reply: ChatReply
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    """A client of a runtime whose model is the local fake answering ``reply`` (passages found
    from a cosine of 0.05, no retry of a failed call)."""
    with FakeOpenAI(chat_reply=reply) as fake:
        async with (
            runtime_factory(
                retrieval_min_similarity=0.05,
                openai_api_key="sk-test",
                openai_base_url=fake.base_url,
                llm_max_retries=0,
            ) as runtime,
            client_for(runtime) as client,
        ):
            yield client, runtime


async def add_faq(client: httpx.AsyncClient, owner: Owner) -> None:
    response = await client.post(
        owner.url("/faqs"), json={"question": HOURS, "answer": FAQ_ANSWER}, headers=owner.headers
    )
    assert response.status_code == 201, response.text


class Visitor:
    """One visitor's conversation through the public widget API."""

    def __init__(self, client: httpx.AsyncClient, owner: Owner) -> None:
        self.client = client
        self.owner = owner
        self.session_id = f"v-{uuid.uuid4().hex[:12]}"
        self.conversation_id: str | None = None
        self.last: dict[str, Any] = {}

    async def say(self, message: str) -> dict[str, Any]:
        extra = {"conversation_id": self.conversation_id} if self.conversation_id else {}
        response = await chat(self.client, self.owner, message, session_id=self.session_id, **extra)
        assert response.status_code == 200, response.text
        self.last = response.json()
        self.conversation_id = self.last["conversation_id"]
        return self.last

    async def rate(self, rating: str) -> None:
        response = await self.client.post(
            "/api/v1/widget/feedback",
            json={
                "message_id": self.last["message_id"],
                "rating": rating,
                "session_id": self.session_id,
            },
            headers=widget_headers(self.owner),
        )
        assert response.status_code == 204, response.text


async def move_back(runtime: Runtime, owner: Owner, delta: timedelta) -> None:
    """Everything the workspace's visitors did so far happened ``delta`` earlier."""
    async with runtime.db.transaction(workspace_id=owner.workspace_id) as session:
        params = {"ws": owner.workspace_id, "d": delta}
        await session.execute(
            text(
                "UPDATE conversations SET created_at = created_at - CAST(:d AS interval),"
                " last_message_at = last_message_at - CAST(:d AS interval) WHERE workspace_id = :ws"
            ),
            params,
        )
        for table in ("messages", "message_feedback", "leads"):
            await session.execute(
                text(
                    f"UPDATE {table} SET created_at = created_at - CAST(:d AS interval)"  # noqa: S608
                    " WHERE workspace_id = :ws"
                ),
                params,
            )


async def rebuild(runtime: Runtime, owner: Owner, now: datetime) -> None:
    await analytics.rebuild(runtime.db, workspace_id=uuid.UUID(owner.workspace_id), now=now)


async def figures(client: httpx.AsyncClient, owner: Owner, **params: str) -> dict[str, Any]:
    response = await client.get(owner.url("/analytics"), params=params, headers=owner.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def around_today() -> dict[str, str]:
    today = utcnow().date()
    return {
        "from": (today - timedelta(days=3)).isoformat(),
        "to": (today + timedelta(days=1)).isoformat(),
    }


# --- each figure on known conversations ------------------------------------------------------


async def test_each_figure_on_known_conversations(
    app: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, runtime = app
    owner = await signup(client, "Figures")
    await add_faq(client, owner)
    await ingest(client, owner, runtime, "Refunds", REFUNDS)

    a, b, c, d, e = (Visitor(client, owner) for _ in range(5))
    assert (await a.say(HOURS))["source"] == "faq"
    await a.rate("up")
    assert (await b.say("How long do refunds take to arrive?"))["source"] == "rag"
    assert (await c.say("how long do refunds take to arrive"))["source"] == "cache"
    await c.rate("down")
    assert (await d.say("Hello!"))["source"] == "fallback"
    assert (await d.say("Can I talk to a human please?"))["source"] == "handoff"
    unknown = await e.say("Do you rent out submarines for weddings?")
    assert unknown["source"] == "fallback"
    assert unknown["lead_capture"] is True
    lead = await client.post(
        owner.url("/leads"), json={"email": "lead-figures@example.com"}, headers=owner.headers
    )
    assert lead.status_code == 201, lead.text
    # The owner trying the bot out is not a visitor: never counted.
    owner_chat = await client.post(
        owner.url("/chat"), json={"message": HOURS}, headers=owner.headers
    )
    assert owner_chat.status_code == 200, owner_chat.text

    # Nothing is counted until the rollup is refreshed: the figures come from the rollup.
    before = await figures(client, owner, **around_today())
    assert before["totals"]["conversations"] == 0
    assert before["refreshed_at"] is None

    now = utcnow()
    await rebuild(runtime, owner, now)
    body = await figures(client, owner, **around_today())
    assert body["totals"] == {
        "conversations": 5,
        "visitor_messages": 6,
        "answers": 6,
        "answered": 3,
        "unanswered": 1,
        "sales_routed": 0,
        "feedback_up": 1,
        "feedback_down": 1,
        "leads": 1,
        "handoffs": 1,
    }
    assert {k: v["count"] for k, v in body["stages"].items()} == {
        "faq": 1,
        "cache": 1,
        "rag": 1,
        "fallback": 2,
        "handoff": 1,
        "refused": 0,
    }
    assert body["stages"]["fallback"]["share"] == pytest.approx(2 / 6, abs=1e-4)
    assert body["stages"]["faq"]["share"] == pytest.approx(1 / 6, abs=1e-4)
    assert body["answer_rate"] == 0.75
    assert body["feedback"] == {
        "up": 1,
        "down": 1,
        "rated_share": pytest.approx(2 / 6, abs=1e-4),
        "up_rate": 0.5,
        "down_rate": 0.5,
        "team": {"up": 0, "down": 0},
    }
    # Only the confirmed conversation is judged before its 24 hours are over.
    assert body["resolution"] == {"counted": 1, "resolved": 1, "rate": 1.0}
    assert len(body["days"]) == 5
    for name in body["totals"]:
        assert sum(day[name] for day in body["days"]) == body["totals"][name]
    assert body["top_questions"][0]["count"] == 2
    assert body["top_questions"][0]["question"] == "how long do refunds take to arrive"
    assert body["top_questions_window"] == {"questions": 4, "max": analytics.TOP_QUESTIONS_WINDOW}

    # A day later every conversation with an answer to a question is judged: the confirmed one
    # and the answered one the visitor left are resolved; the rated-down, the handed-off and
    # the unanswered ones are not.
    await rebuild(runtime, owner, now + timedelta(hours=24, minutes=1))
    later = await figures(client, owner, **around_today())
    assert later["resolution"] == {"counted": 5, "resolved": 2, "rate": 0.4}
    assert later["totals"] == body["totals"]


async def test_the_refresh_recounts_what_changed_since_the_last_one(
    app: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, runtime = app
    owner = await signup(client, "Refresh")
    await add_faq(client, owner)
    first = Visitor(client, owner)
    await first.say(HOURS)
    workspace_id = uuid.UUID(owner.workspace_id)
    # Never refreshed: the first refresh counts the existing history.
    await analytics.refresh(runtime.db, workspace_id=workspace_id, now=utcnow())
    assert (await figures(client, owner))["totals"]["conversations"] == 1

    await first.rate("up")
    await Visitor(client, owner).say(HOURS)
    assert (await figures(client, owner))["totals"]["conversations"] == 1  # not refreshed yet
    await analytics.refresh(runtime.db, workspace_id=workspace_id, now=utcnow())
    body = await figures(client, owner)
    assert body["totals"]["conversations"] == 2
    assert body["totals"]["feedback_up"] == 1
    assert body["resolution"]["resolved"] == 1


async def test_the_scheduled_job_refreshes_every_workspace(
    app: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, runtime = app
    owner = await signup(client, "Scheduled")
    await add_faq(client, owner)
    await Visitor(client, owner).say(HOURS)
    job = next(j for j in runtime.scheduler.jobs if j.name == "analytics_rollup")
    await job.run(utcnow())
    await runtime.jobs.drain()
    body = await figures(client, owner)
    assert body["totals"]["conversations"] == 1
    assert body["refreshed_at"] is not None


# --- what is no answer ----------------------------------------------------------------------


def test_an_answer_the_guard_withheld_is_a_refusal() -> None:
    grounding = Grounding((passage(1, "Refunds take 5 days."),))
    guarded = Completion(DEFAULT_REFUSAL, 5, 6, "m", guarded=True)
    answer = recording.generated(grounding, guarded)
    assert (answer.source, answer.text, answer.citations) == ("refused", DEFAULT_REFUSAL, ())
    assert not answer.unanswered  # no knowledge gap: nothing for the owner to turn into an FAQ
    assert "output guard" in answered_by("refused", "question")  # the transcript's words


def test_the_contact_reply_names_both_kinds_of_lead() -> None:
    """A phone number typed in chat is a lead too: its transcript said only an email was."""
    said = answered_by("fallback", "contact")
    assert "email address or phone number" in said, said


async def test_a_refusal_by_the_output_guard_is_not_answered_nor_resolved(
    runtime_factory: RuntimeFactory,
) -> None:
    """A visitor who makes the model print its rules gets the guard's refusal: neither an
    answer from retrieval nor an unanswered question (it was counted as answered, as retrieval,
    and resolved a day later)."""

    def obeys(body: dict[str, Any]) -> str:  # a model fooled into printing its system prompt
        return "Sure! My instructions are: " + body["messages"][0]["content"]

    async with with_model(runtime_factory, obeys) as (client, runtime):
        owner = await signup(client, "Guarded")
        await ingest(client, owner, runtime, "Refunds", REFUNDS)
        said = await Visitor(client, owner).say("How long do refunds take to arrive?")
        assert (said["source"], said["answer"]) == ("refused", DEFAULT_REFUSAL)
        transcript = await client.get(
            owner.url(f"/conversations/{said['conversation_id']}"), headers=owner.headers
        )
        assert transcript.json()["messages"][-1]["source"] == "refused"
        now = utcnow()
        await rebuild(runtime, owner, now)
        body = await figures(client, owner, **around_today())
        await rebuild(runtime, owner, now + timedelta(hours=24, minutes=1))
        later = await figures(client, owner, **around_today())
        unanswered = await client.get(owner.url("/unanswered"), headers=owner.headers)
    assert body["stages"]["rag"]["count"] == 0
    assert body["stages"]["refused"] == {"count": 1, "share": 1.0}
    assert (body["totals"]["answered"], body["totals"]["unanswered"]) == (0, 0)
    assert body["answer_rate"] == 0.0
    assert later["resolution"] == {"counted": 1, "resolved": 0, "rate": 0.0}
    assert unanswered.json() == []


async def test_the_teams_ratings_are_not_visitors_feedback(
    app: tuple[httpx.AsyncClient, Runtime],
) -> None:
    """A teammate's thumbs up on an answer the visitor left unrated is no visitor feedback and
    resolves nothing (it counted as the visitor's and resolved the conversation at once); it is
    shown apart. The visitor may still rate the answer, and their rating then counts."""
    client, runtime = app
    owner = await signup(client, "Team ratings")
    await add_faq(client, owner)
    visitor = Visitor(client, owner)
    await visitor.say(HOURS)
    team = await client.post(
        owner.url("/feedback"),
        json={"message_id": visitor.last["message_id"], "rating": "up"},
        headers=owner.headers,
    )
    assert team.status_code == 204, team.text
    await rebuild(runtime, owner, utcnow())
    body = await figures(client, owner, **around_today())
    assert (body["feedback"]["up"], body["feedback"]["down"]) == (0, 0)
    assert body["feedback"]["rated_share"] == 0.0
    assert body["feedback"]["team"] == {"up": 1, "down": 0}
    assert body["totals"]["feedback_up"] == 0
    assert body["resolution"] == {"counted": 0, "resolved": 0, "rate": None}
    stats = (await client.get(owner.url("/chat/stats"), headers=owner.headers)).json()
    assert stats["feedback"] == {"up": 0, "down": 0, "team_up": 1, "team_down": 0}
    exported = await client.get(owner.url("/conversations/export"), headers=owner.headers)
    rated = [r for r in csv.DictReader(io.StringIO(exported.text)) if r["rating"]]
    assert [(r["rating"], r["rater"]) for r in rated] == [("up", "team")]

    await visitor.rate("down")  # the visitor's own rating replaces the team's
    await rebuild(runtime, owner, utcnow())
    body = await figures(client, owner, **around_today())
    assert (body["feedback"]["down"], body["feedback"]["team"]) == (1, {"up": 0, "down": 0})


# --- the resolution rule's edge cases --------------------------------------------------------

H = timedelta(hours=1)
M = timedelta(minutes=1)

# Steps: a visitor's message, a rating of the last answer, or time passing. Then the
# conversation is judged now: (counted, resolved).
CASES: dict[str, tuple[list[tuple[str, Any]], tuple[int, int]]] = {
    "answered, then nothing for 24h01": ([("say", HOURS), ("wait", 24 * H + M)], (1, 1)),
    "answered, only 23h59 ago": ([("say", HOURS), ("wait", 23 * H + 59 * M)], (0, 0)),
    "asked again at 23h59, judged 24h01 after the first": (
        [("say", HOURS), ("wait", 23 * H + 59 * M), ("say", "when are you open"), ("wait", 2 * M)],
        (0, 0),
    ),
    "asked again at 23h59, then nothing for 24h01": (
        [("say", HOURS), ("wait", 23 * H + 59 * M), ("say", HOURS), ("wait", 24 * H + M)],
        (1, 1),
    ),
    "came back at 24h01: judged again from the new message": (
        [("say", HOURS), ("wait", 24 * H + M), ("say", HOURS), ("wait", M)],
        (0, 0),
    ),
    "thumbs up: resolved at once": ([("say", HOURS), ("rate", "up")], (1, 1)),
    "thumbs up, then asked for a human": (
        [("say", HOURS), ("rate", "up"), ("say", "I want to talk to a human")],
        (1, 0),
    ),
    "asked for a human, then nothing for 24h01": (
        [("say", "Can I speak to a real person?"), ("wait", 24 * H + M)],
        (1, 0),
    ),
    "asked for a human 23h ago": (
        [("say", "Can I speak to a real person?"), ("wait", 23 * H)],
        (0, 0),
    ),
    "thumbs down, then nothing for 24h01": (
        [("say", HOURS), ("rate", "down"), ("wait", 24 * H + M)],
        (1, 0),
    ),
    "thumbs down, answered again, then nothing for 24h01: the last answer was not rated down": (
        [("say", HOURS), ("rate", "down"), ("say", HOURS), ("wait", 24 * H + M)],
        (1, 1),
    ),
    "thumbs up, then the last answer rated down, then nothing for 24h01": (
        [("say", HOURS), ("rate", "up"), ("say", HOURS), ("rate", "down"), ("wait", 24 * H + M)],
        (1, 0),
    ),
    "thumbs down changed to thumbs up": (
        [("say", HOURS), ("rate", "down"), ("rate", "up")],
        (1, 1),
    ),
    "don't know, then nothing for 24h01": (
        [("say", "Do you rent out submarines for weddings?"), ("wait", 24 * H + M)],
        (1, 0),
    ),
    "answered, then thanks, then nothing for 24h01": (
        [("say", HOURS), ("say", "thanks!"), ("wait", 24 * H + M)],
        (1, 1),
    ),
    "only a greeting, 25h ago: nothing was asked": ([("say", "hello"), ("wait", 25 * H)], (0, 0)),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_resolution_rule(app: tuple[httpx.AsyncClient, Runtime], case: str) -> None:
    client, runtime = app
    steps, expected = CASES[case]
    owner = await signup(client, "Resolution")
    await add_faq(client, owner)
    visitor = Visitor(client, owner)
    for kind, value in steps:
        if kind == "say":
            await visitor.say(value)
        elif kind == "rate":
            await visitor.rate(value)
        else:
            await move_back(runtime, owner, value)
    await rebuild(runtime, owner, utcnow())
    body = await figures(client, owner, **around_today())
    assert (body["resolution"]["counted"], body["resolution"]["resolved"]) == expected
    assert body["totals"]["conversations"] == 1


async def test_a_conversation_asking_for_a_human_on_two_days_is_one_handoff(
    app: tuple[httpx.AsyncClient, Runtime],
) -> None:
    """Handoffs count conversations, on the day each started: one that asked for a human
    before and after midnight is one in the range's total (it was one per day, so two)."""
    client, runtime = app
    owner = await signup(client, "Handoff days")
    visitor = Visitor(client, owner)
    assert (await visitor.say("Can I talk to a human please?"))["source"] == "handoff"
    await move_back(runtime, owner, timedelta(days=1))
    assert (await visitor.say("Can I talk to a human now?"))["source"] == "handoff"
    await rebuild(runtime, owner, utcnow())
    body = await figures(client, owner, **around_today())
    assert body["totals"]["handoffs"] == 1
    transcript = await client.get(
        owner.url(f"/conversations/{visitor.conversation_id}"), headers=owner.headers
    )
    started = datetime.fromisoformat(transcript.json()["conversation"]["created_at"])
    handoff_days = [(d["day"], d["handoffs"]) for d in body["days"] if d["handoffs"]]
    assert handoff_days == [(started.astimezone(UTC).date().isoformat(), 1)]


# --- the range and who may read ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"from": "2026-03-10", "to": "2026-03-01"}, "invalid_date_range"),
        ({"from": "2025-01-01", "to": "2026-01-02"}, "date_range_too_long"),
        ({"from": "yesterday"}, "validation_error"),
        # The calendar's ends: the range's arithmetic overflowed (a 500, or an export that
        # broke after its 200 had been sent).
        ({"from": "9999-12-31", "to": "9999-12-31"}, "date_out_of_range"),
        ({"to": "0001-01-05"}, "date_out_of_range"),
    ],
)
async def test_a_bad_range_is_a_422_with_a_stable_code(
    client: httpx.AsyncClient, owner: Owner, params: dict[str, str], code: str
) -> None:
    for path in ("/analytics", "/conversations/export"):
        response = await client.get(owner.url(path), params=params, headers=owner.headers)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == code


async def test_the_longest_range_is_accepted_and_defaults_to_30_days(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    longest = await figures(client, owner, **{"from": "2025-01-01", "to": "2026-01-01"})
    assert len(longest["days"]) == analytics.MAX_RANGE_DAYS
    default = await figures(client, owner)
    assert len(default["days"]) == analytics.DEFAULT_RANGE_DAYS
    today = utcnow().date()
    assert default["to"] == today.isoformat()
    assert default["from"] == (today - timedelta(days=29)).isoformat()
    assert default["days"][0]["day"] == default["from"]
    assert default["answer_rate"] is None
    assert default["resolution"]["rate"] is None


async def test_another_workspace_sees_nothing(
    app: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, runtime = app
    owner = await signup(client, "Mine")
    stranger = await signup(client, "Theirs")
    await Visitor(client, owner).say("hello there, do you ship to Nepal?")
    await rebuild(runtime, owner, utcnow())
    mine = await client.get(owner.url("/analytics"), headers=stranger.headers)
    assert mine.status_code == 404
    theirs = await figures(client, stranger)
    assert theirs["totals"]["visitor_messages"] == 0


# --- the conversation export -------------------------------------------------------------------


async def test_export_streams_csv_and_json_lines_of_the_range(
    app: tuple[httpx.AsyncClient, Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, runtime = app
    owner = await signup(client, "Export")
    await add_faq(client, owner)
    monkeypatch.setattr(analytics, "EXPORT_PAGE", 3)  # several keyset pages
    visitors = [Visitor(client, owner) for _ in range(3)]
    for visitor in visitors:
        await visitor.say(HOURS)
    await visitors[0].rate("up")
    formula = '=HYPERLINK("http://evil.example","click")'
    await visitors[1].say(formula)
    old = Visitor(client, owner)
    await move_back(runtime, owner, timedelta(days=40))  # everything so far: 40 days ago
    await old.say("hello")  # today: outside the range below

    start = (utcnow() - timedelta(days=41)).date().isoformat()
    end = (utcnow() - timedelta(days=39)).date().isoformat()
    response = await client.get(
        owner.url("/conversations/export"),
        params={"from": start, "to": end, "format": "csv"},
        headers=owner.headers,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 8  # three questions and answers, the formula and its answer
    assert {r["conversation_id"] for r in rows} == {v.conversation_id for v in visitors}
    assert old.conversation_id not in {r["conversation_id"] for r in rows}
    assert [r["rating"] for r in rows if r["rating"]] == ["up"]
    assert "'" + formula in [r["text"] for r in rows]
    assert formula not in [r["text"] for r in rows]
    # In conversation order, then message order: each conversation's rows are together.
    order = [r["conversation_id"] for r in rows]
    assert order == sorted(order, key=order.index)

    lines = await client.get(
        owner.url("/conversations/export"),
        params={"from": start, "to": end, "format": "jsonl"},
        headers=owner.headers,
    )
    assert lines.status_code == 200, lines.text
    records = [json.loads(line) for line in lines.text.splitlines()]
    assert [r["type"] for r in records].count("conversation") == 3
    assert [r["type"] for r in records].count("message") == 8
    assert formula in [r.get("text") for r in records]  # JSON needs no neutralising
    current = None
    for record in records:
        if record["type"] == "message":
            assert record["conversation_id"] == current
        else:
            current = record["id"]

    audit = await client.get(owner.url("/audit"), headers=owner.headers)
    exported = [e for e in audit.json()["items"] if e["action"] == "conversations.exported"]
    assert len(exported) == 2
    assert {e["details"]["format"] for e in exported} == {"csv", "jsonl"}
    assert exported[0]["details"]["from"] == start


async def test_an_empty_export_has_the_header_only(client: httpx.AsyncClient, owner: Owner) -> None:
    response = await client.get(owner.url("/conversations/export"), headers=owner.headers)
    assert response.status_code == 200
    assert response.text.strip() == ",".join(analytics.EXPORT_COLUMNS)


async def test_head_of_the_export_reads_nothing_and_audits_nothing(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """HEAD ran the export as a GET: every message of the range was read and thrown away, and
    the audit log said the conversations had been exported though nothing left."""
    head = await client.head(owner.url("/conversations/export"), headers=owner.headers)
    assert head.status_code == 200, head.text
    assert head.headers["content-type"].startswith("text/csv")
    assert "attachment" in head.headers["content-disposition"]
    assert head.content == b""

    async def exported() -> int:
        audit = await client.get(owner.url("/audit"), headers=owner.headers)
        return [e["action"] for e in audit.json()["items"]].count("conversations.exported")

    assert await exported() == 0
    got = await client.get(owner.url("/conversations/export"), headers=owner.headers)
    assert got.text.strip() == ",".join(analytics.EXPORT_COLUMNS)
    assert await exported() == 1
