"""A workspace holding more chunks than its plan allows now (a paid period ended: starter's
50,000 down to free's 2,000) may still replace a document's text with one no larger: its chunks
replace its own and the workspace stores no more than before. Refused, the page or text kept
answering with its old version (a price list, opening hours) until the owner deleted documents.
A replacement that grows the workspace is still refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from core.db import Database
from tests.conftest import Owner
from tests.rag.test_documents_api import chunks_of, copy_chunks
from tests.rag.test_failed_replacement import LONG_PARKING, parking_and_filler, replaced_text
from tests.rag.test_quota_downgrade import on_starter_until


async def test_a_replacement_no_larger_is_ingested_over_a_lowered_chunks_limit(
    client: httpx.AsyncClient, owner: Owner, jobs: Any, owner_db: Database, db: Database
) -> None:
    workspace_id = uuid.UUID(owner.workspace_id)
    await on_starter_until(db, workspace_id, datetime.now(UTC) + timedelta(days=30))
    ids = await parking_and_filler(client, owner)
    await jobs.drain()
    await copy_chunks(owner_db, ids["Filler"], 2100)  # 2,102 chunks, fine on starter
    await on_starter_until(db, workspace_id, datetime.now(UTC) - timedelta(minutes=1))
    usage = (await client.get(owner.url("/usage"), headers=owner.headers)).json()
    assert usage["metrics"]["chunks"] == {"used": 2102, "limit": 2000}

    shorter = f"Visitors park on level three. ({uuid.uuid4().hex})"
    replaced = await replaced_text(client, owner, jobs, ids["Parking"], shorter)
    assert (replaced["status"], replaced["chunk_count"]) == ("ready", 1), replaced
    [chunk] = await chunks_of(client, owner, ids["Parking"])
    assert "level three" in chunk["text"]

    refused = await replaced_text(client, owner, jobs, ids["Parking"], LONG_PARKING)
    assert (refused["status"], refused["error_code"]) == ("failed", "quota_exceeded"), refused
    [kept] = await chunks_of(client, owner, ids["Parking"])
    assert "level three" in kept["text"]
    usage = (await client.get(owner.url("/usage"), headers=owner.headers)).json()
    assert usage["metrics"]["chunks"] == {"used": 2102, "limit": 2000}
