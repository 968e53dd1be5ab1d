"""Playground: ask the bot as a visitor would (the answer streams in), and see which stage
answered, the cited passages and the stage timings."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, Response
from markupsafe import Markup

from api.deps import RuntimeDep
from api.sse import sse_response
from api.throttling import rate_limit_chat
from core.errors import ValidationFailed
from dashboard.answers import answered_by
from dashboard.pages.common import Page, PageDep, form_fields
from dashboard.web import PageRoute, is_htmx, render, render_text
from rag.chat.exchange import ChatInput

router = APIRouter(route_class=PageRoute)


async def _question(request: Request, page: Page) -> ChatInput:
    """The posted question as the owner's chat input (after the chat rate limits)."""
    fields = await form_fields(request)
    message = str(fields.get("message") or "").strip()
    if not message:
        raise ValidationFailed("Write a question first")
    try:
        conversation_id: uuid.UUID | None = uuid.UUID(str(fields.get("conversation_id") or ""))
    except ValueError:
        conversation_id = None
    inp = ChatInput.for_owner(page.access, message=message, conversation_id=conversation_id)
    await rate_limit_chat(request, page.workspace_id, inp.session_id)
    return inp


def _answer_context(
    page: Page, question: str, answer: dict[str, Any], *, oob: bool = True
) -> dict[str, Any]:
    """The answer fragment's context; ``oob``: it also carries the conversation's id for the
    form (htmx's out-of-band swap; the stream's script reads it the same way)."""
    source = str(answer.get("source") or "")
    return {
        "oob": oob,
        "question": question,
        "answer": answer,
        "stage": answered_by(source, answer.get("intent")),
        "timings": dict(answer.get("timings_ms") or {}),
        "page": page,
    }


@router.get("/w/{workspace_id}/playground")
async def playground(request: Request, page: PageDep) -> Response:
    return render(request, "playground.html", {"page": page, "answered": "", "conversation_id": ""})


@router.post("/w/{workspace_id}/playground")
async def ask(request: Request, page: PageDep, runtime: RuntimeDep) -> Response:
    """One answer, whole: an htmx fragment, or the page again (without script)."""
    inp = await _question(request, page)
    answer = (await runtime.pipeline.answer(inp)).to_dict()
    if is_htmx(request):
        return render(
            request, "_playground_answer.html", _answer_context(page, inp.message, answer)
        )
    context = _answer_context(page, inp.message, answer, oob=False)
    fragment = Markup(render_text(request, "_playground_answer.html", context))  # noqa: S704
    return render(
        request,
        "playground.html",
        {"page": page, "answered": fragment, "conversation_id": answer["conversation_id"]},
    )


@router.post("/w/{workspace_id}/playground/stream")
async def ask_streaming(request: Request, page: PageDep, runtime: RuntimeDep) -> Response:
    """Server-sent events: the pipeline's ``meta`` and ``delta``/``replace`` as they come, then
    ``html``: the finished answer rendered here (stage, sources, timings), which replaces the
    streamed text."""
    inp = await _question(request, page)

    async def events() -> AsyncIterator[tuple[str, dict[str, Any]]]:
        async for event, data in runtime.pipeline.stream(inp):
            if event == "done":
                context = _answer_context(page, inp.message, data)
                yield "html", {"html": render_text(request, "_playground_answer.html", context)}
            elif event != "citations":
                yield event, data

    return await sse_response(events())
