"""What every workspace page needs: the caller's access, the navigation and the switcher."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import RuntimeDep, SessionDep, client_info, mark_write
from core.errors import AppError, ValidationFailed
from dashboard.auth import WebUser, WebUserDep
from dashboard.pages.form_messages import plain_message
from dashboard.web import workspace_url
from workspaces import service
from workspaces.models import Workspace
from workspaces.permissions import Action, allowed, kind_of
from workspaces.service import Principal, WorkspaceAccess, access_workspace

# (page, label) in the order of the main navigation.
NAV: tuple[tuple[str, str], ...] = (
    ("", "Getting started"),
    ("knowledge", "Knowledge"),
    ("playground", "Playground"),
    ("widget", "Widget"),
    ("conversations", "Conversations"),
    ("unanswered", "Unanswered"),
    ("leads", "Leads"),
    ("analytics", "Analytics"),
    ("plan", "Plan & usage"),
    ("team", "Team & API keys"),
    ("settings", "Settings"),
)
# The sections a workspace switch may land on (the overview aside).
SECTIONS = frozenset(page for page, _ in NAV if page)


async def set_chrome(
    request: Request, session: AsyncSession, user: WebUser, workspace: Workspace | None
) -> None:
    """The header's context: the user, their workspaces (the switcher) and the navigation.
    Leaves the transaction in the user's context: a workspace page asks for its access after."""
    account, rows = await service.user_workspaces(session, user.user_id)
    request.state.chrome = {
        "user": account,
        "workspaces": [{"id": ws.id, "name": ws.name, "role": role} for ws, role in rows],
        "workspace": workspace,
        "nav": _nav(workspace.id) if workspace else [],
    }


def _nav(workspace_id: uuid.UUID) -> list[dict[str, str]]:
    return [
        {"url": workspace_url(workspace_id, page), "label": label, "page": page}
        for page, label in NAV
    ]


ACTIONS = {action.value: action for action in Action}


@dataclass(frozen=True)
class Page:
    access: WorkspaceAccess
    user: WebUser

    @property
    def workspace_id(self) -> Any:
        return self.access.workspace.id

    def url(self, page: str = "") -> str:
        return workspace_url(self.access.workspace.id, page)

    def may(self, action: Action | str) -> bool:
        """Whether this user may do ``action`` (an ``Action``, or its value as templates name
        it: ``page.may('faq.create')``): a page shows only the forms its user may send."""
        role = self.access.role
        return allowed(ACTIONS[action], kind=kind_of(self.access), role=role)  # type: ignore[arg-type]


async def get_page(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    user: WebUserDep,
    workspace_id: Annotated[uuid.UUID, Path()],
) -> Page:
    """The signed-in user's access to the URL's workspace (404 for any other), with the chrome.
    The access is checked last, so the transaction is left in that workspace's context."""
    await set_chrome(request, session, user, None)
    access = await access_workspace(
        session,
        Principal(user_id=user.user_id),
        workspace_id,
        client=client_info(request, runtime.settings),
    )
    request.state.chrome["workspace"] = access.workspace
    request.state.chrome["nav"] = _nav(workspace_id)
    await mark_write(request, runtime, workspace_id)
    return Page(access=access, user=user)


PageDep = Annotated[Page, Depends(get_page)]


async def get_read_session(
    runtime: RuntimeDep, session: SessionDep, page: PageDep
) -> AsyncIterator[AsyncSession]:
    """A list page's reads that may lag: on the read replica when it may serve them (as
    api.deps.ReadSessionDep), else the request's own transaction."""
    async with runtime.reads.session(
        session, workspace_id=page.workspace_id, user_id=page.user.user_id
    ) as read_session:
        yield read_session


ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]

SearchQuery = Annotated[str | None, Query(max_length=200, pattern="^[^\x00]*$")]
"""A list's search box (leads, conversations): at most 200 characters, no NUL (the database
refuses one, and the leads export would break after its audit entry)."""


NUL_REFUSED = (
    "Remove the NUL character (an invisible control character): no text here may hold one."
)


class InvalidText(ValidationFailed):
    """A posted field holds a NUL, which PostgreSQL stores in no text column. ``fields``: the
    form as posted with the NULs taken out, for a form that shows its input again."""

    def __init__(self, fields: dict[str, Any], names: list[str]) -> None:
        super().__init__(
            "The form holds a NUL character (an invisible control character) that cannot be"
            " stored: remove it and send the form again.",
            code="invalid_text",
            details=[{"field": name, "message": NUL_REFUSED} for name in names],
        )
        self.fields = fields


def _without_nul(value: Any) -> Any:
    if isinstance(value, list):
        return [item.replace("\x00", "") for item in value]
    return value.replace("\x00", "")


async def form_fields(request: Request) -> dict[str, Any]:
    """The posted form (without the CSRF field): single values as strings, repeated ones as
    lists. A field sent as a file part is left out (these forms take no files; the upload
    forms read theirs themselves), so no handler meets an ``UploadFile`` where it reads text.

    A NUL in any field is refused here (``InvalidText``, 422 ``invalid_text``), before a
    handler hands it to the database, which would refuse it past the page's own error
    handling."""
    form = await request.form()
    fields: dict[str, Any] = {}
    for key in form:
        if key == "csrf_token":
            continue
        values = [value for value in form.getlist(key) if isinstance(value, str)]
        if values:
            fields[key] = values if len(values) > 1 else values[0]
    refused = [key for key, value in fields.items() if _without_nul(value) != value]
    if refused:
        kept = {key: _without_nul(value) for key, value in fields.items()}
        raise InvalidText(kept, refused)
    return fields


def field_errors(exc: ValidationError) -> dict[str, str]:
    """Pydantic's errors by field name, in plain words, for a form to show beside its inputs."""
    errors: dict[str, str] = {}
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else "_form"
        errors.setdefault(name, plain_message(err))
    return errors


REFUSED_INPUT = frozenset({409, 413, 422})
"""A service's refusals of what a form holds (a duplicate, a bad value, too large): the form
comes back with the owner's input beside the reason, instead of an error page that loses it."""


def refusal(exc: ValidationError | AppError) -> tuple[dict[str, str], int]:
    """A refused form's reasons by field and the status to answer with; a service's error that
    is not about the input (not allowed, over quota, too many requests) is raised again, for
    its own page."""
    if isinstance(exc, ValidationError):
        return field_errors(exc), 422
    if exc.status_code not in REFUSED_INPUT and exc.code != "quota_exceeded":
        raise exc  # (a plan's limit, 429, is about this input too: no seat for this person)
    return app_errors(exc), exc.status_code


def app_errors(exc: AppError) -> dict[str, str]:
    """A service's refusal by field name (its details, every reason of a field joined: a
    password the policy refuses says each rule it breaks), else the message for the form."""
    errors: dict[str, str] = {}
    for detail in exc.details if isinstance(exc.details, list) else []:
        if isinstance(detail, dict) and detail.get("message"):
            name = str(detail.get("field") or "_form")
            message = str(detail["message"])
            errors[name] = f"{errors[name]}; {message}" if name in errors else message
    return errors or {"_form": exc.message}


INGEST_REFUSED: frozenset[str] = frozenset({"unsupported_media_type", "sitemap_busy"})
"""Refusals of a form adding knowledge that ``refusal`` leaves to the error page but that are
about what was posted: a file, or the page at the address, of a type that is not read (415:
an HTML page posted as a sitemap), and a sitemap that got no download slot in time (503: try
again). The error page lost the address typed."""


def wait_of(exc: AppError) -> str:
    """How long a 429's ``retry_after`` asks to wait, in words ("12 seconds", "3 minutes")."""
    details = exc.details if isinstance(exc.details, dict) else {}
    wait = max(1, int(details.get("retry_after") or 1))
    return f"{wait} seconds" if wait < 120 else f"{-(-wait // 60)} minutes"


def sign_in_refusal(exc: AppError) -> str:
    """A sign-in or sign-up form past a limit (429: ``RATE_LIMIT_AUTH`` per client address,
    the mail budget of the email address typed, or the login guard's lock), said beside the
    form with when to try again."""
    details = exc.details if isinstance(exc.details, dict) else {}
    if details.get("route_class") == "password_reset":  # the address's mail budget
        said = "Too many mails to this email address for now: nothing was sent"
    elif exc.code == "rate_limited":
        said = "Too many sign-in and sign-up attempts from this address for now"
    else:  # the login guard's own words, without its "try again later"
        said = exc.message.split(";")[0]
    return f"{said}; try again in {wait_of(exc)}."


def ingest_refusal(exc: AppError) -> tuple[str, int, dict[str, str]]:
    """A form adding knowledge (files, a web address, an FAQ import) refused: the reason to show
    beside it, the status and the headers to answer with. Past the ingestion rate limit
    (``rate_limited``, which ``refusal`` leaves to the error page) the reason says when to try
    again and Retry-After stays; ``INGEST_REFUSED`` come back beside the form too; a refusal
    not about the form (not allowed) is raised again."""
    if exc.code == "rate_limited":
        when = wait_of(exc)
        reason = f"Too much added to the knowledge for now: nothing was added; try again in {when}."
        return reason, exc.status_code, dict(exc.headers)
    if exc.code in INGEST_REFUSED:
        return exc.message, exc.status_code, dict(exc.headers)
    _, status = refusal(exc)
    return exc.message, status, {}
