"""Per-workspace widget configuration: what owners set and the public subset visitors get."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.config import Settings
from core.text import LineBreaks, has_visible
from core.urls import base_url
from widget.policy import normalize_allowed_origin
from widget.texts import WidgetTextsIn, WidgetTextsOut, refuse_controls, texts_out

LeadCapture = Literal["off", "before_chat", "after_messages", "on_intent"]
LeadField = Literal["email", "name", "phone"]
_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")

DEFAULTS: dict[str, Any] = {
    "bot_name": None,
    "greeting": None,
    "primary_color": "#2563eb",
    "position": "bottom-right",
    "avatar_url": None,
    "lead_capture": "on_intent",
    "lead_fields": ["email", "name"],
    "allowed_origins": [],
    "suggested_questions": [],
}
MAX_CONVERSATION_CAP = 100_000


class WidgetConfigIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bot_name: str | None = Field(default=None, min_length=1, max_length=60)
    greeting: Annotated[str | None, LineBreaks] = Field(default=None, max_length=500)
    primary_color: str | None = None
    position: Literal["bottom-right", "bottom-left"] | None = None
    avatar_url: str | None = Field(default=None, max_length=2000)
    lead_capture: LeadCapture | None = None
    lead_fields: list[LeadField] | None = Field(default=None, max_length=3)
    allowed_origins: list[str] | None = Field(default=None, max_length=50)
    suggested_questions: list[str] | None = Field(default=None, max_length=6)
    # New conversations through the public key per hour; null: the server's default.
    max_conversations_per_ip_per_hour: int | None = Field(
        default=None, ge=1, le=MAX_CONVERSATION_CAP, strict=True
    )
    max_conversations_per_hour: int | None = Field(
        default=None, ge=1, le=MAX_CONVERSATION_CAP, strict=True
    )
    # The texts visitors read, in the owner's words: only the fields sent change (null puts
    # one back to its English default; ``texts: null`` all of them).
    texts: WidgetTextsIn | None = None

    @field_validator("bot_name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        # Spaces or zero-width characters alone: a blank title, "Open chat with  ", "Hi! I'm ."
        if value is None:
            return None
        if not has_visible(value):
            raise ValueError("must contain a visible character")
        refuse_controls("bot_name", value, multiline=False)
        return value.strip()

    @field_validator("greeting")
    @classmethod
    def _greeting(cls, value: str | None) -> str | None:
        """Nothing visible: the default greeting, as an empty one always was."""
        if value is None:
            return None
        refuse_controls("greeting", value, multiline=True)
        return value.strip() if has_visible(value) else None

    @field_validator("primary_color")
    @classmethod
    def _color(cls, value: str | None) -> str | None:
        if value is not None and not _COLOR.match(value):
            raise ValueError("must be a hex colour like #2563eb")
        return value

    @field_validator("avatar_url")
    @classmethod
    def _avatar(cls, value: str | None) -> str | None:
        if value and not value.startswith("https://"):
            raise ValueError("must be an https URL")
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        return list(dict.fromkeys(normalize_allowed_origin(v) for v in value))

    @field_validator("suggested_questions")
    @classmethod
    def _questions(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        for i, question in enumerate(value):
            refuse_controls(f"suggested_questions.{i}", question, multiline=False)
        cleaned = [q.strip() for q in value if has_visible(q)]
        if any(len(q) > 200 for q in cleaned):
            raise ValueError("each suggested question must be at most 200 characters")
        # Once each (case and spacing aside), the first kept: a repeated one showed as a
        # second, equal chip.
        kept: dict[str, str] = {}
        for question in cleaned:
            kept.setdefault(" ".join(question.split()).casefold(), question)
        return list(kept.values())

    @field_validator("lead_fields")
    @classmethod
    def _fields(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        fields = list(dict.fromkeys(value))
        if "email" not in fields:
            fields.insert(0, "email")
        return fields


class WidgetConfigOut(BaseModel):
    bot_name: str
    greeting: str
    primary_color: str
    position: Literal["bottom-right", "bottom-left"]
    avatar_url: str | None
    lead_capture: LeadCapture
    lead_fields: list[LeadField]
    suggested_questions: list[str]
    max_message_chars: int = Field(
        default=2000, description="the longest message the server takes (MAX_MESSAGE_CHARS)"
    )
    texts: WidgetTextsOut = Field(default_factory=WidgetTextsOut)


class OwnerWidgetConfigOut(WidgetConfigOut):
    allowed_origins: list[str]
    public_key: str
    embed_snippet: str
    max_conversations_per_ip_per_hour: int
    max_conversations_per_hour: int


def conversation_caps(
    config: dict[str, Any] | None, *, per_ip_default: int, per_workspace_default: int
) -> tuple[int, int]:
    """(new conversations per visitor IP per hour, per workspace per hour): the owner's
    settings, else the server's defaults."""

    def pick(key: str, default: int) -> int:
        value = (config or {}).get(key)
        return value if isinstance(value, int) and value > 0 else default

    return (
        pick("max_conversations_per_ip_per_hour", per_ip_default),
        pick("max_conversations_per_hour", per_workspace_default),
    )


def merged(config: dict[str, Any] | None, *, workspace_name: str) -> dict[str, Any]:
    values = {**DEFAULTS, **(config or {})}
    values["texts"] = texts_out(config)
    # A name or greeting saved blank (spaces, zero-width characters) is the default too.
    if not _visible(values.get("bot_name")):
        values["bot_name"] = f"{workspace_name} assistant"
    if not _visible(values.get("greeting")):
        values["greeting"] = f"Hi! I'm {values['bot_name']}. How can I help?"
    return values


def _visible(value: Any) -> bool:
    return isinstance(value, str) and has_visible(value)


def public_view(
    config: dict[str, Any] | None, *, workspace_name: str, max_message_chars: int = 2000
) -> WidgetConfigOut:
    values = {
        **merged(config, workspace_name=workspace_name),
        "max_message_chars": max_message_chars,
    }
    return WidgetConfigOut(**{k: values[k] for k in WidgetConfigOut.model_fields})


def snippet(base_url: str, public_key: str) -> str:
    return f'<script src="{base_url.rstrip("/")}/widget.js" data-key="{public_key}" async></script>'


def embed_base_url(settings: Settings) -> str:
    """Where embedding pages load widget.js from: PUBLIC_BASE_URL (required in production), else
    the configured host and port (development). Never the request's Host header: whoever sends
    it would choose the script every embedding site runs."""
    return base_url(settings)
