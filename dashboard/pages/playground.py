"""Playground: ask the bot as a visitor would, and see which stage answered, the cited passages
and the stage timings."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from api.deps import RuntimeDep
from api.throttling import rate_limit_chat
from core.errors import ValidationFailed
from dashboard.pages.common import PageDep, form_fields
from dashboard.web import PageRoute, render
from rag.chat.pipeline import ChatInput

router = APIRouter(route_class=PageRoute)

STAGES = {
    "faq": "an FAQ",
    "cache": "the answer cache",
    "rag": "retrieval from your documents",
    "fallback": "the fallback (nothing relevant was found)",
    "intent": "small talk (greeting, thanks...)",
}


@router.get("/w/{workspace_id}/playground")
async def playground(request: Request, page: PageDep) -> Response:
    return render(request, "playground.html", {"page": page})


@router.post("/w/{workspace_id}/playground")
async def ask(request: Request, page: PageDep, runtime: RuntimeDep) -> Response:
    fields = await form_fields(request)
    message = str(fields.get("message") or "").strip()
    if not message:
        raise ValidationFailed("Write a question first")
    try:
        conversation_id = uuid.UUID(str(fields.get("conversation_id") or ""))
    except ValueError:
        conversation_id = None
    inp = ChatInput.for_owner(page.access, message=message, conversation_id=conversation_id)
    await rate_limit_chat(request, page.workspace_id, inp.session_id)
    result = await runtime.pipeline.answer(inp)
    answer = result.to_dict()
    return render(
        request,
        "_playground_answer.html",
        {
            "question": message,
            "answer": answer,
            "stage": STAGES.get(str(answer["source"]), str(answer["source"])),
            "timings": dict(answer["timings_ms"] or {}),
            "page": page,
        },
    )
