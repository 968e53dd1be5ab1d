"""The OpenAPI schema as the API really answers.

FastAPI documents its own ``HTTPValidationError`` (``{"detail": [...]}``) for every 422 and no
other error; the API answers ``{"error": {code, message, details}}`` (``api.errors``) for every
failure. ``install_openapi`` rewrites the generated schema once: the 422s and a ``default``
answer use ``ErrorBody``, each operation lists the error statuses it can answer (the rules of
``_statuses``, plus what a route declares with ``errors(...)``), ``limit`` carries its maximum
(``MAX_PAGE_SIZE``, a setting, so it is filled in here) and a chat message its length
(``MAX_MESSAGE_CHARS``). A route that answers a second success status declares it with
``answers(...)``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from api.input_guard import RAW_BODY_PREFIXES
from core.config import Settings

ERROR_REF = "#/components/schemas/ErrorBody"


class ErrorDetail(BaseModel):
    """One problem: for a validation error the field (dotted path) and what is wrong with it;
    other codes add their own keys (``position`` for ``invalid_json``, ``max_length``...)."""

    model_config = ConfigDict(extra="allow")
    field: str | None = Field(default=None, description="The field, as a dotted path")
    message: str | None = None
    type: str | None = Field(default=None, description="The validation rule that failed")


class ErrorObject(BaseModel):
    code: str = Field(description="Stable machine code: validation_error, not_found, ...")
    message: str = Field(description="A sentence for a person")
    details: list[ErrorDetail] | dict[str, Any] | None = Field(
        description="One entry per problem, an object, or null (always present)"
    )


class ErrorBody(BaseModel):
    """Every error the API answers."""

    error: ErrorObject


# Why each status is answered; which operations list it is decided in ``_statuses``.
_ERRORS: dict[str, str] = {
    "400": "The request cannot be trusted as sent (invalid_signature: the payment provider's"
    " signature does not match the body)",
    "401": "Missing, invalid or expired credentials (unauthorized)",
    "403": "Not allowed for these credentials (forbidden, a plan's or a role's limit)",
    "404": "Nothing with this id in the workspace (not_found)",
    "409": "In conflict with what is stored (a duplicate, a change in progress)",
    "413": "The body is larger than the route accepts (payload_too_large)",
    "415": "The body's media type is not JSON (or, where the route takes one, a form):"
    " unsupported_media_type, details[0].content_type",
    "422": "Invalid input: validation_error (details: one entry per field), invalid_json"
    " (details[0].position), or a code of its own",
    "429": "Too many requests (rate_limited; Retry-After says when to try again)",
    "503": "A dependency is unavailable (database_unavailable; Retry-After)",
}
_FILE_415 = (
    "; or the file's type is not supported (unsupported_media_type), or its name or declared"
    " type says PDF or DOCX and its bytes are not (content_type_mismatch)"
)
"""What a 415 also means on a route that takes a file (a multipart body): said there only."""
_AUTH_HEADERS = frozenset({"authorization", "x-widget-key"})
_WRITES = frozenset({"post", "put", "patch", "delete"})
# The chat message models whose ``message`` is 1..MAX_MESSAGE_CHARS characters.
_CHAT_MODELS = ("ChatIn", "OwnerChatIn")


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses=`` for error statuses it answers that ``_statuses``' rules do not
    list (a 409 on a write without a body, a 401 for wrong credentials on a route that takes
    none): ``rewrite`` documents each with ``ErrorBody``."""
    return {status: {"description": _ERRORS[str(status)]} for status in statuses}


def answers(status: int, model: type[BaseModel], description: str) -> dict[int | str, Any]:
    """A route's ``responses=`` for a second success status (a duplicate answered 200 next to
    the 201 or 202 of a new one), with the body it carries."""
    return {status: {"model": model, "description": description}}


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
    }


def _statuses(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    params = operation.get("parameters", [])
    statuses = ["422"] if "422" in operation["responses"] or operation.get("requestBody") else []
    if any(p["in"] == "header" and p["name"].lower() in _AUTH_HEADERS for p in params):
        statuses += ["401", "403"]
    if any(p["in"] == "path" for p in params):
        statuses.append("404")
    raw = path.startswith(RAW_BODY_PREFIXES)  # read as they come: no 415, no 409/413
    if method in _WRITES and operation.get("requestBody") and not raw:
        statuses += ["409", "413"]
    if method in _WRITES and path.startswith("/api/") and not raw:
        # A body whose media type is not JSON (api.input_guard), on any write.
        statuses.append("415")
    if path.startswith("/api/"):
        statuses += ["429", "503"]
    # What the route declared (``errors``): FastAPI put it in ``responses`` already.
    statuses += [s for s in operation["responses"] if s.isdigit() and int(s) >= 400]
    return list(dict.fromkeys(statuses))


def rewrite(
    schema: dict[str, Any], *, max_page_size: int, max_message_chars: int
) -> dict[str, Any]:
    """``schema`` (FastAPI's) with the house error shape, the page size's maximum and the chat
    message's length."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for model in (ErrorBody, ErrorObject, ErrorDetail):
        model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        model_schema.pop("$defs", None)
        components[model.__name__] = model_schema
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            for status in _statuses(path, method, operation):
                description = _ERRORS.get(status) or responses[status]["description"]
                if status == "415" and _takes_file(operation):
                    description += _FILE_415
                responses[status] = _error_response(description)
            responses["default"] = _error_response("Any other error, in the same shape")
            for param in operation.get("parameters", []):
                if param["in"] == "query" and param["name"] == "limit":
                    _limit_schema(param, max_page_size)
    for name in _CHAT_MODELS:
        # ``message_too_long`` (422) past MAX_MESSAGE_CHARS, a setting: filled in here.
        message = components.get(name, {}).get("properties", {}).get("message")
        if message is not None:
            message.update(minLength=1, maxLength=max_message_chars)
    return schema


def _takes_file(operation: dict[str, Any]) -> bool:
    return "multipart/form-data" in operation.get("requestBody", {}).get("content", {})


def _limit_schema(param: dict[str, Any], max_page_size: int) -> None:
    """``limit`` as the API reads it: an integer from 1 to MAX_PAGE_SIZE, by default
    ``min(20, MAX_PAGE_SIZE)`` (``api.deps.page_limit``; its ``None`` only means "not given")."""
    schema = param["schema"]
    if "anyOf" in schema:  # LimitDep's (a route's own ``limit`` keeps its default)
        schema = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
        schema.update(type="integer", minimum=1, default=min(20, max_page_size))
        param["schema"] = schema
    schema.setdefault("maximum", max_page_size)


def install_openapi(app: FastAPI, settings: Settings) -> None:
    """``app.openapi()`` (and /openapi.json) answer the rewritten schema, built once."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # FastAPI's, cached until a route is added
        if "ErrorBody" not in schema.get("components", {}).get("schemas", {}):
            rewrite(
                schema,
                max_page_size=settings.max_page_size,
                max_message_chars=settings.max_message_chars,
            )
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def document_body(json_models: list[type[BaseModel]], *, description: str) -> dict[str, Any]:
    """A document route's ``requestBody``: a multipart upload (``file``, optional ``title``)
    or one of ``json_models`` as JSON (the route reads the body itself)."""
    alternatives = [m.model_json_schema() for m in json_models]
    json_schema = alternatives[0] if len(alternatives) == 1 else {"oneOf": alternatives}
    return {
        "required": True,
        "description": description,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "title": {"type": "string", "description": "cut to 300 characters"},
                    },
                }
            },
            "application/json": {"schema": json_schema},
        },
    }
