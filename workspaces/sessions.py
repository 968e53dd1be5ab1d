"""Sign-in sessions of people (API keys are not sessions): revocable, listed, rotated.

A *session* is what one sign-in starts; its id is the ``session_id`` below (the family id of the
rows in ``user_sessions``). Two kinds:

- ``api``: login gives a short-lived access JWT (claim ``sid`` = the session id) plus a refresh
  token. ``rotate`` trades a refresh token for a new pair; presenting an already-rotated refresh
  token again (a stolen copy, or the legitimate one after the thief used it) revokes the whole
  session (reason ``reuse_detected``).
- ``web``: an opaque cookie secret for the dashboard, no JWT. Expiry slides with use.

The API (every function takes an ``AsyncSession`` and never commits; the caller's transaction
does)::

    policy = SessionPolicy.from_settings(settings)
    started = await sessions.start(db, user_id, kind="web", client=ClientInfo(ip, user_agent),
                                   policy=policy)
    started.secret        # the cookie value (or the refresh token for kind="api"), shown once
    started.session_id    # uuid
    started.expires_at

    principal = await sessions.authenticate(db, secret, policy=policy)
    # -> Principal(user_id=..., session_id=...) or None (unknown, expired, revoked, or an
    #    ``api`` refresh token: those only work with ``rotate``). Slides the expiry.

    await sessions.revoke(db, user_id, session_id)            # -> bool: False if not theirs/live
    await sessions.revoke_all(db, user_id, keep=session_id)   # e.g. after a password change
    infos = await sessions.list_sessions(db, user_id, current=session_id)  # -> [SessionInfo]

    await sessions.ensure_live(db, user_id, session_id)  # 401 session_revoked unless live

Each request with an access token runs ``ensure_live``: one probe of a partial index on live
families, no cache, so a revocation takes effect on every replica at the next request.
Lifetimes: access token ``JWT_TTL_MINUTES``; a refresh token ``REFRESH_TOKEN_TTL_DAYS`` after its
last rotation; a web session ``WEB_SESSION_TTL_DAYS`` after its last use; no session of either
kind outlives ``SESSION_MAX_DAYS`` after its sign-in.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from core.db import set_tenant
from core.errors import Unauthorized
from core.pagination import cursor_scope, decode_cursor, encode_key
from workspaces import security
from workspaces import session_repository as repo
from workspaces.models import UserSession
from workspaces.service import ClientInfo, Principal

Kind = Literal["api", "web"]

REFRESH_PREFIX = "rt_"
WEB_PREFIX = "ws_"
# A web session's last use is written at most this often (the expiry slides with it).
TOUCH_EVERY = timedelta(minutes=1)


class _LifetimeSettings(Protocol):
    jwt_ttl_minutes: int
    refresh_token_ttl_days: int
    web_session_ttl_days: int
    session_max_days: int


@dataclass(frozen=True)
class SessionPolicy:
    access_ttl: timedelta = timedelta(minutes=15)
    refresh_ttl: timedelta = timedelta(days=30)
    web_ttl: timedelta = timedelta(days=7)
    max_age: timedelta = timedelta(days=90)

    @classmethod
    def from_settings(cls, settings: _LifetimeSettings) -> SessionPolicy:
        return cls(
            access_ttl=timedelta(minutes=settings.jwt_ttl_minutes),
            refresh_ttl=timedelta(days=settings.refresh_token_ttl_days),
            web_ttl=timedelta(days=settings.web_session_ttl_days),
            max_age=timedelta(days=settings.session_max_days),
        )

    def expiry(self, kind: str, *, started: datetime, now: datetime) -> datetime:
        idle = self.web_ttl if kind == "web" else self.refresh_ttl
        return min(now + idle, started + self.max_age)


@dataclass(frozen=True)
class Started:
    user_id: uuid.UUID
    session_id: uuid.UUID
    secret: str  # the refresh token (api) or cookie value (web); never stored
    expires_at: datetime
    kind: Kind


@dataclass(frozen=True)
class SessionInfo:
    id: uuid.UUID
    kind: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str | None
    ip: str | None
    current: bool


@dataclass(frozen=True)
class Rotation:
    """What ``rotate`` did: a new refresh token, or the refusal to raise once the transaction
    that recorded it (e.g. a reuse revoking the session) has committed."""

    started: Started | None = None
    refusal: Unauthorized | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret(kind: str) -> str:
    return (WEB_PREFIX if kind == "web" else REFRESH_PREFIX) + secrets.token_urlsafe(32)


def _plausible(secret: str, prefix: str) -> bool:
    return secret.startswith(prefix) and len(secret) <= 128


async def _add_row(
    db: AsyncSession,
    *,
    user_id: uuid.UUID,
    family_id: uuid.UUID,
    row_id: uuid.UUID,
    kind: Kind,
    started: datetime,
    now: datetime,
    client: ClientInfo,
    policy: SessionPolicy,
) -> Started:
    secret = _new_secret(kind)
    expires_at = policy.expiry(kind, started=started, now=now)
    await repo.insert(
        db,
        UserSession(
            id=row_id,
            user_id=user_id,
            family_id=family_id,
            kind=kind,
            token_hash=token_hash(secret),
            created_at=started,
            last_used_at=now,
            expires_at=expires_at,
            user_agent=(client.user_agent or "")[:512] or None,
            ip=client.ip,
        ),
    )
    return Started(
        user_id=user_id, session_id=family_id, secret=secret, expires_at=expires_at, kind=kind
    )


async def start(
    db: AsyncSession,
    user_id: uuid.UUID,
    *,
    kind: Kind = "web",
    client: ClientInfo | None = None,
    policy: SessionPolicy | None = None,
) -> Started:
    """Start a session for ``user_id`` (after the password or a one-time link was checked)."""
    if kind not in ("api", "web"):
        raise ValueError(f"unknown session kind {kind!r}")
    now = _now()
    family = uuid.uuid4()
    await set_tenant(db, user_id=user_id)
    started = await _add_row(
        db,
        user_id=user_id,
        family_id=family,
        row_id=family,
        kind=kind,
        started=now,
        now=now,
        client=client or ClientInfo(),
        policy=policy or SessionPolicy(),
    )
    await set_tenant(db)
    return started


async def _find(db: AsyncSession, secret: str) -> UserSession | None:
    await set_tenant(db, lookup=token_hash(secret))
    row = await repo.by_token_hash(db, token_hash(secret))
    await set_tenant(db, user_id=row.user_id if row else None)
    return row


async def authenticate(
    db: AsyncSession, secret: str | None, *, policy: SessionPolicy | None = None
) -> Principal | None:
    """The person a web session's cookie secret belongs to, or None. Slides the expiry (the
    last use is written at most once a minute). Leaves the user's context set."""
    if secret is None or not _plausible(secret, WEB_PREFIX):
        return None
    row = await _find(db, secret)
    now = _now()
    if row is None or row.kind != "web" or row.revoked_at is not None or row.expires_at <= now:
        return None
    if now - row.last_used_at >= TOUCH_EVERY:
        expires_at = (policy or SessionPolicy()).expiry("web", started=row.created_at, now=now)
        await repo.touch(db, row.id, now=now, expires_at=expires_at)
    return Principal(user_id=row.user_id, session_id=row.family_id)


async def rotate(
    db: AsyncSession,
    refresh_token: str,
    *,
    client: ClientInfo | None = None,
    policy: SessionPolicy | None = None,
) -> Rotation:
    """Trade a refresh token for the next one of its session. A token already rotated revokes
    the session (``refresh_token_reused``); expired or revoked: ``session_revoked``."""
    policy = policy or SessionPolicy()
    invalid = Unauthorized("Invalid refresh token", code="invalid_refresh_token")
    if not _plausible(refresh_token, REFRESH_PREFIX):
        return Rotation(refusal=invalid)
    row = await _find(db, refresh_token)
    if row is None or row.kind != "api":
        return Rotation(refusal=invalid)
    now = _now()
    if row.revoked_at is None and row.expires_at > now:
        if await repo.claim_for_rotation(db, row.id, now=now):
            started = await _add_row(
                db,
                user_id=row.user_id,
                family_id=row.family_id,
                row_id=uuid.uuid4(),
                kind="api",
                started=row.created_at,
                now=now,
                client=client or ClientInfo(ip=row.ip, user_agent=row.user_agent),
                policy=policy,
            )
            return Rotation(started=started)
        await db.refresh(row)  # a concurrent request used it first: that makes this a reuse
    if row.revoked_reason == "rotated":
        await repo.revoke_families(
            db, user_id=row.user_id, family_id=row.family_id, now=now, reason="reuse_detected"
        )
        return Rotation(
            refusal=Unauthorized(
                "This refresh token was already used; the session is revoked, sign in again",
                code="refresh_token_reused",
            )
        )
    return Rotation(refusal=Unauthorized("The session has ended", code="session_revoked"))


async def ensure_live(db: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
    """401 ``session_revoked`` unless the session is alive (one indexed probe)."""
    await set_tenant(db, user_id=user_id)
    alive = await repo.live_family_exists(db, user_id=user_id, family_id=session_id, now=_now())
    await set_tenant(db)
    if not alive:
        raise Unauthorized(
            "This session was revoked or has expired; sign in again",
            code="session_revoked",
            headers={"WWW-Authenticate": "Bearer"},
        )


async def revoke(
    db: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID, *, reason: str = "revoked"
) -> bool:
    """End one of the user's sessions; False when it is not theirs or no longer live."""
    await set_tenant(db, user_id=user_id)
    done = await repo.revoke_families(
        db, user_id=user_id, family_id=session_id, now=_now(), reason=reason
    )
    return bool(done)


async def revoke_all(
    db: AsyncSession,
    user_id: uuid.UUID,
    *,
    keep: uuid.UUID | None = None,
    reason: str = "revoked_all",
) -> int:
    """End every session of the user but ``keep``; how many were ended."""
    await set_tenant(db, user_id=user_id)
    done = await repo.revoke_families(
        db, user_id=user_id, now=_now(), reason=reason, except_family=keep
    )
    return len(done)


async def list_sessions(
    db: AsyncSession, user_id: uuid.UUID, *, current: uuid.UUID | None = None
) -> Sequence[SessionInfo]:
    """The user's live sessions, most recently used first; ``current`` is marked."""
    await set_tenant(db, user_id=user_id)
    rows = await repo.list_live(db, user_id=user_id, now=_now())
    return [_info(row, current) for row in rows]


SESSIONS_PAGE = 50
"""Sessions on one page of the dashboard's list (a script that signs in with the password on
every run leaves one API session each time, each live for weeks)."""


async def sessions_page(
    db: AsyncSession,
    user_id: uuid.UUID,
    *,
    current: uuid.UUID | None = None,
    limit: int = SESSIONS_PAGE,
    cursor: str | None = None,
) -> tuple[list[SessionInfo], str | None]:
    """A page of the user's live sessions, most recently used first, and the cursor of the next
    page (None: there is none); a cursor of another list is 422 ``invalid_cursor``."""
    scope = cursor_scope("sessions", user_id)
    after = decode_cursor(cursor, scope=scope) if cursor else None
    await set_tenant(db, user_id=user_id)
    rows = await repo.live_page(db, user_id=user_id, now=_now(), limit=limit + 1, after=after)
    page = [_info(row, current) for row in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    return page, encode_key(last.last_used_at, last.id, scope=scope) if last else None


def _info(row: UserSession, current: uuid.UUID | None) -> SessionInfo:
    return SessionInfo(
        id=row.family_id,
        kind=row.kind,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=row.expires_at,
        user_agent=row.user_agent,
        ip=row.ip,
        current=row.family_id == current,
    )


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_at: datetime
    session_id: uuid.UUID


def access_token(
    started: Started, *, jwt_key: str, algorithm: str, policy: SessionPolicy
) -> TokenPair:
    """The access JWT of an ``api`` session, next to its refresh token."""
    token, expires_in = security.create_access_token(
        started.user_id,
        session_id=started.session_id,
        secret=jwt_key,
        ttl_minutes=int(policy.access_ttl.total_seconds() // 60),
        algorithm=algorithm,
    )
    return TokenPair(
        access_token=token,
        expires_in=expires_in,
        refresh_token=started.secret,
        refresh_expires_at=started.expires_at,
        session_id=started.session_id,
    )
