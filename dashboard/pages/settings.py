"""The Settings page: the workspace's name and handoff webhook (its signing secret), deleting
the workspace, and the "Your data" section's lists (exports, retention, erasure). Everything
that draws the page is here; the data section's forms post to dashboard/pages/data.py, which
draws the page again through ``settings_context`` when it refuses one (that module imports this
one, never the other way)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote_plus

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.data_lifecycle import after_deletion
from api.deps import RuntimeDep, SessionDep
from core.errors import AppError, Forbidden, ValidationFailed
from core.models import utcnow
from dashboard.page_route import PageRoute
from dashboard.pages.common import PageDep, form_fields, refusal
from dashboard.web import PREFIX, redirect, render
from lifecycle import deletion, exports, retention
from rag.knowledge.addresses import check_new_webhook_url
from workspaces import service
from workspaces.permissions import Action
from workspaces.schemas import WorkspaceName

router = APIRouter(route_class=PageRoute)


class SettingsForm(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: WorkspaceName
    webhook_url: str | None = Field(default=None, max_length=2000)


ERASE_SESSION = Annotated[str | None, Query(max_length=320, pattern="^[^\x00]*$")]
"""A widget session id for the erase form (the transcript's "Erase this visitor's data"):
shown as given, at most as long as the field takes, no NUL; the erasure's handler judges it."""


@router.get("/w/{workspace_id}/settings")
async def settings_page(
    request: Request, page: PageDep, session: SessionDep, erase_session: ERASE_SESSION = None
) -> Response:
    """The page; ``erase_session``: the erase form filled in with that session id (its
    confirmation still asked, the form posting to ``data.erase_visitor`` as ever)."""
    context = await settings_context(page, session)
    if erase_session and context["may_erase"]:
        context["erase_values"] = {"key": "session_id", "value": erase_session}
    return render(request, "settings.html", context)


async def settings_context(page: PageDep, session: SessionDep) -> dict[str, Any]:
    url, secret, unverified = None, None, False
    if page.may(Action.WEBHOOK_READ):
        try:
            url, secret = await service.webhook(session, page.access)
        except Forbidden:  # the secret waits for a confirmed address; the URL is no secret
            url, unverified = page.access.workspace.webhook_url, True
    return {
        **await data_context(page, session),
        "page": page,
        "webhook_url": url,
        "webhook_secret": secret,
        "secret_needs_verification": unverified,
        "may_edit": page.may(Action.WORKSPACE_UPDATE),
        "may_delete": page.may(Action.WORKSPACE_DELETE),
        "values": {"name": page.access.workspace.name, "webhook_url": url},
        # What the page shows as saved: a Save sends only what was changed from it.
        "seen": {"name": page.access.workspace.name, "webhook_url": url},
        "errors": {},
        "delete_confirm": "",
    }


UNVERIFIED_WEBHOOK = (
    "Confirm your email address before setting a webhook: open the link we sent you."
)


def _settings_refusal(exc: ValidationError | AppError) -> tuple[dict[str, str], int]:
    """A refused Settings form's reasons by field: an unconfirmed owner's new webhook address
    (403, but about this field: the form keeps what was typed), the address's checks, the
    form's."""
    if isinstance(exc, AppError) and exc.code == "email_unverified":
        return {"webhook_url": UNVERIFIED_WEBHOOK}, exc.status_code
    errors, status = refusal(exc)  # anything else not about the input has its own page
    if isinstance(exc, AppError):
        details = exc.details if isinstance(exc.details, list) else []
        field = next((str(d.get("field")) for d in details if isinstance(d, dict)), None)
        errors = {field if field in ("name", "webhook_url") else "webhook_url": exc.message}
    return errors, status


SETTINGS_CHANGED = (
    "The {what} was changed meanwhile (in another tab, or by a teammate) to “{now}”. Your"
    " changes were not saved; Save again to replace it with yours."
)
_FIELD_NAMES = {"name": "workspace name", "webhook_url": "handoff webhook URL"}


def _settings_values(fields: dict[str, Any], prefix: str = "") -> dict[str, str | None]:
    return {
        "name": str(fields.get(prefix + "name") or "").strip(),
        "webhook_url": str(fields.get(prefix + "webhook_url") or "").strip() or None,
    }


@router.post("/w/{workspace_id}/settings")
async def save_settings(request: Request, page: PageDep, session: SessionDep) -> Response:
    """Saves the fields the owner changed from what the page showed (``seen_*``): a page
    opened before another tab (or a teammate) set the webhook address saved its old, empty
    address back with a rename, and handoffs stopped without a word. A field changed here
    that was also changed meanwhile is not saved over (409, the form kept, the page's values
    brought up to date so that a second Save replaces it knowingly)."""
    fields = await form_fields(request)
    values = _settings_values(fields)
    workspace = page.access.workspace
    current = {"name": workspace.name, "webhook_url": workspace.webhook_url}
    try:
        form = SettingsForm.model_validate(values)
        changes = form.model_dump()
        if "seen_name" in fields:  # a form without (sent before this release) saves both
            seen = _settings_values(fields, "seen_")
            changes = {k: v for k, v in changes.items() if values[k] != seen[k]}
            clashes = [k for k in changes if current[k] != seen[k]]
            if clashes:
                what = clashes[0]
                now = current[what] or "none"
                errors = {"_form": SETTINGS_CHANGED.format(what=_FIELD_NAMES[what], now=now)}
                context = {
                    **await settings_context(page, session),
                    "values": values,
                    "errors": errors,
                }
                return render(request, "settings.html", context, status_code=409)
        if "webhook_url" in changes:
            check_new_webhook_url(
                form.webhook_url,
                current=workspace.webhook_url,
                allow_private=request.app.state.runtime.settings.allow_private_urls,
            )
        if changes:
            async with session.begin_nested():  # a refusal changes nothing of the workspace
                await service.update_workspace(session, page.access, changes)
    except (ValidationError, AppError) as exc:
        errors, status = _settings_refusal(exc)
        context = {**await settings_context(page, session), "values": values, "errors": errors}
        return render(request, "settings.html", context, status_code=status)
    return redirect(request, page.url("settings") + "?notice=Saved")


@router.post("/w/{workspace_id}/settings/delete")
async def delete_workspace(
    request: Request,
    page: PageDep,
    session: SessionDep,
    runtime: RuntimeDep,
    background: BackgroundTasks,
) -> Response:
    """The API's workspace deletion (owners, typing the slug): access ends at once and the
    account page lists it, restorable, until its purge (WORKSPACE_DELETION_GRACE_HOURS)."""
    fields = await form_fields(request)
    typed = str(fields.get("confirm") or "")
    try:
        async with session.begin_nested():
            done = await deletion.delete_workspace(
                session,
                page.access,
                confirm=typed,
                grace=deletion.grace_of(runtime.settings),
            )
    except ValidationFailed as exc:
        # What was typed stays in the box, set against the slug asked for (a typo is seen).
        slug = page.access.workspace.slug
        said = f"you typed “{typed.strip()}”, not " if typed.strip() else "the box was empty, not "
        errors = {"confirm": f"{exc.message}: {said}{slug}. Nothing was deleted."}
        context = {
            **await settings_context(page, session),
            "errors": errors,
            "delete_confirm": typed[:200],
        }
        return render(request, "settings.html", context, status_code=exc.status_code)
    # No grace: purged after the commit; else a linked Razorpay Subscription's cancel is sent.
    after_deletion(background, runtime.jobs, done)
    if done.purge_now:
        notice = "The workspace is deleted; its data is being purged"
    else:
        until = done.purge_after.strftime("%Y-%m-%d %H:%M")
        notice = f"The workspace is deleted. You can restore it here until {until} UTC"
    return redirect(request, PREFIX + "/account?notice=" + quote_plus(notice))


@router.post("/w/{workspace_id}/settings/rotate-webhook-secret")
async def rotate_secret(request: Request, page: PageDep, session: SessionDep) -> Response:
    await service.rotate_webhook_secret(session, page.access)
    return redirect(request, page.url("settings") + "?notice=New+secret+made")


_EXPORT_SAYS = {
    "queued": "waiting to start",
    "running": "being built",
    "ready": "ready",
    "failed": "failed",
    "expired": "expired",
}
"""An export's status as the owner reads it."""


def _why(status: str, error: str | None) -> str | None:
    """Why an export failed or went before its time, in words for the owner: withdrawn by a
    visitor's erasure (``lifecycle.erasure.WITHDRAWN_*``, which say so), its job stopped
    (``exports.LOST``), or it could not be built (the exception's own text, with a server's
    paths, stays in the log). None for an export that simply expired or has not failed."""
    if error and error.startswith("withdrawn:"):
        return error[0].upper() + error[1:] + "."
    if status != "failed":
        return None
    if error == exports.LOST:
        return (
            "Its job stopped before it finished (the server was restarted, say). Request a new one."
        )
    return "It could not be built. Request a new one."


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{max(1, size // 1000)} KB"


async def data_context(page: PageDep, session: SessionDep) -> dict[str, Any]:
    """What the Settings page shows of the section (nothing to whoever may not export)."""
    if not page.may(Action.EXPORT_READ):
        # Every flag the template reads, false: a missing one is an error there (a 500 for
        # every admin and member who opened Settings).
        return {"may_manage_data": False, "may_erase": False, "may_set_retention": False}
    now = utcnow()
    rows = []
    for export in await exports.list_exports(session, page.access, limit=5):
        expired = export.status == "expired" or (
            export.expires_at is not None and export.expires_at <= now
        )
        ready = export.status == "ready" and not expired
        status = "expired" if expired else export.status
        rows.append(
            {
                "created_at": export.created_at,
                "status": status,
                "says": _EXPORT_SAYS.get(status, status),
                "why": _why(status, export.error),
                "size": _megabytes(export.size_bytes) if ready and export.size_bytes else None,
                "expires_at": export.expires_at if ready else None,
                "download": page.url(f"settings/exports/{export.id}/download") if ready else None,
            }
        )
    kept = retention.view(page.access)
    return {
        "may_manage_data": True,
        "may_erase": page.may(Action.VISITOR_ERASE),
        "exports": rows,
        "may_set_retention": page.may(Action.RETENTION_UPDATE),
        "retention": kept,
        "retention_choices": [
            d for d in retention.CHOICES if kept.plan_days is None or d <= kept.plan_days
        ],
        "retention_error": None,
        "erase_values": {"key": "email", "value": ""},
        "erase_errors": {},
    }
