"""Domain errors: one base class with a stable machine code and an HTTP status.

Services raise these; one handler in ``api`` turns them into
``{"error": {"code": ..., "message": ..., "details": ...}}``. Services never raise HTTPException.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    code: str = "error"
    status_code: int = 400
    message: str = "Request failed"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status_code: int | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.details = details
        self.headers = headers or {}
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class NotFound(AppError):
    code = "not_found"
    status_code = 404
    message = "Not found"


class Conflict(AppError):
    code = "conflict"
    status_code = 409
    message = "Conflict"


class Unauthorized(AppError):
    code = "unauthorized"
    status_code = 401
    message = "Authentication required"


class Forbidden(AppError):
    code = "forbidden"
    status_code = 403
    message = "Not allowed"


class ValidationFailed(AppError):
    code = "validation_error"
    status_code = 422
    message = "Invalid input"


NUL_IN_TEXT = "Text must be valid UTF-8 without NUL characters"
"""The answer (422 ``invalid_text``) the API gives for a NUL wherever text is stored or searched."""


def refuse_nul(text: str, field: str = "text") -> None:
    """422 ``invalid_text`` for text holding a NUL, which PostgreSQL cannot store or compare
    (``field``: where the request had it)."""
    if "\x00" in text:
        raise ValidationFailed(
            NUL_IN_TEXT,
            code="invalid_text",
            details=[{"field": field, "message": "contains a NUL character"}],
        )


class PayloadTooLarge(AppError):
    code = "payload_too_large"
    status_code = 413
    message = "Request body too large"


class UnsupportedMediaType(AppError):
    code = "unsupported_media_type"
    status_code = 415
    message = "Unsupported media type"


class QuotaExceeded(AppError):
    code = "quota_exceeded"
    status_code = 429
    message = "Plan quota exceeded"


class RateLimited(AppError):
    code = "rate_limited"
    status_code = 429
    message = "Too many requests"


class ConfigError(ValueError):
    """The configuration (or state kept for it under DATA_DIR) cannot be used; startup stops."""
