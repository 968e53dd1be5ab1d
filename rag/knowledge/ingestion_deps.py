"""What the knowledge jobs need (``IngestionDeps``), carried in the job context under
``DEPS_KEY`` (``deps_from`` reads it back), and how a job tells a workspace's owner about an
event (``OwnerAlerts``). The jobs themselves are ``rag.knowledge.jobs``, the source syncs
``rag.knowledge.sync``; both import these names from ``rag.knowledge.jobs`` as before."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from core.config import Settings
from core.db import Database
from core.jobs import JobQueue
from rag.knowledge import indexing
from rag.knowledge.embeddings import Embedder
from workspaces.models import Workspace

DEPS_KEY = "rag"


@dataclass
class IngestionDeps:
    """What the jobs need; stored in the job context under ``DEPS_KEY``."""

    db: Database
    settings: Settings
    embedder: Embedder
    jobs: JobQueue
    """Where a job enqueues the jobs it causes (index maintenance)."""
    owner_url: str | None = None
    """The owner connection for index DDL without locking writers (else the definer path)."""
    index_policy: indexing.IndexPolicy = field(default_factory=indexing.IndexPolicy)
    alerts: OwnerAlerts | None = None
    """How the owner is told that a web source started failing (the api layer wires a
    notification mail and the workspace webhook); None: the source's flag and its sync records
    are the record."""


class OwnerAlerts(Protocol):
    """Tells a workspace's owner about an event: ``record`` writes it in the caller's unit of
    work (an outbox) and returns a handle, ``send`` delivers it once that work is committed."""

    async def record(
        self, session: AsyncSession, workspace: Workspace, event: str, data: dict[str, Any]
    ) -> uuid.UUID | None: ...

    def send(self, workspace_id: uuid.UUID, handle: uuid.UUID) -> None: ...


def deps_from(ctx: dict[str, Any]) -> IngestionDeps:
    deps = ctx.get(DEPS_KEY)
    if not isinstance(deps, IngestionDeps):
        raise RuntimeError(f"job context lacks {DEPS_KEY!r}")
    return deps
