"""The visitors' side of chat: a widget key's workspace and whether the request's Origin may
embed it (``widget_workspace``, also used by the widget's other public routes), and the public
``POST /chat`` (``public_router``): from the widget-key cache or a short transaction of its own,
the caps on new conversations, and the answer, JSON or streamed (SSE), with what a visitor may
read of a quota or an embeddings failure. The owners' chat and the rest are ``api.routers.chat``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from api.runtime import Runtime
from api.sse import sse_response, wants_stream
from api.throttling import (
    ConversationRateLimited,
    cap_widget_conversation,
    rate_limit_chat,
    widget_caps,
)
from api.widget_cors import STATE_KEY
from core.config import Settings
from core.errors import Forbidden, QuotaExceeded
from rag.chat.exchange import ChatInput, checked_message
from rag.chat.schemas import ChatIn, ChatOut
from rag.knowledge.embeddings import EmbeddingError
from widget.policy import origin_allowed, parse_origin
from workspaces.models import Workspace
from workspaces.service import (
    check_public_key,
    note_widget_installed,
    resolve_public_key,
    resolve_public_key_versioned,
)
from workspaces.widget_keys import WorkspaceChanged

# The visitors' endpoint alone, registered before every other API router (api/app.py): the
# busiest route is matched first instead of after nine routers' routes. Its one path, /chat,
# matches no other route.
public_router = APIRouter(tags=["chat"])

WidgetKey = Annotated[str | None, Header(alias="X-Widget-Key")]
AcceptHeader = Annotated[str | None, Header()]


async def widget_workspace(
    request: Request, session: AsyncSession, settings: Settings, key: str | None
) -> Workspace:
    """The workspace of a public widget key, if the request's Origin may embed it; the
    session's tenant becomes that workspace."""
    workspace = await resolve_public_key(session, key)
    _check_origin(request, workspace, settings)
    await _note_installed(request, session, workspace, settings)
    return workspace


async def _note_installed(
    request: Request, session: AsyncSession, workspace: Workspace, settings: Settings
) -> None:
    """A widget request from a site other than this server's own pages (the demo page, the
    dashboard's preview) tells the owner's checklist that the snippet is installed."""
    origin = request.headers.get("origin")
    if origin and _would_note_installed(request, workspace, settings):
        await note_widget_installed(session, workspace, origin=origin)


def _would_note_installed(request: Request, workspace: Workspace, settings: Settings) -> bool:
    """This server's own pages are told apart as ``_check_origin`` tells them (PUBLIC_BASE_URL),
    not by the Host header: behind a proxy that sends its own Host, the owner's preview had
    ticked "installed" with this server's address."""
    origin = request.headers.get("origin")
    return bool(
        origin and workspace.widget_installed_at is None and not _from_own_pages(request, settings)
    )


def _same_host(request: Request) -> bool:
    """Whether the Origin names the host the request was sent to (compared as origins: an
    Origin that does not parse names no host)."""
    origin = request.headers.get("origin")
    seen = parse_origin(origin) if origin else None
    host = request.headers.get("host")
    return bool(seen and host and parse_origin(f"{seen[0]}://{host}") == seen)


def _from_own_pages(request: Request, settings: Settings) -> bool:
    """Whether the request comes from this server's own pages (the dashboard's widget preview,
    the demo page): its Origin is PUBLIC_BASE_URL's. Not the request's Host header, which a
    page elsewhere chooses (a name of its own pointed at this server, DNS rebinding) and which a
    proxy rewrites; in development the Host is taken too (the dashboard on whatever address a
    developer opened)."""
    origin = request.headers.get("origin")
    seen = parse_origin(origin) if origin else None
    if seen is None:
        return False
    if settings.public_base_url:
        base = urlsplit(settings.public_base_url)
        if seen == parse_origin(f"{base.scheme}://{base.netloc}"):
            return True
    return settings.is_development and _same_host(request)


def _check_origin(request: Request, workspace: Workspace, settings: Settings) -> None:
    """403 ``origin_not_allowed`` unless the request's Origin may embed this widget; an allowed
    browser origin gets CORS headers back (WidgetCorsMiddleware). This server's own pages (the
    dashboard's preview) are answered whatever the allowed sites are.

    A request without an Origin is not a browser page (browsers send Origin on every
    cross-origin request and on every same-origin POST): a workspace that lists its allowed
    origins refuses it with 403 ``origin_required``, except for reading the public config (a
    GET that spends nothing, and that a page on the API's own host sends without Origin).
    Otherwise it is allowed, with the lower server-side cap on new conversations.
    """
    origin = request.headers.get("origin")
    allowed = list((workspace.widget_config or {}).get("allowed_origins") or [])
    if origin is None and allowed and request.method != "GET":
        raise Forbidden(
            "This widget only answers pages on its allowed websites (no Origin header was sent)",
            code="origin_required",
        )
    own = _from_own_pages(request, settings)  # the preview answers whatever the allowed sites
    if not own and not origin_allowed(origin, allowed, development=settings.is_development):
        raise Forbidden("This site may not embed this widget", code="origin_not_allowed")
    if origin:
        request.scope.setdefault("state", {})[STATE_KEY] = origin


CHAT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE with Accept"}
}


async def widget_workspace_cached(
    request: Request, runtime: Runtime, key: str | None
) -> tuple[Workspace, str | None]:
    """``widget_workspace`` for a caller that needs the workspace and not the session: from the
    widget-key cache when it holds the key (no transaction), with the version the chat turn's
    first statement checks; else one short transaction whose tenant context is the key from
    its first statement (context, select), and cached with the row's version. A request that
    would record the widget's first site goes to the database. Same checks, same errors."""
    key = check_public_key(key)
    hit = runtime.widget_keys.get(key)
    if hit is not None and not _would_note_installed(request, hit.workspace, runtime.settings):
        try:
            _check_origin(request, hit.workspace, runtime.settings)
            return hit.workspace, hit.version
        except Forbidden:
            # A refusal is never decided on a cached row: the owner may have just allowed this
            # site. Looked up again below, refused there only if the row still says so.
            runtime.widget_keys.forget(key)
    async with runtime.db.transaction(public_key=key) as session:
        found = await resolve_public_key_versioned(session, key)
        _check_origin(request, found.workspace, runtime.settings)
        if _would_note_installed(request, found.workspace, runtime.settings):
            await _note_installed(request, session, found.workspace, runtime.settings)
            return found.workspace, None  # the row changed: cached by the next request
    runtime.widget_keys.put(key, found)
    return found.workspace, found.version


@public_router.post("/chat", response_model=ChatOut, responses=CHAT_RESPONSES)
async def public_chat(
    body: ChatIn,
    request: Request,
    key: WidgetKey = None,
    accept: AcceptHeader = None,
) -> Any:
    # The runtime straight from the app (RuntimeDep/SettingsDep are sync dependencies,
    # each a thread-pool hop per request).
    runtime: Runtime = request.app.state.runtime
    # From the widget-key cache, or a short transaction of its own: no connection is held while
    # the answer is generated.
    workspace, version = await widget_workspace_cached(request, runtime, key)
    await rate_limit_chat(request, workspace.id, body.session_id, body.client_message_id)
    if body.conversation_id is None:  # the pipeline starts a new conversation
        # A message the pipeline refuses starts none: refused before it counts against the caps
        # (each resend of a refused first message used one up).
        checked_message(body.message, runtime.settings.max_message_chars)
        try:
            await cap_widget_conversation(request, workspace, body.client_message_id)
        except ConversationRateLimited:
            if version is None:
                raise
            # Refused on a cached row: the owner may have just raised the caps. Checked again
            # against the row as it is now, only when its caps differ from the cached ones.
            fresh, version = await _fresh_widget_workspace(request, runtime, key)
            if widget_caps(fresh, runtime.settings) == widget_caps(workspace, runtime.settings):
                raise
            workspace = fresh
            await cap_widget_conversation(request, workspace, body.client_message_id)
    inp = ChatInput(
        workspace=workspace,
        message=body.message,
        session_id=body.session_id,
        conversation_id=body.conversation_id,
        channel="widget",
        workspace_version=version,
        client_message_id=body.client_message_id,
    )
    try:
        return await _answer(runtime, inp, accept)
    except WorkspaceChanged:
        # The cached workspace is not the row any more (the turn was rolled back): look it up
        # again, with every check, and answer from what the row is now (unchecked: fresh).
        fresh, _ = await _fresh_widget_workspace(request, runtime, key)
        inp = replace(inp, workspace=fresh, workspace_version=None)
        return await _answer(runtime, inp, accept)


async def _fresh_widget_workspace(
    request: Request, runtime: Runtime, key: str | None
) -> tuple[Workspace, str]:
    """The key's workspace read again (the cached entry dropped), with every check, and cached
    at its current version."""
    public_key = check_public_key(key)
    runtime.widget_keys.forget(public_key)
    async with runtime.db.transaction(public_key=public_key) as session:
        found = await resolve_public_key_versioned(session, public_key)
        _check_origin(request, found.workspace, runtime.settings)
    runtime.widget_keys.put(public_key, found)
    return found.workspace, found.version


VISITOR_QUOTA_MESSAGE = "This assistant cannot answer more questions right now. Try again later."
VISITOR_EMBEDDING_MESSAGE = "This assistant cannot answer right now. Try again in a moment."


async def _answer(runtime: Runtime, inp: ChatInput, accept: str | None) -> Any:
    """A visitor's answer. Over a quota the visitor gets the code and Retry-After only: the
    workspace's plan, its limit and its usage are the owner's (their own chat shows them).
    When the embeddings provider fails, the code and status only: what the provider said is in
    the server's log (rag.knowledge.openai_embedder), not for anonymous visitors."""
    pipeline = runtime.pipeline
    try:
        if wants_stream(accept):
            return await sse_response(pipeline.stream(inp))
        # Built by the pipeline in the documented shape (ChatOut): sent as is, not re-validated.
        return JSONResponse((await pipeline.answer(inp)).to_dict())
    except QuotaExceeded as exc:
        raise QuotaExceeded(VISITOR_QUOTA_MESSAGE, headers=exc.headers) from None
    except EmbeddingError as exc:
        raise EmbeddingError(VISITOR_EMBEDDING_MESSAGE, status_code=exc.status_code) from None
