"""A message sent again with the same client_message_id (the widget's retries) is recorded and
metered once: a repeat gets the recorded answer, 409 while it is being written, or, after a try
that failed without an answer, the answer then (rag/chat/repeats.py)."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import text

from core.db import Database
from rag.chat.exchange import ChatInput
from rag.knowledge.embeddings import EmbeddingError, HashEmbedder
from tests.conftest import Owner, RuntimeFactory, client_for, signup
from tests.rag.test_answers import REFUNDS, ingest
from tests.rag.test_chat import parse_sse, widget_headers
from workspaces.repository import get_workspace

QUESTION = "What is the warranty on the backup appliance?"


class RemoteEmbedder(HashEmbedder):
    """Hash vectors from an embedder that costs per call, as the OpenAI-compatible one: the
    question is embedded after its message's transaction is committed, never beside it."""

    unmetered = False


class FlakyEmbedder(RemoteEmbedder):
    """The provider is down for the first ``failures`` questions (503 after its retries, as
    ``OpenAIEmbedder`` raises it), then answers."""

    def __init__(self, failures: int = 1) -> None:
        super().__init__(dimensions=384)
        self.failures = failures

    async def embed_query(self, text: str) -> np.ndarray:
        if self.failures:
            self.failures -= 1
            raise EmbeddingError("Embedding service unavailable after 3 attempts", status_code=503)
        return await super().embed_query(text)


class HeldEmbedder(RemoteEmbedder):
    """The first question waits for ``go`` (its message recorded, its turn being answered
    meanwhile); the others are embedded at once."""

    def __init__(self) -> None:
        super().__init__(dimensions=384)
        self.entered = asyncio.Event()
        self.go = asyncio.Event()
        self.held = False

    async def embed_query(self, text: str) -> np.ndarray:
        if not self.held:
            self.held = True
            self.entered.set()
            await self.go.wait()
        return await super().embed_query(text)


async def post(
    client: httpx.AsyncClient,
    owner: Owner,
    message: str,
    client_message_id: str | None,
    *,
    stream: bool = False,
    **body: Any,
) -> httpx.Response:
    payload = {"message": message, "session_id": body.pop("session_id", "visitor-1"), **body}
    if client_message_id is not None:
        payload["client_message_id"] = client_message_id
    extra = {"Accept": "text/event-stream"} if stream else {}
    return await client.post("/api/v1/chat", json=payload, headers=widget_headers(owner, **extra))


async def recorded(owner_db: Database, owner: Owner) -> dict[str, int]:
    """The workspace's conversations, visitor messages, answers, and metered messages and
    conversations this month."""
    async with owner_db.transaction() as session:
        row = (
            await session.execute(
                text(
                    "SELECT (SELECT count(*) FROM conversations WHERE workspace_id = :w),"
                    " (SELECT count(*) FROM messages WHERE workspace_id = :w AND role = 'user'),"
                    " (SELECT count(*) FROM messages WHERE workspace_id = :w"
                    "  AND role = 'assistant'),"
                    " (SELECT coalesce(sum(messages), 0) FROM usage_counters"
                    "  WHERE workspace_id = :w),"
                    " (SELECT coalesce(sum(conversations), 0) FROM usage_counters"
                    "  WHERE workspace_id = :w)"
                ),
                {"w": uuid.UUID(owner.workspace_id)},
            )
        ).one()
    names = ("conversations", "visitor_messages", "answers", "metered_messages", "metered_convs")
    return dict(zip(names, (int(v) for v in row), strict=True))


ONE_TURN = {
    "conversations": 1,
    "visitor_messages": 1,
    "answers": 1,
    "metered_messages": 1,
    "metered_convs": 1,
}


async def test_a_retry_after_an_embedding_failure_is_answered_once_in_one_conversation(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    """The message is recorded and metered, then the embeddings provider fails (503): the
    widget sends it again with the same id and no conversation (it got none). The retry answers
    it in the first try's conversation; nothing is recorded or metered twice."""
    async with runtime_factory(embedder=FlakyEmbedder()) as runtime, client_for(runtime) as client:
        owner = await signup(client)
        cid = str(uuid.uuid4())
        failed = await post(client, owner, QUESTION, cid)
        assert failed.status_code == 503, failed.text
        assert failed.json()["error"]["code"] == "embedding_failed"
        retried = await post(client, owner, QUESTION, cid)
        assert retried.status_code == 200, retried.text
        again = await post(client, owner, QUESTION, cid)
    assert await recorded(owner_db, owner) == ONE_TURN
    async with owner_db.transaction() as session:
        conversation = (
            await session.execute(
                text("SELECT id FROM conversations WHERE workspace_id = :w"),
                {"w": uuid.UUID(owner.workspace_id)},
            )
        ).scalar_one()
    assert retried.json()["conversation_id"] == str(conversation)
    assert again.status_code == 200
    assert again.json()["message_id"] == retried.json()["message_id"]


def _without_timings(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "timings_ms"}


async def test_a_repeat_of_an_answered_message_gets_that_answer_and_records_nothing(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    """The stream was lost after the answer was recorded: a repeat, as JSON or as a stream, gets
    the same answer (conversation, message id, citations, flags), and no row or meter more."""
    async with (
        runtime_factory(retrieval_min_similarity=0.05) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client)
        await ingest(client, owner, runtime, "Refunds", REFUNDS)
        cid = str(uuid.uuid4())
        question = "How long do refunds take to arrive?"
        first = await post(client, owner, question, cid)
        assert first.status_code == 200, first.text
        before = await recorded(owner_db, owner)
        repeat = await post(client, owner, question, cid)
        streamed = await post(
            client,
            owner,
            question,
            cid,
            stream=True,
            conversation_id=first.json()["conversation_id"],
        )
    assert before == ONE_TURN
    assert await recorded(owner_db, owner) == ONE_TURN
    assert first.json()["source"] == "rag"
    assert first.json()["citations"]
    assert first.json()["extractive"] is True
    assert repeat.status_code == 200, repeat.text
    assert _without_timings(repeat.json()) == _without_timings(first.json())
    assert streamed.status_code == 200, streamed.text
    events = parse_sse(streamed.text)
    assert [name for name, _ in events] == ["meta", "delta", "citations", "done"]
    meta, delta, citations, done = (data for _, data in events)
    assert meta["conversation_id"] == first.json()["conversation_id"]
    assert meta["message_id"] == first.json()["message_id"]
    assert delta["text"] == first.json()["answer"]
    assert citations["citations"] == first.json()["citations"]
    assert _without_timings(done) == _without_timings(first.json())


async def test_two_identical_posts_at_once_record_one_message(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    """Two tries of one message arrive together: one records it, the other is refused by the
    unique index and answered as a repeat (the answer, or 409 while it is written), never a
    500 and never a second message."""
    async with runtime_factory() as runtime, client_for(runtime) as client:
        owner = await signup(client)
        cid = str(uuid.uuid4())
        responses = await asyncio.gather(
            post(client, owner, QUESTION, cid), post(client, owner, QUESTION, cid)
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses in ([200, 200], [200, 409]), [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert response.json()["error"]["code"] == "message_in_progress"
            assert response.headers["retry-after"] == "2"
    answered = [r.json() for r in responses if r.status_code == 200]
    assert len({a["message_id"] for a in answered}) == 1
    assert await recorded(owner_db, owner) == ONE_TURN


@asynccontextmanager
async def answering(
    runtime_factory: RuntimeFactory,
) -> AsyncIterator[
    tuple[httpx.AsyncClient, Owner, str, asyncio.Task[httpx.Response], HeldEmbedder]
]:
    """A visitor's message recorded with an id and being answered (its question's embedding
    held until ``embedder.go``): the client, the owner, the id, the try's task, the embedder."""
    embedder = HeldEmbedder()
    async with runtime_factory(embedder=embedder) as runtime, client_for(runtime) as client:
        owner = await signup(client)
        cid = str(uuid.uuid4())
        first = asyncio.create_task(post(client, owner, QUESTION, cid))
        await until_held(embedder, first)
        yield client, owner, cid, first, embedder


async def until_held(embedder: HeldEmbedder, first: asyncio.Future[Any]) -> None:
    """Until the question of ``first`` is held in the embedder (its message is recorded), or
    ``first`` ended without getting there (a failure shown here, not a wait forever)."""
    held = asyncio.ensure_future(embedder.entered.wait())
    await asyncio.wait({held, first}, return_when=asyncio.FIRST_COMPLETED)
    if not held.done():
        held.cancel()
        response = first.result()
        raise AssertionError(f"the try ended before its question was embedded: {response!r}")


async def test_a_repeat_while_the_answer_is_written_is_told_to_ask_again(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    """409 ``message_in_progress`` with Retry-After (as JSON, and before any event of a
    stream), then the answer once it is recorded."""
    async with answering(runtime_factory) as (client, owner, cid, first, embedder):
        busy = await post(client, owner, QUESTION, cid)
        busy_stream = await post(client, owner, QUESTION, cid, stream=True)
        embedder.go.set()
        answered = await first
        after = await post(client, owner, QUESTION, cid)
    for response in (busy, busy_stream):
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "message_in_progress"
        assert response.headers["retry-after"] == "2"
    assert answered.status_code == 200
    assert after.json()["message_id"] == answered.json()["message_id"]
    assert await recorded(owner_db, owner) == ONE_TURN


async def _four_tries_then_the_answer(
    client: httpx.AsyncClient,
    owner: Owner,
    cid: str,
    first: asyncio.Task[httpx.Response],
    embedder: HeldEmbedder,
) -> None:
    """Four tries of the message ``answering`` holds are told to ask again (409); once it is
    answered, a try gets the answer the first try recorded."""
    busy = [await post(client, owner, QUESTION, cid) for _ in range(4)]
    embedder.go.set()
    answered = await first
    after = await post(client, owner, QUESTION, cid)
    assert [r.status_code for r in busy] == [409] * 4, [r.text for r in busy]
    assert answered.status_code == 200, answered.text
    assert after.status_code == 200, after.text
    assert after.json()["message_id"] == answered.json()["message_id"]


async def test_tries_of_a_first_message_spend_no_new_conversation_cap(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    """The widget sends a visitor's first message again (after 409 ``message_in_progress``, up
    to 30 times; after a network error) with no conversation: it has none yet. Those tries start
    no conversation, so WIDGET_CONVERSATIONS_PER_IP_PER_HOUR does not count them: none is
    refused 429 ``conversation_rate_limited``, the answer recorded is given to the next try, and
    the visitor still has the conversations the cap leaves them."""
    capped = functools.partial(
        runtime_factory, rate_limits="on", widget_conversations_per_ip_per_hour=3
    )
    async with answering(capped) as (client, owner, cid, first, embedder):
        await _four_tries_then_the_answer(client, owner, cid, first, embedder)
        new_ones = [
            await post(client, owner, f"Do you ship to country number {n}?", str(uuid.uuid4()))
            for n in range(2)
        ]
        over = await post(client, owner, "Do you ship to Bhutan?", str(uuid.uuid4()))
    assert [r.status_code for r in new_ones] == [200, 200], [r.text for r in new_ones]
    assert over.status_code == 429, over.text  # the cap itself still holds
    assert over.json()["error"]["code"] == "conversation_rate_limited"
    assert (await recorded(owner_db, owner))["conversations"] == 3


async def test_tries_of_a_message_being_answered_do_not_spend_the_visitors_limit(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    """The widget asks again every 2 seconds while a message is being answered (409
    ``message_in_progress``, up to 30 times): each try counted against RATE_LIMIT_CHAT_VISITOR
    (20 a minute), so a slow answer ended in 429 ``rate_limited`` ("too many messages") for a
    visitor who had sent one. Then the tries were let through once over the limit, but the
    ones under it still spent it: the visitor's next message after a slow answer was refused
    though they had sent one. A try of a message is counted once, at its first try; a new
    message over the limit is still refused."""
    limited = functools.partial(
        runtime_factory,
        rate_limits="on",
        rate_limit_chat_visitor="2/minute",
        rate_limit_auth="1000/minute",  # the sign-up's requests are not what this is about
    )
    async with answering(limited) as (client, owner, cid, first, embedder):
        await _four_tries_then_the_answer(client, owner, cid, first, embedder)
        second = await post(client, owner, "Do you ship to Bhutan?", str(uuid.uuid4()))
        third = await post(client, owner, "Do you ship to Nepal?", str(uuid.uuid4()))
    assert second.status_code == 200, second.text  # the visitor's second message of two
    assert third.status_code == 429, third.text  # the limit itself still holds
    assert third.json()["error"]["code"] == "rate_limited"
    assert (await recorded(owner_db, owner))["visitor_messages"] == 2


async def test_a_message_the_visitors_limit_refused_is_refused_again_when_sent_again(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    """Only a try the visitor's limit let through makes the next tries of its message free: a
    message it refused, sent again with the same id (the widget's Retry, or a client sending
    each message twice, at once or one after the other), is counted and refused again."""
    limited = functools.partial(
        runtime_factory, rate_limits="on", rate_limit_chat_visitor="1/minute"
    )
    async with limited() as runtime, client_for(runtime) as client:
        owner = await signup(client)
        first = await post(client, owner, QUESTION, str(uuid.uuid4()))
        assert first.status_code == 200, first.text
        cid = str(uuid.uuid4())
        refused = await post(client, owner, "Do you ship to Bhutan?", cid)
        again = await post(client, owner, "Do you ship to Bhutan?", cid)
        pair = await asyncio.gather(
            *(post(client, owner, "Do you ship to Nepal?", "pair-" + cid) for _ in range(2))
        )
    assert [r.status_code for r in (refused, again, *pair)] == [429] * 4, [
        r.text for r in (refused, again, *pair)
    ]
    assert (await recorded(owner_db, owner))["visitor_messages"] == 1


async def test_a_claim_left_by_a_try_that_went_quiet_is_taken_over_and_one_answer_kept(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    """A try's claim older than the lease (its process ended, or it is very slow) is taken over
    by the next try, which answers. Should the first try come back and answer too, the one
    answer recorded is what both get."""
    async with answering(runtime_factory) as (client, owner, cid, first, embedder):
        async with owner_db.transaction() as session:
            await session.execute(
                text(
                    "UPDATE messages SET reply_claimed_at = now() - interval '1 hour'"
                    " WHERE workspace_id = :w AND client_message_id = :c"
                ),
                {"w": uuid.UUID(owner.workspace_id), "c": cid},
            )
        taken_over = await post(client, owner, QUESTION, cid)
        embedder.go.set()
        late = await first
    assert taken_over.status_code == 200, taken_over.text
    assert late.status_code == 200, late.text
    assert late.json()["message_id"] == taken_over.json()["message_id"]
    assert late.json()["answer"] == taken_over.json()["answer"]
    assert await recorded(owner_db, owner) == ONE_TURN


async def test_a_try_cancelled_mid_turn_leaves_the_message_to_the_next(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    """The try is cancelled after its message was recorded (REQUEST_TIMEOUT_SECONDS's 504, a
    shutdown): its claim is released as it goes, and the next try answers at once (no 409 until
    the lease runs out)."""
    embedder = HeldEmbedder()  # never let go: the first try waits until it is cancelled
    async with runtime_factory(embedder=embedder) as runtime, client_for(runtime) as client:
        owner = await signup(client)
        workspace_id = uuid.UUID(owner.workspace_id)
        async with runtime.db.transaction(workspace_id=workspace_id) as session:
            workspace = await get_workspace(session, workspace_id)
        assert workspace is not None
        cid = str(uuid.uuid4())
        inp = ChatInput(
            workspace=workspace, message=QUESTION, session_id="visitor-1", client_message_id=cid
        )
        first = asyncio.create_task(runtime.pipeline.answer(inp))
        await until_held(embedder, first)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        retried = await post(client, owner, QUESTION, cid)
    assert retried.status_code == 200, retried.text
    assert await recorded(owner_db, owner) == ONE_TURN


async def test_an_id_sent_with_another_message_is_refused(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    cid = str(uuid.uuid4())
    assert (await post(client, owner, "Hello there!", cid)).status_code == 200
    for other in (
        {"message": "Thanks a lot!"},  # another message
        {"message": "Hello there!", "session_id": "visitor-2"},  # another visitor
    ):
        refused = await post(client, owner, other.pop("message"), cid, **other)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "client_message_id_reused"
    assert await recorded(owner_db, owner) == ONE_TURN


@pytest.mark.parametrize(
    ("client_message_id", "status"),
    [
        ("0b9e3c52-6f1d-4a8e-9d3b-2f6c1e7a5d40", 200),
        ("0b9e3c526f1d4a8e9d3b2f6c1e7a5d40", 200),  # the widget's id without crypto.randomUUID
        ("msg:0001", 200),
        ("a-b_c.d:" * 8, 200),  # 64 characters
        ("short", 422),
        ("has space in it", 422),
        ("x" * 65, 422),
        ("semi;colon-123", 422),
        ("ünïcode-123", 422),
        (12345678, 422),
        ("", 422),
    ],
)
async def test_a_client_message_id_is_a_uuid_or_a_short_token(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database, client_message_id: Any, status: int
) -> None:
    response = await client.post(
        "/api/v1/chat",
        json={"message": "Hello there!", "session_id": "v", "client_message_id": client_message_id},
        headers=widget_headers(owner),
    )
    assert response.status_code == status, response.text
    if status == 422:
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert error["details"][0]["field"] == "client_message_id"
    assert (await recorded(owner_db, owner))["visitor_messages"] == (status == 200)


async def test_the_owners_chat_api_takes_a_client_message_id_too(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    cid = f"api-{uuid.uuid4().hex[:12]}"  # a token of the caller's own, not a UUID
    body = {"message": "Hello there!", "client_message_id": cid}
    first = await client.post(owner.url("/chat"), json=body, headers=owner.headers)
    again = await client.post(owner.url("/chat"), json=body, headers=owner.headers)
    assert first.status_code == again.status_code == 200, again.text
    assert _without_timings(again.json()) == _without_timings(first.json())
    assert await recorded(owner_db, owner) == ONE_TURN


async def test_the_owners_chat_api_lets_another_try_of_a_message_past_the_visitors_limit(
    runtime_factory: RuntimeFactory,
) -> None:
    """The widget's tries of a recorded message pass the visitor's limit; the owners' chat API
    takes a client_message_id too but did not pass it on: its retry was 429."""
    limited = runtime_factory(rate_limits="on", rate_limit_chat_visitor="1/minute")
    async with limited as runtime, client_for(runtime) as client:
        owner = await signup(client)
        body = {"message": "Hello there!", "session_id": "api-1", "client_message_id": "api-try-7"}
        first = await client.post(owner.url("/chat"), json=body, headers=owner.headers)
        again = await client.post(owner.url("/chat"), json=body, headers=owner.headers)
        new = {**body, "message": "Hello again!", "client_message_id": "api-try-8"}
        refused = await client.post(owner.url("/chat"), json=new, headers=owner.headers)
    assert first.status_code == again.status_code == 200, again.text
    assert again.json()["message_id"] == first.json()["message_id"]
    assert refused.status_code == 429, refused.text


async def test_a_retry_answers_from_the_workspace_as_it_is_now_not_as_cached(
    runtime_factory: RuntimeFactory,
) -> None:
    """The first try records the message and fails; the owner then sets lead capture to
    "Never"; the widget retries within WIDGET_KEY_CACHE_SECONDS. The retry took up the message
    with the workspace from the widget-key cache, unchecked, and asked the visitor for their
    email address (a reviewer's suspicion, confirmed: a deleted document's knowledge version,
    or old allowed origins, would apply the same way)."""
    async with (
        runtime_factory(embedder=FlakyEmbedder(), widget_key_cache_seconds=300) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client, "Stale retry")
        cid = str(uuid.uuid4())
        failed = await post(client, owner, "Do you sell submarines?", cid)
        assert failed.status_code == 503, failed.text  # recorded, then no answer
        patched = await client.patch(
            owner.url("/widget"), json={"lead_capture": "off"}, headers=owner.headers
        )
        assert patched.status_code == 200, patched.text
        retried = await post(client, owner, "Do you sell submarines?", cid)
    assert retried.status_code == 200, retried.text
    body = retried.json()
    assert body["source"] == "fallback"
    assert body["lead_capture"] is False
    assert "email" not in body["answer"].lower()
