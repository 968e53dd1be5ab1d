"""An owner changing one FAQ (the edit form, PATCH, a delete) while a CSV import runs in the
workspace: the import holds the FAQ lock (``faq_repo.lock_faq_quota``), then each FAQ row it
writes and the workspace's row (``bump_knowledge_version``); an answer-only edit took the FAQ's
row, then the workspace's row, and no FAQ lock. Its edit reached the FAQ before the import
did, the import reached the workspace before the edit did: PostgreSQL found the deadlock and
aborted one (the owner got 409, or the import failed). Now every FAQ write takes the FAQ lock
first, so one waits for the other and neither is refused."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from api.runtime import Runtime
from core.db import Database
from rag.chat import faq as faq_service
from rag.chat import faq_import
from rag.chat.models import Faq, FaqQuestion
from tests.conftest import Owner, someone_waits_for_a_lock
from tests.rag.test_faq_import_rows import csv, stored
from workspaces import repository as ws_repo
from workspaces.service import WorkspaceAccess


async def _access(session: AsyncSession, ws: uuid.UUID) -> WorkspaceAccess:
    workspace = await ws_repo.get_workspace(session, ws)
    assert workspace is not None
    return WorkspaceAccess.operator(workspace, command="test")


async def _seed(runtime: Runtime, ws: uuid.UUID, question: str) -> Faq:
    async with runtime.db.transaction(workspace_id=ws) as session:
        access = await _access(session, ws)
        return await faq_service.create(
            session, runtime.embedder, access, question=question, answer="Old.", alt_questions=[]
        )


async def _import_around(
    runtime: Runtime,
    owner_db: Database,
    ws: uuid.UUID,
    tag: str,
    question: str,
    edit: Coroutine[Any, Any, None],
) -> asyncio.Task[None]:
    """One import's transaction: a first row adding an FAQ (the workspace's row then held),
    the owner's ``edit`` started and waiting, then a row changing ``question``'s answer."""
    async with runtime.db.transaction(workspace_id=ws) as session:
        access = await _access(session, ws)
        first = csv((f"Gift wrapping {tag}?", "Yes."))
        await faq_import.import_csv(session, runtime.embedder, access, first)
        editing = asyncio.create_task(edit)
        while not editing.done() and not await someone_waits_for_a_lock(owner_db):
            await asyncio.sleep(0.01)
        assert not editing.done()
        result = await faq_import.import_csv(
            session, runtime.embedder, access, csv((question, "From the file."))
        )
        assert (result.created, result.updated) == (0, 1)
    return editing


async def _change(
    session: AsyncSession, runtime: Runtime, access: WorkspaceAccess, faq: Faq
) -> None:
    await faq_service.update(
        session, runtime.embedder, access, faq_id=faq.id, values={"answer": "Owner's."}
    )


async def _delete(
    session: AsyncSession, runtime: Runtime, access: WorkspaceAccess, faq: Faq
) -> None:
    await faq_service.delete(session, access, faq_id=faq.id)


@pytest.mark.parametrize(("edit", "left"), [(_change, "Owner's."), (_delete, None)])
async def test_an_faq_changed_or_deleted_while_a_file_imports_waits_and_neither_is_refused(
    runtime: Runtime,
    owner: Owner,
    owner_db: Database,
    edit: Callable[..., Awaitable[None]],
    left: str | None,
) -> None:
    tag = uuid.uuid4().hex[:8]
    ws = uuid.UUID(owner.workspace_id)
    question = f"Do you deliver on Sundays {tag}?"
    faq = await _seed(runtime, ws, question)

    async def owner_edits() -> None:
        async with runtime.db.transaction(workspace_id=ws) as session:
            await edit(session, runtime, await _access(session, ws), faq)

    editing = await _import_around(runtime, owner_db, ws, tag, question, owner_edits())
    await editing  # was DeadlockDetected: one side aborted (the edit, here)
    assert (await stored(runtime, owner)).get(question) == left


async def _question_places(runtime: Runtime, ws: uuid.UUID) -> dict[uuid.UUID, tuple[Any, ...]]:
    """Each FAQ's (one) question: its id and where it is stored (page, item)."""
    async with runtime.db.transaction(workspace_id=ws) as session:
        rows = await session.execute(
            text("SELECT faq_id, id, ctid::text FROM faq_questions WHERE workspace_id = :ws"),
            {"ws": ws},
        )
    return {
        faq_id: (question_id, tuple(int(n) for n in ctid.strip("()").split(",")))
        for faq_id, question_id, ctid in rows.all()
    }


async def test_faqs_rephrased_while_their_questions_are_re_embedded_wait_for_each_other(
    runtime: Runtime, owner: Owner, owner_db: Database
) -> None:
    """``trulybot reindex`` (``faq.reembed_workspace``) updates a batch of FAQ questions in one
    statement, in id order; a transaction rephrasing FAQ A, then FAQ B (an import) deletes
    their questions one FAQ after the other. The re-embedding held B's question and waited for
    A's; the import then waited for B's: a deadlock. Now it takes the FAQ lock first."""
    tag = uuid.uuid4().hex[:8]
    ws = uuid.UUID(owner.workspace_id)
    while True:  # B's question before A's by id and where stored: either plan locks it first
        b = await _seed(runtime, ws, f"Is parking free {tag} {uuid.uuid4().hex[:6]}?")
        a = await _seed(runtime, ws, f"Is there a lift {tag} {uuid.uuid4().hex[:6]}?")
        places = await _question_places(runtime, ws)
        if all(x < y for x, y in zip(places[b.id], places[a.id], strict=True)):
            break
    async with runtime.db.transaction(workspace_id=ws) as session:
        access = await _access(session, ws)
        await faq_service.update(
            session, runtime.embedder, access, faq_id=a.id, values={"alt_questions": ["A?"]}
        )
        reembedding = asyncio.create_task(
            faq_service.reembed_workspace(runtime.db, runtime.embedder, ws)
        )
        while not reembedding.done() and not await someone_waits_for_a_lock(owner_db):
            await asyncio.sleep(0.01)
        assert not reembedding.done()
        await faq_service.update(  # was DeadlockDetected
            session, runtime.embedder, access, faq_id=b.id, values={"alt_questions": ["B?"]}
        )
    assert await reembedding > 0
    async with runtime.db.transaction(workspace_id=ws) as session:
        texts = set((await session.execute(select(FaqQuestion.text))).scalars())
    assert {"A?", "B?"} <= texts
