"""Owner notifications by email: the event kinds, each member's preferences, and ``emit``.

Where something happens that the workspace's people want to hear about, the service that does it
calls ``emit(session, workspace_id, kind, key, data)`` in the unit of work of the effect: one row
in ``notification_events``, unique on ``(workspace, kind, key)``. A rolled-back effect leaves no
event; a repeated one (a Razorpay webhook retried, a second request crossing 80% of a quota)
finds its key taken and adds nothing. After the commit the dispatch job
(workspaces/notification_delivery.py) turns each event into mails (mode ``immediate``) and
digest items (mode ``daily_digest``) for the members who receive it, in one transaction.

Who receives a kind: members whose address is verified, whose role may see what the mail tells
(``REQUIRES``: payments only owners, failed documents and failing web sources admins and
owners), and whose mode for the
kind is not ``off``. Defaults (``default_mode``): owners get every kind at once; admins and
members get new leads and handoffs at once, the rest off. Each member changes only their own.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database, set_tenant
from core.errors import AppError, Forbidden, ValidationFailed
from workspaces import notification_repository as repo
from workspaces import repository as ws_repo
from workspaces import security, usage
from workspaces.permissions import Action, allowed
from workspaces.plans import MONTHLY_METRICS, Metric, get_plan
from workspaces.service import WorkspaceAccess

log = logging.getLogger(__name__)

Kind = Literal[
    "lead.created",
    "handoff.requested",
    "payment.captured",
    "payment.failed",
    "quota.80",
    "quota.100",
    "ingestion.failed",
    "plan.expiring",  # appended: unsubscribe tokens carry a kind's index in KINDS
    "plan.revoked",
    "source.failing",
]
Mode = Literal["immediate", "daily_digest", "off"]

KINDS: Final[tuple[Kind, ...]] = get_args(Kind)
MODES: Final[tuple[Mode, ...]] = get_args(Mode)
TITLES: Final[Mapping[str, str]] = {
    "lead.created": "New lead",
    "handoff.requested": "A visitor asks for a human",
    "payment.captured": "Payment received",
    "payment.failed": "Payment failed",
    "quota.80": "Quota at 80%",
    "quota.100": "Quota reached",
    "ingestion.failed": "Document failed to ingest",
    "plan.expiring": "Paid plan about to end",
    "plan.revoked": "Paid plan ended by a refund or chargeback",
    "source.failing": "Web source failing",
}
# What a role must be allowed to see to be told (the permission table decides).
REQUIRES: Final[Mapping[str, Action]] = {
    "lead.created": Action.LEADS_READ,
    "handoff.requested": Action.UNANSWERED_RESOLVE,
    "payment.captured": Action.PAYMENTS_READ,
    "payment.failed": Action.PAYMENTS_READ,
    "quota.80": Action.ANALYTICS_READ,
    "quota.100": Action.ANALYTICS_READ,
    "ingestion.failed": Action.DOCUMENT_WRITE,
    "plan.expiring": Action.PAYMENTS_READ,
    "plan.revoked": Action.PAYMENTS_READ,
    "source.failing": Action.DOCUMENT_WRITE,
}
ON_FOR_EVERYONE: Final = frozenset({"lead.created", "handoff.requested"})
QUOTA_THRESHOLDS: Final = (80, 100)
QUOTA_METRICS: Final[tuple[Metric, ...]] = MONTHLY_METRICS
SESSION_KEY: Final = "tb_notify_workspaces"  # session.info: workspaces with new events
UNSUBSCRIBE_PURPOSE: Final = "unsubscribe"


def may_receive(role: str, kind: str) -> bool:
    return kind in REQUIRES and allowed(REQUIRES[kind], kind="user", role=role)  # type: ignore[arg-type]


def default_mode(role: str, kind: str) -> Mode:
    if not may_receive(role, kind):
        return "off"
    return "immediate" if role == "owner" or kind in ON_FOR_EVERYONE else "off"


def mode_of(role: str, kind: str, chosen: str | None) -> Mode:
    """The mode that applies: ``off`` for a kind the role may not receive, else the member's
    choice, else the default."""
    if not may_receive(role, kind):
        return "off"
    if chosen in MODES:
        return chosen
    return default_mode(role, kind)


# --- emitting -----------------------------------------------------------------------------------


async def emit(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    kind: Kind,
    key: str,
    data: Mapping[str, Any],
) -> bool:
    """Record the event in the caller's unit of work, once per ``(workspace, kind, key)``;
    True when it is new. The dispatch job runs once the transaction commits."""
    new = await repo.insert_event(
        session, workspace_id=workspace_id, kind=kind, dedupe_key=key[:200], data=dict(data)
    )
    if new:
        _kick_after_commit(session, workspace_id)
    return new


# Per engine, what to call (enqueue a dispatch) for each workspace whose events committed: the
# runtime that owns the job queue registers itself (notification_delivery.NotificationDeps).
Kicker = Callable[[uuid.UUID], Awaitable[Any]]
_KICKERS: weakref.WeakKeyDictionary[Any, list[Kicker]] = weakref.WeakKeyDictionary()
_PENDING_KICKS: set[asyncio.Task[Any]] = set()


def register_kicker(engine: Any, kick: Kicker) -> Callable[[], None]:
    """Call ``kick(workspace_id)`` after each commit of a transaction on ``engine`` that emitted
    events; returns the function that unregisters it."""
    _KICKERS.setdefault(engine, []).append(kick)

    def remove() -> None:
        kicks = _KICKERS.get(engine, [])
        if kick in kicks:
            kicks.remove(kick)

    return remove


def _kick_after_commit(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    sync_session = session.sync_session
    pending: set[uuid.UUID] | None = sync_session.info.get(SESSION_KEY)
    if pending is not None:
        pending.add(workspace_id)
        return
    sync_session.info[SESSION_KEY] = {workspace_id}
    engine = sync_session.get_bind()
    loop = asyncio.get_running_loop()

    def committed(_session: Any) -> None:
        workspaces = _session.info.pop(SESSION_KEY, set())
        for kick in list(_KICKERS.get(engine, [])):
            for target in workspaces:
                loop.call_soon(_start_kick, kick, target)

    def rolled_back(_session: Any, _previous: Any) -> None:
        _session.info.pop(SESSION_KEY, None)  # no events: nothing to dispatch

    event.listen(sync_session, "after_commit", committed, once=True)
    event.listen(sync_session, "after_soft_rollback", rolled_back, once=True)


def _start_kick(kick: Kicker, workspace_id: uuid.UUID) -> None:
    task = asyncio.ensure_future(kick(workspace_id))
    _PENDING_KICKS.add(task)
    task.add_done_callback(_PENDING_KICKS.discard)


async def settle_kicks() -> None:
    """Wait until the dispatches requested so far are enqueued (tests, shutdown)."""
    while _PENDING_KICKS:
        await asyncio.gather(*list(_PENDING_KICKS), return_exceptions=True)


def quota_thresholds(limit: int | None, before: int, after: int) -> list[int]:
    """The thresholds (percent) that ``before -> after`` crossed for a quota of ``limit``."""
    if not limit or limit <= 0:
        return []
    return [
        percent
        for percent in QUOTA_THRESHOLDS
        if before < math.ceil(limit * percent / 100) <= after
    ]


async def quota_used(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    plan_code: str,
    month: str,
    counted: Mapping[Metric, int],
    added: Mapping[Metric, int],
) -> None:
    """After a metered increment: emit ``quota.80`` / ``quota.100`` for each monthly quota it
    crossed, keyed by metric, month and plan (concurrent crossings record one event; after a
    plan change in the month, the new plan's thresholds are news of their own)."""
    plan = get_plan(plan_code)
    for metric, value in counted.items():
        if metric not in QUOTA_METRICS:
            continue
        limit = plan.limit(metric)
        for percent in quota_thresholds(limit, value - added.get(metric, 1), value):
            kind: Kind = "quota.80" if percent == 80 else "quota.100"
            await _monthly_quota_event(
                session, workspace_id, kind, metric, month=month, plan_code=plan_code, used=value
            )


async def notice_quota_refusal(db: Database, workspace_id: uuid.UUID, refused: AppError) -> None:
    """A chat message refused over a monthly quota: the owners hear of it once
    (``quota_refused``, in a transaction of its own: the turn's rolled back). Without it, a
    paid period ending above the fallback plan's limit stopped the bot for the rest of the
    month with no mail: the count never crossed the new limit."""
    refusal = refused.details if isinstance(refused.details, dict) else {}
    if refusal.get("metric") not in QUOTA_METRICS:
        return
    # The month whose counters refused it (``rag.chat.stages._meter``), not the clock's now.
    month = refusal.get("month")
    if not isinstance(month, str):
        month = usage.month_key()
    try:
        async with db.transaction(workspace_id=workspace_id) as session:
            await quota_refused(session, workspace_id, month=month, refusal=refusal)
    except SQLAlchemyError as exc:  # the visitor's answer is the refusal all the same
        log.warning("quota notice for workspace %s not recorded: %s", workspace_id, exc)


async def quota_refused(
    session: AsyncSession, workspace_id: uuid.UUID, *, month: str, refusal: Mapping[str, Any]
) -> None:
    """A message refused over a monthly quota (``refusal``: the ``quota_exceeded`` error's
    details): ``quota.100`` under the key the crossing uses, so it is recorded once either way.
    For a count that never crossed the limit, because the limit came down to it: a paid period
    that ended (or was refunded) with this month's usage above the fallback plan's limit. The
    refused message's own transaction rolled back, so this runs in one of its own."""
    metric, plan_code, used = refusal.get("metric"), refusal.get("plan"), refusal.get("used")
    if metric not in QUOTA_METRICS or not isinstance(plan_code, str) or not isinstance(used, int):
        return
    await _monthly_quota_event(
        session, workspace_id, "quota.100", metric, month=month, plan_code=plan_code, used=used
    )


async def _monthly_quota_event(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    kind: Kind,
    metric: Metric,
    *,
    month: str,
    plan_code: str,
    used: int,
) -> None:
    await emit(
        session,
        workspace_id,
        kind,
        f"{metric}:{month}:{plan_code}",
        {
            "metric": metric,
            "limit": get_plan(plan_code).limit(metric),
            "used": used,
            "month": month,
            "plan": plan_code,
        },
    )


STORED_METRICS: Final[tuple[Metric, ...]] = ("documents", "chunks", "faqs")


async def lock_stored_quotas(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    """Take before counting what ``stored_quota_used`` compares (held until the commit), so two
    ingestions finishing at once see each other's counts and a crossing is judged once."""
    await repo.lock_stored_quotas(session, workspace_id)


async def stored_quota_used(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    plan_code: str,
    before: Mapping[Metric, int],
    after: Mapping[Metric, int],
) -> None:
    """After an ingestion (or an FAQ) changed what is stored: emit ``quota.80`` / ``quota.100``
    for each stored quota (documents, chunks, FAQs) that ``before -> after`` crossed upwards.

    Stored counts do not reset monthly, so each upward crossing is its own event, keyed
    ``stored:<metric>:<n>`` with ``n`` one more than the last crossing's: usage that falls below
    the threshold (documents deleted) and rises again mails again, while two ingestions finishing
    at once, serialized by ``lock_stored_quotas``, see one crossing."""
    plan = get_plan(plan_code)
    for metric in STORED_METRICS:
        if metric not in after:
            continue
        limit = plan.limit(metric)
        used = after[metric]
        for percent in quota_thresholds(limit, before.get(metric, used), used):
            kind: Kind = "quota.80" if percent == 80 else "quota.100"
            prefix = f"stored:{metric}:"
            crossing = await repo.last_crossing(session, workspace_id, kind, prefix) + 1
            await emit(
                session,
                workspace_id,
                kind,
                f"{prefix}{crossing}",
                {"metric": metric, "limit": limit, "used": used, "plan": plan_code, "stored": True},
            )


# --- preferences ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preference:
    kind: str
    title: str
    mode: Mode
    allowed: bool
    default: Mode


def _member(access: WorkspaceAccess) -> uuid.UUID:
    """Preferences are a person's own: a signed-in member, never an API key."""
    user_id = access.principal.user_id
    if user_id is None or access.principal.is_api_key:
        raise Forbidden(
            "Notification preferences belong to a signed-in member", code="user_token_required"
        )
    return user_id


async def preferences(session: AsyncSession, access: WorkspaceAccess) -> list[Preference]:
    """The caller's own preference for every kind."""
    user_id = _member(access)
    chosen = await repo.preferences(session, access.workspace.id, user_id)
    return [
        Preference(
            kind=kind,
            title=TITLES[kind],
            mode=mode_of(access.role, kind, chosen.get(kind)),
            allowed=may_receive(access.role, kind),
            default=default_mode(access.role, kind),
        )
        for kind in KINDS
    ]


async def update_preferences(
    session: AsyncSession, access: WorkspaceAccess, changes: Mapping[str, str]
) -> list[Preference]:
    """Set the caller's mode for the kinds in ``changes``; 422 ``invalid_notification_kind`` /
    ``invalid_notification_mode``, 403 ``notification_not_allowed`` for a kind the role may not
    receive (``off`` is always accepted)."""
    user_id = _member(access)
    for kind, mode in changes.items():
        if kind not in KINDS:
            raise ValidationFailed(
                f"Unknown notification kind {kind[:40]!r}",
                code="invalid_notification_kind",
                details=[{"field": kind[:40], "message": f"one of {', '.join(KINDS)}"}],
            )
        if mode not in MODES:
            raise ValidationFailed(
                f"Unknown delivery mode for {kind}",
                code="invalid_notification_mode",
                details=[{"field": kind, "message": f"one of {', '.join(MODES)}"}],
            )
        if mode != "off" and not may_receive(access.role, kind):
            raise Forbidden(
                f"A {access.role} cannot receive {kind} notifications",
                code="notification_not_allowed",
                details={"kind": kind, "role": access.role},
            )
    for kind, mode in changes.items():
        await repo.set_preference(session, access.workspace.id, user_id, kind, mode)
    return await preferences(session, access)


# --- unsubscribe links --------------------------------------------------------------------------


def unsubscribe_token(key: str, workspace_id: uuid.UUID, user_id: uuid.UUID, kind: str) -> str:
    """A signed token naming one member and one kind; it does not expire (it only turns a
    notification off)."""
    return security.sign_value(
        key,
        UNSUBSCRIBE_PURPOSE,
        f"{workspace_id.hex}-{user_id.hex}-{KINDS.index(kind)}",
    )


@dataclass(frozen=True)
class Unsubscribed:
    workspace_id: uuid.UUID
    user_id: uuid.UUID
    kind: str
    title: str


def read_unsubscribe_token(key: str, token: str) -> Unsubscribed | None:
    value = security.unsign_value(key, UNSUBSCRIBE_PURPOSE, token)
    if value is None:
        return None
    try:
        workspace_hex, user_hex, index = value.split("-")
        kind = KINDS[int(index)]
        return Unsubscribed(uuid.UUID(workspace_hex), uuid.UUID(user_hex), kind, TITLES[kind])
    except (ValueError, IndexError):
        return None


class UnsubscribeRefused(AppError):
    """400: an unsubscribe link that is malformed or not signed by this deployment."""

    code = "link_invalid"
    status_code = 400
    message = "This unsubscribe link is not valid"


def check_unsubscribe(key: str, token: str) -> Unsubscribed:
    """What the link turns off; 400 ``link_invalid`` for a forged or damaged link."""
    target = read_unsubscribe_token(key, token)
    if target is None:
        raise UnsubscribeRefused()
    return target


async def unsubscribe(session: AsyncSession, key: str, token: str) -> Unsubscribed:
    """Turn the link's kind off for its member, without signing in; idempotent. A link of a
    member since removed (or a workspace since deleted) changes nothing and answers the same."""
    target = check_unsubscribe(key, token)
    await set_tenant(session, workspace_id=target.workspace_id)
    if await ws_repo.get_membership(
        session, workspace_id=target.workspace_id, user_id=target.user_id
    ):
        await repo.set_preference(session, target.workspace_id, target.user_id, target.kind, "off")
    return target
