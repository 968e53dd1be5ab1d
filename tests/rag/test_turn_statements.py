"""The chat turn's statements, built once and bound per call: each call still reads and writes
its own workspace's rows with its own values, and the FAQ match measures the same distance
as PostgreSQL does from pgvector's text form of the question's vector."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy import text

from core.db import Database
from rag.chat.models import ChatMessage, Conversation, Faq, FaqQuestion, UnansweredQuestion
from rag.chat.repository import conversations as conversation_repo
from rag.chat.repository import faqs as faq_repo
from tests.conftest import Owner
from workspaces import usage


def _unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(384).astype(np.float32)
    return vector / np.linalg.norm(vector)


async def _add_faq(db: Database, workspace_id: uuid.UUID, answer: str, vector: np.ndarray) -> None:
    async with db.transaction(workspace_id=workspace_id) as session:
        faq = Faq(id=uuid.uuid4(), workspace_id=workspace_id, question=answer, answer=answer)
        await faq_repo.insert_faq(session, faq)
        session.add(
            FaqQuestion(
                id=uuid.uuid4(),
                workspace_id=workspace_id,
                faq_id=faq.id,
                text=answer,
                normalized=f"q {answer}",
                embedding=vector.tolist(),
            )
        )


async def test_faq_nearest_distance_is_pgvectors_own(
    db: Database, owner: Owner, other: Owner
) -> None:
    mine, theirs = uuid.UUID(owner.workspace_id), uuid.UUID(other.workspace_id)
    await _add_faq(db, mine, "mine", _unit(1))
    await _add_faq(db, theirs, "theirs", _unit(2))
    query = _unit(3)
    async with db.transaction(workspace_id=mine) as session:
        found = await faq_repo.faq_nearest(session, workspace_id=mine, embedding=query)
        # pgvector's binding of a list: each component's shortest decimal, parsed back.
        pg_text = "[" + ",".join(str(float(v)) for v in query.tolist()) + "]"
        distance = (
            await session.execute(
                text(
                    "SELECT embedding <=> CAST(:q AS vector) FROM faq_questions"
                    " WHERE workspace_id = :ws"
                ),
                {"q": pg_text, "ws": mine},
            )
        ).scalar_one()
    [(_, answer, _, similarity)] = found  # never the other workspace's closer or farther FAQ
    assert answer == "mine"
    assert similarity == 1.0 - float(distance)  # exactly: the same float32 components
    async with db.transaction(workspace_id=theirs) as session:
        found = await faq_repo.faq_nearest(session, workspace_id=theirs, embedding=_unit(1))
    assert [row[1] for row in found] == ["theirs"]


def new_conversation(workspace_id: uuid.UUID) -> Conversation:
    """A new widget conversation of one message (the visitor's), not inserted yet."""
    return Conversation(
        id=uuid.uuid4(),
        workspace_id=workspace_id,
        session_id=f"s-{uuid.uuid4().hex[:8]}",
        channel="widget",
        status="open",
        message_count=1,
    )


async def _record_message(
    db: Database, workspace_id: uuid.UUID, *, faq: str | None = None, day: Any = None
) -> conversation_repo.Recorded:
    """One visitor message in a new conversation, as the turn records it."""
    conversation = new_conversation(workspace_id)
    async with db.transaction(workspace_id=workspace_id, durable=False) as session:
        return await conversation_repo.record_message_metered(
            session,
            message=ChatMessage(
                id=uuid.uuid4(),
                workspace_id=workspace_id,
                conversation_id=conversation.id,
                role="user",
                text="hello",
                intent="question",
            ),
            new_conversation=conversation,
            touch_conversation_id=None,
            usage=usage.increment_statement(workspace_id, {"messages": 1, "conversations": 1}),
            faq_normalized=faq,
            daily_tokens_day=day,
        )


async def _record(db: Database, workspace_id: uuid.UUID, *, faq: str | None) -> tuple[int, ...]:
    """One visitor message in a new conversation; the counted values and the FAQ answer."""
    recorded = await _record_message(db, workspace_id, faq=faq)
    assert recorded.workspace_version
    return recorded.counted["messages"], recorded.counted["conversations"], recorded.faq_answer


async def test_recording_statement_binds_each_workspace(
    db: Database, owner: Owner, other: Owner
) -> None:
    mine, theirs = uuid.UUID(owner.workspace_id), uuid.UUID(other.workspace_id)
    await _add_faq(db, mine, "my answer", _unit(4))
    first = await _record(db, mine, faq="q my answer")
    second = await _record(db, mine, faq="q my answer")
    elsewhere = await _record(db, theirs, faq="q my answer")
    elsewhere_again = await _record(db, theirs, faq=None)
    third = await _record(db, mine, faq=None)
    assert first[2] == second[2] == "my answer"
    assert elsewhere[2] is None  # the FAQ of another workspace never answers
    assert third[2] is None
    # each call counted on its own workspace's row, one message and one conversation
    assert second[:2] == (first[0] + 1, first[1] + 1)
    assert third[:2] == (second[0] + 1, second[1] + 1)
    assert elsewhere_again[:2] == (elsewhere[0] + 1, elsewhere[1] + 1)
    # the same statement object serves every call of the same shape
    one = usage.increment_statement(mine, {"messages": 1}).statement
    two = usage.increment_statement(theirs, {"messages": 1}).statement
    assert one is two


async def test_answer_records_the_unanswered_question_exactly(db: Database, owner: Owner) -> None:
    workspace_id = uuid.UUID(owner.workspace_id)
    conversation = Conversation(
        id=uuid.uuid4(),
        workspace_id=workspace_id,
        session_id="s-unanswered",
        channel="widget",
        status="open",
        message_count=1,
    )
    async with db.transaction(workspace_id=workspace_id) as session:
        session.add(conversation)
    vector = _unit(5)
    message_id = uuid.uuid4()
    async with db.transaction(workspace_id=workspace_id, durable=False) as session:
        await conversation_repo.record_answer(
            session,
            ChatMessage(
                id=message_id,
                workspace_id=workspace_id,
                conversation_id=conversation.id,
                role="assistant",
                text="I don't know.",
                source="fallback",
            ),
            None,
            UnansweredQuestion(
                id=uuid.uuid4(),
                workspace_id=workspace_id,
                question="What is the airspeed velocity?",
                normalized="airspeed velocity",
                embedding=vector.tolist(),
                conversation_id=conversation.id,
                message_id=message_id,
            ),
        )
    async with db.transaction(workspace_id=workspace_id) as session:
        row = (
            await session.execute(
                text(
                    "SELECT question, embedding::text, resolved, created_at IS NOT NULL,"
                    " (SELECT message_count FROM conversations WHERE id = :c)"
                    " FROM unanswered_questions WHERE message_id = :m"
                ),
                {"m": message_id, "c": conversation.id},
            )
        ).one()
    assert row[0] == "What is the airspeed velocity?"
    stored = np.array([float(x) for x in row[1][1:-1].split(",")], dtype=np.float32)
    assert np.array_equal(stored, vector)  # every float32 component as it was
    assert row[2] is False
    assert row[3] is True
    assert row[4] == 2  # the answer counted on its conversation in the same statement


async def _recorded_tokens(db: Database, workspace_id: uuid.UUID, day: Any) -> int | None:
    return (await _record_message(db, workspace_id, day=day)).daily_tokens


async def test_the_days_llm_tokens_come_back_with_the_message(
    db: Database, owner: Owner, other: Owner
) -> None:
    mine, theirs = uuid.UUID(owner.workspace_id), uuid.UUID(other.workspace_id)
    async with db.transaction(workspace_id=mine) as session:
        await usage.record_llm_tokens(session, mine, 1234)
    async with db.transaction(workspace_id=theirs) as session:
        await usage.record_llm_tokens(session, theirs, 99)
    today = usage.today()
    assert await _recorded_tokens(db, mine, today) == 1234
    assert await _recorded_tokens(db, theirs, today) == 99  # each workspace its own count
    assert await _recorded_tokens(db, mine, today - timedelta(days=1)) == 0  # nothing that day
    assert await _recorded_tokens(db, mine, None) is None  # not asked for: not read
