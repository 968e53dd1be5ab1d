"""A posted form's text that cannot be encoded: refused before any handler reads it.

A multipart body is decoded with the ``charset`` its Content-Type names, whichever codec that
is: under UTF-7 or ``unicode_escape`` plain ASCII decodes to an unpaired surrogate (U+D800 to
U+DFFF), which UTF-8 cannot encode. A dashboard form refused for its input shows what was typed
again, and that page could not be sent (the 500 page, on the sign-in form too); the API's
upload refusing an unknown field names it, and that JSON could not be sent either. Browsers
send forms as UTF-8 and name no charset, so only a hand-made request meets this refusal (JSON
bodies have theirs in ``api.input_guard``).
"""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import UploadFile

from api.input_guard import SURROGATE_IN_FIELD, media_type
from core.errors import ValidationFailed
from core.text import LONE_SURROGATE

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

NOT_UNICODE = (
    "The form holds text that is not valid Unicode (an unpaired surrogate): send it again as UTF-8."
)


class NotUnicode(ValidationFailed):
    """422 ``invalid_text``: a field (its name, its value, or a file's name) decoded to an
    unpaired surrogate."""

    code = "invalid_text"
    message = NOT_UNICODE


def _texts(name: str, value: str | UploadFile) -> tuple[str, ...]:
    if isinstance(value, UploadFile):
        return (name, value.filename or "")
    return (name, value)


async def refuse_lone_surrogates(request: Request) -> None:
    """``NotUnicode`` when the posted form holds an unpaired surrogate anywhere (a field's
    name or value, a file's name: ``details`` names each such field, its surrogates shown as
    U+FFFD); the form is read here (Starlette keeps it for whoever reads it next)."""
    if media_type(request.headers.get("content-type")) not in FORM_TYPES:
        return
    form = await request.form()
    refused = sorted(
        {
            name
            for name, value in form.multi_items()
            if any(LONE_SURROGATE.search(part) for part in _texts(name, value))
        }
    )
    if refused:
        details = [
            {"field": LONE_SURROGATE.sub("\ufffd", name), "message": SURROGATE_IN_FIELD}
            for name in refused
        ]
        raise NotUnicode(details=details)
