"""Rate limits over HTTP: the per-IP/per-API-key middleware, route-class dependencies, lockouts.

* ``RateLimitMiddleware`` applies the ``api`` class to every ``/api/v1`` and ``/app`` request:
  per client IP and, for ``Bearer tb_...`` API keys, per key. The payment webhook is exempt.
* ``RateLimitAuth`` is a route dependency (``dependencies=[...]``); the ingestion budget, counted
  once the caller may add knowledge, is ``api.ingest_limit``.
* ``rate_limit_chat(request, workspace_id, session_id, client_message_id)`` is awaited by the chat
  endpoints.
* ``login_attempt(request, email=...)`` guards the login endpoint (source lock, account slowdown).

The counting itself is ``core.limiter`` (no HTTP there); this module owns the HTTP side: the
RateLimit-* and Retry-After headers, 429 answers, and which client a request counts against
(``api.client_address``).

Every decision a request collects is kept on ``request.state``; the middleware adds the most
restrictive one as ``RateLimit-Limit`` / ``RateLimit-Remaining`` / ``RateLimit-Reset`` to the
response. A refusal is a 429 ``rate_limited`` (or ``login_locked`` / ``login_throttled``) with
``Retry-After``.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from typing import Final

from fastapi import Depends, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.client_address import rate_key_address, scope_client_ip
from api.middleware import send_error
from api.runtime import Runtime
from core import metrics
from core.config import Settings
from core.errors import AppError, RateLimited
from core.limiter import (
    Decision,
    Lock,
    LoginGuard,
    RateLimiter,
    address_key,
    limits_enabled,
    most_restrictive,
)
from rag.chat import repeats
from widget.config import conversation_caps
from workspaces import security
from workspaces.models import Workspace

log = logging.getLogger("trulybot.ratelimit")

API_PREFIX: Final = "/api/v1"
# The JSON API and the dashboard's pages (not its static files) count against the same limits.
LIMITED_PREFIXES: Final[tuple[str, ...]] = (API_PREFIX + "/", "/app")
EXEMPT_PREFIXES: Final[tuple[str, ...]] = ("/api/v1/billing/webhooks", "/app/static/")
_STATE_KEY: Final = "rate_limit_decisions"


class LoginLocked(AppError):
    """429 ``login_locked`` (this address) or ``login_throttled`` (this account, briefly)."""

    code = "login_locked"
    status_code = 429
    message = "Too many failed logins from this address; try again later"


# --- plumbing ----------------------------------------------------------------------------------


def limiter_for(runtime: Runtime) -> RateLimiter:
    """The process's limiter (built once with the runtime)."""
    return runtime.limiter


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def request_client_ip(request: Request) -> str:
    """The client for limits and lockouts (X-Forwarded-For only from trusted proxies): its
    IPv4 address, or its IPv6 /64 (``rate_key_address``)."""
    return rate_key_address(
        scope_client_ip(request.scope, _runtime(request).settings.trusted_proxies)
    )


def ratelimit_headers(decision: Decision, now: float | None = None) -> dict[str, str]:
    """RateLimit-Limit / -Remaining / -Reset of a decision, and Retry-After on a refusal."""
    headers = {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(decision.reset_in(now)),
    }
    if not decision.allowed:
        headers["Retry-After"] = str(decision.retry_after)
    return headers


def _record(scope: Scope, decision: Decision) -> None:
    state = scope.setdefault("state", {})
    state.setdefault(_STATE_KEY, []).append(decision)


def _refusal(decision: Decision, message: str = "Too many requests") -> RateLimited:
    metrics.count_rate_limited(decision.route_class)
    return RateLimited(
        message,
        details={"route_class": decision.route_class, "retry_after": decision.retry_after},
        headers=ratelimit_headers(decision),
    )


async def enforce(request: Request, route_class: str, key: str, limit: str) -> Decision | None:
    """Count one hit; raise 429 when over. None when limits are switched off."""
    runtime = _runtime(request)
    if not limits_enabled(runtime.settings):
        return None
    decision = await limiter_for(runtime).hit(route_class, key, limit=limit)
    _record(request.scope, decision)
    if not decision.allowed:
        raise _refusal(decision)
    return decision


# --- route-class dependencies ------------------------------------------------------------------


async def rate_limit_auth(request: Request) -> None:
    """Signup and login: ``RATE_LIMIT_AUTH`` per client IP."""
    runtime = _runtime(request)
    await enforce(
        request, "auth", "ip:" + request_client_ip(request), runtime.settings.rate_limit_auth
    )


async def rate_limit_billing_order(request: Request, workspace_id: uuid.UUID) -> None:
    """A plan order that passed its checks, before Razorpay is asked (each is a call to the
    account all workspaces share): ``RATE_LIMIT_BILLING_ORDERS`` per workspace."""
    limit = _runtime(request).settings.rate_limit_billing_orders
    await enforce(request, "billing_order", f"ws:{workspace_id}", limit)


LET_THROUGH_SECONDS: Final = 600
"""How long a message the visitor's limit let through is remembered by its
``client_message_id`` (``rate_limit_chat``): longer than the widget asks again for it (30
waits of at most 10 s, and its own retries)."""


def _let_through_key(workspace_id: uuid.UUID | str, session_id: str, message_id: str) -> str:
    return f"chat-let-through:{workspace_id}:{session_id}:{message_id}"


async def rate_limit_chat(
    request: Request,
    workspace_id: uuid.UUID | str,
    session_id: uuid.UUID | str | None,
    client_message_id: str | None = None,
) -> None:
    """One chat message: per visitor (workspace + session id), per client IP, per workspace.

    Raises 429 ``rate_limited`` with Retry-After. A visitor over their limit does not spend the
    workspace's budget (the workspace limit is counted last). Another try of a message sent
    with its ``client_message_id`` (the widget asks again every 2 s while it is being answered)
    is no new message: once the visitor's limit let one try of it through, the next tries are
    neither counted nor refused by it, so a slow answer neither ends in "too many messages" nor
    spends the visitor's next messages; nor is a try of a message already recorded refused
    (looked up only when it would be). A try the limit refused lets nothing through: sent
    again, it is counted again. The address's and the workspace's limits count every try; the
    address's is counted before that lookup, so a message the visitor's limit refuses counts
    against its address too (a flood of new messages over the visitor's limit cost a database
    transaction each, without end). (A client reusing an id for another text gets 409
    ``client_message_id_reused``, no answer.)
    """
    runtime = _runtime(request)
    settings = runtime.settings
    over_visitor_limit: RateLimited | None = None
    if session_id:
        over_visitor_limit = await _limit_visitor(
            request, runtime, workspace_id, str(session_id), client_message_id
        )
    await enforce(request, "chat", "ip:" + request_client_ip(request), settings.rate_limit_chat_ip)
    if over_visitor_limit is not None:
        retried = client_message_id is not None and await repeats.already_sent(
            runtime.db, uuid.UUID(str(workspace_id)), client_message_id
        )
        if not retried:
            raise over_visitor_limit
    await enforce(request, "chat", f"ws:{workspace_id}", settings.rate_limit_chat_workspace)


async def _limit_visitor(
    request: Request,
    runtime: Runtime,
    workspace_id: uuid.UUID | str,
    session_id: str,
    client_message_id: str | None,
) -> RateLimited | None:
    """``RATE_LIMIT_CHAT_VISITOR`` for one try of a message (``rate_limit_chat``): its refusal
    raised for a message without a ``client_message_id``, returned for one with (the caller
    asks whether it is a try of a recorded message once the address's limit is counted)."""
    settings = runtime.settings
    if client_message_id is None or not limits_enabled(settings):
        seen = None
    else:
        seen = _let_through_key(workspace_id, session_id, client_message_id)
        if (await limiter_for(runtime).counter(seen))[0]:
            return None  # a try of this message was let through: this one is no new message
    try:
        await enforce(
            request,
            "chat",
            f"visitor:{workspace_id}:{session_id}",
            settings.rate_limit_chat_visitor,
        )
    except RateLimited as refused:
        if client_message_id is None:
            raise
        return refused
    if seen is not None:
        await limiter_for(runtime).incr(seen, expiry_seconds=LET_THROUGH_SECONDS)
    return None


class ConversationRateLimited(AppError):
    code = "conversation_rate_limited"
    status_code = 429
    message = "Too many new conversations; try again later"


def widget_caps(workspace: Workspace, settings: Settings) -> tuple[int, int]:
    """New widget conversations per hour (per visitor IP, per workspace) for ``workspace``: its
    owner's settings, else the server's defaults."""
    return conversation_caps(
        workspace.widget_config,
        per_ip_default=settings.widget_conversations_per_ip_per_hour,
        per_workspace_default=settings.widget_conversations_per_hour,
    )


async def cap_widget_conversation(
    request: Request, workspace: Workspace, client_message_id: str | None = None
) -> None:
    """A new conversation through the public widget key, counted per hour: per client IP and
    per workspace (the owner's widget settings, else ``WIDGET_CONVERSATIONS_PER_*``). A caller
    without an Origin header is not a browser page: its per-IP budget is the lower of that and
    ``WIDGET_SERVER_CONVERSATIONS_PER_IP_PER_HOUR``, counted apart. Raises 429
    ``conversation_rate_limited`` (details.scope: ip, server or workspace) with Retry-After.
    The workspace's budget is counted last, so a capped address does not spend it. Another try
    of a message already recorded with its ``client_message_id`` (the widget's retries of a
    visitor's first message, which carry no conversation yet) starts none and is not counted."""
    runtime = _runtime(request)
    settings = runtime.settings
    if not limits_enabled(settings):
        return
    if client_message_id is not None and await repeats.already_sent(
        runtime.db, workspace.id, client_message_id
    ):
        return
    per_ip, per_workspace = widget_caps(workspace, settings)
    ip = request_client_ip(request)
    if request.headers.get("origin") is None:
        limit = min(per_ip, settings.widget_server_conversations_per_ip_per_hour)
        checks = [("server", f"server:{workspace.id}:{ip}", limit)]
    else:
        checks = [("ip", f"ip:{workspace.id}:{ip}", per_ip)]
    checks.append(("workspace", f"ws:{workspace.id}", per_workspace))
    limiter = limiter_for(runtime)
    for scope, key, limit in checks:
        decision = await limiter.hit("conversations", key, limit=f"{limit}/hour")
        _record(request.scope, decision)
        if not decision.allowed:
            metrics.count_rate_limited("conversations")
            raise ConversationRateLimited(
                details={"scope": scope, "limit": limit, "retry_after": decision.retry_after},
                headers=ratelimit_headers(decision),
            )


async def rate_limit_widget_lead(request: Request, workspace_id: uuid.UUID | str) -> None:
    """Lead forms sent with the public widget key: ``RATE_LIMIT_WIDGET_LEADS`` per client IP and
    workspace (each one is stored as a submission the owner reads)."""
    runtime = _runtime(request)
    await enforce(
        request,
        "widget_lead",
        f"lead:{workspace_id}:{request_client_ip(request)}",
        runtime.settings.rate_limit_widget_leads,
    )


def _address_key(email: str) -> str:
    return "email:" + hashlib.sha256(address_key(email).encode()).hexdigest()[:32]


async def rate_limit_mail_to(request: Request, email: str) -> None:
    """A mail with an account link to ``email`` (a reset link, the sign-up warning to an address
    that has an account, a verification link): ``RATE_LIMIT_PASSWORD_RESET_EMAIL`` per address,
    one budget for every route that sends one, counted alike for addresses with and without an
    account (the 429 tells nothing about the account). Sign-up and the verification resend were
    limited per IP only, so a few addresses could flood someone's inbox."""
    settings = _runtime(request).settings
    await enforce(
        request, "password_reset", _address_key(email), settings.rate_limit_password_reset_email
    )


async def rate_limit_password_reset(request: Request, email: str) -> None:
    """Reset requests: ``RATE_LIMIT_PASSWORD_RESET_IP`` per client IP, and the address's mail
    budget (``rate_limit_mail_to``)."""
    settings = _runtime(request).settings
    await enforce(
        request,
        "password_reset",
        "ip:" + request_client_ip(request),
        settings.rate_limit_password_reset_ip,
    )
    await rate_limit_mail_to(request, email)


async def rate_limit_invitation(request: Request, workspace_id: uuid.UUID, email: str) -> None:
    """An invitation made: ``RATE_LIMIT_INVITATIONS`` per workspace and
    ``RATE_LIMIT_INVITATIONS_ADDRESS`` per invited address (from any workspace). Called once the
    invitation is made, before its transaction commits: past either, 429 ``rate_limited`` rolls
    the invitation and its mail back, and a refused invitation (not an owner, already a member)
    spends nothing. Re-inviting withdraws the pending invitation, so the members quota never
    stopped one owner mailing a stranger, with the names the owner chose, again and again."""
    settings = _runtime(request).settings
    await enforce(
        request, "invitation", f"workspace:{workspace_id}", settings.rate_limit_invitations
    )
    await enforce(
        request, "invitation", _address_key(email), settings.rate_limit_invitations_address
    )


RateLimitAuth = Depends(rate_limit_auth)


# --- login guard -------------------------------------------------------------------------------


@dataclass
class LoginAttempt:
    guard: LoginGuard | None
    email: str
    ip: str

    async def failed(self) -> None:
        """Record a wrong password; raises 429 ``login_locked`` when it locks the source."""
        if self.guard is None:
            return
        lock = await self.guard.failed(email=self.email, ip=self.ip)
        if lock is not None:
            raise _refused(lock)

    async def succeeded(self) -> None:
        if self.guard is not None:
            await self.guard.succeeded(email=self.email, ip=self.ip)


def _refused(lock: Lock) -> LoginLocked:
    metrics.count_rate_limited(lock.code)
    account = lock.scope == "account"
    return LoginLocked(
        "Too many failed logins for this account; try again shortly" if account else None,
        code=lock.code,
        details={"retry_after": lock.retry_after, "scope": lock.scope},
        headers={"Retry-After": str(lock.retry_after)},
    )


async def login_attempt(request: Request, *, email: str) -> LoginAttempt:
    """Refuses with 429 while the client IP is locked (``login_locked``) or the account's next
    attempt is not due yet (``login_throttled``); both carry Retry-After."""
    runtime = _runtime(request)
    settings = runtime.settings
    ip = request_client_ip(request)
    if not limits_enabled(settings):
        return LoginAttempt(guard=None, email=email, ip=ip)
    guard = LoginGuard(
        limiter_for(runtime),
        max_failures=settings.login_max_failures,
        ip_max_failures=settings.login_ip_max_failures,
        lockout_seconds=settings.login_lockout_seconds,
        slowdown_seconds=settings.login_slowdown_seconds,
        slowdown_max_seconds=settings.login_slowdown_max_seconds,
    )
    lock = await guard.admit(email=email, ip=ip)
    if lock is not None:
        raise _refused(lock)
    return LoginAttempt(guard=guard, email=email, ip=ip)


# --- the per-IP / per-API-key middleware -------------------------------------------------------


def _bearer_api_key(scope: Scope) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            if scheme.lower() == "bearer" and token.startswith(security.API_KEY_PREFIX):
                return token
    return None


def _header_pairs(decision: Decision) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode(), v.encode()) for k, v in ratelimit_headers(decision).items()]


class RateLimitMiddleware:
    """The ``api`` class on every /api/v1 and /app request (payment webhooks and the dashboard's
    static files exempt), plus the RateLimit-*
    headers of the most restrictive decision the request collected (here or in dependencies)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        runtime: Runtime | None = getattr(scope["app"].state, "runtime", None)
        if runtime is None or not limits_enabled(runtime.settings):
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if (
            path.startswith(LIMITED_PREFIXES)
            and not path.startswith(EXEMPT_PREFIXES)
            and scope.get("method") != "OPTIONS"
        ):
            refusal = await self._check(scope, runtime)
            if refusal is not None:
                await _send_429(send, refusal)
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                decisions = scope.get("state", {}).get(_STATE_KEY, [])
                decision = most_restrictive(decisions)
                if decision is not None:
                    headers = list(message.get("headers", []))
                    present = {k.lower() for k, _ in headers}
                    headers.extend(p for p in _header_pairs(decision) if p[0] not in present)
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _check(self, scope: Scope, runtime: Runtime) -> Decision | None:
        settings = runtime.settings
        limiter = limiter_for(runtime)
        ip = rate_key_address(scope_client_ip(scope, settings.trusted_proxies))
        checks = [("ip:" + ip, settings.rate_limit_ip)]
        api_key = _bearer_api_key(scope)
        if api_key is not None:
            digest = hashlib.sha256(api_key.encode()).hexdigest()[:32]
            checks.append(("key:" + digest, settings.rate_limit_api_key))
        for key, limit in checks:
            try:
                decision = await limiter.hit("api", key, limit=limit)
            except Exception:  # a limiter bug must not take the API down: fail open, loudly
                log.exception("rate limit check failed; letting the request through")
                return None
            _record(scope, decision)
            if not decision.allowed:
                metrics.count_rate_limited("api")
                return decision
        return None


async def _send_429(send: Send, decision: Decision) -> None:
    await send_error(
        send,
        429,
        "rate_limited",
        "Too many requests",
        {"route_class": decision.route_class, "retry_after": decision.retry_after},
        extra_headers=list(_header_pairs(decision)),
    )
