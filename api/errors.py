"""One error shape for every failure: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import json
import logging
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import sentry_sdk
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from api.middleware import StartTracking
from api.widget_cors import cors_headers, is_widget_path
from core.errors import NUL_IN_TEXT, AppError, ValidationFailed

log = logging.getLogger("trulybot.errors")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "service_unavailable",
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def invalid_json(position: int | None, reason: str) -> ValidationFailed:
    """422 ``invalid_json`` for a body that is no JSON, on every route alike (a body model, or a
    route that reads the JSON itself): ``details[0].position`` is where reading stopped, in
    characters (in bytes when the body is not UTF-8 text)."""
    where = f" at position {position}" if position is not None else ""
    return ValidationFailed(
        f"The body is not valid JSON: {reason}{where}",
        code="invalid_json",
        details=[{"field": None, "position": position, "message": reason}],
    )


def json_parse_error(exc: BaseException) -> ValidationFailed | None:
    """``invalid_json`` for what parsing a body raised (``json.loads`` of its bytes), or None."""
    if isinstance(exc, json.JSONDecodeError):
        return invalid_json(exc.pos, exc.msg)
    if isinstance(exc, UnicodeDecodeError):
        return invalid_json(exc.start, "not UTF-8 text")
    if isinstance(exc, ValueError) and "integer string conversion" in str(exc):
        # Python reads no integer of more than 4,300 digits (CVE-2020-10735): valid JSON, but no
        # number any field takes; it was a bare 400 ``bad_request`` (on uploads a 422 that
        # named the wrong thing).
        reason = "a number in it has more than 4,300 digits"
        return ValidationFailed(
            f"The body cannot be read: {reason}",
            code="invalid_json",
            details=[{"field": None, "position": None, "message": reason}],
        )
    return None


def _json_invalid(exc: RequestValidationError) -> ValidationFailed | None:
    """FastAPI's report of a body model's JSON that did not parse (``json_invalid``, the
    position as the field), as ``invalid_json``."""
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            loc = err.get("loc", ())
            position = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
            return invalid_json(position, str((err.get("ctx") or {}).get("error") or "not JSON"))
    return None


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ()) if part not in ("body",)]
        details.append(
            {
                "field": ".".join(loc) if loc else None,
                "message": str(err.get("msg", "invalid")),
                "type": str(err.get("type", "invalid")),
            }
        )
    return details


_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path (HEAD wherever GET is): each one
    tried against the routes, whose nesting (included routers) is FastAPI's own."""
    routes = request.app.router.routes
    methods = {
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    }
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


DATABASE_RETRY_AFTER = "5"
DATABASE_BUSY_RETRY_AFTER = "2"
DATABASE_MESSAGES = {
    "database_busy": "The service is busy; try again shortly",
    "database_unavailable": "The database is unavailable; try again shortly",
}
"""What a visitor or client is told of a database failure that is no bug, by its code."""
_DATABASE_MODULES = ("asyncpg", "sqlalchemy")


def _raised_by_database_driver(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        if module.startswith(_DATABASE_MODULES):
            return True
        tb = tb.tb_next
    return False


def is_database_unavailable(exc: BaseException) -> bool:
    """Could not reach PostgreSQL (refused, no socket, timed out, connection lost)."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
        cause = getattr(orig, "__cause__", None)
        return isinstance(
            orig, asyncpg.PostgresConnectionError | asyncpg.InterfaceError | OSError
        ) or isinstance(cause, asyncpg.PostgresConnectionError | OSError)
    if isinstance(
        exc, asyncpg.PostgresConnectionError | asyncpg.exceptions.ConnectionDoesNotExistError
    ):
        return True
    if isinstance(exc, asyncpg.TooManyConnectionsError | asyncpg.CannotConnectNowError):
        return True
    return isinstance(exc, OSError) and _raised_by_database_driver(exc)


_CONFLICTS = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


def is_transaction_conflict(exc: BaseException) -> bool:
    """PostgreSQL rolled the transaction back because it met another's at the same moment (a
    deadlock, a serialization failure): nothing of it was stored, and the same request again
    can succeed."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _CONFLICTS):
            return True
        current = getattr(current, "orig", None) or current.__cause__
    return False


def database_error_code(exc: BaseException) -> str | None:
    """The stable code of a database failure that is no bug (a 503, logged as a warning, not
    sent to Sentry): ``database_busy`` when no pooled connection came free within
    DB_POOL_TIMEOUT_SECONDS (every one held by other requests) or the transaction met
    another's and was rolled back (``is_transaction_conflict``), ``database_unavailable`` when
    PostgreSQL could not be reached (``is_database_unavailable``); None for anything else."""
    if isinstance(exc, PoolTimeout) or is_transaction_conflict(exc):
        return "database_busy"
    return "database_unavailable" if is_database_unavailable(exc) else None


def is_unstorable_text(exc: BaseException) -> bool:
    """PostgreSQL refused a string (a NUL byte, an invalid sequence), or the driver could not
    encode one (a lone surrogate: ``UnicodeEncodeError``, raised as asyncpg's ``DataError``
    "invalid input for query argument"): the client's input."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(
            current,
            asyncpg.CharacterNotInRepertoireError
            | asyncpg.UntranslatableCharacterError
            | UnicodeEncodeError,
        ):
            return True
        current = getattr(current, "orig", None) or current.__cause__
    return False


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        if exc.status_code == 404 and exc.code == "not_found":
            request.state.cross_tenant_miss = True
        return JSONResponse(exc.to_dict(), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        if (malformed := _json_invalid(exc)) is not None:
            return JSONResponse(malformed.to_dict(), status_code=malformed.status_code)
        return JSONResponse(
            error_body("validation_error", "Invalid input", _field_errors(exc)), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI's 400 "There was an error parsing the body" for a JSON body that is not
        # UTF-8 text: the same 422 as any other malformed JSON.
        cause = exc.__cause__
        malformed = json_parse_error(cause) if exc.status_code == 400 and cause else None
        if malformed is not None:
            return JSONResponse(malformed.to_dict(), status_code=malformed.status_code)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        headers = exc.headers
        if exc.status_code == 405 and "Allow" in (headers or {}):
            # A route's 405: Starlette names the methods of the first route whose path matched.
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
        return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=headers)

    async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        if is_unstorable_text(exc):
            return JSONResponse(
                error_body(
                    "invalid_text",
                    NUL_IN_TEXT,
                    [{"field": None, "message": "contains a character that cannot be stored"}],
                ),
                status_code=422,
            )
        if is_transaction_conflict(exc):
            return await _database_busy(request, exc)
        if not is_database_unavailable(exc):
            sentry_sdk.capture_exception(exc)
            return unhandled_response(request.scope, exc)  # logged, with the request's id
        log.warning(
            "database unavailable on %s %s: %s: %s",
            request.method,
            request.url.path,
            type(exc).__name__,
            exc,
        )
        return JSONResponse(
            error_body("database_unavailable", DATABASE_MESSAGES["database_unavailable"]),
            status_code=503,
            headers={"Retry-After": DATABASE_RETRY_AFTER},
        )

    async def _database_busy(request: Request, exc: Exception) -> JSONResponse:
        log.warning(
            "database busy on %s %s: %s: %s",
            request.method,
            request.url.path,
            "a conflicting transaction" if is_transaction_conflict(exc) else "no pooled connection",
            exc,
        )
        return JSONResponse(
            error_body("database_busy", DATABASE_MESSAGES["database_busy"]),
            status_code=503,
            headers={"Retry-After": DATABASE_BUSY_RETRY_AFTER},
        )

    app.add_exception_handler(PoolTimeout, _database_busy)
    for exc_class in (
        OSError,
        DBAPIError,
        asyncpg.PostgresConnectionError,
        asyncpg.InterfaceError,
        asyncpg.TooManyConnectionsError,
        asyncpg.CannotConnectNowError,
    ):
        app.add_exception_handler(exc_class, _database_unavailable)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        # Only what failed outside UnhandledErrorMiddleware (in a middleware around it) ends
        # here, sent by Starlette's ServerErrorMiddleware outside every middleware: the widget's
        # CORS headers are added here, or the widget's browser hides the 500 from it.
        response = unhandled_response(request.scope, exc)
        if is_widget_path(request.scope.get("path", "")):
            response.raw_headers.extend(cors_headers(request.scope, response.status_code))
        return response


def unhandled_response(scope: Scope, exc: BaseException) -> JSONResponse:
    """The 500 for an error no handler expected, logged with its traceback; the body names the
    request's id, which the access log and the error's log line carry too."""
    request_id = scope.get("state", {}).get("request_id")
    log.error(
        "unhandled error on %s %s",
        scope.get("method", ""),
        scope.get("path", ""),
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    return JSONResponse(
        error_body(
            "internal_error",
            "Something went wrong on our side",
            {"request_id": request_id} if request_id else None,
        ),
        status_code=500,
    )


class UnhandledErrorMiddleware:
    """Answers an unexpected error's 500 inside the middlewares that add the request id, the
    security headers, the widget's CORS and the access log line, so the 500 carries them all
    (Starlette sends its own from outside every middleware). An error after the response
    started cannot be answered: it is raised on, and the connection ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracking_send = StartTracking(send)
        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if tracking_send.started:
                raise
            await unhandled_response(scope, exc)(scope, receive, send)
