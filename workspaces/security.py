"""Credentials: argon2id password hashes, JWT access tokens, API keys, public widget keys."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import secrets
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.errors import Unauthorized

T = TypeVar("T")

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the email is unknown, so both failures cost the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

API_KEY_PREFIX = "tb_"
PUBLIC_KEY_PREFIX = "pk_"


# --- password hashing, off the event loop --------------------------------------------------------


class HashingPool:
    """Worker threads for argon2 (which releases the GIL), at most ``limit`` hashes at a time.

    A hash takes tens of milliseconds of CPU and 64 MiB of memory: on the event loop it would
    stall every other request, and unbounded it would let a login flood take every core and a
    lot of memory. Calls beyond the limit wait their turn (``waiting``) without blocking the loop.
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._executor = ThreadPoolExecutor(max_workers=self.limit, thread_name_prefix="argon2")
        self._lock = threading.Lock()
        self._submitted = 0
        self._running = 0

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        with self._lock:
            return self._submitted - self._running

    def _call(self, fn: Callable[[], T]) -> T:
        with self._lock:
            self._running += 1
        try:
            return fn()
        finally:
            with self._lock:
                self._running -= 1
                self._submitted -= 1

    async def run(self, fn: Callable[[], T]) -> T:
        with self._lock:
            self._submitted += 1
        future = self._executor.submit(self._call, fn)
        try:
            return await asyncio.wrap_future(future)
        finally:
            if future.cancel():  # cancelled while still queued: it will never run
                with self._lock:
                    self._submitted -= 1

    def close(self, *, cancel_queued: bool = True) -> None:
        self._executor.shutdown(wait=False, cancel_futures=cancel_queued)


_pool: HashingPool | None = None


def configure_hashing(concurrency: int) -> HashingPool:
    """Size the process's hashing pool (``PASSWORD_HASH_CONCURRENCY``; 0: one per CPU core)."""
    global _pool
    limit = concurrency if concurrency > 0 else (os.cpu_count() or 1)
    if _pool is None or _pool.limit != limit:
        previous, _pool = _pool, HashingPool(limit)
        if previous is not None:
            previous.close(cancel_queued=False)  # what it already accepted still finishes
    return _pool


def hashing_pool() -> HashingPool:
    return _pool if _pool is not None else configure_hashing(0)


async def hash_password(password: str) -> str:
    return await hashing_pool().run(lambda: _hasher.hash(password))


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; an unknown user (None) costs the same and is False."""
    return await hashing_pool().run(lambda: _verify(password_hash, password))


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def create_access_token(
    user_id: uuid.UUID,
    *,
    session_id: uuid.UUID,
    secret: str,
    ttl_minutes: int,
    algorithm: str = "HS256",
) -> tuple[str, int]:
    """A signed access token of a sign-in session (claim ``sid``, checked on every request)."""
    now = datetime.now(UTC)
    expires_in = ttl_minutes * 60
    claims = {
        "sub": str(user_id),
        "sid": str(session_id),
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=expires_in)).timestamp()),
        "typ": "access",
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, secret, algorithm=algorithm), expires_in


def decode_access_token(
    token: str, *, secret: str, algorithm: str = "HS256"
) -> tuple[uuid.UUID, uuid.UUID]:
    """(user id, session id) of a valid access token; 401 otherwise (a token without a
    session, as issued before sessions existed, is invalid)."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[algorithm],
            options={"require": ["exp", "sub", "iat", "sid"]},
        )
        if claims.get("typ") != "access":
            raise Unauthorized("Invalid token", code="invalid_token")
        return uuid.UUID(str(claims["sub"])), uuid.UUID(str(claims["sid"]))
    except jwt.ExpiredSignatureError:
        raise Unauthorized("Token expired", code="token_expired") from None
    except (jwt.InvalidTokenError, ValueError):
        raise Unauthorized("Invalid token", code="invalid_token") from None


@dataclass(frozen=True)
class NewApiKey:
    prefix: str  # shown in listings, e.g. tb_k3j9d8s2
    secret: str  # the whole key, shown once
    key_hash: str


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def generate_api_key() -> NewApiKey:
    """``tb_<8 chars>_<43 chars>``: a 256-bit secret, so a fast hash suffices (no password)."""
    prefix = API_KEY_PREFIX + secrets.token_hex(4)
    secret = f"{prefix}_{secrets.token_urlsafe(32)}"
    return NewApiKey(prefix=prefix, secret=secret, key_hash=_sha256(secret))


def split_api_key(key: str) -> str | None:
    """The prefix of a well-formed API key, else None."""
    size = len(API_KEY_PREFIX) + 8
    if not key.startswith(API_KEY_PREFIX) or len(key) > 128 or key[size : size + 1] != "_":
        return None
    head = key[:size]
    if not all(c in "0123456789abcdef" for c in head[len(API_KEY_PREFIX) :]):
        return None
    return head


def same_secret(given: str, expected: str) -> bool:
    """Whether ``given`` equals ``expected``, in constant time, compared as UTF-8 bytes:
    ``hmac.compare_digest`` raises on non-ASCII text, and a tampered token (a link, a form's
    CSRF token, a notice's signature, a bearer token) is a wrong one, not a 500."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def api_key_matches(key: str, key_hash: str) -> bool:
    return hmac.compare_digest(_sha256(key), key_hash)


def generate_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def generate_public_key() -> str:
    return PUBLIC_KEY_PREFIX + secrets.token_urlsafe(24)


# --- one-time links (email verification, password reset, invitations) ----------------------------


def _link_signature(key: str, purpose: str, secret: str) -> str:
    digest = hmac.new(key.encode(), f"{purpose}:{secret}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode().rstrip("=")


def new_link_token(key: str, purpose: str) -> tuple[str, str]:
    """A signed single-use link token for ``purpose`` and the hash to store: ``<secret>.<sig>``
    (256 random bits, HMAC-signed with ``key`` so forged or mistyped links are refused before
    any lookup). Only the sha256 of the token is kept."""
    secret = secrets.token_urlsafe(32)
    token = f"{secret}.{_link_signature(key, purpose, secret)}"
    return token, _sha256(token)


def link_token_hash(key: str, purpose: str, token: str) -> str | None:
    """The stored hash of a well-signed token for ``purpose``, else None."""
    if not token or len(token) > 128:
        return None
    secret, _, signature = token.partition(".")
    if not secret or not same_secret(signature, _link_signature(key, purpose, secret)):
        return None
    return _sha256(token)


def sign_value(key: str, purpose: str, value: str) -> str:
    """``<value>.<sig>``: ``value`` (URL-safe, without dots) HMAC-signed for ``purpose``; for
    links that carry what they act on (an unsubscribe link) instead of a stored token."""
    return f"{value}.{_link_signature(key, purpose, value)}"


def unsign_value(key: str, purpose: str, token: str) -> str | None:
    """The value of a well-signed ``sign_value`` token for ``purpose``, else None."""
    if not token or len(token) > 256:
        return None
    value, _, signature = token.rpartition(".")
    if not value or not same_secret(signature, _link_signature(key, purpose, value)):
        return None
    return value
