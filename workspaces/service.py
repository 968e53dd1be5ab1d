"""Accounts, workspaces, a caller's access to one, and the workspace's own settings (webhook,
widget, widget key, audit log). Members and API keys: workspaces/team.py. Services take a
session and never commit.

What a caller may do is ``workspaces.permissions``' table: every service below that acts on a
workspace starts with ``authorize(access, Action...)`` and records the audit entry the table asks
for through the permit it returns.
"""

from __future__ import annotations

import getpass
import re
import secrets
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.db import set_tenant
from core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    ValidationFailed,
)
from workspaces import audit, profile, security
from workspaces import repository as repo
from workspaces.models import User, Workspace
from workspaces.password_policy import check_password_policy
from workspaces.permissions import Action, authorize
from workspaces.widget_keys import CachedWorkspace

DEFAULT_PERSONA = (
    "You are a friendly, concise assistant for this business. "
    "You help website visitors with questions about its products and services."
)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a signed-in user, an API key bound to one workspace, or an operator at
    the server's command line (``trulybot ingest``, the demo seed: ``WorkspaceAccess.operator``)."""

    user_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None  # the sign-in session of a user (workspaces.sessions)
    api_key_id: uuid.UUID | None = None
    api_key_workspace_id: uuid.UUID | None = None
    operator: str | None = None
    """The operator's login name, for the audit log."""

    @property
    def is_api_key(self) -> bool:
        return self.api_key_id is not None


@dataclass(frozen=True)
class ClientInfo:
    """Where a caller acts from, for the audit log: the HTTP layer fills it in."""

    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class WorkspaceAccess:
    """A caller's access to one workspace: their role in it (an API key acts as ``admin``, with
    the limits of the permission table's API-key column) and where they act from."""

    workspace: Workspace
    role: str
    principal: Principal
    client: ClientInfo = field(default_factory=ClientInfo)

    @classmethod
    def operator(
        cls, workspace: Workspace, *, command: str, name: str | None = None
    ) -> WorkspaceAccess:
        """The access of an operator tool (``command``: ``ingest``, ``seed``...) run by whoever
        can reach the database: an owner's rights, audited with the operator's login name
        (``name``, by default the process's user) and ``trulybot <command>`` as user agent."""
        return cls(
            workspace=workspace,
            role="owner",
            principal=Principal(operator=name or _login_name()),
            client=ClientInfo(user_agent=f"trulybot {command}"),
        )


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in the environment nor in the password database
        return "operator"


# --- accounts --------------------------------------------------------------------------------


# Latin letters NFKD does not take apart into a base letter and marks: written out, not dropped
# ("Großhandel" was "grohandel", "Søren" "sren").
_SPELLED_OUT = str.maketrans(
    {"ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O"}
    | {"ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "TH"}
    | {"\u0131": "i"}  # the dotless i
)
SLUG_LENGTH = 60


def slugify(name: str) -> str:
    """The workspace's slug (an owner types it to delete the workspace): ASCII words joined by
    hyphens, at most SLUG_LENGTH characters, cut between words where there is a word to keep
    (cut inside one, it ended in "-" or half a word)."""
    value = unicodedata.normalize("NFKD", name.translate(_SPELLED_OUT))
    value = value.encode("ascii", "ignore").decode()
    value = re.sub(r"[^a-zA-Z0-9]+", "-", value).strip("-").lower()
    if len(value) > SLUG_LENGTH:
        cut = value[: SLUG_LENGTH + 1]
        words = cut.rsplit("-", 1)[0]
        value = words if len(words) >= SLUG_LENGTH // 2 else cut[:SLUG_LENGTH]
    return value.strip("-") or "workspace"


async def create_workspace(
    session: AsyncSession, *, owner: User, name: str, plan: str, persona: str = DEFAULT_PERSONA
) -> Workspace:
    workspace_id = uuid.uuid4()
    # The new workspace becomes the transaction's tenant so RLS admits its rows.
    await set_tenant(session, workspace_id=workspace_id, user_id=owner.id)
    base = slugify(name)
    for attempt in range(8):
        slug = base if attempt == 0 else f"{base[:52].rstrip('-')}-{secrets.token_hex(3)}"
        if await repo.insert_workspace(
            session,
            workspace_id=workspace_id,
            name=name,
            slug=slug,
            plan=plan,
            public_key=security.generate_public_key(),
            persona=persona,
        ):
            break
    else:  # pragma: no cover - eight collisions on random suffixes
        raise Conflict("Could not allocate a workspace slug", code="slug_taken")
    await repo.insert_membership(session, workspace_id=workspace_id, user_id=owner.id, role="owner")
    workspace = await repo.get_workspace(session, workspace_id)
    assert workspace is not None
    return workspace


async def signup(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    workspace_name: str,
    name: str | None,
    plan: str,
) -> tuple[User, Workspace]:
    check_password_policy(password, email)
    password_hash = await security.hash_password(password)
    user = await repo.insert_user(
        session, email=email, password_hash=password_hash, name=profile.given_name(name)
    )
    if user is None:
        raise Conflict("An account with this email already exists", code="email_taken")
    workspace = await create_workspace(session, owner=user, name=workspace_name, plan=plan)
    return user, workspace


async def user_workspaces(
    session: AsyncSession, user_id: uuid.UUID
) -> tuple[User, Sequence[tuple[Workspace, str]]]:
    """A signed-in user and their workspaces with their role in each, oldest membership first;
    404 if the account is gone."""
    await set_tenant(session, user_id=user_id)
    user = await repo.get_user(session, user_id)
    if user is None:
        raise NotFound("User not found")
    return user, await repo.list_user_workspaces(session, user_id)


async def resolve_api_key(session: AsyncSession, key: str) -> Principal:
    prefix = security.split_api_key(key)
    if prefix is None:
        raise Unauthorized("Invalid API key", code="invalid_api_key")
    await set_tenant(session, api_key_prefix=prefix)
    row = await repo.get_api_key_by_prefix(session, prefix)
    if row is None or row.revoked_at is not None or not security.api_key_matches(key, row.key_hash):
        raise Unauthorized("Invalid API key", code="invalid_api_key")
    now = datetime.now(UTC)
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        await repo.touch_api_key(session, row.id, now)
    await set_tenant(session)
    return Principal(api_key_id=row.id, api_key_workspace_id=row.workspace_id)


async def access_workspace(
    session: AsyncSession,
    principal: Principal,
    workspace_id: uuid.UUID,
    *,
    client: ClientInfo | None = None,
    include_deleted: bool = False,
) -> WorkspaceAccess:
    """The caller's access to a workspace, with the tenant context set; 404 if they have none
    or it is deleted (unless ``include_deleted``: restoring it)."""
    if principal.is_api_key:
        if principal.api_key_workspace_id != workspace_id:
            raise NotFound("Workspace not found")
        role = "admin"
    else:
        assert principal.user_id is not None
        await set_tenant(session, user_id=principal.user_id)
        membership = await repo.get_membership(
            session, workspace_id=workspace_id, user_id=principal.user_id
        )
        if membership is None:
            raise NotFound("Workspace not found")
        role = membership.role
    await set_tenant(session, workspace_id=workspace_id, user_id=principal.user_id)
    workspace = await repo.get_workspace(session, workspace_id, deleted=include_deleted)
    if workspace is None:
        raise NotFound("Workspace not found")
    return WorkspaceAccess(
        workspace=workspace, role=role, principal=principal, client=client or ClientInfo()
    )


# --- workspace settings ----------------------------------------------------------------------


async def require_verified(session: AsyncSession, access: WorkspaceAccess) -> None:
    """403 ``email_unverified`` when the signed-in caller has not verified their email. API keys
    cannot invite or buy (permission table); for what they may do (exports), this passes."""
    user_id = access.principal.user_id
    if user_id is None:
        return
    user = await repo.get_user(session, user_id)
    if user is None or user.email_verified_at is None:
        raise Forbidden(
            "Confirm your email address first: open the link we sent you and press its button"
            " (POST /api/v1/auth/verify-email/resend sends a new one)",
            code="email_unverified",
        )


async def update_workspace(
    session: AsyncSession, access: WorkspaceAccess, values: dict[str, Any]
) -> Workspace:
    """Change name, persona, webhook URL... (only the keys given). Audited (field names)."""
    permit = authorize(access, Action.WORKSPACE_UPDATE)
    values = dict(values)
    if "name" in values and (values["name"] is None or not values["name"].strip()):
        raise ValidationFailed("name must not be blank", details=[{"field": "name"}])
    if values.get("webhook_url") and not str(values["webhook_url"]).startswith(
        ("https://", "http://")
    ):
        raise ValidationFailed(
            "webhook_url must be an http(s) URL", details=[{"field": "webhook_url"}]
        )
    if "persona" in values and values["persona"] is None:
        values["persona"] = ""
    new_url = values.get("webhook_url")
    if new_url and new_url != access.workspace.webhook_url:  # events leave for a new address
        await require_verified(session, access)  # a verified person only
    if values.get("webhook_url") and not access.workspace.webhook_secret:
        values["webhook_secret"] = security.generate_webhook_secret()
    if "webhook_url" in values and values["webhook_url"] != access.workspace.webhook_url:
        # A new address is its setter's (paused if they leave: ``pause_webhook_set_by``); a
        # paused webhook given another address by someone still here resumes.
        values["webhook_set_by"] = await person_behind(session, access) if new_url else None
        values["webhook_paused_at"] = None
    workspace = await repo.update_workspace(session, access.workspace.id, values)
    assert workspace is not None
    await permit.record(
        session,
        target_type="workspace",
        target_id=access.workspace.id,
        details={"fields": sorted(values)},
    )
    return workspace


async def person_behind(session: AsyncSession, access: WorkspaceAccess) -> uuid.UUID | None:
    """The person acting: the signed-in user, or the maker of the API key (None: an operator,
    or a key whose maker is unknown). What the webhook's setter and a person's share of the
    sitemap downloads are keyed by."""
    principal = access.principal
    if principal.user_id is not None or principal.api_key_id is None:
        return principal.user_id
    key = await repo.get_api_key(
        session, workspace_id=access.workspace.id, key_id=principal.api_key_id
    )
    return key.created_by if key is not None else None


async def confirm_webhook(session: AsyncSession, access: WorkspaceAccess) -> Workspace:
    """An owner vouches for the webhook's URL as it is: a webhook paused because the person who
    set it left sends events again, and the URL counts as this owner's from now on. Audited
    ``webhook.confirmed`` (also when nothing was paused: the owner looked and said yes)."""
    authorize(access, Action.WEBHOOK_CONFIRM)
    await require_verified(session, access)
    paused_at = access.workspace.webhook_paused_at
    return await _change_recorded(
        session,
        access,
        Action.WEBHOOK_CONFIRM,
        {"webhook_paused_at": None, "webhook_set_by": access.principal.user_id},
        target_type="webhook",
        details={
            "paused_since": paused_at.isoformat() if paused_at else None,
            "set_by": str(access.workspace.webhook_set_by or "") or None,
        },
    )


async def webhook(session: AsyncSession, access: WorkspaceAccess) -> tuple[str | None, str | None]:
    """(URL, secret) of the workspace's webhook: the secret verifies X-TrulyBot-Signature. A
    verified person only, as for setting the URL: whoever held an address before proving it
    (an account made in someone else's name) would otherwise keep a secret that signs what
    the real owner's endpoint believes."""
    authorize(access, Action.WEBHOOK_READ)
    await require_verified(session, access)
    return access.workspace.webhook_url, access.workspace.webhook_secret


async def _change_recorded(
    session: AsyncSession,
    access: WorkspaceAccess,
    action: Action,
    values: dict[str, Any],
    *,
    target_type: str,
    details: dict[str, Any] | None = None,
) -> Workspace:
    """Authorize ``action``, write ``values`` to the workspace, record the audit entry."""
    permit = authorize(access, action)
    workspace = await repo.update_workspace(session, access.workspace.id, values)
    assert workspace is not None
    await permit.record(session, target_type=target_type, details=details)
    return workspace


async def rotate_webhook_secret(session: AsyncSession, access: WorkspaceAccess) -> Workspace:
    """A new signing secret (a verified person only, as for reading it)."""
    authorize(access, Action.WEBHOOK_ROTATE_SECRET)
    await require_verified(session, access)
    secret = security.generate_webhook_secret()
    return await _change_recorded(
        session,
        access,
        Action.WEBHOOK_ROTATE_SECRET,
        {"webhook_secret": secret},
        target_type="webhook",
    )


async def update_widget_config(
    session: AsyncSession, access: WorkspaceAccess, changes: dict[str, Any]
) -> Workspace:
    """Merge ``changes`` into the widget's settings (validated by the caller's schema); a None
    value puts that setting back to its default; ``texts`` is merged field by field (a None
    field back to its default). Audited (field names)."""
    config = dict(access.workspace.widget_config or {})
    for key, value in changes.items():
        if key == "texts" and isinstance(value, dict):
            value = _merged_texts(config.get("texts"), value)
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    return await _change_recorded(
        session,
        access,
        Action.WIDGET_CONFIGURE,
        {"widget_config": config},
        target_type="widget",
        details={"fields": sorted(changes)},
    )


def _merged_texts(saved: object, changes: dict[str, Any]) -> dict[str, Any] | None:
    """The widget's saved texts with ``changes`` (a None value drops that text); None when
    none is left."""
    texts = dict(saved) if isinstance(saved, dict) else {}
    for name, text in changes.items():
        if text is None:
            texts.pop(name, None)
        else:
            texts[name] = text
    return texts or None


async def audit_log_page(
    session: AsyncSession,
    access: WorkspaceAccess,
    *,
    limit: int,
    cursor: str | None = None,
    action: str | None = None,
) -> tuple[Sequence[audit.AuditEntry], str | None]:
    """The workspace's audit log, newest first, and the cursor of the next page."""
    authorize(access, Action.AUDIT_READ)
    return await audit.list_page(
        session, workspace_id=access.workspace.id, limit=limit, cursor=cursor, action=action
    )


# --- public widget keys ----------------------------------------------------------------------

_PUBLIC_KEY = re.compile(re.escape(security.PUBLIC_KEY_PREFIX) + r"[A-Za-z0-9_-]{1,61}")


def check_public_key(public_key: str | None) -> str:
    """A well-formed widget key (the prefix, then at most 61 URL-safe base64 characters, as
    ``security.generate_public_key`` makes them), else 401 ``invalid_widget_key``: a key with a
    NUL or any other character no key holds is refused here, not by the database."""
    if not public_key or not _PUBLIC_KEY.fullmatch(public_key):
        raise Unauthorized("Send the widget key in X-Widget-Key", code="invalid_widget_key")
    return public_key


async def resolve_public_key(
    session: AsyncSession, public_key: str | None, *, context_set: bool = False
) -> Workspace:
    """The workspace a widget key belongs to; 401 otherwise. Unless the transaction was opened
    with this key as its context (``context_set``), the context is set for the lookup and then
    becomes the workspace."""
    key = check_public_key(public_key)
    if not context_set:
        await set_tenant(session, public_key=key)
    workspace = await repo.get_workspace_by_public_key(session, key)
    if workspace is None:
        raise Unauthorized("Unknown widget key", code="invalid_widget_key")
    if not context_set:
        await set_tenant(session, workspace_id=workspace.id)
    return workspace


async def resolve_public_key_versioned(session: AsyncSession, public_key: str) -> CachedWorkspace:
    """``resolve_public_key`` in a transaction opened with this key as its context, with the
    row's version for the widget-key cache (``workspaces.widget_keys``); the context becomes
    the workspace."""
    key = check_public_key(public_key)
    found = await repo.get_workspace_version_by_public_key(session, key)
    if found is None:
        raise Unauthorized("Unknown widget key", code="invalid_widget_key")
    return CachedWorkspace(*found)


async def note_widget_installed(
    session: AsyncSession, workspace: Workspace, *, origin: str
) -> None:
    """The widget answered a page of ``origin`` (a site allowed to embed it): the first time,
    the workspace records it (the getting-started checklist's "snippet installed")."""
    if workspace.widget_installed_at is None:
        await set_tenant(session, workspace_id=workspace.id)  # the policy's check for writes
        await repo.mark_widget_installed(session, workspace.id, origin=origin, at=datetime.now(UTC))


async def rotate_public_key(session: AsyncSession, access: WorkspaceAccess) -> Workspace:
    """A new widget key; the old one stops working at once. Audited."""
    key = security.generate_public_key()
    return await _change_recorded(
        session, access, Action.WIDGET_ROTATE_KEY, {"public_key": key}, target_type="widget"
    )
