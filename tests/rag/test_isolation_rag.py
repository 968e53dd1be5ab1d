"""Knowledge isolation at the database: RLS on documents and chunks, as the app role."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core.db import Database
from rag.knowledge import retrieval
from rag.knowledge.embeddings import HashEmbedder
from tests.conftest import Owner


async def _ingest(client: httpx.AsyncClient, who: Owner, body: str) -> str:
    r = await client.post(
        who.url("/documents"), json={"title": "Doc", "text": body}, headers=who.headers
    )
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


async def test_rls_hides_other_workspaces_chunks_even_from_retrieval(
    client: httpx.AsyncClient, owner: Owner, other: Owner, jobs: Any, db: Database
) -> None:
    await _ingest(client, owner, "Alpha workspace knows about apricots.")
    b_doc = await _ingest(client, other, "Beta workspace knows about blueberries.")
    await jobs.drain()
    a, b = uuid.UUID(owner.workspace_id), uuid.UUID(other.workspace_id)

    async with db.transaction(workspace_id=a) as session:
        owners = (await session.execute(text("SELECT DISTINCT workspace_id FROM chunks"))).all()
        assert [r[0] for r in owners] == [a]
        docs = (await session.execute(text("SELECT DISTINCT workspace_id FROM documents"))).all()
        assert [r[0] for r in docs] == [a]
        # Asking retrieval for B's workspace on A's session finds nothing: RLS still applies.
        q = await HashEmbedder().embed_query("blueberries")
        for mode in retrieval.MODES:
            hits = await retrieval.search(
                session,
                workspace_id=b,
                query="blueberries",
                query_embedding=q,
                k=5,
                mode=mode,
                weights=retrieval.Weights(),
            )
            assert hits == [], mode

    async with db.transaction() as session:  # no tenant: nothing at all
        for table in ("chunks", "documents"):
            count = (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()  # noqa: S608
            assert count == 0, table

    with pytest.raises(DBAPIError):  # writing into B's workspace from A's context is refused
        async with db.transaction(workspace_id=a) as session:
            await session.execute(
                text(
                    "INSERT INTO documents (id, workspace_id, title, source_type, source)"
                    " VALUES (:id, :w, 'x', 'text', 'x')"
                ),
                {"id": uuid.uuid4(), "w": b},
            )
    async with db.transaction(workspace_id=a) as session:
        deleted = await session.execute(
            text("DELETE FROM chunks WHERE document_id = :d"), {"d": b_doc}
        )
        assert deleted.rowcount == 0  # type: ignore[attr-defined]


async def test_index_functions_are_not_public(db: Database) -> None:
    async with db.transaction() as session:
        granted = (
            await session.execute(
                text(
                    "SELECT has_function_privilege('public',"
                    " 'tb_build_workspace_indexes(uuid, integer, integer)', 'EXECUTE')"
                )
            )
        ).scalar_one()
    assert granted is False
    with pytest.raises(DBAPIError, match="invalid HNSW parameters"):
        async with db.transaction() as session:
            await session.execute(
                text("SELECT tb_build_workspace_indexes(:w, 1000, 64)"), {"w": uuid.uuid4()}
            )


async def test_index_functions_keep_to_the_transactions_workspace(db: Database) -> None:
    """The app role may build and drop a workspace's vector index through the definer
    functions, but only its transaction's workspace's: from A's transaction, dropping B's index
    took B's searches down to the shared index's recall, and building one for B held a SHARE
    lock on ``chunks`` for B's whole build."""
    a, b = uuid.uuid4(), uuid.uuid4()
    calls = {
        "drop": ("SELECT tb_drop_workspace_indexes(:w)", {"w": b}),
        "build": ("SELECT tb_build_workspace_indexes(:w, 16, 64)", {"w": b}),
    }

    async def run(sql: str, values: dict[str, uuid.UUID], tenant: uuid.UUID | None) -> None:
        async with db.transaction(workspace_id=tenant) as session:
            await session.execute(text(sql), values)

    for sql, values in calls.values():
        for tenant in (a, None):
            with pytest.raises(DBAPIError, match="not the transaction's workspace"):
                await run(sql, values, tenant)
    async with db.transaction(workspace_id=b) as session:  # its own: allowed
        await session.execute(text("SELECT tb_drop_workspace_indexes(:w)"), {"w": b})
