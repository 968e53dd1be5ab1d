"""Two FAQ CSV imports into one workspace at once (an owner's double click, two tabs, two
admins): the second counts what the file adds after the first has committed, so the same file
sent twice adds nothing the second time and is never refused for the plan's FAQ quota."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from api.runtime import Runtime
from core.db import Database
from rag.chat import faq as faq_service
from rag.chat import faq_import
from tests.conftest import Owner, someone_waits_for_a_lock
from tests.rag.test_faq_import_rows import run_import, stored
from workspaces import repository as ws_repo
from workspaces.service import WorkspaceAccess


async def test_the_same_file_imported_twice_at_once_adds_it_once_and_is_not_refused(
    runtime: Runtime, owner: Owner, owner_db: Database
) -> None:
    tag = uuid.uuid4().hex[:8]
    rows = 60  # once fits the free plan's 100 FAQs, twice would not
    lines = ["question,answer"] + [f'"Twice {n} {tag}?","Answer {n}."' for n in range(rows)]
    data = ("\n".join(lines) + "\n").encode()
    ws = uuid.UUID(owner.workspace_id)
    async with runtime.db.transaction(workspace_id=ws) as session:
        workspace = await ws_repo.get_workspace(session, ws)
        assert workspace is not None
        access = WorkspaceAccess.operator(workspace, command="test")
        first = await faq_import.import_csv(session, runtime.embedder, access, data)
        # The second starts while the first's FAQs are not committed yet, and waits for it.
        second = asyncio.create_task(run_import(runtime, owner, data))
        while not second.done() and not await someone_waits_for_a_lock(owner_db):
            await asyncio.sleep(0.01)
    assert (first.created, first.updated) == (rows, 0)
    result = await second  # was 429 quota_exceeded: "This file adds 60 FAQs"
    assert (result.created, result.updated) == (0, 0)
    assert len(await stored(runtime, owner)) == rows


async def test_an_faq_added_while_a_file_imports_its_question_is_refused_as_a_duplicate(
    runtime: Runtime, owner: Owner, owner_db: Database
) -> None:
    """An FAQ added (the form, the API, an unanswered question answered) while an import
    holding its question is uncommitted: it was checked for duplicates before it waited for
    the import, then stored beside the imported FAQ, two FAQs asking one question (visitors
    get only the older's answer). Now it waits before it looks, and is 409 faq_duplicate."""
    tag = uuid.uuid4().hex[:8]
    question = f"Do you ship to Mars {tag}?"
    data = f'question,answer\n"{question}","Not yet."\n'.encode()
    ws = uuid.UUID(owner.workspace_id)

    async def add_one() -> None:
        async with runtime.db.transaction(workspace_id=ws) as session:
            workspace = await ws_repo.get_workspace(session, ws)
            assert workspace is not None
            access = WorkspaceAccess.operator(workspace, command="test")
            await faq_service.create(
                session,
                runtime.embedder,
                access,
                question=question.upper(),
                answer="Next year.",
                alt_questions=[],
            )

    async with runtime.db.transaction(workspace_id=ws) as session:
        workspace = await ws_repo.get_workspace(session, ws)
        assert workspace is not None
        access = WorkspaceAccess.operator(workspace, command="test")
        await faq_import.import_csv(session, runtime.embedder, access, data)
        adding = asyncio.create_task(add_one())
        while not adding.done() and not await someone_waits_for_a_lock(owner_db):
            await asyncio.sleep(0.01)
    with pytest.raises(faq_service.FaqDuplicate):
        await adding
    assert await stored(runtime, owner) == {question: "Not yet."}
