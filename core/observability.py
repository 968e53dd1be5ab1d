"""Error reporting with Sentry, when SENTRY_DSN is set; personal data never leaves the process.

``init_sentry(settings)`` turns on the FastAPI/Starlette, SQLAlchemy, asyncpg and Redis
integrations with ``send_default_pii=False`` and ``scrub_event`` as ``before_send``: request
bodies, cookies, Authorization / X-Widget-Key / API-key headers, passwords, tokens, secrets and
every email address anywhere in the event are replaced before it is sent. Events carry the
``release`` (RELEASE) and ``environment`` (ENVIRONMENT) tags.
"""

from __future__ import annotations

import re
from typing import Any, Final

import sentry_sdk
from sentry_sdk.integrations.asyncpg import AsyncPGIntegration
from sentry_sdk.integrations.fastapi import FastApiIntegration
from sentry_sdk.integrations.redis import RedisIntegration
from sentry_sdk.integrations.sqlalchemy import SqlalchemyIntegration
from sentry_sdk.integrations.starlette import StarletteIntegration

from core.config import Settings

FILTERED: Final = "[Filtered]"
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_SECRET_TOKENS = re.compile(r"\b(?:tb_|pk_|sk_|rzp_)[A-Za-z0-9_\-]{6,}|\bBearer\s+\S+", re.I)
_SENSITIVE_KEY = re.compile(
    r"pass(word)?|secret|token|authorization|cookie|api[-_]?key|x-widget-key|signature|"
    r"session|csrf|jwt|email|phone|^key$|credential",
    re.I,
)


def _scrub_string(value: str) -> str:
    return _SECRET_TOKENS.sub(FILTERED, _EMAIL.sub(FILTERED, value))


def _scrub(value: Any, depth: int = 0) -> Any:
    if depth > 12:
        return FILTERED
    if isinstance(value, str):
        return _scrub_string(value)
    if isinstance(value, dict):
        return {
            k: (
                FILTERED
                if isinstance(k, str) and _SENSITIVE_KEY.search(k)
                else _scrub(v, depth + 1)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        # Header lists come as [name, value] pairs.
        if (
            len(value) == 2
            and isinstance(value[0], str)
            and _SENSITIVE_KEY.search(value[0])
            and not isinstance(value[1], dict | list)
        ):
            return [value[0], FILTERED]
        return [_scrub(v, depth + 1) for v in value]
    return value


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """``before_send``: drop bodies and cookies, filter sensitive keys and emails everywhere."""
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("data", None)
        request.pop("cookies", None)
        if "query_string" in request:
            request["query_string"] = FILTERED if request["query_string"] else ""
        if "env" in request:
            request["env"] = _scrub(request["env"])
    user = event.get("user")
    if isinstance(user, dict):
        event["user"] = {k: v for k, v in user.items() if k == "id"}
    scrubbed: dict[str, Any] = _scrub(event)
    return scrubbed


def scrub_breadcrumb(crumb: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    scrubbed: dict[str, Any] = _scrub(crumb)
    return scrubbed


def init_sentry(settings: Settings, **overrides: Any) -> bool:
    """Start Sentry when SENTRY_DSN is set; True when it was started."""
    if not settings.sentry_dsn:
        return False
    options: dict[str, Any] = {
        "dsn": settings.sentry_dsn,
        "release": settings.release,
        "environment": settings.environment,
        "send_default_pii": False,
        "max_request_body_size": "never",
        "include_local_variables": False,
        "before_send": scrub_event,
        "before_breadcrumb": scrub_breadcrumb,
        "traces_sample_rate": 0.0,
        "integrations": [
            StarletteIntegration(transaction_style="endpoint"),
            FastApiIntegration(transaction_style="endpoint"),
            SqlalchemyIntegration(),
            AsyncPGIntegration(),
            RedisIntegration(),
        ],
    }
    options.update(overrides)
    sentry_sdk.init(**options)
    sentry_sdk.set_tag("service", "trulybot")
    return True
