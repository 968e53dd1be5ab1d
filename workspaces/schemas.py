"""Request and response shapes of the workspaces domain (pydantic, no HTTP framework)."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from core.text import LineBreaks, is_invisible
from workspaces.plans import plan_in_effect

Role = Literal["owner", "admin", "member"]
LeadStatus = Literal["new", "contacted", "qualified", "won", "lost"]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def _visible_name(value: str) -> str:
    """Trimmed of spaces and invisible characters (zero-width spaces, joiners, marks) at both
    ends; refused when nothing visible is left (a workspace nobody could see the name of)."""
    value = "".join(ch for ch in value.strip() if unicodedata.category(ch) != "Cc")
    while value and is_invisible(value[0]):
        value = value[1:]
    while value and is_invisible(value[-1]):
        value = value[:-1]
    if not value:
        raise ValueError("must not be blank")
    return value


def _mailbox(value: str) -> str:
    if len(value.rpartition("@")[0]) > 64:  # RFC 5321: longer is refused by mail servers
        raise ValueError("the part before the @ may have at most 64 characters")
    return value


Email = Annotated[EmailStr, Field(max_length=320), AfterValidator(_mailbox)]
"""An address mail can be delivered to (its mails would bounce otherwise)."""

_PHONE = re.compile(r"[0-9+()\-. ]{3,40}")
PHONE_MESSAGE = "Enter a phone number of 3 to 40 characters: digits, spaces and + ( ) - . only."


def _phone(value: str) -> str:
    """A sentence a visitor can act on, not the pattern ("String should match pattern ...")."""
    if not _PHONE.fullmatch(value):
        raise PydanticCustomError("phone_invalid", PHONE_MESSAGE)
    return value


Phone = Annotated[
    str,
    AfterValidator(_phone),
    Field(json_schema_extra={"pattern": f"^{_PHONE.pattern}$", "maxLength": 40}),
]
"""A phone number as leads take it: 3 to 40 of digits, spaces and ``+ ( ) - .``."""

PHONE_DIGITS = (7, 15)
"""How many digits a phone number has when it is a lead's only contact (E.164 allows at most
15; fewer than 7 reach nobody): ``workspaces.leads`` refuses a lead without email whose number
has fewer or more (422 ``contact_required``)."""


def phone_digits(value: str) -> str:
    """A phone number's digits alone: how leads without email are told apart ("+91 98765-43210"
    and "919876543210" have the same digits). Leads without email are one per national number
    (migration 0045's ``tb_phone_key``; README, lead capture)."""
    return "".join(ch for ch in value if "0" <= ch <= "9")


WorkspaceName = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_visible_name)]


PERSON_NAME = (
    "the display name: trimmed, at most 200 characters, one line of plain text (422"
    " invalid_text for a control character or a bidirectional override)"
)
"""What every field that sets a person's name says (``workspaces.profile.display_name``)."""


class SignupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email
    password: str = Field(min_length=10, max_length=256)
    workspace_name: WorkspaceName
    name: str | None = Field(default=None, max_length=1000, description=PERSON_NAME)


class ProfileIn(BaseModel):
    """The account's own details it changes (``workspaces.profile``)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(
        max_length=1000, description=f"{PERSON_NAME}; null or blank removes it"
    )


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=320)
    password: str = Field(max_length=256)


class UserOut(_Out):
    id: uuid.UUID
    email: str
    name: str | None
    email_verified_at: datetime | None = Field(
        description="null: unverified (cannot invite, buy a plan or export)"
    )
    created_at: datetime


class WorkspaceOut(_Out):
    id: uuid.UUID
    name: str
    slug: str
    plan: str = Field(description="the plan whose limits apply now (usage's effective plan)")
    public_key: str
    persona: str
    created_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _plan_in_effect(cls, data: Any) -> Any:
        """A paid plan whose period ended shows the plan that applies since (as /usage does),
        not the one the workspace row still names until a payment changes it."""
        if getattr(data, "plan_expires_at", None) is None:
            return data
        plan = plan_in_effect(data.plan, data.plan_expires_at, data.fallback_plan)
        fields = {name: getattr(data, name) for name in cls.model_fields if hasattr(data, name)}
        return {**fields, "plan": plan}


class WorkspaceWithRole(WorkspaceOut):
    role: Role


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int = Field(description="seconds the access token is valid")
    refresh_token: str = Field(description="POST it to /auth/refresh for a new pair; single use")
    refresh_expires_at: datetime
    session_id: uuid.UUID


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str = Field(min_length=1, max_length=256)


class SessionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    kind: Literal["api", "web"]
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str | None
    ip: str | None
    current: bool


class StatusOut(BaseModel):
    """The answer that is the same whatever the email (no enumeration)."""

    status: Literal["check_your_email", "invited", "ok"]


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=1, max_length=256)


class VerifyEmailIn(BaseModel):
    """A verification link's token, and the account's password unless the caller is signed in
    as that account (``POST /auth/verify-email``)."""

    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=1, max_length=256)
    password: str | None = Field(
        default=None, max_length=256, description="the account's, unless signed in as it"
    )


class EmailIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email


class PasswordResetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=10, max_length=256)


class PasswordChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=10, max_length=256)


class InvitationAcceptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=1, max_length=256)
    password: str | None = Field(
        default=None, min_length=10, max_length=256, description="for a new account"
    )
    name: str | None = Field(
        default=None, max_length=1000, description=f"a new account's; {PERSON_NAME}"
    )
    as_admin: bool = Field(
        default=False,
        description="join as an admin, not an owner (an invitation as owner: 429"
        " quota_exceeded with details.join_as for one who may own no more free workspaces)",
    )


class PasswordChangedOut(BaseModel):
    """A password change ends every session of the account, the caller's too (a copy of its
    refresh token, the usual reason to change a password, stops working): ``tokens`` are the
    caller's new session."""

    status: Literal["ok"] = "ok"
    tokens: TokenOut = Field(description="the new session: use these from now on")


class InvitationAcceptedOut(BaseModel):
    workspace_id: uuid.UUID
    role: Role
    user_id: uuid.UUID
    created_account: bool
    tokens: TokenOut | None = Field(
        default=None, description="a session of the new account (when one was created)"
    )


class InvitationOut(_Out):
    id: uuid.UUID
    email: str
    role: Role
    created_at: datetime
    expires_at: datetime


class DeletedWorkspaceOut(_Out):
    id: uuid.UUID
    name: str
    slug: str
    deleted_at: datetime
    purge_after: datetime = Field(description="restorable until then (POST .../restore)")


class MeOut(BaseModel):
    user: UserOut
    workspaces: list[WorkspaceWithRole]
    deleted_workspaces: list[DeletedWorkspaceOut] = Field(
        default_factory=list,
        description="deleted workspaces this user owns, still restorable, soonest purged first",
    )


class WorkspaceCreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: WorkspaceName


class WorkspaceUpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: WorkspaceName | None = None
    persona: str | None = Field(
        default=None,
        max_length=4000,
        description=(
            "How the bot presents itself, sent to the model with every question. The output "
            "guard refuses answers that repeat long stretches of it (also spelled out, encoded "
            "or reversed), but the persona is not secret from a determined visitor (a model "
            "can be led to translate or retell it): put nothing in it visitors must not see."
        ),
    )
    webhook_url: str | None = Field(default=None, max_length=2000)


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email
    role: Role = "member"


class MemberRoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role


class MemberOut(BaseModel):
    user_id: uuid.UUID
    email: str
    name: str | None
    role: Role
    created_at: datetime


KeyName = Annotated[str, Field(min_length=1, max_length=120), AfterValidator(_visible_name)]
"""An API key's name: read as a workspace's name is (trimmed, no control characters, something
visible left), by the API and the Team page's form alike."""


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: KeyName


class ApiKeyOut(_Out):
    id: uuid.UUID
    name: str
    prefix: str
    created_by: uuid.UUID | None = Field(
        description="the member who made it (its keys are revoked when they are removed)"
    )
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreatedOut(ApiKeyOut):
    key: str = Field(description="The secret. Shown once; store it now.")


class LeadIn(BaseModel):
    """A lead: an email address, a phone number or both (neither: 422 ``contact_required``)."""

    model_config = ConfigDict(extra="forbid")
    email: Email | None = None
    name: str | None = Field(default=None, max_length=200)
    phone: Phone | None = None
    message: str | None = Field(default=None, max_length=5000)
    source: str = Field(default="api", max_length=40)
    status: LeadStatus = "new"
    notes: Annotated[str | None, LineBreaks] = Field(default=None, max_length=10000)


def _not_null(field: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value is None:
            raise PydanticCustomError(
                "null_not_allowed", f"{field} may not be null; leave it out to keep it"
            )
        return value

    return check


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class LeadUpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=200)
    phone: Phone | None = None
    message: str | None = Field(default=None, max_length=5000)
    # Left out when unchanged (exclude_unset); never null, every lead has a status. The None
    # default is no value a client may send, so the schema shows no default.
    status: Annotated[LeadStatus, BeforeValidator(_not_null("status"))] = Field(
        default=None,  # type: ignore[arg-type]
        json_schema_extra=_no_default,
    )
    notes: Annotated[str | None, LineBreaks] = Field(default=None, max_length=10000)


class LeadOut(_Out):
    id: uuid.UUID
    email: str | None = Field(description="Null for a lead who left only a phone number")
    name: str | None
    phone: str | None
    message: str | None
    source: str
    status: LeadStatus
    notes: str | None
    conversation_id: uuid.UUID | None
    conversation_deleted_at: datetime | None = Field(
        description="When conversation retention deleted its conversation (conversation_id null)"
    )
    created_at: datetime
    updated_at: datetime


class LeadPage(BaseModel):
    items: list[LeadOut]
    total: int
    next_cursor: str | None


class LeadSubmissionOut(_Out):
    """What a visitor sent through the widget, as they sent it."""

    id: uuid.UUID
    lead_id: uuid.UUID
    email: str | None
    name: str | None
    phone: str | None
    message: str | None
    source: str
    conversation_id: uuid.UUID | None
    conversation_deleted_at: datetime | None = Field(
        description="When conversation retention deleted the conversation it was sent from"
    )
    created_at: datetime


class LeadSubmissionPage(BaseModel):
    items: list[LeadSubmissionOut]
    next_cursor: str | None


class UsageMetric(BaseModel):
    used: int
    limit: int | None


class UsageOut(BaseModel):
    month: str
    plan: str
    resets_at: datetime
    metrics: dict[str, UsageMetric]
    llm_tokens: int
    limits_reached: list[str] = []
    """The monthly metrics at their limit: new conversations or messages are refused (429
    ``quota_exceeded``) until ``resets_at``, or until a higher plan is bought."""


class NotificationPreferencesIn(BaseModel):
    """``{"preferences": {"lead.created": "daily_digest", ...}}``: the kinds to change."""

    model_config = ConfigDict(extra="forbid")
    preferences: dict[
        Annotated[str, StringConstraints(max_length=40)],
        Annotated[str, StringConstraints(max_length=20)],
    ] = Field(min_length=1, max_length=20)


class NotificationPreferenceOut(BaseModel):
    kind: str
    title: str
    mode: str
    allowed: bool
    default: str


class NotificationPreferencesOut(BaseModel):
    preferences: list[NotificationPreferenceOut]
    modes: list[str]
