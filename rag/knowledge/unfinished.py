"""Documents whose job will not run, or not finish: ``failed`` with a reason instead of
``queued``/``processing`` for good (an enqueue that failed, a job cancelled mid-way)."""

from __future__ import annotations

import uuid

from core.db import Database
from core.models import utcnow
from rag.knowledge.repository import documents as document_repo

INTERRUPTED = "interrupted"
QUEUE_UNAVAILABLE = "queue_unavailable"


async def fail_pending(
    db: Database,
    workspace_id: uuid.UUID,
    document_id: uuid.UUID,
    *,
    reason: str,
    code: str,
) -> None:
    """A document still ``queued`` or ``processing`` becomes ``failed`` with ``reason``: the
    owner sees why and may retry it. Any other state is left alone."""
    async with db.transaction(workspace_id=workspace_id) as session:
        document = await document_repo.get_document(
            session, workspace_id, document_id, for_update=True
        )
        if document is None or document.status not in ("queued", "processing"):
            return
        await document_repo.update_document(
            session,
            workspace_id,
            document_id,
            status="failed",
            error=reason,
            error_code=code,
            processed_at=utcnow(),
        )
