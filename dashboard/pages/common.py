"""What every workspace page needs: the caller's access, the navigation and the switcher."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import SessionDep
from dashboard.auth import PageAccessDep, WebUser, WebUserDep
from dashboard.web import workspace_url
from workspaces import service
from workspaces.service import WorkspaceAccess

# (page, label) in the order of the main navigation.
NAV: tuple[tuple[str, str], ...] = (
    ("", "Getting started"),
    ("knowledge", "Knowledge"),
    ("playground", "Playground"),
    ("widget", "Widget"),
    ("conversations", "Conversations"),
    ("unanswered", "Unanswered"),
    ("leads", "Leads"),
    ("plan", "Plan & usage"),
    ("team", "Team & API keys"),
    ("settings", "Settings"),
)


async def set_chrome(
    request: Request, session: AsyncSession, user: WebUser, access: WorkspaceAccess | None
) -> None:
    """The header's context: the user, their workspaces (the switcher) and the navigation."""
    account, rows = await service.user_workspaces(session, user.user_id)
    workspace = access.workspace if access else None
    request.state.chrome = {
        "user": account,
        "workspaces": [{"id": ws.id, "name": ws.name, "role": role} for ws, role in rows],
        "workspace": workspace,
        "role": access.role if access else None,
        "nav": [
            {"url": workspace_url(workspace.id, page), "label": label, "page": page}
            for page, label in NAV
        ]
        if workspace
        else [],
    }
    if access is not None:  # back to the workspace's tenant context after the lookup
        await service.access_workspace(session, access.principal, access.workspace.id)


@dataclass(frozen=True)
class Page:
    access: WorkspaceAccess
    user: WebUser

    @property
    def workspace_id(self) -> Any:
        return self.access.workspace.id

    def url(self, page: str = "") -> str:
        return workspace_url(self.access.workspace.id, page)


async def get_page(
    request: Request, session: SessionDep, user: WebUserDep, access: PageAccessDep
) -> Page:
    await set_chrome(request, session, user, access)
    return Page(access=access, user=user)


PageDep = Annotated[Page, Depends(get_page)]


async def form_fields(request: Request) -> dict[str, Any]:
    """The posted form (without the CSRF field): single values as strings, repeated ones as
    lists."""
    form = await request.form()
    fields: dict[str, Any] = {}
    for key in form:
        if key == "csrf_token":
            continue
        values = form.getlist(key)
        fields[key] = values if len(values) > 1 else values[0]
    return fields


def field_errors(exc: ValidationError) -> dict[str, str]:
    """Pydantic's errors by field name, for a form to show beside its inputs."""
    errors: dict[str, str] = {}
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else "_form"
        message = str(err["msg"]).removeprefix("Value error, ")
        errors.setdefault(name, message)
    return errors
