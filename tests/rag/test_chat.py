"""The answer pipeline over HTTP: intents, FAQ, handoff, quotas, streaming, widget keys."""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from api.runtime import Runtime
from core.db import Database
from rag.chat.follow_ups import continues, looks_like_follow_up
from tests.conftest import Owner, RuntimeFactory, client_for, signup
from workspaces import usage


def new_session() -> str:
    """A widget session id of its own: a conversation no other message joins."""
    return f"s-{uuid.uuid4().hex[:12]}"


def widget_headers(owner: Owner, **extra: str) -> dict[str, str]:
    return {"X-Widget-Key": owner.workspace["public_key"], **extra}


async def chat(
    client: httpx.AsyncClient, owner: Owner, message: str, **body: Any
) -> httpx.Response:
    payload = {"message": message, "session_id": body.pop("session_id", "visitor-1"), **body}
    return await client.post("/api/v1/chat", json=payload, headers=widget_headers(owner))


async def add_faq(
    client: httpx.AsyncClient, owner: Owner, question: str, answer: str, *alts: str
) -> str:
    """A new FAQ (201) through the API; its id."""
    created = await client.post(
        owner.url("/faqs"),
        json={"question": question, "answer": answer, "alt_questions": list(alts)},
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        events.append((lines["event"], json.loads(lines["data"])))
    return events


async def test_greeting_answers_from_the_persona_without_knowledge(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    response = await chat(client, owner, "Hello there!")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["intent"] == "greeting"
    assert body["source"] == "fallback"
    assert "Acme assistant" in body["answer"]
    assert body["citations"] == []
    assert body["timings_ms"]["total"] >= 0


async def test_faq_answers_before_retrieval_exactly_and_semantically(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    await add_faq(
        client,
        owner,
        "What are your opening hours?",
        "We are open 9 to 5, Monday to Friday.",
        "When are you open?",
    )
    exact = (await chat(client, owner, "what are your OPENING hours")).json()
    assert exact["source"] == "faq"
    assert exact["answer"] == "We are open 9 to 5, Monday to Friday."
    alt = (await chat(client, owner, "When are you open?!")).json()
    assert alt["source"] == "faq"
    unrelated = (await chat(client, owner, "Do you ship to Canada?")).json()
    assert unrelated["source"] != "faq"


async def test_a_second_faq_asking_the_same_question_is_refused(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """Visitors only ever get one FAQ's answer for a question: a twin (by its question or one
    of its other phrasings, created or edited into one) is a 409 naming the FAQ that asks it
    already, and nothing is stored."""
    first = await add_faq(
        client, owner, "Do you deliver on Sundays?", "No, Monday to Saturday.", "Sunday delivery?"
    )
    other = await add_faq(client, owner, "Do you deliver to Goa?", "Yes.")
    for body in (
        {"question": "do you deliver on SUNDAYS", "answer": "Yes, now we do."},
        {"question": "Weekend delivery?", "answer": "Yes.", "alt_questions": ["Sunday delivery"]},
    ):
        twin = await client.post(owner.url("/faqs"), json=body, headers=owner.headers)
        assert twin.status_code == 409, twin.text
        error = twin.json()["error"]
        assert error["code"] == "faq_duplicate"
        assert error["details"][0]["faq_id"] == first
    edited = await client.patch(
        owner.url(f"/faqs/{other}"),
        json={"question": "Do you deliver on Sundays"},
        headers=owner.headers,
    )
    assert edited.status_code == 409, edited.text
    assert edited.json()["error"]["code"] == "faq_duplicate"
    # An FAQ keeps its own question when other fields change.
    same = await client.patch(
        owner.url(f"/faqs/{first}"),
        json={"question": "Do you deliver on Sundays?", "answer": "Yes, since June."},
        headers=owner.headers,
    )
    assert same.status_code == 200, same.text
    listing = (await client.get(owner.url("/faqs"), headers=owner.headers)).json()
    assert sorted(f["question"] for f in listing["items"]) == [
        "Do you deliver on Sundays?",
        "Do you deliver to Goa?",
    ]
    body = (await chat(client, owner, "Do you deliver on Sundays?")).json()
    assert (body["source"], body["answer"]) == ("faq", "Yes, since June.")


async def test_an_faq_phrasing_too_long_to_look_up_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """Another phrasing of 3,000 characters was a 500 (the lookup index's row limit) and one of
    200,000 that compressed well was stored. Each phrasing is now bounded like the question,
    and one in a script of several bytes per character by what the lookup can hold."""
    cases = [
        ("x" * 1001, "validation_error"),
        (secrets.token_hex(1500), "validation_error"),
        ("y" * 200_000, "validation_error"),
        ("价格" * 400, "question_too_long"),  # 800 characters, 2,400 bytes
    ]
    for alt, code in cases:
        body = {"question": f"Q {uuid.uuid4().hex}?", "answer": "A.", "alt_questions": [alt]}
        created = await client.post(owner.url("/faqs"), json=body, headers=owner.headers)
        assert created.status_code == 422, (len(alt), created.text[:300])
        assert created.json()["error"]["code"] == code
        assert created.json()["error"]["details"][0]["field"].startswith("alt_questions")
    cjk = await client.post(
        owner.url("/faqs"), json={"question": "价格" * 400, "answer": "A."}, headers=owner.headers
    )
    assert cjk.status_code == 422
    assert cjk.json()["error"]["details"][0]["field"] == "question"
    assert (await client.get(owner.url("/faqs"), headers=owner.headers)).json()["total"] == 0

    faq_id = await add_faq(client, owner, "Do you ship abroad?", "Yes.", "International?")
    for alt, code in cases:
        patched = await client.patch(
            owner.url(f"/faqs/{faq_id}"), json={"alt_questions": [alt]}, headers=owner.headers
        )
        assert patched.status_code == 422, (len(alt), patched.text[:300])
        assert patched.json()["error"]["code"] == code
    kept = (await client.get(owner.url(f"/faqs/{faq_id}"), headers=owner.headers)).json()
    assert kept["alt_questions"] == ["International?"]
    longest = "z" * 1000
    fits = await client.patch(
        owner.url(f"/faqs/{faq_id}"), json={"alt_questions": [longest]}, headers=owner.headers
    )
    assert fits.status_code == 200, fits.text[:300]
    assert (await chat(client, owner, longest)).json()["source"] == "faq"


async def test_an_faq_asked_word_for_word_mid_conversation_gets_its_answer(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """A message that is an FAQ's question is answered by the FAQ in a conversation too, even
    when its words look like a follow-up ("it", "there"): a visitor who asked for a person
    first still got "I don't know" for the FAQ "Is there a free trial?"."""
    await add_faq(client, owner, "Is there a free trial?", "Yes: 14 days, no card needed.")
    await add_faq(client, owner, "Can I pay for it by bank transfer?", "Yes, on yearly plans.")
    session = f"visitor-{uuid.uuid4().hex[:8]}"
    first = await chat(
        client,
        owner,
        "I'd like to talk to a human about the delivery of a parcel that went to my old address"
        " in the north of Scotland last winter, because the courier never called me back.",
        session_id=session,
    )
    assert first.json()["source"] == "handoff"
    conversation = {"session_id": session, "conversation_id": first.json()["conversation_id"]}
    trial = (await chat(client, owner, "Is there a free trial?", **conversation)).json()
    assert (trial["source"], trial["answer"]) == ("faq", "Yes: 14 days, no card needed.")
    transfer = (
        await chat(client, owner, "can I pay for it by bank transfer", **conversation)
    ).json()
    assert (transfer["source"], transfer["answer"]) == ("faq", "Yes, on yearly plans.")


@pytest.mark.parametrize(
    ("message", "follow_up"),
    [
        ("Is there a free trial?", False),
        ("Are there discounts for students?", False),
        ("there is a fee for cancelling?", False),
        ("Will there be a fee?", False),
        ("Isn't there a free trial?", False),
        ("Is  there\na free trial?", False),
        ("do you ship there?", True),
        ("how much is shipping there", True),
        ("and for yearly plans?", True),
        ("how much does it cost?", True),
        ("What are your opening hours?", False),
    ],
)
def test_what_looks_like_a_follow_up(message: str, follow_up: bool) -> None:
    assert looks_like_follow_up(message) is follow_up


@pytest.mark.parametrize(
    ("message", "continued"),
    [
        ("and for yearly plans?", True),
        ("And per year?", True),
        ("  what about iPhone?", True),
        ("Same for the Business plan?", True),
        ("Does it work on Linux?", False),
        ("Andrew here: does it work on Linux?", False),
        ("how long does it take?", False),
    ],
)
def test_what_continues_the_question_before(message: str, continued: bool) -> None:
    """Without a model a follow-up is read alone first, unless it opens as a continuation."""
    assert continues(message) is continued


async def test_unknown_question_is_answered_honestly_and_recorded(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    body = (await chat(client, owner, "Do you sell submarines?")).json()
    assert body["source"] == "fallback"
    assert body["lead_capture"] is True
    assert "don't know" in body["answer"].lower() or "not sure" in body["answer"].lower()
    await chat(client, owner, "do you sell submarines", session_id="visitor-2")
    groups = (await client.get(owner.url("/unanswered"), headers=owner.headers)).json()
    assert groups[0]["count"] == 2
    assert "submarines" in groups[0]["question"].lower()
    resolved = await client.post(
        owner.url("/unanswered/resolve"), json={"ids": groups[0]["ids"]}, headers=owner.headers
    )
    assert resolved.json() == {"resolved": 2}
    again = await client.post(  # a teammate's stale page: nothing more was resolved
        owner.url("/unanswered/resolve"), json={"ids": groups[0]["ids"]}, headers=owner.headers
    )
    assert again.json() == {"resolved": 0}
    assert (await client.get(owner.url("/unanswered"), headers=owner.headers)).json() == []


async def test_the_owners_own_questions_are_not_left_unanswered(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """The playground and the API (the owner channel) try the bot out: a question it cannot
    answer there is answered the same way but is not listed for the owner as unanswered; a
    visitor's is."""
    question = f"Do you sell submarines of model {uuid.uuid4().hex[:6]}?"
    tried = await client.post(owner.url("/chat"), json={"message": question}, headers=owner.headers)
    assert tried.status_code == 200, tried.text
    assert tried.json()["source"] == "fallback"
    assert (await client.get(owner.url("/unanswered"), headers=owner.headers)).json() == []
    visitor = (await chat(client, owner, question)).json()
    assert visitor["source"] == "fallback"
    [group] = (await client.get(owner.url("/unanswered"), headers=owner.headers)).json()
    assert group["question"] == question
    assert group["count"] == 1


async def test_message_length_is_validated_before_anything(
    client: httpx.AsyncClient, owner: Owner, settings: Any
) -> None:
    empty = await chat(client, owner, "   ")
    assert empty.status_code == 422
    assert empty.json()["error"]["code"] == "message_empty"
    long = await chat(client, owner, "x" * (settings.max_message_chars + 1))
    assert long.status_code == 422
    assert long.json()["error"]["code"] == "message_too_long"
    listing = (await client.get(owner.url("/conversations"), headers=owner.headers)).json()
    assert listing["items"] == []


async def test_a_message_of_only_invisible_characters_is_empty_on_both_routes(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """A zero-width space alone was answered ("Sorry, I don't know"), recorded and metered,
    where a space gets 422 message_empty: now it gets the same, from a visitor and an owner."""
    for blank in ("\u200b", " \u200b\u200d\ufeff ", "\u2800\u3164", "\u0301"):
        visitor = await chat(client, owner, blank)
        assert visitor.status_code == 422, (blank, visitor.text)
        assert visitor.json()["error"]["code"] == "message_empty"
        owners = await client.post(
            owner.url("/chat"), json={"message": blank}, headers=owner.headers
        )
        assert owners.status_code == 422, (blank, owners.text)
        assert owners.json()["error"]["code"] == "message_empty"
    listing = (await client.get(owner.url("/conversations"), headers=owner.headers)).json()
    assert listing["items"] == []
    usage = (await client.get(owner.url("/usage"), headers=owner.headers)).json()
    assert usage["metrics"]["messages"]["used"] == 0, usage
    # Invisible characters inside a real message are no reason to refuse it.
    joined = await chat(client, owner, "Hello\u200b there!")
    assert joined.status_code == 200, joined.text


async def test_widget_key_is_required_and_scoped(
    client: httpx.AsyncClient, owner: Owner, other: Owner
) -> None:
    missing = await client.post("/api/v1/chat", json={"message": "hi", "session_id": "v"})
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "invalid_widget_key"
    bogus = await client.post(
        "/api/v1/chat",
        json={"message": "hi", "session_id": "v"},
        headers={"X-Widget-Key": "pk_nope"},
    )
    assert bogus.status_code == 401
    await client.post(
        other.url("/faqs"),
        json={"question": "What is the secret code?", "answer": "B's secret is 42."},
        headers=other.headers,
    )
    # A's key never answers from B's knowledge.
    body = (await chat(client, owner, "What is the secret code?")).json()
    assert "42" not in body["answer"]
    assert body["source"] != "faq"
    # A conversation of B's cannot be continued with A's key.
    b_conv = (await chat(client, other, "What is the secret code?")).json()["conversation_id"]
    cross = await chat(client, owner, "and then?", conversation_id=b_conv)
    assert cross.status_code == 404


async def test_conversation_is_kept_and_listed_with_transcript(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    first = (await chat(client, owner, "hi")).json()
    second = await chat(client, owner, "thanks!", conversation_id=first["conversation_id"])
    assert second.json()["conversation_id"] == first["conversation_id"]
    other_session = await chat(
        client, owner, "hi", conversation_id=first["conversation_id"], session_id="someone-else"
    )
    assert other_session.status_code == 404
    listing = (await client.get(owner.url("/conversations"), headers=owner.headers)).json()
    assert listing["items"][0]["message_count"] == 4
    transcript = (
        await client.get(
            owner.url(f"/conversations/{first['conversation_id']}"), headers=owner.headers
        )
    ).json()
    assert [m["role"] for m in transcript["messages"]] == ["user", "assistant"] * 2
    assert transcript["messages"][1]["intent"] == "greeting"


async def test_quota_exceeded_answers_429_with_limit_and_reset(
    client: httpx.AsyncClient, owner: Owner, db: Database
) -> None:
    workspace_id = uuid.UUID(owner.workspace_id)
    async with db.transaction(workspace_id=workspace_id) as session:
        await usage.increment(session, workspace_id, messages=1000)
    response = await chat(client, owner, "hello")
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert int(response.headers["retry-after"]) > 0
    # The visitor is not told the workspace's plan, limit or usage; the owner is.
    assert "details" not in error or not error["details"]
    assert "1000" not in response.text
    assert "free" not in response.text
    streamed = await client.post(
        "/api/v1/chat",
        json={"message": "hello", "session_id": "visitor-2"},
        headers={**widget_headers(owner), "Accept": "text/event-stream"},
    )
    assert streamed.status_code == 429
    assert "1000" not in streamed.text
    own = await client.post(
        owner.url("/chat"), json={"message": "hello", "session_id": "o-1"}, headers=owner.headers
    )
    assert own.status_code == 429
    assert own.json()["error"]["details"]["limit"] == 1000
    assert own.json()["error"]["details"]["resets_at"] == usage.month_reset().isoformat()
    # The refused message was not recorded nor counted.
    listing = (await client.get(owner.url("/conversations"), headers=owner.headers)).json()
    assert listing["items"] == []
    report = (await client.get(owner.url("/usage"), headers=owner.headers)).json()
    assert report["metrics"]["messages"]["used"] == 1000


async def test_messages_and_conversations_are_metered(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    first = (await chat(client, owner, "hi")).json()
    await chat(client, owner, "thanks", conversation_id=first["conversation_id"])
    await chat(client, owner, "hello", session_id="visitor-9")
    report = (await client.get(owner.url("/usage"), headers=owner.headers)).json()
    assert report["metrics"]["messages"]["used"] == 3
    assert report["metrics"]["conversations"]["used"] == 2


async def test_without_history_a_conversation_is_still_metered_once(
    runtime_factory: RuntimeFactory,
) -> None:
    """HISTORY_TURNS=0 sends no history to the model; a message continuing a conversation
    is still not a new conversation (it was metered as one: 100 messages filled the free plan's
    100 conversations) and still counts on the conversation."""
    async with runtime_factory(history_turns=0) as runtime, client_for(runtime) as client:
        owner = await signup(client)
        first = (await chat(client, owner, "hi")).json()
        again = await chat(client, owner, "thanks", conversation_id=first["conversation_id"])
        assert again.status_code == 200, again.text
        report = (await client.get(owner.url("/usage"), headers=owner.headers)).json()
        listing = (await client.get(owner.url("/conversations"), headers=owner.headers)).json()
    assert report["metrics"]["messages"]["used"] == 2
    assert report["metrics"]["conversations"]["used"] == 1
    assert [c["message_count"] for c in listing["items"]] == [4]


async def test_streaming_sends_meta_delta_citations_done(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    await client.post(
        owner.url("/faqs"),
        json={"question": "Where is your office?", "answer": "Our office is in Pune."},
        headers=owner.headers,
    )
    response = await client.post(
        "/api/v1/chat",
        json={"message": "Where is your office?", "session_id": "s1"},
        headers=widget_headers(owner, Accept="text/event-stream"),
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    names = [name for name, _ in events]
    assert names[0] == "meta"
    assert names[-2:] == ["citations", "done"]
    assert "".join(d["text"] for n, d in events if n == "delta") == "Our office is in Pune."
    assert events[-1][1]["source"] == "faq"
    assert events[0][1]["conversation_id"] == events[-1][1]["conversation_id"]


async def test_streaming_errors_before_output_are_http_errors(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    response = await client.post(
        "/api/v1/chat",
        json={"message": "", "session_id": "s1"},
        headers=widget_headers(owner, Accept="text/event-stream"),
    )
    assert response.status_code == 422


async def test_human_intent_hands_off_and_notifies_the_owner(
    client: httpx.AsyncClient, owner: Owner, runtime: Runtime
) -> None:
    patched = await client.patch(
        owner.url(""), json={"webhook_url": "https://hooks.example.com/tb"}, headers=owner.headers
    )
    assert patched.status_code == 200
    body = (await chat(client, owner, "Can I talk to a real person please?")).json()
    assert body["intent"] == "human"
    assert body["source"] == "handoff"
    assert body["lead_capture"] is True
    listing = (await client.get(owner.url("/conversations"), headers=owner.headers)).json()
    assert listing["items"][0]["status"] == "handoff"
    deliveries = await _deliveries(runtime, owner)
    assert [d.event for d in deliveries] == ["conversation.handoff"]
    assert deliveries[0].payload["data"]["conversation_id"] == body["conversation_id"]


async def test_a_question_about_human_support_is_answered_not_handed_off(
    client: httpx.AsyncClient, owner: Owner, runtime: Runtime
) -> None:
    """A visitor asking whether there is human support gets an answer; the conversation stays
    open and the owner's webhook hears nothing (it was handed off for a question)."""
    patched = await client.patch(
        owner.url(""), json={"webhook_url": "https://hooks.example.com/tb"}, headers=owner.headers
    )
    assert patched.status_code == 200
    await add_faq(client, owner, "Do you offer human support?", "Yes, on weekdays 9 to 5.")
    body = (await chat(client, owner, "Do you offer human support?", session_id="hs-1")).json()
    assert (body["intent"], body["source"]) == ("question", "faq")
    assert body["answer"] == "Yes, on weekdays 9 to 5."
    listing = (await client.get(owner.url("/conversations"), headers=owner.headers)).json()
    assert [c["status"] for c in listing["items"]] == ["open"]
    assert await _deliveries(runtime, owner) == []


async def _deliveries(runtime: Runtime, owner: Owner) -> list[Any]:
    from rag.chat.repository import deliveries as delivery_repo

    async with runtime.db.transaction(workspace_id=owner.workspace_id) as session:
        return await delivery_repo.list_deliveries(
            session, workspace_id=uuid.UUID(owner.workspace_id), limit=10
        )


@pytest.mark.parametrize("rating", ["up", "down"])
async def test_feedback_through_the_widget(
    client: httpx.AsyncClient, owner: Owner, other: Owner, rating: str
) -> None:
    answer = (await chat(client, owner, "hello", session_id="fb-visitor")).json()
    response = await client.post(
        "/api/v1/widget/feedback",
        json={"message_id": answer["message_id"], "rating": rating, "session_id": "fb-visitor"},
        headers=widget_headers(owner),
    )
    assert response.status_code == 204
    stats = (await client.get(owner.url("/chat/stats"), headers=owner.headers)).json()
    assert stats["feedback"][rating] == 1
    foreign = await client.post(
        "/api/v1/widget/feedback",
        json={"message_id": answer["message_id"], "rating": rating, "session_id": "fb-visitor"},
        headers=widget_headers(other),
    )
    assert foreign.status_code == 404


async def test_an_owner_closes_a_conversation_and_only_their_own(
    client: httpx.AsyncClient, owner: Owner, other: Owner
) -> None:
    conversation_id = (await chat(client, owner, "What does the Family plan cost?")).json()[
        "conversation_id"
    ]
    path = f"/conversations/{conversation_id}"
    closed = await client.patch(owner.url(path), json={"status": "closed"}, headers=owner.headers)
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"
    listing = (await client.get(owner.url("/conversations"), headers=owner.headers)).json()
    assert [(i["id"], i["status"]) for i in listing["items"]] == [(conversation_id, "closed")]

    foreign = await client.patch(other.url(path), json={"status": "open"}, headers=other.headers)
    assert foreign.status_code == 404
    again = (await client.get(owner.url(path), headers=owner.headers)).json()
    assert again["conversation"]["status"] == "closed"


async def test_conversations_at_the_same_moment_are_all_paged_through(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    """Pages continue after (last message time, id): three conversations whose last message
    came at the same moment were cut to the first page's two (the next page, before that
    moment, was empty)."""
    for n in range(3):
        await chat(client, owner, "hi", session_id=f"same-{n}")
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "UPDATE conversations SET last_message_at = '2026-12-02 10:00:00+00'"
                " WHERE workspace_id = :w"
            ),
            {"w": owner.workspace_id},
        )
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    for _ in range(3):
        page = (
            await client.get(owner.url("/conversations"), params=params, headers=owner.headers)
        ).json()
        seen += [c["id"] for c in page["items"]]
        if page["next_before"] is None:
            break
        params = {"limit": 2, "before": page["next_before"], "before_id": page["next_before_id"]}
    assert len(seen) == len(set(seen)) == 3


async def test_an_email_typed_into_the_chat_becomes_the_conversations_lead(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """The bot asks for an email (after "I don't know", or a request for a human); a visitor
    who types it into the chat got "I don't know" and no lead (a tester's finding)."""
    first = (await chat(client, owner, "Do you sell submarines?", session_id="sea")).json()
    assert first["lead_capture"] is True
    assert first["lead_saved"] is False
    conversation = first["conversation_id"]
    message = "my email is Nemo.Diver@example.com, please get back to me"
    reply = await chat(client, owner, message, session_id="sea", conversation_id=conversation)
    body = reply.json()
    assert body["intent"] == "contact"
    assert "don't know" not in body["answer"].lower()
    assert "email you" in body["answer"]
    assert body["lead_capture"] is False  # no second form: the address is given
    assert body["lead_saved"] is True  # and the widget closes the one it showed
    leads = (await client.get(owner.url("/leads"), headers=owner.headers)).json()["items"]
    [lead] = [item for item in leads if item["email"].lower() == "nemo.diver@example.com"]
    assert lead["source"] == "chat"
    assert lead["message"] == message
    transcript = (
        await client.get(owner.url(f"/conversations/{conversation}"), headers=owner.headers)
    ).json()
    assert transcript["conversation"]["lead_id"] == lead["id"]
    # Not a question left unanswered, and typed again: still one lead.
    groups = (await client.get(owner.url("/unanswered"), headers=owner.headers)).json()
    assert [g["question"] for g in groups] == ["Do you sell submarines?"]
    await chat(
        client, owner, "nemo.diver@example.com", session_id="sea", conversation_id=conversation
    )
    again = (await client.get(owner.url("/leads"), headers=owner.headers)).json()["items"]
    assert len([i for i in again if i["email"].lower() == "nemo.diver@example.com"]) == 1
    # Address after address in one conversation: no more leads (a tester made 14).
    for n in range(3):
        await chat(
            client, owner, f"spam{n}@example.net", session_id="sea", conversation_id=conversation
        )
    spammed = (await client.get(owner.url("/leads"), headers=owner.headers)).json()
    assert spammed["total"] == 1


async def test_a_question_or_a_report_naming_an_address_is_no_lead(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """A question without its "?" and a report of mail sent name an address that is not the
    visitor's way to be reached: they are questions (both got "I've passed your message on",
    no answer, and the site's own support address became a lead). Leaving an address still
    makes one."""
    for n, message in enumerate(
        [
            "How do I change my account email from jane@old-mail.com",
            "I emailed support@acme.com yesterday and got no reply",
            "can I share the Family plan with bob@example.org",
        ]
    ):
        body = (await chat(client, owner, message, session_id=f"q-{n}-{uuid.uuid4()}")).json()
        assert (body["intent"], body["lead_saved"]) == ("question", False), message
        assert "passed your message on" not in body["answer"]
    assert (await client.get(owner.url("/leads"), headers=owner.headers)).json()["total"] == 0
    given = ["my email is x1@example.net", "reach me at x2@example.net please", "x3@example.net"]
    for n, message in enumerate(given):
        body = (await chat(client, owner, message, session_id=f"c-{n}-{uuid.uuid4()}")).json()
        assert (body["intent"], body["lead_saved"]) == ("contact", True), message
    leads = (await client.get(owner.url("/leads"), headers=owner.headers)).json()["items"]
    assert sorted(lead["email"] for lead in leads) == [f"x{n}@example.net" for n in (1, 2, 3)]


async def test_an_address_given_after_the_bot_asked_for_one_is_a_lead(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """Right after the bot asked for an address, the visitor's own words around it do not make
    it a question; the same words in a new conversation do."""
    message = "I emailed you last week already, it's sam.sea@example.com"
    fresh = (await chat(client, owner, message, session_id=f"f-{uuid.uuid4()}")).json()
    assert (fresh["intent"], fresh["lead_saved"]) == ("question", False)
    session = f"a-{uuid.uuid4()}"
    first = (await chat(client, owner, "Can I talk to a human?", session_id=session)).json()
    assert first["lead_capture"] is True  # the bot asks for an address
    conversation = first["conversation_id"]
    body = (
        await chat(client, owner, message, session_id=session, conversation_id=conversation)
    ).json()
    assert (body["intent"], body["lead_saved"]) == ("contact", True)
    leads = (await client.get(owner.url("/leads"), headers=owner.headers)).json()["items"]
    assert [(lead["email"], lead["message"]) for lead in leads] == [
        ("sam.sea@example.com", message)
    ]


async def test_the_owners_playground_leaves_no_lead_for_an_email(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    response = await client.post(
        owner.url("/chat"),
        json={"message": "my email is tester@example.com"},
        headers=owner.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["intent"] == "contact"
    assert "becomes a lead" in response.json()["answer"]  # not "passed on": nothing was
    assert response.json()["lead_saved"] is False
    leads = (await client.get(owner.url("/leads"), headers=owner.headers)).json()
    assert leads["total"] == 0


async def test_an_unanswered_follow_up_is_left_for_the_owner_as_it_was_read(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """ "and what about those?" alone means nothing in the owner's list (a tester's finding)."""
    first = (await chat(client, owner, "Do you sell submarines?", session_id="fu")).json()
    await chat(
        client,
        owner,
        "and what about those yellow ones?",
        session_id="fu",
        conversation_id=first["conversation_id"],
    )
    groups = (await client.get(owner.url("/unanswered"), headers=owner.headers)).json()
    questions = sorted(q for g in groups for q in [g["question"]])
    assert "Do you sell submarines? and what about those yellow ones?" in questions, questions


async def test_a_full_last_page_offers_no_empty_next_page(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """Exactly as many conversations as the page holds: the page says there is no next one
    (it offered a cursor to an empty page)."""
    for n in range(2):
        await chat(client, owner, "hi", session_id=f"full-page-{n}")
    page = (
        await client.get(owner.url("/conversations"), params={"limit": 2}, headers=owner.headers)
    ).json()
    assert len(page["items"]) == 2
    assert page["next_before"] is None
    assert page["next_before_id"] is None
    first = (
        await client.get(owner.url("/conversations"), params={"limit": 1}, headers=owner.headers)
    ).json()
    assert len(first["items"]) == 1
    assert first["next_before_id"] == first["items"][0]["id"]
