"""Credentials: argon2id password hashes, JWT access tokens, API keys, public widget keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.errors import Unauthorized

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the email is unknown, so both failures cost the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

API_KEY_PREFIX = "tb_"
PUBLIC_KEY_PREFIX = "pk_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def create_access_token(
    user_id: uuid.UUID, *, secret: str, ttl_minutes: int, algorithm: str = "HS256"
) -> tuple[str, int]:
    now = datetime.now(UTC)
    expires_in = ttl_minutes * 60
    claims = {
        "sub": str(user_id),
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=expires_in)).timestamp()),
        "typ": "access",
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, secret, algorithm=algorithm), expires_in


def decode_access_token(token: str, *, secret: str, algorithm: str = "HS256") -> uuid.UUID:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[algorithm],
            options={"require": ["exp", "sub", "iat"]},
        )
        if claims.get("typ") != "access":
            raise Unauthorized("Invalid token", code="invalid_token")
        return uuid.UUID(str(claims["sub"]))
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


def api_key_matches(key: str, key_hash: str) -> bool:
    return hmac.compare_digest(_sha256(key), key_hash)


def generate_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def generate_public_key() -> str:
    return PUBLIC_KEY_PREFIX + secrets.token_urlsafe(24)
