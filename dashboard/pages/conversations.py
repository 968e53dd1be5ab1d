"""Conversations (filters, transcripts with citations and feedback) and unanswered questions
(grouped, each group one action away from an FAQ)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError

from api.deps import QueryDatetime, RuntimeDep, SessionDep
from core.errors import ValidationFailed
from dashboard.pages.common import PageDep, ReadSessionDep, field_errors, form_fields
from dashboard.web import PageRoute, redirect, render
from rag.chat import conversations
from rag.chat.repository import conversations as conversation_repo
from rag.chat.schemas import FaqIn

router = APIRouter(route_class=PageRoute)

PAGE_SIZE = 50
UNANSWERED_GROUPS = 50


@router.get("/w/{workspace_id}/conversations")
async def conversation_list(
    request: Request,
    page: PageDep,
    session: ReadSessionDep,
    status: Annotated[str | None, Query(pattern="^(|open|handoff|closed)$")] = None,
    channel: Annotated[str | None, Query(pattern="^(|widget|owner)$")] = None,
    lead: Annotated[str | None, Query(pattern="^(|yes|no)$")] = None,
    before: QueryDatetime | None = None,
    before_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Response:
    rows = await conversations.list_conversations(
        session,
        workspace_id=page.workspace_id,
        status=status or None,
        limit=PAGE_SIZE + 1,  # one more says whether a next page holds anything
        before=before,
        channel=channel or None,
        has_lead={"yes": True, "no": False}.get(lead or ""),
        before_id=before_id,
    )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    next_before: datetime | None = rows[-1].last_message_at if more else None
    return render(
        request,
        "conversations.html",
        {
            "page": page,
            "conversations": rows,
            "status": status or "",
            "channel": channel or "",
            "lead": lead or "",
            "next_before": next_before.isoformat() if next_before else None,
            "next_before_id": str(rows[-1].id) if more else None,
        },
    )


@router.get("/w/{workspace_id}/conversations/{conversation_id}")
async def transcript(
    request: Request, conversation_id: uuid.UUID, page: PageDep, session: SessionDep
) -> Response:
    conversation, messages = await conversations.transcript(
        session, workspace_id=page.workspace_id, conversation_id=conversation_id
    )
    feedback = await conversation_repo.feedback_for(
        session, workspace_id=page.workspace_id, message_ids=[m.id for m in messages]
    )
    return render(
        request,
        "transcript.html",
        {"page": page, "conversation": conversation, "messages": messages, "feedback": feedback},
    )


@router.get("/w/{workspace_id}/unanswered")
async def unanswered(request: Request, page: PageDep, session: SessionDep) -> Response:
    groups = await conversations.unanswered_groups(
        session, workspace_id=page.workspace_id, limit=UNANSWERED_GROUPS
    )
    return render(
        request,
        "unanswered.html",
        {"page": page, "groups": groups},
    )


@router.post("/w/{workspace_id}/unanswered/faq")
async def unanswered_to_faq(
    request: Request, page: PageDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    fields = await form_fields(request)
    raw_ids = fields.get("ids") or []
    try:
        ids = [uuid.UUID(str(i)) for i in (raw_ids if isinstance(raw_ids, list) else [raw_ids])]
        alternatives = fields.get("alt_questions") or []
        data = FaqIn.model_validate(
            {
                "question": str(fields.get("question") or "").strip(),
                "answer": str(fields.get("answer") or "").strip(),
                "alt_questions": [
                    a.strip()
                    for a in (alternatives if isinstance(alternatives, list) else [alternatives])
                    if a.strip()
                ][:20],
            }
        )
    except ValidationError as exc:
        raise ValidationFailed("Write the answer first", details=field_errors(exc)) from exc
    except ValueError as exc:
        raise ValidationFailed("The question group is not valid; reload the page") from exc
    if not ids or len(ids) > 2000:
        raise ValidationFailed("The question group is not valid; reload the page")
    await conversations.answer_unanswered(
        session,
        runtime.embedder,
        page.access,
        question=data.question,
        answer=data.answer,
        alt_questions=data.alt_questions,
        ids=ids,
    )
    return redirect(request, page.url("unanswered") + "?notice=FAQ+added+and+questions+resolved")
