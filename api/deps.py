"""Dependencies: the unit of work, the caller, and the caller's access to a workspace."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Path, Query, Request, Response
from pydantic import AfterValidator
from sqlalchemy.ext.asyncio import AsyncSession

from api.client_address import scope_client_ip
from api.runtime import Runtime
from core.config import Settings
from core.errors import Unauthorized, ValidationFailed
from core.replica import SAFE_METHODS
from core.urls import base_url
from workspaces import security, sessions
from workspaces.accounts import AccountDeps
from workspaces.more_workspaces import FreeRoom
from workspaces.service import (
    ClientInfo,
    Principal,
    WorkspaceAccess,
    access_workspace,
    resolve_api_key,
)

F = TypeVar("F", bound=Callable[..., Any])


# The dependencies below are ``async def`` although they do not await: FastAPI runs a plain
# ``def`` dependency in its thread pool, a thread hop per dependency per request.
async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_settings_dep(runtime: RuntimeDep) -> Settings:
    return runtime.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


ROLLBACK_STATE = "rollback_transaction"
"""Set on ``request.state`` by a route that answered an error itself (the dashboard's pages,
``dashboard.page_route.PageRoute``): the request's transaction is rolled back, not committed. An
exception that leaves the endpoint rolls it back by itself."""


class _RollBack(Exception):
    pass


_WROTE_STATE = "wrote_workspaces"
"""Set on ``request.state`` by ``mark_write``: the workspaces ``get_session`` marks again once
the request's transaction ended."""


async def get_session(request: Request, runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed before the response is sent; rolled back when
    the endpoint raised, or answered an error itself (``ROLLBACK_STATE``). Once it ended, the
    workspaces the request may have written to (``mark_write``) are marked again: their
    read-your-writes window starts at the commit, not when the request started (an upload
    on a slow link, a sitemap's download, may take longer than the window)."""
    try:
        async with runtime.db.transaction() as session:
            yield session
            if getattr(request.state, ROLLBACK_STATE, False):
                raise _RollBack
    except _RollBack:
        pass  # (marked still: ``released`` may have committed part of the request's writes)
    for workspace_id in getattr(request.state, _WROTE_STATE, ()):
        await runtime.reads.wrote(workspace_id)


# scope="function": the transaction ends (commit or rollback) when the endpoint returns.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def end_transaction(session: AsyncSession) -> None:
    """Commit the request's transaction now and give its connection back to the pool, for an
    endpoint whose work goes on in transactions of its own once the caller is known: a chat
    turn (the answer pipeline opens up to three, and waits for models between them), the
    owner's search (its hits read in one, then reranked with none open). Held,
    each owner's turn needed a second pooled connection while keeping the first through the
    model's answer: as many owners' turns at once as the pool holds waited for each other
    (503 ``database_busy``). The session is not used again; the unit of work's commit at the
    end has nothing left to do."""
    await session.commit()


async def no_store(response: Response) -> None:
    """For answers that carry a credential (tokens, an API key shown once, a webhook secret):
    no cache may keep them (RFC 6749 section 5.1 asks it of every token answer)."""
    response.headers["Cache-Control"] = "no-store"


NoStore = Depends(no_store)


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def get_principal(
    session: SessionDep,
    settings: SettingsDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Principal:
    token = bearer_token(authorization)
    if token is None:
        raise Unauthorized(
            "Send `Authorization: Bearer <token or API key>`",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if token.startswith(security.API_KEY_PREFIX):
        return await resolve_api_key(session, token)
    user_id, session_id = security.decode_access_token(
        token, secret=settings.jwt_key, algorithm=settings.jwt_algorithm
    )
    await sessions.ensure_live(session, user_id, session_id)
    return Principal(user_id=user_id, session_id=session_id)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_user_principal(principal: PrincipalDep) -> Principal:
    if principal.user_id is None:
        raise Unauthorized("This endpoint needs a user's access token", code="user_token_required")
    return principal


UserPrincipalDep = Annotated[Principal, Depends(get_user_principal)]


async def session_policy(settings: SettingsDep) -> sessions.SessionPolicy:
    return sessions.SessionPolicy.from_settings(settings)


SessionPolicyDep = Annotated[sessions.SessionPolicy, Depends(session_policy)]


def account_deps(runtime: RuntimeDep) -> AccountDeps:
    """What the account services need: the mailer, the link signing key, where links point."""
    settings = runtime.settings
    return AccountDeps(
        mailer=runtime.mailer,
        signing_key=settings.jwt_key,
        base_url=base_url(settings),
        verification_ttl=timedelta(hours=settings.email_verification_ttl_hours),
        invitation_ttl=timedelta(days=settings.invitation_ttl_days),
        session_policy=sessions.SessionPolicy.from_settings(settings),
        free_room=free_room(settings),
    )


def free_room(settings: Settings) -> FreeRoom:
    """What an account may own for free (DEFAULT_PLAN, FREE_WORKSPACES_PER_ACCOUNT)."""
    return FreeRoom(
        default_plan=settings.default_plan, free_limit=settings.free_workspaces_per_account
    )


AccountDepsDep = Annotated[AccountDeps, Depends(account_deps)]


async def get_optional_user(
    session: SessionDep,
    settings: SettingsDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Principal | None:
    """The signed-in user when the request carries an access token; None without one."""
    if bearer_token(authorization) is None:
        return None
    principal = await get_principal(session, settings, authorization)
    if principal.user_id is None:
        raise Unauthorized("This endpoint needs a user's access token", code="user_token_required")
    return principal


OptionalUserDep = Annotated[Principal | None, Depends(get_optional_user)]


def client_info(request: Request, settings: Settings) -> ClientInfo:
    """Where the caller acts from, as the audit log records it: the client's address (behind
    TRUSTED_PROXIES only), its User-Agent and this request's id."""
    return ClientInfo(
        ip=scope_client_ip(request.scope, settings.trusted_proxies),
        user_agent=request.headers.get("user-agent"),
        request_id=getattr(request.state, "request_id", None),
    )


def workspace_access(*, include_deleted: bool = False) -> Any:
    """The dependency giving the caller's access to the path's workspace (404 when they have
    none; a deleted workspace only with ``include_deleted``, for restoring it)."""

    async def dependency(
        request: Request,
        session: SessionDep,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: Annotated[uuid.UUID, Path()],
    ) -> WorkspaceAccess:
        access = await access_workspace(
            session,
            principal,
            workspace_id,
            client=client_info(request, runtime.settings),
            include_deleted=include_deleted,
        )
        await mark_write(request, runtime, workspace_id)
        return access

    return dependency


WorkspaceDep = Annotated[WorkspaceAccess, Depends(workspace_access())]
DeletedWorkspaceDep = Annotated[WorkspaceAccess, Depends(workspace_access(include_deleted=True))]


READ_ONLY_ENDPOINTS: set[Callable[..., Any]] = set()
"""Endpoints that take a body but never write (``@read_only``): no write mark."""


def read_only(endpoint: F) -> F:
    """Declares a POST endpoint a read (the playground's search), so it does not keep the
    workspace's reads on the primary."""
    READ_ONLY_ENDPOINTS.add(endpoint)
    return endpoint


async def mark_write(request: Request, runtime: Runtime, workspace_id: uuid.UUID) -> None:
    """A request that may write to the workspace keeps its lag-tolerant reads on the primary
    for a while (read-your-writes with a read replica; core/replica.py): from now, for the
    reads during the request, and again from its commit (``get_session``)."""
    if request.method in SAFE_METHODS:
        return
    route = request.scope.get("route")
    if getattr(route, "endpoint", None) in READ_ONLY_ENDPOINTS:
        return
    await runtime.reads.wrote(workspace_id)  # for the reads made during the request
    wrote: set[uuid.UUID] | None = getattr(request.state, _WROTE_STATE, None)
    if wrote is None:
        wrote = set()
        setattr(request.state, _WROTE_STATE, wrote)
    wrote.add(workspace_id)  # and again after its commit (``get_session``)


async def get_read_session(
    runtime: RuntimeDep, session: SessionDep, access: WorkspaceDep
) -> AsyncIterator[AsyncSession]:
    """For reads that may lag (owners' lists, analytics, playground search): a transaction on
    the read replica when it is fresh and the workspace was not just written to, else the
    request's own transaction. Authorization already ran on the primary."""
    async with runtime.reads.session(
        session, workspace_id=access.workspace.id, user_id=access.principal.user_id
    ) as read_session:
        yield read_session


ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]


DEFAULT_PAGE_SIZE = 20


def default_page_size(max_page_size: int) -> int:
    """A page's size when the request names no ``limit``: 20, or MAX_PAGE_SIZE below that (a
    fixed 20 made every list without ``limit`` answer 422 with MAX_PAGE_SIZE=10)."""
    return min(DEFAULT_PAGE_SIZE, max_page_size)


async def page_limit(
    settings: SettingsDep, limit: Annotated[int | None, Query(ge=1)] = None
) -> int:
    if limit is None:
        return default_page_size(settings.max_page_size)
    if limit > settings.max_page_size:
        raise ValidationFailed(
            f"limit must be at most {settings.max_page_size}",
            details=[{"field": "limit", "message": f"at most {settings.max_page_size}"}],
        )
    return limit


LimitDep = Annotated[int, Depends(page_limit)]

# Every offset-paginated list: bounded, so a huge offset is a 422, never an int64 overflow in
# the database driver (and deep OFFSET scans stay cheap). Longer lists paginate by cursor.
MAX_OFFSET = 100_000
OffsetDep = Annotated[
    int, Query(ge=0, le=MAX_OFFSET, description=f"rows to skip, at most {MAX_OFFSET}")
]
# The lists that moved to cursors still take ``offset`` for a while (README.md, "Pagination").
DeprecatedOffsetDep = Annotated[
    int,
    Query(
        ge=0,
        le=MAX_OFFSET,
        deprecated=True,
        description=f"deprecated: rows to skip, at most {MAX_OFFSET}; a row added or deleted"
        " meanwhile shifts the pages. Follow `next_cursor` instead (not with `cursor`)",
    ),
]
# A keyset list's position: the ``next_cursor`` of the page before, from the same list.
CursorDep = Annotated[
    str | None,
    Query(
        max_length=200,
        description="`next_cursor` of the previous page of this list (422 invalid_cursor for"
        " one of another list or workspace)",
    ),
]


def _utc_representable(value: datetime) -> datetime:
    """A date the database can compare with: one without an offset is UTC (so it compares with
    one that has an offset, and means the same whatever the database session's zone), and
    9999-12-31T23:59:59-14:00 parses, but its UTC time is in the year 10000 (an OverflowError,
    a 500, in the driver)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the date is out of range once converted to UTC") from None
    return value


# Every date taken from a query string; without an offset it is UTC.
QueryDatetime = Annotated[datetime, AfterValidator(_utc_representable)]
