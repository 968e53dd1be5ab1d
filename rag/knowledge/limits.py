"""What a workspace may store and what one document may cost.

- Plan quotas on stored documents and chunks (429 ``quota_exceeded``), checked when a document is
  submitted, by the job before it reads the document (no room for one more chunk) and again once
  its chunk count is known, before anything is embedded.
- ``notify_stored_quotas``: the owners' ``quota.80`` / ``quota.100`` mails when an ingestion
  crosses 80% / 100% of those quotas.
- ``stored_usage``: those stored amounts, as the usage report shows them.
- ``parse_limits(settings)``: the bounds of parsing one document (the ``PARSE_*`` settings).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from core.config import Settings
from core.errors import QuotaExceeded
from rag.knowledge.parsing import MIB, ParseLimits
from rag.knowledge.repository import chunks as chunk_repo
from rag.knowledge.repository import documents as document_repo
from workspaces import notifications, usage
from workspaces.models import Workspace
from workspaces.plans import get_plan


async def check_quotas(session: AsyncSession, workspace: Workspace, *, new_documents: int) -> None:
    """Documents and chunks quotas count what is stored (429 ``quota_exceeded``). Adding
    documents under a documents quota holds the workspace's lock until the commit, so uploads
    at once are counted one after another (without it 40 uploads at once stored 26 of 20).

    ``new_documents=0`` (a new revision of a stored document: a re-synced page, a PUT, a
    retry) checks nothing here: its chunks replace its own, which only the job knows the count
    of (``check_chunk_quota``, before anything is embedded). Checking "one more chunk" refused
    every refresh of a workspace at exactly its chunks quota, and its pages kept their old
    text."""
    if not new_documents:
        return
    plan_code = usage.effective_plan(workspace)
    if get_plan(plan_code).limit("documents") is not None:
        await document_repo.lock_document_quota(session, workspace.id)
    usage.ensure_within(
        plan_code=plan_code,
        metric="documents",
        used=await document_repo.count_documents(session, workspace.id),
        adding=new_documents,
        resets_at=None,
    )
    usage.ensure_within(
        plan_code=plan_code,
        metric="chunks",
        used=await chunk_repo.count_chunks(session, workspace.id),
        adding=1,
        resets_at=None,
    )


async def check_chunk_quota(
    session: AsyncSession,
    workspace: Workspace,
    document_id: uuid.UUID,
    chunks: int,
    *,
    serialized: bool = False,
) -> None:
    """429 ``quota_exceeded`` when this document's ``chunks`` (replacing its old ones) do not
    fit the plan beside the chunks of the workspace's other documents. ``serialized`` (the
    check in the transaction that stores them): under a chunks quota, first take the
    workspace's stored-quota lock (``lock_stored_quotas``) until the commit, so documents
    finishing at the same time count each other's chunks one after another (without it two
    documents of 1,200 chunks each both passed a 2,000-chunk quota)."""
    plan_code = usage.effective_plan(workspace)
    if serialized and get_plan(plan_code).limit("chunks") is not None:
        await notifications.lock_stored_quotas(session, workspace.id)
    used = await chunk_repo.count_chunks(session, workspace.id, excluding_document=document_id)
    try:
        usage.ensure_within(
            plan_code=plan_code,
            metric="chunks",
            used=used,
            adding=chunks,
            resets_at=None,
        )
    except QuotaExceeded as exc:
        if await _no_larger(session, workspace.id, document_id, chunks):
            return
        raise QuotaExceeded(
            f"This document makes {chunks} chunks and the workspace's other documents hold"
            f" {used}: {exc.message}. Split the document, remove documents or upgrade the plan.",
            details={**(exc.details or {}), "document_chunks": chunks},
        ) from exc


async def _no_larger(
    session: AsyncSession, workspace_id: uuid.UUID, document_id: uuid.UUID, chunks: int
) -> bool:
    """Whether ``chunks`` replacing the document's own leave the workspace no larger: allowed
    over a limit that came down below what is stored (a paid period ended). Refused, a page or
    text whose new version was no larger kept answering with its old one."""
    own = await chunk_repo.count_chunks(session, workspace_id, of_document=document_id)
    return chunks <= own


async def check_room_for_a_document(
    session: AsyncSession, workspace: Workspace, document_id: uuid.UUID
) -> None:
    """Before a document is fetched, parsed and chunked: 429 ``quota_exceeded`` when the
    workspace's other documents already hold all the chunks its plan allows, so this one
    cannot fit whatever it makes (it makes one chunk at least; none is refused as
    ``nothing_extractable``). A document that may fit is left to ``check_chunk_quota`` once
    its count is known, as before."""
    plan_code = usage.effective_plan(workspace)
    if get_plan(plan_code).limit("chunks") is None:
        return
    used = await chunk_repo.count_chunks(session, workspace.id, excluding_document=document_id)
    try:
        usage.ensure_within(
            plan_code=plan_code, metric="chunks", used=used, adding=1, resets_at=None
        )
    except QuotaExceeded as exc:
        if await _no_larger(session, workspace.id, document_id, 1):
            return  # a new version as small as its last: left to ``check_chunk_quota``
        raise QuotaExceeded(
            f"The workspace's other documents hold {used} chunks: {exc.message}. This document"
            " was not read; remove documents or upgrade the plan, then retry it.",
            details=exc.details,
        ) from exc


async def notify_stored_quotas(
    session: AsyncSession, workspace: Workspace, *, added_documents: int, added_chunks: int
) -> None:
    """After an ingestion's writes, in its transaction: ``quota.80`` / ``quota.100`` for the
    stored documents / chunks quotas it crossed. Documents count once ingested (``counted``), so
    each document's first ingestion is the step that may cross; uploads still queued do not
    count yet. Serialized per workspace until the commit (``lock_stored_quotas``)."""
    plan_code = usage.effective_plan(workspace)
    plan = get_plan(plan_code)
    if plan.limit("documents") is None and plan.limit("chunks") is None:
        return
    await notifications.lock_stored_quotas(session, workspace.id)
    documents = await document_repo.count_documents(session, workspace.id, ingested_only=True)
    chunks = await chunk_repo.count_chunks(session, workspace.id)
    await notifications.stored_quota_used(
        session,
        workspace.id,
        plan_code=plan_code,
        before={"documents": documents - added_documents, "chunks": chunks - added_chunks},
        after={"documents": documents, "chunks": chunks},
    )


async def stored_usage(session: AsyncSession, workspace_id: uuid.UUID) -> dict[str, int]:
    """The stored amounts the documents and chunks quotas count (``check_quotas``), for the
    usage report: what the workspace holds now, not what was added this month."""
    return {
        "documents": await document_repo.count_documents(session, workspace_id),
        "chunks": await chunk_repo.count_chunks(session, workspace_id),
    }


def parse_limits(settings: Settings) -> ParseLimits:
    """What parsing one document may cost, from the ``PARSE_*`` settings."""
    return ParseLimits(
        max_decoded_bytes=settings.parse_max_decoded_bytes,
        max_pages=settings.parse_max_pages,
        timeout_seconds=settings.parse_timeout_seconds,
        max_memory_bytes=settings.parse_max_memory_mb * MIB or None,
    )
