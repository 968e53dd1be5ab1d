"""A form sent from a page shown before the browser signed out and in again (in another tab,
say): its CSRF token was bound to the old session cookie, so ``auth.check_csrf`` refuses it.

When the request came from this site (``Origin`` and ``Sec-Fetch-Site`` say so, neither says
otherwise) and the browser is signed in now, the owner gets the form back instead of "the form
expired": what they typed, a fresh token, nothing applied, and the words to check and send it
again. A request from another site, one that tells nothing of where it came from, or one of a
browser signed out keeps the plain refusal (or the login page), and shows none of its values.
A password is never echoed back; a file is not kept (chosen again).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import Request, Response
from starlette.datastructures import UploadFile

from core.config import Settings
from core.urls import base_url
from dashboard import auth
from dashboard.web import is_htmx, origin_of, render_refused, runtime_of, wants_json

SECRET_NAME = re.compile(r"pass(word|phrase)|secret", re.IGNORECASE)
"""A field whose value is never sent back (the password confirming a change, a new one)."""

LONG_LINE = 80
"""A value longer than this, or of several lines, is shown in a text area."""


def same_origin(request: Request, settings: Settings) -> bool:
    """Whether the browser says this request came from a page of this site: ``Sec-Fetch-Site:
    same-origin``, or an ``Origin`` of this site (PUBLIC_BASE_URL's, or the request's own),
    at least one of them and neither saying otherwise (``same-site`` is a sibling subdomain:
    not this site)."""
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    if site is not None and site.lower() != "same-origin":
        return False
    ours = {origin_of(base_url(settings)), origin_of(str(request.base_url))}
    if origin is not None and origin.rstrip("/") not in ours:
        return False
    return site is not None or origin is not None


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    value: str
    kind: str
    """"text", "textarea" (long or several lines), "password" (empty: typed again), "file"
    (chosen again)."""


def _label(name: str) -> str:
    words = name.replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:] if words else name


def _field(name: str, value: str | UploadFile) -> Field:
    if isinstance(value, UploadFile):
        return Field(name=name, label=_label(name), value="", kind="file")
    if SECRET_NAME.search(name):
        return Field(name=name, label=_label(name), value="", kind="password")
    long = len(value) > LONG_LINE or "\n" in value or "\r" in value
    return Field(name=name, label=_label(name), value=value, kind="textarea" if long else "text")


async def _kept_fields(request: Request) -> list[Field]:
    """What the form sent, to go back into it: every value but the CSRF token's, a password
    or a file as an empty field to fill again (once however often it was sent)."""
    form = await request.form()  # read already by the CSRF check
    fields: list[Field] = []
    emptied: set[str] = set()
    for name, value in form.multi_items():
        field = _field(name, value)
        if name == auth.CSRF_FIELD or name in emptied:
            continue
        if field.kind in ("password", "file"):
            emptied.add(name)
        fields.append(field)
    return fields


async def session_changed(request: Request, *, back: str, navigation: bool) -> Response | None:
    """The form again with what was typed and this session's token (409; htmx's request has it
    swapped into the page), or None for the plain refusal: a request from elsewhere, or not
    from a page (a script's fetch), or of a browser not signed in now."""
    runtime = runtime_of(request)
    if wants_json(request) or not (navigation or is_htmx(request)):
        return None
    if not same_origin(request, runtime.settings):
        return None
    async with runtime.db.transaction() as session:
        user = await auth.authenticate(runtime, session, request)
    if user is None:
        return None
    fields = await _kept_fields(request)
    context = {
        "action": request.url.path + ("?" + request.url.query if request.url.query else ""),
        "fields": fields,
        "secrets": [f.label for f in fields if f.kind == "password"],
        "file_left": any(f.kind == "file" for f in fields),
        "back": back,
    }
    return render_refused(request, "session_changed.html", context, status_code=409)
