"""Widget: name, greeting, colour, avatar, position, suggested questions, allowed sites, lead
capture, the hourly caps on new conversations and the texts visitors read (every setting the
JSON API takes, with the same schema), with a live preview of the real widget.js and the embed
snippet."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import quote_plus, urlsplit

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from api.deps import SessionDep
from api.middleware import html_security_headers
from core.errors import ValidationFailed
from dashboard.page_route import PageRoute
from dashboard.pages.common import (
    InvalidText,
    PageDep,
    app_errors,
    field_errors,
    form_fields,
)
from dashboard.pages.form_messages import plain_message
from dashboard.web import redirect, render, templates
from widget.config import (
    MAX_CONVERSATION_CAP,
    WidgetConfigIn,
    embed_base_url,
    merged,
    snippet,
)
from workspaces import service
from workspaces.widget_texts import TEXT_FIELDS, TextName

router = APIRouter(route_class=PageRoute)

_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_WHOLE_NUMBER = re.compile(r"^[+-]?\d{1,12}$")
CAPS = ("max_conversations_per_ip_per_hour", "max_conversations_per_hour")

TEXT_GROUPS: tuple[tuple[str, str, tuple[TextName, ...]], ...] = (
    (
        "replies",
        "What the bot replies",
        (
            "dont_know",
            "unavailable",
            "handoff",
            "thanks_reply",
            "goodbye_reply",
            "bot_identity_reply",
            "unclear_reply",
            "documentation_prefix",
            "no_contact_hint",
        ),
    ),
    (
        "contact-form",
        "The contact form",
        (
            "lead_prompt",
            "lead_prompt_before",
            "lead_prompt_handoff",
            "lead_prompt_unavailable",
            "email_label",
            "name_label",
            "phone_label",
            "send_button",
            "skip_button",
            "lead_thanks",
            "lead_invalid_email",
            "lead_invalid_phone",
            "lead_contact_missing",
            "lead_name_too_long",
            "lead_check_details",
            "lead_rate_limited",
            "lead_form_label",
        ),
    ),
    (
        "chat-window",
        "The chat window",
        (
            "placeholder",
            "retry_button",
            "new_conversation",
            "close_label",
            "answer_interrupted",
            "feedback_thanks",
            "feedback_failed",
            "count_label",
            "shortened_label",
            "source_label",
            "page_label",
        ),
    ),
    (
        "errors",
        "The chat window's error messages",
        tuple(name for name in TEXT_FIELDS if name.startswith("error_")),
    ),
    (
        "screen-readers",
        "What screen readers read",
        (
            "open_label",
            "panel_label",
            "message_label",
            "send_label",
            "typing_label",
            "you_label",
            "conversation_label",
            "suggestions_label",
            "sources_label",
            "helpful_label",
            "not_helpful_label",
        ),
    ),
)
"""The texts' fields on the form, grouped by where a visitor reads them (id, legend, names)."""


def text_groups() -> list[tuple[str, str, list[TextName]]]:
    """``TEXT_GROUPS``, and any text no group names in a last one: every text has its field,
    or saving the form would empty the one left out (an absent field is an empty text)."""
    grouped = {name for _, _, names in TEXT_GROUPS for name in names}
    groups = [(key, legend, list(names)) for key, legend, names in TEXT_GROUPS]
    rest = [name for name in TEXT_FIELDS if name not in grouped]
    return groups + ([("other", "Other texts", rest)] if rest else [])


def _lines(value: object) -> list[str]:
    return [line.strip() for line in str(value or "").splitlines() if line.strip()]


def _number(value: object) -> int | str | None:
    """A whole number typed in a form field as an int (empty: None); anything else stays text,
    for the settings' schema to refuse with its own message."""
    text = str(value or "").strip()
    if not text:
        return None
    return int(text) if _WHOLE_NUMBER.match(text) else text


def site_of(line: str) -> str:
    """A page's address pasted as an allowed site ("https://shop.example.com/kayaks/index.html",
    copied from the address bar) as the site it is on ("https://shop.example.com"): the form
    takes it so, the notice says so. Anything else stays as typed, for the strict check (the
    JSON API's) to judge."""
    try:
        parts = urlsplit(line)
    except ValueError:
        return line
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        return line
    if parts.path in ("", "/") and not parts.query and not parts.fragment:
        return line
    if "\\" in line or any(ch.isspace() for ch in line):
        return line
    return f"{parts.scheme}://{parts.netloc}"


def _changes(fields: dict[str, Any]) -> dict[str, Any]:
    """The form's fields as the widget's settings (empty text: back to the default)."""
    lead_fields = fields.get("lead_fields") or []
    return {
        "bot_name": str(fields.get("bot_name") or "").strip() or None,
        "avatar_url": str(fields.get("avatar_url") or "").strip() or None,
        "greeting": str(fields.get("greeting") or "").strip() or None,
        "primary_color": str(fields.get("primary_color") or "").strip() or None,
        "position": fields.get("position") or None,
        "lead_capture": fields.get("lead_capture") or None,
        "lead_fields": lead_fields if isinstance(lead_fields, list) else [lead_fields],
        "suggested_questions": _lines(fields.get("suggested_questions")),
        "allowed_origins": [site_of(line) for line in _lines(fields.get("allowed_origins"))],
        **{cap: _number(fields.get(cap)) for cap in CAPS},
        # Each text's input is "text_<name>"; empty: the English default.
        "texts": {name: _text(fields.get(f"text_{name}")) for name in TEXT_FIELDS},
    }


def _text(value: object) -> str | None:
    return str(value or "").strip() or None


def _form_errors(exc: ValidationError) -> dict[str, str]:
    """The schema's refusals by form field: a text's ("texts", name) is its input's."""
    errors = field_errors(exc)
    for err in exc.errors():
        loc = err["loc"]
        if len(loc) > 1 and loc[0] == "texts":
            errors.setdefault(f"text_{loc[1]}", plain_message(err))
    return errors


def _context(
    request: Request,
    page: PageDep,
    errors: dict[str, str],
    submitted: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The form's context: the saved settings, or what was ``submitted`` when it is refused."""
    workspace = page.access.workspace
    settings = request.app.state.runtime.settings
    values = merged(workspace.widget_config, workspace_name=workspace.name)
    values["texts"] = values["texts"].model_dump()
    # Refused: the form as it was sent, an emptied field empty (not the saved value again,
    # which the next save would quietly put back).
    values.update({k: "" if v is None else v for k, v in (submitted or {}).items()})
    return {
        "page": page,
        "values": values,
        "cap_defaults": {
            "max_conversations_per_ip_per_hour": settings.widget_conversations_per_ip_per_hour,
            "max_conversations_per_hour": settings.widget_conversations_per_hour,
        },
        "cap_max": MAX_CONVERSATION_CAP,
        "snippet": snippet(embed_base_url(settings), workspace.public_key),
        "sites_required": not settings.is_development,
        "sites_listed": bool((workspace.widget_config or {}).get("allowed_origins")),
        "errors": errors,
        "text_fields": TEXT_FIELDS,
        "text_groups": text_groups(),
        # The texts open when any is written or refused (a closed one would hide its error).
        "texts_written": sum(1 for text in values["texts"].values() if text),
        "texts_refused": any(name.startswith("text_") for name in errors),
    }


@router.get("/w/{workspace_id}/widget")
async def widget_page(request: Request, page: PageDep) -> Response:
    return render(request, "widget.html", _context(request, page, {}))


@router.post("/w/{workspace_id}/widget")
async def save_widget(request: Request, page: PageDep, session: SessionDep) -> Response:
    try:
        fields = await form_fields(request)
        submitted = _changes(fields)
    except InvalidText as exc:
        context = _context(request, page, app_errors(exc), _changes(exc.fields))
        return render(request, "widget.html", context, status_code=422)
    typed = dict(submitted)  # shown again as it was sent when the form is refused
    workspace = page.access.workspace
    shown = merged(workspace.widget_config, workspace_name=workspace.name)
    if not (workspace.widget_config or {}).get("greeting") and (
        submitted["greeting"] == shown["greeting"]
    ):
        # The default greeting the form showed, sent back unchanged: it stays the default, which
        # names the bot, so a new bot name shows in it (not the old one, kept as custom text).
        submitted["greeting"] = None
    try:
        changes = WidgetConfigIn.model_validate(submitted).model_dump()
    except ValidationError as exc:
        context = _context(request, page, _form_errors(exc), typed)
        return render(request, "widget.html", context, status_code=422)
    except ValidationFailed as exc:  # a validator's own refusal (an allowed site that is none)
        errors = {_field_of(exc): _in_form_words(exc)}
        context = _context(request, page, errors, typed)
        return render(request, "widget.html", context, status_code=422)
    await service.update_widget_config(session, page.access, changes)
    notice = "Saved"
    pages = [line for line in _lines(fields.get("allowed_origins")) if site_of(line) != line]
    if pages:
        shown_page = pages[0] if len(pages[0]) <= 60 else pages[0][:57] + "..."
        notice = (
            f"Saved. Allowed websites are whole sites: {shown_page} was saved as "
            f"{site_of(pages[0])}" + (f" (and {len(pages) - 1} more likewise)" if pages[1:] else "")
        )
    return redirect(request, page.url("widget") + "?notice=" + quote_plus(notice))


def _in_form_words(exc: ValidationFailed) -> str:
    """The refusal's reason as the form shows it beside its field: a message that starts with
    the JSON API's path of the field ("texts.page_label holds ...") starts "This text holds
    ..." (the owner reads the field's label, never that path)."""
    details = exc.details if isinstance(exc.details, list) else []
    first = details[0] if details and isinstance(details[0], dict) else {}
    path = str(first.get("field") or "")
    if path and exc.message.startswith(path + " "):
        return "This text " + exc.message.removeprefix(path + " ")
    return exc.message


def _field_of(exc: ValidationFailed) -> str:
    """The form field a refusal is about (the allowed sites when it names an origin)."""
    if isinstance(exc.details, list) and exc.details and isinstance(exc.details[0], dict):
        field = str(exc.details[0].get("field") or "")
        if field.startswith("texts."):  # a control character in one of the texts
            return "text_" + field.removeprefix("texts.")
        if field.partition(".")[0] in ("bot_name", "greeting", "suggested_questions"):
            return field.partition(".")[0]  # a control character in the name, greeting, questions
    details = exc.details if isinstance(exc.details, dict) else {}
    return "allowed_origins" if "origin" in details else "_form"


@router.post("/w/{workspace_id}/widget/rotate-key")
async def rotate_key(request: Request, page: PageDep, session: SessionDep) -> Response:
    """A new public key (the old one stops at once); the page shows the new snippet."""
    await service.rotate_public_key(session, page.access)
    return redirect(request, page.url("widget") + "?notice=New+key+made:+paste+the+new+snippet")


@router.get("/w/{workspace_id}/widget/preview")
async def preview(
    request: Request,
    page: PageDep,
    color: Annotated[str | None, Query(max_length=7)] = None,
    position: Annotated[str | None, Query(pattern="^bottom-(left|right)$")] = None,
) -> Response:
    """A page that runs the real widget.js with this workspace's key (framed by the widget
    page; the colour and position from the form override the saved ones)."""
    values = merged(page.access.workspace.widget_config, workspace_name=page.access.workspace.name)
    html = templates.get_template("widget_preview.html").render(
        public_key=page.access.workspace.public_key,
        color=color if color and _COLOR.match(color) else values["primary_color"],
        position=position or values["position"],
    )
    headers = html_security_headers(html)
    headers["X-Frame-Options"] = "SAMEORIGIN"
    headers["Cache-Control"] = "no-store"
    return HTMLResponse(html, headers=headers)
