"""Team and API keys: members and roles, invitations, keys shown once, the audit log (the
Settings page is dashboard/pages/settings.py)."""

from __future__ import annotations

import re
import secrets
import uuid
from typing import Annotated, Any, Literal
from urllib.parse import quote_plus, urlencode

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.deps import AccountDepsDep, RuntimeDep, SessionDep, free_room
from api.throttling import rate_limit_invitation
from core.errors import AppError, Conflict, NotFound, QuotaExceeded, ValidationFailed
from dashboard import flash
from dashboard.page_route import UNVERIFIED, PageRoute
from dashboard.pages.common import Page, PageDep, field_errors, form_fields, refusal
from dashboard.web import PREFIX, redirect, render, render_refused
from workspaces import invitations, notifications, service, team
from workspaces.permissions import Action
from workspaces.schemas import Email, KeyName

router = APIRouter(route_class=PageRoute)


class MemberForm(BaseModel):
    model_config = ConfigDict(extra="ignore")
    email: Email
    role: str = Field(pattern="^(member|admin|owner)$")


ROLES = (
    ("member", "Member (reads, works leads)"),
    ("admin", "Admin (also knowledge, widget, keys)"),
    ("owner", "Owner (everything, billing)"),
)


class RoleForm(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["member", "admin", "owner"]


class KeyForm(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: KeyName


REVOKED_KEYS_PAGE = 20
"""Revoked keys shown below the live ones, newest first; older ones a page further."""


Cursor = Annotated[str | None, Query(max_length=200)]


async def _team_context(
    request: Request,
    page: PageDep,
    session: SessionDep,
    cursor: str | None = None,
    members_cursor: str | None = None,
    revoked_cursor: str | None = None,
) -> dict[str, Any]:
    members, next_members = await team.members_page(
        session, page.access, cursor=members_cursor or None
    )
    pending = (
        await invitations.list_pending(session, page.access) if page.may(Action.MEMBER_ADD) else []
    )
    keys: list[Any] = []
    revoked_keys: list[Any] = []
    next_revoked = None
    if page.may(Action.API_KEYS_READ):
        # The live keys (at most MAX_LIVE_API_KEYS, all on one page), then the revoked ones a
        # page at a time: years of revoked keys are not listed among the working ones.
        keys, _ = await team.api_keys_page(session, page.access)
        revoked_keys, next_revoked = await team.api_keys_page(
            session,
            page.access,
            revoked=True,
            limit=REVOKED_KEYS_PAGE,
            cursor=revoked_cursor or None,
        )
    audit_entries, next_cursor = (
        await service.audit_log_page(session, page.access, limit=30, cursor=cursor or None)
        if page.may(Action.AUDIT_READ)
        else ([], None)
    )
    preferences = (
        await notifications.preferences(session, page.access)
        if page.access.principal.user_id
        else []
    )
    # Who made a key, who did what: named whichever page of the members they are on.
    people_ids = {k.created_by for k in [*keys, *revoked_keys] if k.created_by}
    people_ids |= {e.actor_user_id for e in audit_entries if e.actor_user_id}
    people = await team.member_emails(session, page.access, people_ids)
    acting_keys = {e.actor_api_key_id for e in audit_entries if e.actor_api_key_id}
    key_names = (
        await team.api_key_labels(session, page.access, acting_keys)
        if acting_keys and page.may(Action.API_KEYS_READ)
        else {}
    )
    # Each list's "more" link keeps where the other two are (it reset them to their first page).
    where = {"members_cursor": members_cursor, "revoked_cursor": revoked_cursor, "cursor": cursor}
    return {
        "page": page,
        "more_members_url": _team_url(page, where, members_cursor=next_members),
        "older_revoked_url": _team_url(page, where, revoked_cursor=next_revoked) + "#keys-h",
        "older_audit_url": _team_url(page, where, cursor=next_cursor) + "#audit-h",
        "notification_preferences": preferences,
        "notification_modes": notifications.MODES,
        "members": members,
        "next_members_cursor": next_members,
        "pending": pending,
        "keys": keys,
        "revoked_keys": revoked_keys,
        "next_revoked_cursor": next_revoked,
        "people": people,
        "key_names": key_names,
        "audit": audit_entries,
        "next_cursor": next_cursor,
        "may_add": page.may(Action.MEMBER_ADD),
        "may_manage": page.may(Action.MEMBER_ROLE_CHANGE),
        "may_remove": page.may(Action.MEMBER_REMOVE),
        "only_owner": await team.only_owner(session, page.access),
        "may_keys": page.may(Action.API_KEY_CREATE),
        "roles": ROLES,
        "member_errors": {},
        "invite_values": {"email": "", "role": "member"},
        "invite_errors": {},
        "key_values": {"name": ""},
        "key_errors": {},
        "new_key": None,
    }


def _team_url(page: Page, where: dict[str, str | None], **moved: str | None) -> str:
    """The team page with one list moved to another page and the others where they are."""
    query = urlencode([(name, value) for name, value in {**where, **moved}.items() if value])
    return page.url("team") + (f"?{query}" if query else "")


@router.get("/w/{workspace_id}/team")
async def team_page(
    request: Request,
    page: PageDep,
    session: SessionDep,
    cursor: Cursor = None,
    members_cursor: Cursor = None,
    revoked_cursor: Cursor = None,
) -> Response:
    context = await _team_context(
        request,
        page,
        session,
        cursor=cursor,
        members_cursor=members_cursor,
        revoked_cursor=revoked_cursor,
    )
    return render(request, "team.html", context)


async def _refused(
    request: Request, page: PageDep, session: SessionDep, user_id: uuid.UUID, exc: AppError
) -> Response:
    """The team page again with the refusal beside the member's row (and at the top)."""
    context = await _team_context(request, page, session)
    context["member_errors"] = {user_id: exc.message}
    return render_refused(request, "team.html", context, status_code=exc.status_code)


async def _form_refused(
    request: Request,
    page: PageDep,
    session: SessionDep,
    forms: dict[str, Any],
    status: int,
) -> Response:
    """The team page again with a refused form's input and reasons beside it."""
    context = {**await _team_context(request, page, session), **forms}
    return render(request, "team.html", context, status_code=status)


@router.post("/w/{workspace_id}/team/members/{user_id}/role")
async def change_role(
    request: Request, user_id: uuid.UUID, page: PageDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """Give a member another role (owners); the last owner's demotion is refused beside the
    member's row."""
    try:
        form = RoleForm.model_validate(await form_fields(request))
    except ValidationError as exc:
        refusal = ValidationFailed("Choose member, admin or owner", details=field_errors(exc))
        return await _refused(request, page, session, user_id, refusal)
    try:
        async with session.begin_nested():  # the page drawn after a refusal: as before it
            await team.change_role(
                session, page.access, user_id, role=form.role, room=free_room(runtime.settings)
            )
    except (Conflict, QuotaExceeded) as exc:  # the last owner; what they may own for free
        return await _refused(request, page, session, user_id, exc)
    except NotFound:  # removed meanwhile (another tab, a teammate): the list as it is now
        return await _refused(request, page, session, user_id, NotFound(GONE_MEMBER))
    return redirect(request, page.url("team") + "?notice=Role+changed")


GONE_MEMBER = "That person is no longer a member of this workspace; nothing was changed"
"""A stale Team page's change or removal of someone removed meanwhile (another tab, a teammate):
it was the full-page "belongs to a workspace you are not a member of" error, to an owner. Still
a 404 (an id of another workspace's member gets the same), on the Team page as it is now."""
GONE_INVITATION = "That invitation was already withdrawn or accepted"


@router.post("/w/{workspace_id}/team/members/{user_id}/remove")
async def remove_member(
    request: Request, user_id: uuid.UUID, page: PageDep, session: SessionDep
) -> Response:
    """Remove a member (owners): their access ends at their next request. Removing oneself
    leaves the workspace (as ``leave``)."""
    if user_id == page.user.user_id:
        return await leave(request, page, session)
    try:
        await team.remove_member(session, page.access, user_id)
    except Conflict as exc:
        return await _refused(request, page, session, user_id, exc)
    except NotFound:  # removed meanwhile: the list as it is now
        return await _refused(request, page, session, user_id, NotFound(GONE_MEMBER))
    return redirect(request, page.url("team") + "?notice=Member+removed")


@router.post("/w/{workspace_id}/team/leave")
async def leave(request: Request, page: PageDep, session: SessionDep) -> Response:
    """Leave the workspace, whatever one's role (the last owner is refused beside their row);
    the account page says so after."""
    try:
        await team.leave(session, page.access)
    except Conflict as exc:
        return await _refused(request, page, session, page.user.user_id, exc)
    notice = f"You left {page.access.workspace.name}"
    return redirect(request, PREFIX + "/account?notice=" + quote_plus(notice))


def _form_refusal(exc: ValidationError | AppError) -> tuple[dict[str, str], int]:
    """``refusal``, and an owner yet to confirm their address refused beside the form too: the
    error page lost the address or the key's name typed (an unconfirmed owner may set up, the
    mail says, but neither invite nor make keys)."""
    if isinstance(exc, AppError) and exc.code == "email_unverified":
        return {"_form": UNVERIFIED + " Your account page sends a new link."}, exc.status_code
    return refusal(exc)


@router.post("/w/{workspace_id}/team/members")
async def invite_member(
    request: Request, page: PageDep, session: SessionDep, deps: AccountDepsDep
) -> Response:
    """Invite someone by email (the invitation service mails them a link to accept); a refused
    invitation comes back beside the form with what was typed."""
    fields = await form_fields(request)
    values = {"email": str(fields.get("email") or "").strip(), "role": fields.get("role")}
    try:
        form = MemberForm.model_validate(values)
        async with session.begin_nested():  # the page drawn after a refusal: as before it
            await invitations.invite(
                session, page.access, deps, email=str(form.email), role=form.role
            )
            # Past the limits, the invitation and its mail roll back with the savepoint.
            await rate_limit_invitation(request, page.access.workspace.id, str(form.email))
    except (ValidationError, AppError) as exc:
        errors, status = _form_refusal(exc)
        forms = {"invite_values": values, "invite_errors": errors}
        return await _form_refused(request, page, session, forms, status)
    return redirect(request, page.url("team") + "?notice=Invitation+sent")


@router.post("/w/{workspace_id}/team/invitations/{invitation_id}/withdraw")
async def withdraw_invitation(
    request: Request, invitation_id: uuid.UUID, page: PageDep, session: SessionDep
) -> Response:
    """Withdraw a pending invitation (owners; audited): its link stops working. One withdrawn
    or accepted meanwhile brings the Team page back saying so (it was the full-page "not a
    member of this workspace" error, to an owner)."""
    try:
        await invitations.revoke(session, page.access, invitation_id)
    except NotFound:  # the Team page as it is now, still a 404 (another workspace's id too)
        context = await _team_context(request, page, session)
        context["member_errors"] = {invitation_id: GONE_INVITATION}  # said at the top
        return render_refused(request, "team.html", context, status_code=404)
    return redirect(request, page.url("team") + "?notice=Invitation+withdrawn")


@router.post("/w/{workspace_id}/team/api-keys")
async def create_key(
    request: Request, page: PageDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    fields = await form_fields(request)
    values = {"name": str(fields.get("name") or "").strip()}
    try:
        form = KeyForm.model_validate(values)
        async with session.begin_nested():
            row, secret = await team.create_api_key(session, page.access, name=form.name)
    except (ValidationError, AppError) as exc:
        errors, status = _form_refusal(exc)
        forms = {"key_values": values, "key_errors": errors}
        return await _form_refused(request, page, session, forms, status)
    # Shown once, on the page this answer leads to (a reload sends no form again): kept for
    # it as this session's flash, never in a URL. Redis failing, shown on this answer. The
    # flash is found under a single-use name only this answer's redirect carries: another
    # site's link to the page (which a SameSite=Lax cookie follows) neither shows nor spends it.
    once = secrets.token_urlsafe(16)
    flashed = {"id": str(row.id), "name": row.name, "secret": secret}
    if await flash.keep(runtime, page.user, page.workspace_id, _new_key(once), flashed):
        return redirect(request, page.url("team/api-keys/created") + "?" + urlencode({ONCE: once}))
    return render(
        request, "api_key_created.html", {"page": page, "name": row.name, "secret": secret}
    )


NEW_KEY = "api-key"
"""The flash that carries a new key's id and secret to the page showing it."""
ONCE = "once"
"""The query parameter naming that flash: random, one per key made (``_new_key``)."""
ONCE_VALUE = re.compile(r"[A-Za-z0-9_-]{22}")
"""What ``secrets.token_urlsafe(16)`` gives."""
SHOWN_ONCE = (
    "The new key's secret was shown only once. If you did not copy it, revoke it and create"
    " another."
)


@router.get("/w/{workspace_id}/team/api-keys/created")
async def created_key(
    request: Request,
    page: PageDep,
    session: SessionDep,
    runtime: RuntimeDep,
    once: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The new key's secret, once (this browser session's flash, named by the ``once`` the
    form's redirect carries); opened again (a reload, a restored tab), the Team page saying it
    was shown once. Opened from another site (a link: ``Sec-Fetch-Site`` other than
    ``same-origin``) or without the redirect's ``once``, the Team page, the flash left to the
    owner's own page (a site must neither show the secret in the owner's browser, a window it
    opened, nor spend its only showing)."""
    site = request.headers.get("sec-fetch-site", "same-origin").strip().lower()
    if site != "same-origin" or not ONCE_VALUE.fullmatch(once or ""):
        return redirect(request, page.url("team"))
    flashed = await flash.take(runtime, page.user, page.workspace_id, _new_key(once or ""))
    key_id = _key_id(flashed)
    # The key is there (the request that made it committed) before its secret is shown.
    names = await team.api_key_labels(session, page.access, [key_id]) if key_id else {}
    if flashed is None or key_id not in names:
        return redirect(request, page.url("team") + "?" + urlencode({"notice": SHOWN_ONCE}))
    context = {"page": page, "name": str(flashed["name"]), "secret": str(flashed["secret"])}
    return render(request, "api_key_created.html", context)


def _new_key(once: str) -> str:
    return f"{NEW_KEY}:{once}"


def _key_id(flashed: dict[str, Any] | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(flashed["id"])) if flashed else None
    except (KeyError, ValueError):
        return None


@router.post("/w/{workspace_id}/team/api-keys/{key_id}/revoke")
async def revoke_key(
    request: Request, key_id: uuid.UUID, page: PageDep, session: SessionDep
) -> Response:
    await team.revoke_api_key(session, page.access, key_id)
    return redirect(request, page.url("team") + "?notice=Key+revoked")
