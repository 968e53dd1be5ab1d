"""Playground: ask the bot as a visitor would (the answer streams in), and see which stage
answered, the cited passages and the stage timings."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import RuntimeDep, SessionDep, end_transaction
from api.sse import sse_response
from api.throttling import rate_limit_chat
from core.db import resume
from core.errors import AppError, NotFound, ValidationFailed
from dashboard.answers import answered_by
from dashboard.page_route import PageRoute, is_navigation
from dashboard.pages.common import Page, PageDep, form_fields, refusal
from dashboard.web import is_htmx, redirect, render, render_text, runtime_of
from rag.chat import conversations
from rag.chat.exchange import ChatInput, owner_session_id
from rag.chat.models import ChatMessage

router = APIRouter(route_class=PageRoute)


async def _question(request: Request, page: Page, session: AsyncSession) -> ChatInput:
    """The posted question as the owner's chat input (after the chat rate limits), with the
    request's transaction ended: the turn runs in transactions of its own, and a connection
    held through the model's answer left the pool one short for each question asked
    (``api.deps.end_transaction``)."""
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
    await end_transaction(session)
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
        "stage": answered_by(source, answer.get("intent"), question),
        "timings": dict(answer.get("timings_ms") or {}),
        "page": page,
    }


SHOWN_MESSAGES = 40
"""The latest messages of a playground conversation its page shows (20 questions and answers);
the transcript page has them all."""


def _recorded(message: ChatMessage) -> dict[str, Any]:
    """A recorded answer as the answer fragment reads one (``ChatResult.to_dict``'s fields)."""
    flags = message.answer_flags or {}
    return {
        "conversation_id": str(message.conversation_id),
        "answer": message.text,
        "intent": message.intent,
        "source": message.source,
        "citations": list(message.citations or []),
        "timings_ms": dict(message.timings or {}),
        "extractive": bool(flags.get("extractive")),
    }


async def _exchanges(
    request: Request, session: AsyncSession, page: Page, conversation_id: uuid.UUID
) -> tuple[Markup, bool]:
    """The user's own playground conversation, its latest exchanges rendered as the answers
    were, and whether earlier ones were left out. Any other conversation (a visitor's, another
    member's playground) is "not found"."""
    shown = await conversations.transcript(
        session, page.access, conversation_id=conversation_id, limit=SHOWN_MESSAGES, newest=True
    )
    if (shown.conversation.channel, shown.conversation.session_id) != (
        "owner",
        owner_session_id(page.access),
    ):
        raise NotFound("Conversation not found")
    pieces: list[str] = []
    question = ""
    for message in shown.messages:
        if message.role == "user":
            question = message.text
        elif message.role == "assistant":
            context = _answer_context(page, question, _recorded(message), oob=False)
            pieces.append(render_text(request, "_playground_answer.html", context))
            question = ""
    return Markup("".join(pieces)), shown.next_cursor is not None  # noqa: S704


@router.get("/w/{workspace_id}/playground")
async def playground(
    request: Request,
    page: PageDep,
    session: SessionDep,
    conversation: Annotated[uuid.UUID | None, Query()] = None,
) -> Response:
    """The playground; with ``conversation`` (where a question asked without script lands), the
    user's playground conversation so far, to go on with."""
    return await _playground_page(request, page, session, conversation)


async def _playground_page(
    request: Request,
    page: Page,
    session: AsyncSession,
    conversation: uuid.UUID | None,
    *,
    refused: AppError | None = None,
    typed: str = "",
) -> Response:
    """The page, with the conversation so far; ``refused``: a question asked without script
    that was refused comes back in its box, the reason beside it."""
    answered, more = Markup(""), False
    if conversation is not None:
        answered, more = await _exchanges(request, session, page, conversation)
    context = {
        "page": page,
        "answered": answered,
        "conversation_id": str(conversation or ""),
        "earlier": page.url(f"conversations/{conversation}") if more else "",
        "max_message_chars": runtime_of(request).settings.max_message_chars,
        "typed": typed,
        "error": refused.message if refused else "",
    }
    status = refused.status_code if refused else 200
    response = render(request, "playground.html", context, status_code=status)
    response.headers.update(refused.headers if refused else {})
    return response


async def _refused_page(
    request: Request, page: Page, session: AsyncSession, exc: AppError
) -> Response:
    """A question posted by the plain form (no script) and refused as input (empty, too long,
    a NUL, a rate or plan limit): the page again with the question kept; the error page it
    had lost what was typed."""
    refusal(exc)  # anything not about the question (not allowed) has its own page
    await resume(session)  # a refusal by the pipeline came after the transaction ended
    form = await request.form()
    form = await request.form()
    typed, chosen = (str(form.get(key) or "").replace("\x00", "") for key in FORM_FIELDS)
    try:
        conversation: uuid.UUID | None = uuid.UUID(chosen)
    except ValueError:
        conversation = None
    try:
        return await _playground_page(
            request, page, session, conversation, refused=exc, typed=typed
        )
    except NotFound:  # not the user's own playground conversation: none shown
        return await _playground_page(request, page, session, None, refused=exc, typed=typed)


FORM_FIELDS = ("message", "conversation_id")


@router.post("/w/{workspace_id}/playground")
async def ask(
    request: Request, page: PageDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """One answer, whole: an htmx fragment; without script, a redirect to the page showing the
    conversation (a reload of that page asks nothing again, nor counts it again)."""
    try:
        inp = await _question(request, page, session)
        answer = (await runtime.pipeline.answer(inp)).to_dict()
    except AppError as exc:
        if is_htmx(request) or not is_navigation(request):
            raise  # the script shows the reason (ERROR_HEADER) and keeps the question itself
        return await _refused_page(request, page, session, exc)
    if is_htmx(request):
        return render(
            request, "_playground_answer.html", _answer_context(page, inp.message, answer)
        )
    shown = page.url("playground") + "?conversation=" + quote(str(answer["conversation_id"]))
    return redirect(request, shown + "#answered")


@router.post("/w/{workspace_id}/playground/stream")
async def ask_streaming(
    request: Request, page: PageDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """Server-sent events: the pipeline's ``meta`` and ``delta``/``replace`` as they come, then
    ``html``: the finished answer rendered here (stage, sources, timings), which replaces the
    streamed text."""
    inp = await _question(request, page, session)

    async def events() -> AsyncIterator[tuple[str, dict[str, Any]]]:
        async for event, data in runtime.pipeline.stream(inp):
            if event == "done":
                context = _answer_context(page, inp.message, data)
                yield "html", {"html": render_text(request, "_playground_answer.html", context)}
            elif event != "citations":
                yield event, data

    return await sse_response(events())
