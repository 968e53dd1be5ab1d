"""What the answer pipeline takes and gives back: ``ChatInput`` (one message to answer) and
``ChatResult`` (the answer as the chat API and the playground show it); ``checked_message``, the
message as the pipeline takes it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from core.errors import ValidationFailed, refuse_nul
from core.text import has_visible, lf_line_breaks
from rag.chat.stages import Channel, Source
from workspaces.models import Workspace
from workspaces.permissions import Action, authorize
from workspaces.service import WorkspaceAccess


def checked_message(raw: str, limit: int) -> str:
    """The message stripped, or 422 ``message_empty`` / ``message_too_long`` / ``invalid_text``
    (a NUL, which PostgreSQL cannot store: refused by the database, it had been counted
    against the caps on new conversations and embedded first). Its line breaks are LF, each one
    character (a browser's form posts a textarea's as CRLF, which counted two: a message the
    box had allowed was refused). Checked by the pipeline, and by the public chat before it
    counts a new conversation against the caps."""
    raw = str(lf_line_breaks(raw))
    refuse_nul(raw, "message")
    message = raw.strip()
    if not has_visible(message):  # a zero-width space alone is as empty as a space
        raise ValidationFailed(
            "The message is empty", code="message_empty", details=[{"field": "message"}]
        )
    if len(message) > limit:
        raise ValidationFailed(
            f"The message is longer than {limit} characters",
            code="message_too_long",
            details=[{"field": "message", "max_length": limit}],
        )
    return message


@dataclass
class ChatInput:
    """One message to answer: a visitor's through the widget (the widget key resolved the
    workspace), or the workspace's own people's (``for_owner``)."""

    workspace: Workspace
    message: str
    session_id: str
    conversation_id: uuid.UUID | None = None
    channel: Channel = "widget"
    workspace_version: str | None = None
    """``workspace`` came from the widget-key cache at this row version: the turn's first
    statement checks it (``workspaces.widget_keys``)."""
    client_message_id: str | None = None
    """The client's id for this message, the same on every try of it: a try after the first
    records and meters nothing again (``rag.chat.repeats``)."""

    @classmethod
    def for_owner(
        cls,
        access: WorkspaceAccess,
        *,
        message: str,
        session_id: str | None = None,
        conversation_id: uuid.UUID | None = None,
        client_message_id: str | None = None,
    ) -> ChatInput:
        """A message from the workspace's people (``chat.owner`` in the permission table); the
        conversation is theirs (``owner_session_id``) unless they name a session. A session
        named ``owner-...`` is someone's own: naming another person's (or key's) is 422
        ``validation_error``, so a member reads every conversation but writes only as
        themselves. Other names are the team's: any member or key may go on in them."""
        authorize(access, Action.OWNER_CHAT)
        own = owner_session_id(access)
        if session_id and session_id != own and session_id.startswith(OWNER_SESSION_PREFIX):
            raise ValidationFailed(
                f"A session named {OWNER_SESSION_PREFIX}... is the test chat of the person or "
                f"key it names; yours is {own}, or name one without that prefix",
                details=[{"field": "session_id", "message": "another person's test chat"}],
            )
        return cls(
            workspace=access.workspace,
            message=message,
            session_id=session_id or own,
            conversation_id=conversation_id,
            channel="owner",
            client_message_id=client_message_id,
        )


OWNER_SESSION_PREFIX = "owner-"
"""The sessions of the workspace's people: ``owner-<user id>`` (or API key id, or operator)."""


def owner_session_id(access: WorkspaceAccess) -> str:
    """The session of the conversations the caller starts as the workspace's people (the
    dashboard's playground, the API's owner chat) when they name none."""
    principal = access.principal
    who = principal.user_id or principal.api_key_id or principal.operator
    return f"{OWNER_SESSION_PREFIX}{who}"


@dataclass
class ChatResult:
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    answer: str
    intent: str
    source: Source
    citations: list[dict[str, Any]]
    lead_capture: bool
    timings_ms: dict[str, float]
    extractive: bool = False
    lead_saved: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Every field, in order, the ids as text; the citations (flat dicts) and timings
        copied. Written out rather than ``dataclasses.asdict``, which deep-copies every value
        of every turn's answer (tests/rag/test_chat_result.py holds the two alike)."""
        return {
            "conversation_id": str(self.conversation_id),
            "message_id": str(self.message_id),
            "answer": self.answer,
            "intent": self.intent,
            "source": self.source,
            "citations": [dict(c) for c in self.citations],
            "lead_capture": self.lead_capture,
            "timings_ms": dict(self.timings_ms),
            "extractive": self.extractive,
            "lead_saved": self.lead_saved,
        }
