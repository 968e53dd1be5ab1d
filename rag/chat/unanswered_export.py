"""The unanswered questions not dealt with yet, as CSV: every one of them, newest first (the
Unanswered page and ``GET .../unanswered`` group only the latest 2,000), one row per time a
visitor asked, for the owner's spreadsheet. Cells that a spreadsheet would read as a formula
are neutralised as in the other exports (``workspaces.csv_cells.csv_safe``); an old record's "are
you a bot?" in front of its question is left out, as on the page (``conversations.asked_as``).

Who may: as the conversations' export (``conversations.export``: owners and admins whose email
is confirmed; visitors' words leave), audited as ``conversations.exported`` with
``target_type`` ``unanswered_questions``."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.pagination import keyset_pages
from rag.chat.conversations import asked_as
from rag.chat.repository import conversations as conversation_repo
from rag.chat.repository.conversations import ExportedQuestion
from workspaces.csv_cells import csv_safe
from workspaces.permissions import Action, authorize
from workspaces.service import WorkspaceAccess, require_verified

COLUMNS = ("asked_at", "question", "conversation_id", "id")
EXPORT_PAGE = 500


async def start_export(
    session: AsyncSession, access: WorkspaceAccess, *, head: bool = False
) -> None:
    """Check and record the export in this unit of work; the rows then stream from
    ``export_csv`` in transactions of their own. ``head``: checked, not recorded."""
    permit = authorize(access, Action.CONVERSATIONS_EXPORT)
    await require_verified(session, access)
    if head:
        return
    await permit.record(session, target_type="unanswered_questions", details={"format": "csv"})


async def export_csv(
    transaction: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    *,
    workspace_id: uuid.UUID,
) -> AsyncIterator[str]:
    """The CSV in pieces of about 16 KB, read in keyset pages of EXPORT_PAGE, each in a short
    ``transaction()`` of its own (a download read slowly holds no connection)."""

    async def read(after: tuple[datetime, uuid.UUID] | None) -> list[ExportedQuestion]:
        async with transaction() as session:
            return await conversation_repo.unanswered_page(
                session, workspace_id=workspace_id, after=after, limit=EXPORT_PAGE
            )

    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    async for row in keyset_pages(read, lambda row: (row.created_at, row.id), EXPORT_PAGE):
        question, _ = asked_as(row)
        writer.writerow(
            [csv_safe(value) for value in (row.created_at, question, row.conversation_id, row.id)]
        )
        if buffer.tell() > 16_384:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
