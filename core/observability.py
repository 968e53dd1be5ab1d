"""Error reporting with Sentry, when SENTRY_DSN is set; personal data never leaves the process.

``init_sentry(settings)`` turns on the FastAPI/Starlette, SQLAlchemy, asyncpg and Redis
integrations with the SDK's default of no personal data (``send_default_pii`` left unset: the SDK
deprecated the option, and unset it means off) and ``scrub_event`` as ``before_send``: request
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
# An address is what ``[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}`` matches, scanned left
# to right without overlaps. That expression retried from every character of a run of letters
# (quadratic: 20,000 letters took 2.6 s of the thread that captured the error, and an error's
# message can quote a visitor's input), so addresses are found from their "@" instead:
# ``scrub_emails``, held to the expression by tests/hardening/test_observability.py.
_LOCAL_CHARS: Final = re.compile(r"[A-Za-z0-9._%+\-]*")
_DOMAIN: Final = re.compile(r"[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_SECRET_TOKENS = re.compile(r"\b(?:tb_|pk_|sk_|rzp_)[A-Za-z0-9_\-]{6,}|\bBearer\s+\S+", re.I)
_SENSITIVE_KEY = re.compile(
    r"pass(word)?|secret|token|authorization|cookie|api[-_]?key|x-widget-key|signature|"
    r"session|csrf|jwt|email|phone|^key$|credential",
    re.I,
)


def scrub_emails(value: str) -> str:
    """``value`` with every email address replaced by ``[Filtered]``, in linear time. The local
    part is the run of its characters before an "@" (from the end of the previous address, at
    most): it is read backwards, as the reversed text's run forwards. The domain part's
    backtracking stays within the run of domain characters after the "@", which no other
    address shares."""
    at = value.find("@")
    if at < 0:
        return value
    reversed_value = value[::-1]
    size = len(value)
    pieces: list[str] = []
    done = 0  # where the last address ended (the text before it is in ``pieces``)
    while at >= 0:
        run = _LOCAL_CHARS.match(reversed_value, size - at, size - done)
        start = at - (run.end() - run.start())  # type: ignore[union-attr]
        domain = _DOMAIN.match(value, at + 1) if start < at else None
        if domain is None:
            at = value.find("@", at + 1)
            continue
        pieces += (value[done:start], FILTERED)
        done = domain.end()
        at = value.find("@", done)
    pieces.append(value[done:])
    return "".join(pieces)


def _scrub_string(value: str) -> str:
    return _SECRET_TOKENS.sub(FILTERED, scrub_emails(value))


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
