"""One-time flashes of a browser session: what a form's answer shows once on the page it
redirects to (post/redirect/get), so reloading that page sends no form again. The new API key's
secret is the one such thing: never in a URL, a log line or a cookie.

A flash is kept for ``FLASH_SECONDS`` under the web session's id and the workspace, in Redis
(``REDIS_URL``; else this process' memory when it is the only one), and taken at most once
(``GETDEL``). It is encrypted (AES-GCM) with a key derived from the browser's session
cookie, which the server keeps only hashed: what is stored reads as nothing without the browser
that made it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
import uuid
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from redis.exceptions import RedisError

from api.runtime import Runtime
from dashboard.auth import WebUser

log = logging.getLogger("trulybot.dashboard")

FLASH_SECONDS = 300
"""How long a flash waits for its page (the redirect is followed at once)."""

_memory: dict[str, tuple[float, bytes]] = {}


def _name(user: WebUser, workspace_id: uuid.UUID, what: str) -> str:
    return f"dashboard:flash:{what}:{user.session_id}:{workspace_id}"


def _cipher(runtime: Runtime, user: WebUser) -> AESGCM:
    key = hmac.new(
        runtime.settings.jwt_key.encode(), b"flash:" + user.cookie.encode(), hashlib.sha256
    ).digest()
    return AESGCM(key)


async def keep(
    runtime: Runtime, user: WebUser, workspace_id: uuid.UUID, what: str, value: dict[str, Any]
) -> bool:
    """Keep ``value`` for the next ``take`` of this browser session; False when it could not
    be kept (Redis failing, or several processes without Redis: the next request may reach
    another one, whose memory holds no flash): the caller shows it in its own answer instead."""
    if runtime.redis is None and runtime.settings.workers > 1:
        return False
    nonce = os.urandom(12)
    name = _name(user, workspace_id, what)
    sealed = nonce + _cipher(runtime, user).encrypt(
        nonce, json.dumps(value).encode(), name.encode()
    )
    if runtime.redis is None:
        now = time.monotonic()
        for stale in [k for k, (until, _) in _memory.items() if until <= now]:
            del _memory[stale]
        _memory[name] = (now + FLASH_SECONDS, sealed)
        return True
    try:
        await runtime.redis.set(name, sealed, ex=FLASH_SECONDS)
    except (RedisError, OSError) as exc:
        log.warning("flash not kept (%s): shown in the form's answer", type(exc).__name__)
        return False
    return True


async def take(
    runtime: Runtime, user: WebUser, workspace_id: uuid.UUID, what: str
) -> dict[str, Any] | None:
    """The flash kept for this browser session, once; None when there is none (taken already,
    expired, another browser's, or Redis failing)."""
    name = _name(user, workspace_id, what)
    sealed: bytes | None
    if runtime.redis is None:
        until, sealed = _memory.pop(name, (0.0, None))
        if until <= time.monotonic():
            sealed = None
    else:
        try:
            sealed = await runtime.redis.getdel(name)
        except (RedisError, OSError) as exc:
            log.warning("flash not read (%s)", type(exc).__name__)
            return None
    if not sealed or len(sealed) < 13:
        return None
    try:
        plain = _cipher(runtime, user).decrypt(sealed[:12], sealed[12:], name.encode())
    except InvalidTag:
        return None
    found: dict[str, Any] = json.loads(plain)
    return found
