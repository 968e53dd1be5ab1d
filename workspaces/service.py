"""Accounts, workspaces, members and API keys. Services take a session and never commit."""

from __future__ import annotations

import re
import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core.db import set_tenant
from core.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from workspaces import repository as repo
from workspaces import security
from workspaces.models import ApiKey, Membership, User, Workspace
from workspaces.usage import effective_plan, ensure_within

ROLE_RANK = {"member": 0, "admin": 1, "owner": 2}
DEFAULT_PERSONA = (
    "You are a friendly, concise assistant for this business. "
    "You help website visitors with questions about its products and services."
)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a signed-in user, or an API key bound to one workspace."""

    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    api_key_workspace_id: uuid.UUID | None = None

    @property
    def is_api_key(self) -> bool:
        return self.api_key_id is not None


@dataclass(frozen=True)
class WorkspaceAccess:
    workspace: Workspace
    role: str
    principal: Principal

    def require(self, role: str) -> None:
        if ROLE_RANK[self.role] < ROLE_RANK[role]:
            raise Forbidden(f"This action needs the {role} role", code="insufficient_role")


# --- accounts --------------------------------------------------------------------------------


def check_password_policy(password: str, email: str) -> None:
    problems = []
    if len(password) < 10:
        problems.append("must be at least 10 characters")
    if password.strip().casefold() in {email.casefold(), email.split("@")[0].casefold()}:
        problems.append("must not be your email address")
    if len(set(password)) < 4:
        problems.append("must not repeat one or two characters")
    if problems:
        raise ValidationFailed(
            "Password does not meet the policy",
            code="weak_password",
            details=[{"field": "password", "message": p} for p in problems],
        )


def slugify(name: str) -> str:
    value = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    value = re.sub(r"[^a-zA-Z0-9]+", "-", value).strip("-").lower()
    return value[:60] or "workspace"


async def create_workspace(
    session: AsyncSession, *, owner: User, name: str, plan: str, persona: str = DEFAULT_PERSONA
) -> Workspace:
    workspace_id = uuid.uuid4()
    # The new workspace becomes the transaction's tenant so RLS admits its rows.
    await set_tenant(session, workspace_id=workspace_id, user_id=owner.id)
    base = slugify(name)
    for attempt in range(8):
        slug = base if attempt == 0 else f"{base[:52]}-{secrets.token_hex(3)}"
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
    user = await repo.insert_user(session, email=email, password_hash=password_hash, name=name)
    if user is None:
        raise Conflict("An account with this email already exists", code="email_taken")
    workspace = await create_workspace(session, owner=user, name=workspace_name, plan=plan)
    return user, workspace


async def find_login(session: AsyncSession, *, email: str) -> User | None:
    """The account a login names, if any (read before the password is checked)."""
    return await repo.get_user_by_email(session, email)


async def authenticate(user: User | None, *, password: str) -> str | None:
    """Check a login's password against ``user`` (from ``find_login``).

    No database work: the caller holds no connection while argon2 runs in its thread pool.
    Unknown email and wrong password take the same path and give the same answer. Returns a new
    hash to store when the stored one uses outdated parameters, else None.
    """
    if not await security.verify_password(user.password_hash if user else None, password):
        raise Unauthorized("Invalid email or password", code="invalid_credentials")
    assert user is not None  # verify_password is False for an unknown user
    if security.needs_rehash(user.password_hash):
        return await security.hash_password(password)
    return None


async def store_password_hash(session: AsyncSession, user: User, password_hash: str) -> None:
    await repo.update_password_hash(session, user.id, password_hash)


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
    session: AsyncSession, principal: Principal, workspace_id: uuid.UUID
) -> WorkspaceAccess:
    """The caller's access to a workspace, with the tenant context set; 404 if they have none."""
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
    workspace = await repo.get_workspace(session, workspace_id)
    if workspace is None:
        raise NotFound("Workspace not found")
    return WorkspaceAccess(workspace=workspace, role=role, principal=principal)


# --- members ---------------------------------------------------------------------------------


def require_owner_in_person(access: WorkspaceAccess, action: str) -> None:
    """An owner signed in as themselves: not an admin, and not an API key (a key is a shared
    secret; whoever holds it must not be able to grant lasting access to an account)."""
    if access.principal.is_api_key:
        raise Forbidden(
            f"API keys cannot {action}; an owner must sign in", code="insufficient_role"
        )
    access.require("owner")


async def add_member(
    session: AsyncSession, access: WorkspaceAccess, *, email: str, role: str
) -> tuple[User, Membership]:
    require_owner_in_person(access, "change who belongs to a workspace")
    user = await repo.get_user_by_email(session, email)
    if user is None:
        raise NotFound(
            "No account with this email; ask them to sign up first", code="user_not_found"
        )
    existing = await repo.get_membership(session, workspace_id=access.workspace.id, user_id=user.id)
    if existing is not None:
        if existing.role != role:
            await repo.update_member_role(
                session, workspace_id=access.workspace.id, user_id=user.id, role=role
            )
            existing.role = role
        return user, existing
    members = await repo.count_members(session, access.workspace.id)
    ensure_within(
        plan_code=effective_plan(access.workspace), metric="members", used=members, resets_at=None
    )
    membership = await repo.insert_membership(
        session, workspace_id=access.workspace.id, user_id=user.id, role=role
    )
    assert membership is not None
    return user, membership


# --- API keys --------------------------------------------------------------------------------


async def create_api_key(
    session: AsyncSession, access: WorkspaceAccess, *, name: str
) -> tuple[ApiKey, str]:
    access.require("admin")
    if access.principal.is_api_key:
        raise Forbidden("API keys cannot create API keys", code="insufficient_role")
    new = security.generate_api_key()
    row = ApiKey(
        id=uuid.uuid4(),
        workspace_id=access.workspace.id,
        name=name,
        prefix=new.prefix,
        key_hash=new.key_hash,
        created_by=access.principal.user_id,
        created_at=datetime.now(UTC),
    )
    await repo.insert_api_key(session, row)
    return row, new.secret


async def revoke_api_key(
    session: AsyncSession, access: WorkspaceAccess, key_id: uuid.UUID
) -> ApiKey:
    access.require("admin")
    key = await repo.get_api_key(session, workspace_id=access.workspace.id, key_id=key_id)
    if key is None:
        raise NotFound("API key not found")
    await repo.revoke_api_key(session, key, datetime.now(UTC))
    await session.refresh(key)
    return key


# --- public widget keys ----------------------------------------------------------------------


def check_public_key(public_key: str | None) -> str:
    """A well-formed widget key, else 401 ``invalid_widget_key``."""
    if (
        not public_key
        or not public_key.startswith(security.PUBLIC_KEY_PREFIX)
        or len(public_key) > 64
    ):
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


async def rotate_public_key(session: AsyncSession, access: WorkspaceAccess) -> Workspace:
    access.require("admin")
    workspace = await repo.update_workspace(
        session, access.workspace.id, {"public_key": security.generate_public_key()}
    )
    assert workspace is not None
    return workspace
