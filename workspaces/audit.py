"""The audit log: who did what to a workspace, when, from where. Append-only (see 0002a).

What people and API keys do is recorded through ``workspaces.permissions``: its table names the
audited actions and their events, and ``authorize(...).record(session, ...)`` writes the entry
with the actor from ``WorkspaceAccess`` (user or key, IP, user agent, request id). ``record``
below is the low-level append, used directly only for what the system does (a payment webhook
changing the plan)::

    await audit.record(
        session,
        workspace_id=ws_id,
        action=audit.PLAN_CHANGED,
        target_type="workspace",
        target_id=ws_id,
        details={"from": "free", "to": "pro"},
    )

Either way the entry commits or rolls back with the action's unit of work. Details must not hold
secrets or personal data beyond ids (no emails of leads, no keys).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from core.models import utcnow
from core.pagination import cursor_scope, decode_cursor, page_of
from workspaces import audit_repository as repo
from workspaces.models import USER_AGENT_MAX, AuditEntry

if TYPE_CHECKING:
    from workspaces.service import WorkspaceAccess

# Event names are stable: dashboards and exports filter on them. What people and API keys do is
# named in workspaces.permissions.TABLE; the system's own events are here.
PLAN_CHANGED: Final = "plan.changed"
# Someone accepted an invitation (the actor is the new member).
MEMBER_JOINED: Final = "member.joined"
# Someone left the workspace themselves (the actor is who left; ``workspaces.team.leave``).
MEMBER_LEFT: Final = "member.left"


@dataclass(frozen=True)
class Actor:
    """Who acted (a user, an API key, an operator at the command line, or none of them: the
    system) and from where."""

    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    operator: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None

    @classmethod
    def of(cls, access: WorkspaceAccess) -> Actor:
        return cls(
            user_id=access.principal.user_id,
            api_key_id=access.principal.api_key_id,
            operator=access.principal.operator,
            ip=access.client.ip,
            user_agent=access.client.user_agent,
            request_id=access.client.request_id,
        )


SYSTEM: Final = Actor()


async def record(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    action: str,
    actor: Actor = SYSTEM,
    target_type: str | None = None,
    target_id: uuid.UUID | str | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry. The session's tenant must be ``workspace_id`` (RLS checks it). An
    operator's login name goes into the details (``operator``)."""
    extra = {"operator": actor.operator[:64]} if actor.operator else {}
    entry = AuditEntry(
        id=uuid.uuid4(),
        workspace_id=workspace_id,
        actor_user_id=actor.user_id,
        actor_api_key_id=actor.api_key_id,
        action=action[:64],
        target_type=target_type,
        target_id=str(target_id)[:200] if target_id is not None else None,
        details={**(details or {}), **extra},
        ip=(actor.ip or None) and str(actor.ip)[:64],
        user_agent=(actor.user_agent or None) and actor.user_agent[:USER_AGENT_MAX],
        request_id=(actor.request_id or None) and str(actor.request_id)[:128],
        created_at=utcnow(),
    )
    await repo.insert_entry(session, entry)
    return entry


# --- reading -----------------------------------------------------------------------------------


async def list_page(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    limit: int,
    cursor: str | None = None,
    action: str | None = None,
) -> tuple[Sequence[AuditEntry], str | None]:
    """Newest first; ``next_cursor`` continues after the last entry returned, with the same
    ``action`` filter (another filter's cursor is 422 ``invalid_cursor``)."""
    scope = cursor_scope("audit", workspace_id, filters={"action": action})
    rows = await repo.list_entries(
        session,
        workspace_id=workspace_id,
        limit=limit + 1,
        before=decode_cursor(cursor, scope=scope) if cursor else None,
        action=action or None,
    )
    return page_of(rows, limit, scope=scope)
