"""Request and response bodies of the lifecycle endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class ExportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: str
    size_bytes: int | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    expires_at: datetime | None
    download_url: str | None = None


class ExportList(BaseModel):
    items: list[ExportOut]


class WorkspaceDeleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    confirm: str = Field(max_length=200, description="the workspace's slug, typed by the owner")


class DeletionOut(BaseModel):
    workspace_id: uuid.UUID
    deleted_at: datetime
    purge_after: datetime


class AccountDeleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str = Field(max_length=1024)


class AccountDeletionOut(BaseModel):
    deleted_workspaces: list[uuid.UUID]
    left_workspaces: list[uuid.UUID]


class ErasureIn(BaseModel):
    """One visitor: the email they left, their phone number, or the widget session id their
    browser kept (exactly one)."""

    model_config = ConfigDict(extra="forbid")
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(
        default=None,
        max_length=40,
        description="7 to 15 digits, written any way: compared by the national number "
        '("+91 98765 43210" is "098765 43210")',
    )
    session_id: str | None = Field(default=None, max_length=128)


class ErasureOut(BaseModel):
    erased: dict[str, int] = Field(
        description="rows deleted per kind (conversations, messages, leads, lead_submissions, "
        "unanswered_questions, webhook_deliveries, notification_mails), and the rows kept with "
        "the visitor's address or number replaced by \"[erased]\" (redacted_leads: a lead's "
        "name, message or the owner's notes; redacted_lead_submissions: a form's name or "
        "message; redacted_messages, redacted_unanswered_questions: those of a conversation kept "
        "because the number was typed there only as an order's, an invoice's, a ticket's, an "
        "account's... number beside a phone of that visitor's own, by phone only; all 0 by "
        "session_id)"
    )
    withdrawn_exports: list[uuid.UUID] = Field(
        default_factory=list,
        description="the workspace's exports withdrawn because they may hold the visitor "
        "(ready ones expired and their zip deleted, running ones failed): request a new one",
    )


class RetentionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    conversation_retention_days: int | None = Field(
        description="days to keep conversations (one of 7, 30, 90, 180, 365, at most the "
        "plan's), or null for the plan's default"
    )


class RetentionOut(BaseModel):
    conversation_retention_days: int | None
    """In force: conversations older than this many days are deleted; null keeps them."""
    plan_default: int | None
    setting: int | None
    grace_until: datetime | None = None
    """While set, a paid plan that ended keeps its longer retention (in force above) until
    then; afterwards the plan's applies."""
