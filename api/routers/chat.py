"""Chat for owners and the widget's feedback: the owners' chat (JSON or streamed), FAQs,
conversations and their transcripts, unanswered questions, feedback and the chat statistics.
The visitors' ``POST /chat`` and the widget key's checks are ``api.routers.widget_chat``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse, StreamingResponse

from api.deps import (
    CursorDep,
    DeprecatedOffsetDep,
    LimitDep,
    QueryDatetime,
    ReadSessionDep,
    RuntimeDep,
    SessionDep,
    SettingsDep,
    WorkspaceDep,
    end_transaction,
)
from api.middleware import is_head
from api.routers.widget_chat import CHAT_RESPONSES, AcceptHeader, WidgetKey, widget_workspace
from api.sse import sse_response, wants_stream
from api.throttling import rate_limit_chat
from api.unanswered_export import unanswered_export_response
from rag.chat import conversations
from rag.chat import faq as faq_service
from rag.chat.exchange import ChatInput
from rag.chat.schemas import (
    ChatOut,
    ChatStatsOut,
    ConversationOut,
    ConversationPage,
    ConversationUpdateIn,
    FaqIn,
    FaqOut,
    FaqPage,
    FaqUpdateIn,
    FeedbackIn,
    MessageOut,
    OwnerChatIn,
    ResolvedOut,
    ResolveUnansweredIn,
    TranscriptOut,
    UnansweredGroup,
    WidgetFeedbackIn,
)

router = APIRouter(tags=["chat"])


@router.post("/workspaces/{workspace_id}/chat", response_model=ChatOut, responses=CHAT_RESPONSES)
async def owner_chat(
    body: OwnerChatIn,
    request: Request,
    access: WorkspaceDep,
    session: SessionDep,
    runtime: RuntimeDep,
    accept: AcceptHeader = None,
) -> Any:
    inp = ChatInput.for_owner(
        access,
        message=body.message,
        session_id=body.session_id,
        conversation_id=body.conversation_id,
        client_message_id=body.client_message_id,
    )
    await rate_limit_chat(request, access.workspace.id, body.session_id, body.client_message_id)
    # The caller is known: the turn runs in transactions of its own, none held while it waits.
    await end_transaction(session)
    pipeline = runtime.pipeline
    if wants_stream(accept):
        return await sse_response(pipeline.stream(inp))
    # Built by the pipeline in the documented shape (ChatOut): sent as is, not re-validated.
    return JSONResponse((await pipeline.answer(inp)).to_dict())


@router.post("/widget/feedback", status_code=status.HTTP_204_NO_CONTENT)
async def widget_feedback(
    body: WidgetFeedbackIn,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    key: WidgetKey = None,
) -> Response:
    workspace = await widget_workspace(request, session, settings, key)
    await conversations.give_feedback(
        session,
        workspace_id=workspace.id,
        message_id=body.message_id,
        rating=body.rating,
        comment=body.comment,
        session_id=body.session_id,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- owners: FAQs ----------------------------------------------------------------------------


@router.post(
    "/workspaces/{workspace_id}/faqs", status_code=status.HTTP_201_CREATED, response_model=FaqOut
)
async def create_faq(
    body: FaqIn,
    access: WorkspaceDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> Any:
    """Add an FAQ (answered verbatim to visitors). Owners and admins; audited."""
    return await faq_service.create(
        session,
        runtime.embedder,
        access,
        question=body.question,
        answer=body.answer,
        alt_questions=body.alt_questions,
        enabled=body.enabled,
    )


@router.get("/workspaces/{workspace_id}/faqs", response_model=FaqPage)
async def list_faqs(
    access: WorkspaceDep,
    session: SessionDep,
    limit: LimitDep,
    cursor: CursorDep = None,
    offset: DeprecatedOffsetDep = 0,
) -> FaqPage:
    """Newest first; `next_cursor` continues after the last FAQ of the page."""
    items, total, next_cursor = await faq_service.list_page(
        session, workspace_id=access.workspace.id, limit=limit, cursor=cursor, offset=offset
    )
    return FaqPage(
        items=[FaqOut.model_validate(i) for i in items], total=total, next_cursor=next_cursor
    )


@router.get("/workspaces/{workspace_id}/faqs/{faq_id:uuid}", response_model=FaqOut)
async def get_faq(faq_id: uuid.UUID, access: WorkspaceDep, session: SessionDep) -> Any:
    return await faq_service.get(session, workspace_id=access.workspace.id, faq_id=faq_id)


@router.patch("/workspaces/{workspace_id}/faqs/{faq_id:uuid}", response_model=FaqOut)
async def update_faq(
    faq_id: uuid.UUID,
    body: FaqUpdateIn,
    access: WorkspaceDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> Any:
    """Change an FAQ. Owners and admins; audited (which fields, not their text)."""
    values = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    return await faq_service.update(session, runtime.embedder, access, faq_id=faq_id, values=values)


@router.delete(
    "/workspaces/{workspace_id}/faqs/{faq_id:uuid}", status_code=status.HTTP_204_NO_CONTENT
)
async def delete_faq(faq_id: uuid.UUID, access: WorkspaceDep, session: SessionDep) -> Response:
    """Delete an FAQ. Owners and admins; audited."""
    await faq_service.delete(session, access, faq_id=faq_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- owners: conversations, unanswered, feedback, stats ---------------------------------------


@router.get("/workspaces/{workspace_id}/conversations", response_model=ConversationPage)
async def list_conversations(
    access: WorkspaceDep,
    session: ReadSessionDep,
    limit: LimitDep,
    status: Annotated[str | None, Query(pattern="^(open|handoff|closed)$")] = None,
    order: Annotated[
        conversations.ConversationOrder,
        Query(
            description="`recent`: latest message first; a conversation that gets a message"
            " while you page moves up and can be missed (not stable). `started`: newest"
            " started first, stable: a full walk misses and repeats none (use it to sync)"
        ),
    ] = "recent",
    cursor: CursorDep = None,
    before: Annotated[
        QueryDatetime | None,
        Query(deprecated=True, description="deprecated: `next_before` (order=recent only)"),
    ] = None,
    before_id: Annotated[
        uuid.UUID | None, Query(deprecated=True, description="deprecated: `next_before_id`")
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="only conversations with a message (the visitor's or the bot's) that"
            " contains this text, ignoring case",
        ),
    ] = None,
) -> ConversationPage:
    """Conversations in `order`; `next_cursor` continues with the same order and filters."""
    page = await conversations.conversations_page(
        session,
        access,
        status=status,
        limit=limit,
        order=order,
        cursor=cursor,
        before=before,
        before_id=before_id,
        q=q,
    )
    return ConversationPage(
        items=[ConversationOut.model_validate(r) for r in page.items],
        next_cursor=page.next_cursor,
        next_before=page.next_before,
        next_before_id=page.next_before_id,
    )


TranscriptLimit = Annotated[
    int,
    Query(
        ge=1,
        le=conversations.TRANSCRIPT_PAGE,
        description=f"messages per page (at most {conversations.TRANSCRIPT_PAGE})",
    ),
]


@router.get(
    "/workspaces/{workspace_id}/conversations/{conversation_id:uuid}", response_model=TranscriptOut
)
async def get_transcript(
    conversation_id: uuid.UUID,
    access: WorkspaceDep,
    session: SessionDep,
    limit: TranscriptLimit = conversations.TRANSCRIPT_PAGE,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    order: Annotated[Literal["oldest", "newest"], Query()] = "oldest",
) -> TranscriptOut:
    """A conversation and a page of its messages (a conversation has no length cap): the first
    ``limit`` (``order=oldest``, the default) or the latest (``order=newest``), each page in the
    order the messages were sent. ``next_cursor`` continues: later messages, or earlier ones."""
    page = await conversations.transcript(
        session,
        access,
        conversation_id=conversation_id,
        limit=limit,
        cursor=cursor,
        newest=order == "newest",
    )
    return TranscriptOut(
        conversation=ConversationOut.model_validate(page.conversation),
        messages=[MessageOut.model_validate(m) for m in page.messages],
        next_cursor=page.next_cursor,
    )


@router.patch(
    "/workspaces/{workspace_id}/conversations/{conversation_id:uuid}",
    response_model=ConversationOut,
)
async def update_conversation(
    conversation_id: uuid.UUID,
    body: ConversationUpdateIn,
    access: WorkspaceDep,
    session: SessionDep,
) -> Any:
    """Open, hand off or close a conversation: members, admins and owners (not API keys);
    audited as ``conversation.updated`` with the status before and after."""
    return await conversations.set_status(
        session, access, conversation_id=conversation_id, status=body.status
    )


@router.get("/workspaces/{workspace_id}/unanswered", response_model=list[UnansweredGroup])
async def unanswered(access: WorkspaceDep, session: SessionDep, limit: LimitDep) -> Any:
    return await conversations.unanswered_groups(session, access, limit=limit)


@router.get("/workspaces/{workspace_id}/unanswered/export", response_class=StreamingResponse)
async def export_unanswered(
    request: Request, access: WorkspaceDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """Every unanswered question not dealt with, one row per time asked, newest first, as CSV
    (the list above groups only the latest 2,000). Owners and admins with a confirmed email;
    audited. HEAD: the headers alone, nothing audited."""
    return await unanswered_export_response(session, runtime, access, head=is_head(request.scope))


@router.post("/workspaces/{workspace_id}/unanswered/resolve", response_model=ResolvedOut)
async def resolve_unanswered(
    body: ResolveUnansweredIn, access: WorkspaceDep, session: SessionDep
) -> ResolvedOut:
    """Mark unanswered questions as dealt with (e.g. after adding an FAQ): a group's ``ids``."""
    return ResolvedOut(
        resolved=await conversations.resolve_unanswered(session, access, ids=body.ids)
    )


@router.post("/workspaces/{workspace_id}/feedback", status_code=status.HTTP_204_NO_CONTENT)
async def owner_feedback(body: FeedbackIn, access: WorkspaceDep, session: SessionDep) -> Response:
    await conversations.give_team_feedback(
        session, access, message_id=body.message_id, rating=body.rating, comment=body.comment
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/workspaces/{workspace_id}/chat/stats", response_model=ChatStatsOut)
async def chat_stats(
    access: WorkspaceDep, session: SessionDep, runtime: RuntimeDep
) -> ChatStatsOut:
    return ChatStatsOut(
        cache=await runtime.cache.stats(access.workspace.id),
        feedback=await conversations.feedback_counts(session, access),
    )
