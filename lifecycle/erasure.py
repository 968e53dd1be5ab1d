"""Erasing one visitor's data (a data-subject request), by the email they left or by the widget
session id their browser kept.

What goes: every conversation of the visitor (its messages, their feedback, the unanswered
questions and webhook deliveries that quote it), the leads with that email or linked to those
conversations, and every submission of those leads or sent with that email. One step of links
is followed each way: the email finds the leads, their submissions and the conversations they
name, and those conversations' sessions find the visitor's other conversations; the session id
finds its conversations, the leads they were linked to and those leads' submissions.

Audited (``visitor.erased``) with how many rows of each kind went and which key was used
(``email`` or ``session_id``), never the email, the session id or anything erased.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ValidationFailed
from lifecycle import repository as repo
from workspaces.permissions import Action, authorize
from workspaces.service import WorkspaceAccess


async def erase_visitor(
    session: AsyncSession,
    access: WorkspaceAccess,
    *,
    email: str | None = None,
    session_id: str | None = None,
) -> dict[str, int]:
    """Erase the visitor named by exactly one of ``email`` and ``session_id``; the counts of
    rows erased (all zero when nothing matched: the request is still recorded)."""
    permit = authorize(access, Action.VISITOR_ERASE)
    email = email.strip().lower() if email else None
    session_id = session_id.strip() if session_id else None
    if bool(email) == bool(session_id):
        raise ValidationFailed(
            "Name the visitor by exactly one of email and session_id",
            code="erasure_key",
            details=[{"field": "email"}, {"field": "session_id"}],
        )
    workspace_id = access.workspace.id
    leads = (
        await repo.lead_ids_by_email(session, workspace_id=workspace_id, email=email)
        if email
        else set()
    )
    named, leads = await repo.lead_conversation_links(
        session, workspace_id=workspace_id, lead_ids=leads, email=email
    )
    found = await repo.conversations_of(
        session,
        workspace_id=workspace_id,
        session_ids={session_id} if session_id else set(),
        lead_ids=leads,
        conversation_ids=named,
    )
    # The visitor's other conversations (same browser session), and the leads linked to any.
    sessions = {sid for _, sid, _ in found}
    found = await repo.conversations_of(
        session,
        workspace_id=workspace_id,
        session_ids=sessions,
        lead_ids=leads,
        conversation_ids={cid for cid, _, _ in found},
    )
    leads |= {lead for _, _, lead in found if lead is not None}
    _, leads = await repo.lead_conversation_links(
        session, workspace_id=workspace_id, lead_ids=leads, email=email
    )
    counts = await repo.erase_visitor_rows(
        session,
        workspace_id=workspace_id,
        conversation_ids={cid for cid, _, _ in found},
        lead_ids=leads,
        email=email,
    )
    await permit.record(
        session,
        target_type="visitor",
        details={"by": "email" if email else "session_id", "erased": counts},
    )
    return counts
