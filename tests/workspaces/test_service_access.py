"""The knowledge and chat services enforce the permission table themselves (no router in
between), and operator tools act through ``WorkspaceAccess.operator``, audited as the operator."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import text

from api.runtime import Runtime
from core.errors import Forbidden
from rag.chat import faq
from rag.knowledge import submissions
from tests.conftest import Owner
from workspaces import repository as ws_repo
from workspaces.service import Principal, WorkspaceAccess

Call = Callable[[Any, WorkspaceAccess, Runtime, dict[str, uuid.UUID]], Awaitable[object]]

# What a member may not do, called on the services directly (the table: admins and owners only).
REFUSED_TO_MEMBERS: dict[str, Call] = {
    "document.write": lambda s, a, r, ids: submissions.submit_text(
        s, a, title="Member's note", text="Not for members to add.", settings=r.settings
    ),
    "document.write (replace)": lambda s, a, r, ids: submissions.replace_document(
        s,
        a,
        ids["document"],
        data=b"Replaced by a member",
        content_type="text/plain",
        settings=r.settings,
    ),
    "document.retry": lambda s, a, r, ids: submissions.retry_document(s, a, ids["document"]),
    "document.delete": lambda s, a, r, ids: submissions.delete_document(s, a, ids["document"]),
    "faq.create": lambda s, a, r, ids: faq.create(
        s, r.embedder, a, question="Member question?", answer="No.", alt_questions=[]
    ),
    "faq.update": lambda s, a, r, ids: faq.update(
        s, r.embedder, a, faq_id=ids["faq"], values={"answer": "Changed by a member"}
    ),
    "faq.delete": lambda s, a, r, ids: faq.delete(s, a, faq_id=ids["faq"]),
}


async def _setup(runtime: Runtime, owner: Owner, operator: str) -> dict[str, uuid.UUID]:
    """A document and an FAQ, added by an operator tool."""
    ws = uuid.UUID(owner.workspace_id)
    async with runtime.db.transaction(workspace_id=ws) as session:
        workspace = await ws_repo.get_workspace(session, ws)
        assert workspace is not None
        access = WorkspaceAccess.operator(workspace, command="ingest", name=operator)
        sub = await submissions.submit_text(
            session, access, title="Opening hours", text="Open 9 to 5.", settings=runtime.settings
        )
        item = await faq.create(
            session,
            runtime.embedder,
            access,
            question="When are you open?",
            answer="From 9 to 5.",
            alt_questions=[],
        )
    return {"workspace": ws, "document": sub.document.id, "faq": item.id}


async def _state(runtime: Runtime, ws: uuid.UUID) -> tuple[Any, ...]:
    """What a refused call must leave as it was: documents, FAQs and the audit log."""
    async with runtime.db.transaction(workspace_id=ws) as session:
        row = await session.execute(
            text(
                "SELECT (SELECT array_agg((id, title, revision, status) ORDER BY id)::text"
                "        FROM documents),"
                " (SELECT array_agg((id, question, answer) ORDER BY id)::text FROM faqs),"
                " (SELECT count(*) FROM audit_log)"
            )
        )
        return tuple(row.one())


@pytest.mark.parametrize("action", sorted(REFUSED_TO_MEMBERS))
async def test_a_members_write_is_refused_by_the_service_itself(
    runtime: Runtime, owner: Owner, action: str
) -> None:
    ids = await _setup(runtime, owner, operator="ops")
    before = await _state(runtime, ids["workspace"])
    async with runtime.db.transaction(workspace_id=ids["workspace"]) as session:
        workspace = await ws_repo.get_workspace(session, ids["workspace"])
        assert workspace is not None
        someone = Principal(user_id=uuid.uuid4())
        member = WorkspaceAccess(workspace, role="member", principal=someone)
        with pytest.raises(Forbidden) as refused:
            await REFUSED_TO_MEMBERS[action](session, member, runtime, ids)
    assert refused.value.code == "insufficient_role"
    assert refused.value.details["action"] == action.split()[0]
    assert await _state(runtime, ids["workspace"]) == before


async def test_an_operator_tool_is_audited_as_the_operator(runtime: Runtime, owner: Owner) -> None:
    operator = f"ops-{uuid.uuid4().hex[:8]}"
    ids = await _setup(runtime, owner, operator=operator)
    async with runtime.db.transaction(workspace_id=ids["workspace"]) as session:
        workspace = await ws_repo.get_workspace(session, ids["workspace"])
        assert workspace is not None
        access = WorkspaceAccess.operator(workspace, command="ingest", name=operator)
        await submissions.delete_document(session, access, ids["document"])
    async with runtime.db.transaction(workspace_id=ids["workspace"]) as session:
        rows = (
            await session.execute(
                text(
                    "SELECT action, target_id, actor_user_id, actor_api_key_id, user_agent,"
                    " details->>'operator' AS operator FROM audit_log"
                    " WHERE details->>'operator' = :who ORDER BY created_at"
                ),
                {"who": operator},
            )
        ).all()
    assert [(r.action, r.target_id) for r in rows] == [
        ("faq.created", str(ids["faq"])),
        ("document.deleted", str(ids["document"])),
    ]
    assert {(r.actor_user_id, r.actor_api_key_id, r.user_agent) for r in rows} == {
        (None, None, "trulybot ingest")
    }
