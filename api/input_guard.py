"""JSON request bodies that no handler should see: not UTF-8, nested too deep, or carrying
lone surrogates.

These used to reach a handler and end in a 500: Python's JSON decoder recurses once per level
(``RecursionError`` near 1,000 levels, and a validation error echoing a deep value recurses
again), and a ``\\ud800`` escape, raw surrogate bytes (``ED A0 80``, which ``json.loads``
decodes with ``surrogatepass``) or a UTF-16 body (which it detects) all decode to a string that
cannot be encoded as UTF-8 (so the database driver, the log or the embedder fails on it much
later). One check here, before any route parses the body, covers every JSON endpoint, including
the ones that read ``request.json()`` themselves:

* a body that is not UTF-8 text (RFC 8259 requires it): 422 ``invalid_json`` "not UTF-8 text",
  with the byte position, as a route answers a body that does not decode;
* deeper than ``MAX_JSON_DEPTH`` arrays/objects: 422 ``json_too_deep``;
* a ``\\uD800``-``\\uDFFF`` escape that is not half of a valid pair: 422 ``invalid_text``,
  with the field's path in ``details``.

Every check is linear in the body's size (the guard runs before authentication, so a slow path
here is a denial of service for anyone), and a body over ``THREAD_ABOVE`` bytes is checked in a
worker thread so that even a megabyte leaves the event loop free. Only bodies that could hold a
problem are looked at closely (more opening brackets than the limit, a surrogate escape); the
rest pass after a few byte scans. Bodies that are not JSON at all are left to the route (it
answers its usual 4xx). The payment webhook's raw body, and whatever a mail client posts to the
one-click unsubscribe, stream through untouched.

Media types: under ``/api/`` a write's body (POST, PUT, PATCH, DELETE with a non-empty body) is
JSON: ``application/json`` or any ``application/*+json``, in any case. Any other media type, or
none, is 415 ``unsupported_media_type`` (``details[0].content_type``) on every route alike: a
``curl -d`` body (form-urlencoded), ``text/plain`` or a body without a Content-Type got 422
"Input should be a valid dictionary" from a body model and 415 (or, without a type, a reading
as JSON) from the document routes. The routes that take a form
(``FORM_ROUTES``: a document's multipart upload) get theirs untouched, as does every form
outside ``/api/`` (the dashboard's); the mail clients' one-click unsubscribe reads no body and
takes any (``RAW_BODY_PREFIXES``).
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

import anyio.to_thread
import numpy as np
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import invalid_json, json_parse_error
from api.middleware import send_error
from core.errors import AppError, UnsupportedMediaType, ValidationFailed
from core.text import LONE_SURROGATE

MAX_JSON_DEPTH: Final = 64
# A body larger than this is checked in a worker thread, off the event loop.
THREAD_ABOVE: Final = 64 * 1024
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_MEDIA_TYPES: Final = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})
# Routes that take the raw body and answer any content themselves: the payment webhook verifies
# a signature over the exact bytes and must answer 200 to whatever Razorpay signed (else it
# retries for a day).
# The one-click unsubscribe reads no body: mail clients post "List-Unsubscribe=One-Click"
# (RFC 8058) as a form, or with no Content-Type at all, and each must unsubscribe.
RAW_BODY_PREFIXES: Final = ("/api/v1/billing/webhooks", "/api/v1/notifications/unsubscribe")
# The API routes that take a form, and which form media types each takes: a document's upload
# (POST .../documents, PUT .../documents/{id}).
FORM_ROUTES: Final = (
    (re.compile(r"/api/v1/workspaces/[^/]+/documents(?:/[^/]+)?/?"), {"multipart/form-data"}),
)
# An escape pair (``\"``, ``\\``, ``\u``...), then a string without escapes. Removing the
# pairs first, left to right, leaves no backslash a string pattern would have to backtrack over:
# ``"[^"]*"`` fails at most once (the last, unterminated string) and so the whole pass is linear.
# (The single pattern ``"[^"\\]*(?:\\.[^"\\]*)*"`` retried from every quote was quadratic: a
# bracket-heavy body of ``"`` then ``\"`` repeated held the event loop for minutes.)
_ESCAPE: Final = re.compile(rb"\\.", re.DOTALL)
_STRING: Final = re.compile(rb'"[^"]*"')
_SURROGATE_ESCAPE: Final = re.compile(rb"\\u[dD][89a-fA-F]")
SURROGATE_IN_FIELD: Final = "contains an unpaired UTF-16 surrogate"
_ALL_BUT_BRACKETS: Final = bytes(b for b in range(256) if b not in b"[]{}")


def media_type(content_type: str | bytes | None) -> str:
    """A Content-Type's media type: the part before any parameter, stripped and lowercased
    (media types are case-insensitive, RFC 2045 5.1); "" when there is none."""
    if isinstance(content_type, bytes):
        content_type = content_type.decode("latin-1")
    return (content_type or "").split(";", 1)[0].strip().lower()


def json_depth_exceeds(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``body`` nests arrays/objects deeper than ``limit`` (brackets inside strings do
    not count). Linear time, no recursion, whatever the input."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    outside_strings = _STRING.sub(b'""', _ESCAPE.sub(b"", body))
    brackets = np.frombuffer(
        outside_strings.translate(None, delete=_ALL_BUT_BRACKETS), dtype=np.uint8
    )
    if brackets.size <= limit:
        return False
    opens = (brackets == ord("[")) | (brackets == ord("{"))
    steps = opens.astype(np.int64) * 2 - 1
    return int(np.cumsum(steps).max()) > limit


def lone_surrogate_field(body: bytes) -> tuple[bool, str | None]:
    """(found, the field's dotted path) for the first string holding an unpaired surrogate.

    A valid pair (``\\ud83d\\ude00``) decodes to one character and passes; a literal
    backslash (``\\\\ud800``) is ordinary text."""
    if not _SURROGATE_ESCAPE.search(body):
        return False, None
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return False, None  # not JSON: the route answers it
    stack: list[tuple[tuple[str, ...], Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if LONE_SURROGATE.search(item):
                return True, ".".join(path) or None
        elif isinstance(item, dict):
            for key, child in item.items():
                if LONE_SURROGATE.search(key):
                    return True, ".".join(path) or None
                stack.append(((*path, key), child))
        elif isinstance(item, list):
            stack.extend(((*path, str(i)), child) for i, child in enumerate(item))
    return False, None


def not_utf8(body: bytes) -> ValidationFailed | None:
    """422 ``invalid_json`` "not UTF-8 text" (at the first bad byte) for a body that is not
    strict UTF-8: raw surrogate bytes, Latin-1..., or one the JSON decoder would read as UTF-16
    or UTF-32 (NUL bytes among the first four), whose bytes may happen to be UTF-8 too."""
    if json.detect_encoding(body) not in ("utf-8", "utf-8-sig"):
        return invalid_json(0, "not UTF-8 text")
    if body.isascii():
        return None
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return json_parse_error(exc)
    return None


def body_refusal(body: bytes) -> AppError | None:
    """Why no handler should see this JSON body, or None."""
    if (refused := not_utf8(body)) is not None:
        return refused
    if json_depth_exceeds(body):
        return ValidationFailed(
            f"JSON may nest arrays and objects at most {MAX_JSON_DEPTH} levels deep",
            code="json_too_deep",
            details=[{"field": None, "max_depth": MAX_JSON_DEPTH}],
        )
    found, field = lone_surrogate_field(body)
    if found:
        return ValidationFailed(
            "Text must be valid Unicode: an unpaired surrogate (\\ud800-\\udfff) was sent",
            code="invalid_text",
            details=[{"field": field, "message": SURROGATE_IN_FIELD}],
        )
    return None


def is_json_media_type(kind: str) -> bool:
    """``application/json`` or any ``application/*+json``, for a ``media_type``. A body with no
    Content-Type is not JSON: FastAPI's body models never read it as such (strict content
    type), so it is 415 like any other."""
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


def takes_form(path: str, kind: str) -> bool:
    """Whether the route at ``path`` reads a body of this form media type itself: any form
    outside the API (the dashboard's pages), the API's ``FORM_ROUTES``."""
    if not path.startswith("/api/"):
        return kind in FORM_MEDIA_TYPES
    return any(kind in kinds and pattern.fullmatch(path) for pattern, kinds in FORM_ROUTES)


def unsupported_media_type(kind: str, path: str) -> UnsupportedMediaType:
    """415 for an API body that is neither JSON nor a form its route takes (named)."""
    forms = sorted(
        {form for pattern, kinds in FORM_ROUTES if pattern.fullmatch(path) for form in kinds}
    )
    accepted = " or ".join([*forms, "JSON (application/json)"])
    return UnsupportedMediaType(
        f"Send the body as {accepted}", details=[{"field": None, "content_type": kind}]
    )


def _content_type(scope: Scope) -> bytes:
    return _header(scope, b"content-type")


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value)
    return b""


CONTENT_ENCODING_REFUSED = (
    "Request bodies are read as sent: send it without Content-Encoding (or with identity)"
)


def _encoded(scope: Scope) -> str | None:
    """The request's ``Content-Encoding`` when it names a coding other than identity: such a
    body was read as it came, so a gzip JSON body was refused "not UTF-8" and a plain body
    labelled ``br`` was taken."""
    coding = _header(scope, b"content-encoding").decode("latin-1").strip()
    codings = [c.strip().lower() for c in coding.split(",") if c.strip()]
    return coding[:40] if any(c != "identity" for c in codings) else None


class JsonInputGuardMiddleware:
    """415 for an API body that is not JSON (nor a form its route takes), and for any body
    sent with a ``Content-Encoding`` (``unsupported_content_encoding``: none is decoded); 422
    for a JSON body that is not UTF-8, is nested deeper than ``MAX_JSON_DEPTH`` or holds a
    lone surrogate."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if scope["type"] == "http" and scope.get("method") in _BODY_METHODS:
            coding = _encoded(scope)
            if coding is not None:  # RFC 7694: 415, saying which coding is read
                await send_error(
                    send,
                    415,
                    "unsupported_content_encoding",
                    CONTENT_ENCODING_REFUSED,
                    {"content_encoding": coding},
                    extra_headers=[(b"accept-encoding", b"identity")],
                )
                return
        kind = media_type(_content_type(scope))
        if (
            scope["type"] != "http"
            or scope.get("method") not in _BODY_METHODS
            or path.startswith(RAW_BODY_PREFIXES)
            or takes_form(path, kind)
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)

        if body and path.startswith("/api/") and not is_json_media_type(kind):
            refused: AppError | None = unsupported_media_type(kind, path)
        elif len(body) > THREAD_ABOVE:
            refused = await anyio.to_thread.run_sync(body_refusal, body)
        else:
            refused = body_refusal(body)
        if refused is not None:
            await send_error(
                send, refused.status_code, refused.code, refused.message, refused.details
            )
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
