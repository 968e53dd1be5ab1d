from __future__ import annotations

import hashlib
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request, Response, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

import widget as widget_package
from api.deps import RuntimeDep, SessionDep, SettingsDep, WorkspaceDep
from api.middleware import html_security_headers
from api.routers.widget_chat import widget_workspace
from api.throttling import rate_limit_widget_lead
from core.config import Settings
from rag.chat.contact_names import name_in_conversation
from rag.chat.lead_thanks import form_thanks
from rag.chat.repository import conversations as conversation_repo
from rag.chat.schemas import SESSION_ID_PATTERN
from widget import script
from widget.config import (
    OwnerWidgetConfigOut,
    WidgetConfigIn,
    WidgetConfigOut,
    conversation_caps,
    embed_base_url,
    merged,
    public_view,
    snippet,
)
from workspaces import leads, service
from workspaces.schemas import Email, Phone

router = APIRouter(tags=["widget"])
static_router = APIRouter(tags=["widget"], include_in_schema=False)

STATIC_DIR = Path(widget_package.__file__).resolve().parent / "static"
WidgetKey = Annotated[str | None, Header(alias="X-Widget-Key")]


class WidgetLeadIn(BaseModel):
    """A visitor's contact details: an email address, a phone number or both (neither, or a
    number alone of fewer than 7 or more than 15 digits: 422 ``contact_required``)."""

    model_config = ConfigDict(extra="forbid")
    email: Email | None = None
    name: str | None = Field(default=None, max_length=200)
    phone: Phone | None = None
    message: str | None = Field(default=None, max_length=5000)
    conversation_id: uuid.UUID | None = None
    session_id: str | None = Field(
        default=None,
        pattern=SESSION_ID_PATTERN,
        description="The visitor's session: a conversation is linked only when it is theirs",
    )


class LeadReceivedOut(BaseModel):
    """The same answer whether or not the email was already a lead."""

    status: Literal["received"] = "received"
    thanks: str = Field(
        description="What to thank the visitor with: the owner's lead_thanks ({email} filled in),"
        " else the default in the language of the visitor's conversation (or of message)"
    )


def _owner_view(workspace: Any, settings: Settings) -> OwnerWidgetConfigOut:
    values = merged(workspace.widget_config, workspace_name=workspace.name)
    values["max_message_chars"] = settings.max_message_chars
    per_ip, per_workspace = conversation_caps(
        workspace.widget_config,
        per_ip_default=settings.widget_conversations_per_ip_per_hour,
        per_workspace_default=settings.widget_conversations_per_hour,
    )
    return OwnerWidgetConfigOut(
        **{k: values[k] for k in WidgetConfigOut.model_fields},
        allowed_origins=list(values.get("allowed_origins") or []),
        public_key=workspace.public_key,
        embed_snippet=snippet(embed_base_url(settings), workspace.public_key),
        max_conversations_per_ip_per_hour=per_ip,
        max_conversations_per_hour=per_workspace,
    )


# --- owners ----------------------------------------------------------------------------------


@router.get("/workspaces/{workspace_id}/widget", response_model=OwnerWidgetConfigOut)
async def get_widget(access: WorkspaceDep, settings: SettingsDep) -> OwnerWidgetConfigOut:
    return _owner_view(access.workspace, settings)


@router.patch("/workspaces/{workspace_id}/widget", response_model=OwnerWidgetConfigOut)
async def update_widget(
    body: WidgetConfigIn,
    access: WorkspaceDep,
    session: SessionDep,
    settings: SettingsDep,
) -> OwnerWidgetConfigOut:
    """Change the widget's settings (null puts one back to its default). Audited."""
    changes = body.model_dump(exclude_unset=True)
    workspace = await service.update_widget_config(session, access, changes)
    return _owner_view(workspace, settings)


@router.post("/workspaces/{workspace_id}/widget/rotate-key", response_model=OwnerWidgetConfigOut)
async def rotate_widget_key(
    access: WorkspaceDep, session: SessionDep, settings: SettingsDep
) -> OwnerWidgetConfigOut:
    workspace = await service.rotate_public_key(session, access)
    return _owner_view(workspace, settings)


# --- public, for the widget ------------------------------------------------------------------


@router.get("/widget/config", response_model=WidgetConfigOut)
async def public_config(
    request: Request, session: SessionDep, settings: SettingsDep, key: WidgetKey = None
) -> WidgetConfigOut:
    workspace = await widget_workspace(request, session, settings, key)
    return public_view(
        workspace.widget_config,
        workspace_name=workspace.name,
        max_message_chars=settings.max_message_chars,
    )


@router.post("/widget/leads", status_code=status.HTTP_202_ACCEPTED, response_model=LeadReceivedOut)
async def widget_lead(
    body: WidgetLeadIn,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    key: WidgetKey = None,
) -> LeadReceivedOut:
    """A visitor leaves their contact details: an email address, or a phone number instead.
    Recorded as a submission; nothing about the workspace's leads is read back, and the answer
    is the same for a new or a known email (or number)."""
    workspace = await widget_workspace(request, session, settings, key)
    await rate_limit_widget_lead(request, workspace.id)
    await leads.wait_out_erasure(session, workspace.id)
    conversation = None
    if body.conversation_id is not None and body.session_id is not None:
        # Locked before the number's lock and the lead, as a chat turn and an erasure take
        # them (``erasure_repository.lock_conversations``): after them, the two deadlocked.
        conversation = await conversation_repo.get_conversation(
            session,
            workspace_id=workspace.id,
            conversation_id=body.conversation_id,
            for_update=True,
        )
        if conversation is not None and (
            conversation.session_id != body.session_id or conversation.channel != "widget"
        ):
            # Another visitor's conversation, or the team's test chat (its session id,
            # "owner-" and the member's id, is no secret): not linked.
            conversation = None
    values = body.model_dump(include={"email", "name", "phone", "message"})
    if conversation is not None and not (values.get("name") or "").strip():
        # The name they typed in the chat where the bot asked for it: no nameless lead.
        values["name"] = await name_in_conversation(
            session, workspace_id=workspace.id, conversation_id=conversation.id
        )
    lead_id = await leads.submit_from_visitor(
        session,
        workspace_id=workspace.id,
        values=values,
        conversation_id=conversation.id if conversation is not None else None,
        conversation_lead=conversation.lead_id if conversation is not None else None,
    )
    if conversation is not None:
        await conversation_repo.link_conversation_lead(
            session, workspace_id=workspace.id, conversation_id=conversation.id, lead_id=lead_id
        )
    thanks = await form_thanks(
        session,
        config=workspace.widget_config,
        workspace_id=workspace.id,
        conversation_id=conversation.id if conversation is not None else None,
        message=body.message,
        contact=body.email or body.phone or "",
    )
    return LeadReceivedOut(thanks=thanks)


# --- the script and the demo page ------------------------------------------------------------


@lru_cache(maxsize=4)
def _static(name: str) -> tuple[bytes, str]:
    # widget.js is kept in parts (widget/script.py) and served joined, built once per process.
    data = script.source() if name == "widget.js" else (STATIC_DIR / name).read_bytes()
    return data, '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


@static_router.get("/widget.js")
async def widget_js(if_none_match: Annotated[str | None, Header()] = None) -> Response:
    data, etag = _static("widget.js")
    headers = {
        "ETag": etag,
        "Cache-Control": "public, max-age=300, stale-while-revalidate=86400",
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if if_none_match and etag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(data, media_type="application/javascript; charset=utf-8", headers=headers)


@static_router.get("/", response_class=HTMLResponse)
async def demo_page(runtime: RuntimeDep) -> HTMLResponse:
    key = runtime.demo_public_key
    if key is None:
        # Links only to what this server serves (API_DOCS off, production's default: no /docs).
        docs = (
            " Its reference is at <a href='/docs'>/docs</a>."
            if runtime.settings.api_docs_enabled
            else ""
        )
        return HTMLResponse(
            "<!doctype html><title>TrulyBot</title><p>TrulyBot is running: the owners' dashboard"
            f" is at <a href='/app'>/app</a>, the API under /api/v1.{docs}</p>"
        )
    data, _ = _static("demo.html")
    html = data.decode().replace("{{PUBLIC_KEY}}", key)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"} | html_security_headers(html))


@static_router.get("/demo/hostile", response_class=HTMLResponse)
async def hostile_page(runtime: RuntimeDep) -> HTMLResponse:
    key = runtime.demo_public_key
    data, _ = _static("hostile.html")
    html = data.decode().replace("{{PUBLIC_KEY}}", key or "")
    return HTMLResponse(html, headers=html_security_headers(html))
