"""After an embedding-model change, FAQ and unanswered questions are re-embedded too."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
from sqlalchemy import text

from core.db import Database
from rag.chat import faq
from rag.knowledge.embeddings import HashEmbedder
from tests.conftest import Owner
from workspaces import repository as ws_repo
from workspaces.service import WorkspaceAccess


class ShiftedEmbedder(HashEmbedder):
    """Another model: same dimension, different space (a fixed permutation of the hash space)."""

    name = "shifted"

    async def embed_documents(self, texts: Any) -> np.ndarray:
        return np.roll(await super().embed_documents(texts), 7, axis=1)

    async def embed_query(self, text: str) -> np.ndarray:
        return np.roll(await super().embed_query(text), 7)


async def test_faq_vectors_follow_the_new_model(db: Database, owner: Owner) -> None:
    workspace_id = uuid.UUID(owner.workspace_id)
    old, new = HashEmbedder(), ShiftedEmbedder()
    async with db.transaction(workspace_id=workspace_id) as session:
        workspace = await ws_repo.get_workspace(session, workspace_id)
        assert workspace is not None
        await faq.create(
            session,
            old,
            WorkspaceAccess.operator(workspace, command="test"),
            question="How do I reset my password?",
            answer="Use the reset link on the login page.",
            alt_questions=["I forgot my password"],
        )
    query = await new.embed_query("how can I reset my password quickly")

    async def semantic() -> Any:
        async with db.transaction(workspace_id=workspace_id) as session:
            return await faq.match(
                session,
                workspace_id=workspace_id,
                normalized="",
                embedding=query,
                threshold=0.5,
                question="how can I reset my password quickly",
            )

    assert await semantic() is None  # old vectors don't match the new model's query
    assert await faq.reembed_workspace(db, new, workspace_id) == 2
    found = await semantic()
    assert found is not None
    assert found.answer == "Use the reset link on the login page."
    async with db.transaction(workspace_id=workspace_id) as session:
        version = (
            await session.execute(text("SELECT knowledge_version FROM workspaces"))
        ).scalar_one()
    assert version >= 2  # the change retires cached answers
