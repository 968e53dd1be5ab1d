"""The owners' Unanswered page groups the latest unanswered questions by meaning from their
vectors. The vectors are read in pgvector's binary form (parsing their text form was a few
tenths of a second of the event loop's CPU for a busy workspace's 2,000 rows, during which no
visitor got an answer) and grouped in a worker thread: the groups stay exactly those of before,
pinned here on real questions embedded by the bundled model."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import numpy as np
import pytest
from sqlalchemy import text

from api.runtime import Runtime
from core.models import utcnow
from rag.chat.normalize import normalize_question
from rag.chat.repository import conversations as conversation_repo
from rag.knowledge.embeddings import LocalEmbedder
from rag.knowledge.repository.chunks import vector_sql, vector_value
from tests.conftest import Owner, signup
from tests.rag.test_analytics import app

__all__ = ["app"]

# Oldest first, as visitors asked them.
ASKED = [
    "Do you ship to Canada?",
    "Can I pay with PayPal?",
    "Do you deliver to Canada?",
    "Is there a student discount?",
    "Do you offer discounts for students?",
    "Can I pay using PayPal?",
    "What is the warranty on the blender?",
    "do you ship to canada?",
    "Can you ship my order to Canada?",
    "Do you have a discount for students?",
    "How do I descale the coffee machine?",
    "Is PayPal accepted?",
]


@pytest.fixture(scope="module")
def minilm() -> LocalEmbedder:
    return LocalEmbedder()


async def store_unanswered(
    runtime: Runtime, owner: Owner, questions: list[str], vectors: np.ndarray
) -> None:
    """The questions as the pipeline records them (oldest first, a minute apart)."""
    ws = uuid.UUID(owner.workspace_id)
    now = utcnow()
    async with runtime.db.transaction(workspace_id=ws) as session:
        for i, (question, vector) in enumerate(zip(questions, vectors, strict=True)):
            await session.execute(
                text(
                    "INSERT INTO unanswered_questions"  # noqa: S608 - a constant
                    " (id, workspace_id, question, normalized, embedding, resolved, created_at)"
                    f" VALUES (:id, :ws, :q, :n, {vector_sql('v')}, false, :at)"
                ),
                {
                    "id": uuid.uuid4(),
                    "ws": ws,
                    "q": question,
                    "n": normalize_question(question),
                    "v": vector_value(vector),
                    "at": now - timedelta(minutes=len(questions) - i),
                },
            )


async def test_groups_of_real_questions_are_pinned(
    app: tuple[httpx.AsyncClient, Runtime], minilm: LocalEmbedder
) -> None:
    client, runtime = app
    owner = await signup(client, "Groups")
    await store_unanswered(runtime, owner, ASKED, await minilm.embed_documents(ASKED))

    response = await client.get(owner.url("/unanswered"), headers=owner.headers)
    assert response.status_code == 200, response.text
    groups = [(g["question"], g["count"], g["examples"]) for g in response.json()]
    assert groups == PINNED


# The groups as the page showed them before the vectors were read in binary (the same after):
# biggest first, then the most recently asked; "Do you deliver to Canada?" stays apart from the
# shipping questions (cosine below GROUP_SIMILARITY to the group's first question).
PINNED = [
    (
        "Is PayPal accepted?",
        3,
        ["Is PayPal accepted?", "Can I pay using PayPal?", "Can I pay with PayPal?"],
    ),
    (
        "Do you have a discount for students?",
        3,
        [
            "Do you have a discount for students?",
            "Do you offer discounts for students?",
            "Is there a student discount?",
        ],
    ),
    (
        "Can you ship my order to Canada?",
        3,
        ["Can you ship my order to Canada?", "do you ship to canada?", "Do you ship to Canada?"],
    ),
    ("How do I descale the coffee machine?", 1, ["How do I descale the coffee machine?"]),
    ("What is the warranty on the blender?", 1, ["What is the warranty on the blender?"]),
    ("Do you deliver to Canada?", 1, ["Do you deliver to Canada?"]),
]


async def test_the_read_hands_over_the_stored_vectors_as_float32(
    app: tuple[httpx.AsyncClient, Runtime], minilm: LocalEmbedder
) -> None:
    """The grouping gets each vector's float32 components exactly as stored (and None for a
    question without one), not lists of Python floats parsed from decimal text."""
    client, runtime = app
    owner = await signup(client, "Vectors")
    vectors = await minilm.embed_documents(ASKED[:3])
    await store_unanswered(runtime, owner, ASKED[:3], vectors)
    ws = uuid.UUID(owner.workspace_id)
    async with runtime.db.transaction(workspace_id=ws) as session:
        await session.execute(
            text(
                "INSERT INTO unanswered_questions (id, workspace_id, question, normalized,"
                " resolved, created_at) VALUES (:id, :ws, 'Hello?', 'hello', false, now())"
            ),
            {"id": uuid.uuid4(), "ws": ws},
        )
        rows = await conversation_repo.recent_unanswered(session, workspace_id=ws, limit=10)
    assert [r.question for r in rows] == ["Hello?", *reversed(ASKED[:3])]
    assert rows[0].embedding is None
    for row, stored in zip(rows[1:], vectors[::-1], strict=True):
        assert isinstance(row.embedding, np.ndarray)
        assert row.embedding.dtype == np.float32
        assert np.array_equal(row.embedding, stored.astype(np.float32))
