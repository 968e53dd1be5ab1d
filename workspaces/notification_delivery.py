"""Turning notification events into mail: the dispatch job, the sweep, the daily digest.

- ``dispatch`` (job ``notifications.dispatch``, one workspace): claims the workspace's
  undispatched events (``FOR UPDATE SKIP LOCKED``, so two workers never take one), and in the
  same transaction writes one mail per member in mode ``immediate`` to the mail outbox, one
  digest item per member in mode ``daily_digest``, and marks the events dispatched. A crash
  before the commit leaves the events pending; after it, the mails are in the outbox.
- ``sweep`` (scheduled every minute): dispatches workspaces whose events a lost kick left
  behind (the process died between the commit and the job).
- ``send_digests`` (scheduled daily at ``NOTIFICATION_DIGEST_HOUR`` UTC): one mail per member
  with the digest items not sent yet; the items are marked sent in the transaction that writes
  the mail, so an event is never in two digests, and a member with nothing gets nothing.

Every mail carries an unsubscribe link for its member and kind (``List-Unsubscribe`` with
one-click POST too); a digest carries one per kind it contains.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database
from core.mail import Mailer
from workspaces import lead_repository, notifications
from workspaces import notification_repository as repo
from workspaces import repository as ws_repo
from workspaces.models import Workspace
from workspaces.plans import PLANS

log = logging.getLogger("trulybot.notifications")

DEPS_KEY = "notifications"  # where the job context holds NotificationDeps
DISPATCH_JOB = "notifications.dispatch"
BATCH = 100
SWEEP_PAGE = 500
DIGEST_LIMIT = 500  # events in one digest mail (more wait for the next)
SWEEP_GRACE = timedelta(seconds=30)  # an event younger than this still has its kick coming
UNSUBSCRIBE_PAGE = "/app/unsubscribe"  # the page a person opens (asks, then turns it off)
UNSUBSCRIBE_API = "/api/v1/notifications/unsubscribe"  # one-click POST (RFC 8058)
LEAD_MAILS_PER_HOUR = (
    20  # NOTIFICATION_LEAD_MAILS_PER_HOUR: "New lead" mails per workspace and hour
)
HOUR = timedelta(hours=1)


@dataclass
class NotificationDeps:
    db: Database
    mailer: Mailer
    signing_key: str
    base_url: str
    enqueue_job: Callable[..., Awaitable[Any]] | None = None
    lead_mails_per_hour: int = LEAD_MAILS_PER_HOUR
    _remove_kicker: Callable[[], None] | None = field(default=None, repr=False)

    def url(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}{path}"

    def unsubscribe_links(
        self, workspace_id: uuid.UUID, user_id: uuid.UUID, kind: str
    ) -> tuple[str, str]:
        """(the page a person opens, the one-click POST address) for one member and kind."""
        token = notifications.unsubscribe_token(self.signing_key, workspace_id, user_id, kind)
        return (
            self.url(f"{UNSUBSCRIBE_PAGE}?token={token}"),
            self.url(f"{UNSUBSCRIBE_API}?token={token}"),
        )

    def start(self) -> None:
        """Enqueue a dispatch when a transaction that emitted events commits."""
        if self.enqueue_job is None or self._remove_kicker is not None:
            return
        enqueue = self.enqueue_job

        async def kick(workspace_id: uuid.UUID) -> None:
            try:
                await enqueue(DISPATCH_JOB, workspace_id=str(workspace_id))
            except Exception:  # the queue away: the sweep dispatches these events later
                log.warning("could not enqueue %s for %s", DISPATCH_JOB, workspace_id)

        self._remove_kicker = notifications.register_kicker(self.db.engine.sync_engine, kick)

    def stop(self) -> None:
        if self._remove_kicker is not None:
            self._remove_kicker()
            self._remove_kicker = None


# --- what a mail says about an event ---------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    kind: str
    subject: str
    lines: list[str]
    link: str
    created_at: datetime
    lead_id: uuid.UUID | None = None
    """The lead the notice quotes (its email, name, phone, message): an erasure deletes the mail."""


def _money(data: dict[str, Any]) -> str:
    amount, currency = data.get("amount"), data.get("currency") or ""
    if isinstance(amount, int):
        return f"{amount / 100:,.2f} {currency}".strip()
    return "a payment"


def _plan_name(code: object) -> str:
    plan = PLANS.get(code) if isinstance(code, str) else None
    return plan.name if plan is not None else "paid"


_LIMIT_NAMES: Final[Mapping[str, str]] = {
    "conversations": "conversations a month",
    "messages": "messages a month",
    "documents": "documents",
    "chunks": "chunks",
    "faqs": "FAQs",
    "members": "members",
    "daily_llm_tokens": "LLM tokens a day",
}


def _limits(code: object) -> str:
    """A plan's limits in words: "100 conversations a month, 1,000 messages a month, ..."."""
    plan = PLANS.get(code) if isinstance(code, str) else None
    if plan is None:
        return "those of the plan"
    return ", ".join(
        f"{'unlimited' if (limit := plan.limits.get(metric)) is None else f'{limit:,}'} {name}"
        for metric, name in _LIMIT_NAMES.items()
    )


def _when(value: object) -> str | None:
    try:
        moment = datetime.fromisoformat(str(value)).astimezone(UTC)
    except ValueError:
        return None
    return moment.strftime("%Y-%m-%d %H:%M UTC")


async def describe(
    session: AsyncSession, deps: NotificationDeps, workspace: Workspace, event: repo.EventRow
) -> Notice:
    data, kind = event.data, event.kind
    page = f"/app/w/{workspace.id}"
    lines: list[str] = []
    quoted: uuid.UUID | None = None
    if kind == "lead.created":
        lead = None
        if data.get("lead_id"):
            lead = await lead_repository.get_lead(
                session, workspace_id=workspace.id, lead_id=uuid.UUID(str(data["lead_id"]))
            )
        if lead is None:
            subject, link = "New lead (since deleted)", f"{page}/leads"
        else:
            subject, link = f"New lead: {lead.name or lead.email}", f"{page}/leads/{lead.id}"
            quoted = lead.id
            lines = [f"Email: {lead.email}"]
            lines += [f"Name: {lead.name}"] if lead.name else []
            lines += [f"Phone: {lead.phone}"] if lead.phone else []
            lines += [f"Message: {lead.message[:500]}"] if lead.message else []
            lines += [f"Source: {lead.source}"] if lead.source else []
    elif kind == "handoff.requested":
        subject = "A visitor asks to talk to a person"
        link = f"{page}/conversations/{data.get('conversation_id', '')}"
        lines = ["A visitor asked for a human in a conversation with your bot."]
    elif kind in ("payment.captured", "payment.failed"):
        plan = data.get("plan") or "your"
        known = isinstance(data.get("amount"), int)  # a halted subscription names no payment
        if kind == "payment.captured":
            subject = f"Payment received: {_money(data)}"
            lines = [f"We received {_money(data)} for the {plan} plan."]
        else:
            subject = f"Payment failed: {_money(data)}" if known else "Payment failed"
            money = f" of {_money(data)}" if known else ""
            lines = [f"A payment{money} for the {plan} plan failed."]
            if data.get("reason"):
                lines.append(f"Reason: {str(data['reason'])[:300]}")
        if data.get("payment_id"):
            lines.append(f"Payment id: {data['payment_id']}")
        if data.get("subscription_id"):
            lines.append(f"Razorpay subscription: {data['subscription_id']}")
        link = f"{page}/plan"
    elif kind in ("quota.80", "quota.100"):
        metric = {"faqs": "FAQs"}.get(str(data.get("metric")), str(data.get("metric", "usage")))
        used, limit = data.get("used"), data.get("limit")
        stored = bool(data.get("stored"))  # documents, chunks: what is stored, not monthly
        if kind == "quota.80":
            quota = "your plan's limit" if stored else "your monthly quota"
            subject = f"{metric[0].upper()}{metric[1:]} at 80% of {quota}"
        else:
            subject = f"{metric[0].upper()}{metric[1:]} quota reached"
        if stored:
            lines = [f"{used} of {limit} {metric} stored ({data.get('plan')} plan)."]
        else:
            lines = [
                f"{used} of {limit} {metric} used in {data.get('month')} ({data.get('plan')} plan)."
            ]
        if kind == "quota.100" and stored:
            lines.append(f"New {metric} are refused until you remove some.")
        elif kind == "quota.100":
            lines.append(f"New {metric} are refused until the quota resets next month.")
        lines.append("Upgrade your plan to raise the limit.")
        link = f"{page}/plan"
    elif kind == "plan.expiring":
        plan = _plan_name(data.get("plan"))
        ends = _when(data.get("ends_at"))
        subject = f"Your {plan} plan ends on {ends[:10]}" if ends else f"Your {plan} plan ends soon"
        lines = [
            f"The {plan} plan is prepaid until {ends or 'the end of its period'}; it does not "
            "renew on its own.",
            "Extend it on the plan page to keep its limits; otherwise the workspace is on the "
            f"{_plan_name(data.get('fallback'))} plan from then on.",
        ]
        link = f"{page}/plan"
    elif kind == "plan.revoked":
        ended, now_plan = _plan_name(data.get("plan")), _plan_name(data.get("now_plan"))
        chargeback = data.get("cause") == "chargeback"
        subject = f"Your {ended} plan ended: " + (
            "the payment was charged back" if chargeback else "the payment was refunded"
        )
        money = _money(data) if isinstance(data.get("amount"), int) else "the payment"
        lines = [
            f"The {ended} plan ended because {money} for it was "
            + (
                "charged back (a dispute decided for the cardholder)."
                if chargeback
                else "refunded."
            )
        ]
        until = _when(data.get("now_until"))
        lines.append(
            f"The workspace is now on the {now_plan} plan"
            + (f" (paid until {until})." if until else ".")
        )
        lines.append(f"Its limits: {_limits(data.get('now_plan'))}.")
        lines.append("Buy a plan on the plan page to raise them again.")
        if data.get("payment_id"):
            lines.append(f"Payment id: {data['payment_id']}")
        link = f"{page}/plan"
    else:  # ingestion.failed
        title = str(data.get("title") or "A document")[:200]
        subject = f"Document failed: {title}"
        lines = [f'"{title}" could not be added to your knowledge base.']
        lines.append(f"Reason: {str(data.get('reason') or 'unknown')[:500]}")
        link = f"{page}/knowledge/documents/{data.get('document_id', '')}"
    return Notice(kind, subject, lines, deps.url(link), event.created_at, quoted)


# --- dispatch -----------------------------------------------------------------------------------


async def dispatch(deps: NotificationDeps, workspace_id: uuid.UUID) -> int:
    """Turn the workspace's pending events into mails and digest items; how many events."""
    done = 0
    while True:
        async with deps.db.transaction(workspace_id=workspace_id) as session:
            events = await repo.claim_pending(session, workspace_id, limit=BATCH)
            if not events:
                return done
            workspace = await ws_repo.get_workspace(session, workspace_id)
            if workspace is not None:  # a deleted workspace's events are dropped
                await _dispatch_events(session, deps, workspace, events)
            await repo.mark_dispatched(session, [e.id for e in events], at=datetime.now(UTC))
        done += len(events)


async def _dispatch_events(
    session: AsyncSession,
    deps: NotificationDeps,
    workspace: Workspace,
    events: Sequence[repo.EventRow],
) -> None:
    members = await repo.verified_members(session, workspace.id)
    chosen = await repo.all_preferences(session, workspace.id)
    digest: list[tuple[uuid.UUID, uuid.UUID]] = []
    lead_mails: dict[datetime, int] = {}  # hour start -> "New lead" mails dispatched in it
    if any(e.kind == "lead.created" for e in events):
        await repo.lock_lead_mails(session, workspace.id)
    for event in events:
        notice: Notice | None = None
        held = False
        if event.kind == "lead.created":
            held = await _over_lead_cap(session, deps, workspace.id, event, lead_mails)
        for member in members:
            mode = notifications.mode_of(
                member.role, event.kind, chosen.get((member.user_id, event.kind))
            )
            if mode == "daily_digest":
                digest.append((member.user_id, event.id))
            elif mode == "immediate" and not held:
                notice = notice or await describe(session, deps, workspace, event)
                await _mail_notice(session, deps, workspace, member, notice)
    await repo.add_digest_items(session, workspace.id, digest)


async def _mail_notice(
    session: AsyncSession,
    deps: NotificationDeps,
    workspace: Workspace,
    member: repo.Recipient,
    notice: Notice,
) -> None:
    """Queue one member's immediate mail of ``notice``."""
    page, one_click = deps.unsubscribe_links(workspace.id, member.user_id, notice.kind)
    await deps.mailer.enqueue(
        session,
        to=member.email,
        template="notification",
        mail_headers=_unsubscribe_headers(one_click),
        about_workspace=workspace.id,
        about_leads=[notice.lead_id] if notice.lead_id else [],
        workspace=workspace.name,
        notice=notice,
        title=notifications.TITLES[notice.kind],
        unsubscribe=page,
        preferences=deps.url(f"/app/w/{workspace.id}/team#notifications"),
    )


async def _over_lead_cap(
    session: AsyncSession,
    deps: NotificationDeps,
    workspace_id: uuid.UUID,
    event: repo.EventRow,
    counted: dict[datetime, int],
) -> bool:
    """Whether the new lead is past the workspace's "New lead" mails of its hour (then it is
    held for the summary sent when the hour is over); counts it otherwise. The caller holds
    ``repo.lock_lead_mails``, so dispatchers in other processes count after this one."""
    start = event.created_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if start not in counted:
        counted[start] = await repo.lead_mails_in(
            session, workspace_id, start=start, end=start + HOUR
        )
    if counted[start] >= deps.lead_mails_per_hour:
        await repo.hold(session, event.id, until=start + HOUR)
        return True
    counted[start] += 1
    return False


def still_member(db: Database) -> Callable[[uuid.UUID, str], Awaitable[bool]]:
    """The mailer's check before a notification or digest goes out: its recipient is still a
    member of the workspace (a member removed while the mail waited behind a failing relay got
    it, with the leads it quotes; so did a deleted account)."""

    async def check(workspace_id: uuid.UUID, email: str) -> bool:
        async with db.transaction(workspace_id=workspace_id) as session:
            return await repo.is_member(session, workspace_id, email)

    return check


def _unsubscribe_headers(one_click: str) -> dict[str, str]:
    return {
        "List-Unsubscribe": f"<{one_click}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


async def sweep(deps: NotificationDeps, now: datetime) -> int:
    """Dispatch the workspaces with events older than ``SWEEP_GRACE`` still pending, then send
    the summaries of the leads held over the hourly cap whose hour is over; how many
    workspaces were dispatched."""
    async with deps.db.transaction(lookup=repo.PENDING_LOOKUP) as session:
        workspaces = await repo.workspaces_with_pending(
            session, created_before=now - SWEEP_GRACE, limit=SWEEP_PAGE
        )
    for workspace_id in workspaces:
        await dispatch(deps, workspace_id)
    await send_lead_summaries(deps, now)
    return len(workspaces)


async def send_lead_summaries(deps: NotificationDeps, now: datetime) -> int:
    """For each workspace and hour over by ``now`` with new leads held past the cap on "New
    lead" mails: one mail to each member who gets new leads at once, naming how many more
    there were, with a link to the leads page (the leads themselves are stored as any other;
    digest-mode members have them in their digest). How many summaries (workspace, hour)."""
    async with deps.db.transaction(lookup=repo.PENDING_LOOKUP) as session:
        due = await repo.held_due(session, now=now, limit=SWEEP_PAGE)
    sent = 0
    for workspace_id, until in due:
        async with deps.db.transaction(workspace_id=workspace_id) as session:
            held = await repo.take_held(session, workspace_id, until=until, at=now)
            workspace = await ws_repo.get_workspace(session, workspace_id)
            if not held or workspace is None:
                continue
            await _summarize_leads(session, deps, workspace, held, until)
            sent += 1
    return sent


async def _summarize_leads(
    session: AsyncSession, deps: NotificationDeps, workspace: Workspace, held: int, until: datetime
) -> None:
    kind = "lead.created"
    start = until - HOUR
    leads = "new lead" if held == 1 else "new leads"
    notice = Notice(
        kind=kind,
        subject=f"{held} more {leads} in the last hour",
        lines=[
            f"{held} more {leads} came in between {start:%Y-%m-%d %H:%M} and {until:%H:%M} UTC.",
            f"Past {deps.lead_mails_per_hour} in an hour, new leads are not mailed one by one;"
            " every lead is stored and listed on the leads page.",
        ],
        link=deps.url(f"/app/w/{workspace.id}/leads"),
        created_at=until,
    )
    members = await repo.verified_members(session, workspace.id)
    chosen = await repo.all_preferences(session, workspace.id)
    for member in members:
        if notifications.mode_of(member.role, kind, chosen.get((member.user_id, kind))) != (
            "immediate"
        ):
            continue
        await _mail_notice(session, deps, workspace, member, notice)


# --- the daily digest ---------------------------------------------------------------------------


async def send_digests(deps: NotificationDeps, now: datetime) -> int:
    """One digest mail per member with digest items from before ``now``; how many mails."""
    sent = 0
    after: tuple[uuid.UUID, uuid.UUID] | None = None
    while True:
        async with deps.db.transaction(lookup=repo.DIGEST_LOOKUP) as session:
            due = await repo.digest_due(session, before=now, after=after, limit=SWEEP_PAGE)
        for workspace_id, user_id in due:
            sent += await send_digest(deps, workspace_id, user_id, now)
        if len(due) < SWEEP_PAGE:
            return sent
        after = due[-1]


async def send_digest(
    deps: NotificationDeps, workspace_id: uuid.UUID, user_id: uuid.UUID, now: datetime
) -> int:
    """The member's digest (1 mail) or nothing (0) when no item is left for them: a removed or
    unverified member, or kinds switched off since, consume their items without a mail."""
    async with deps.db.transaction(workspace_id=workspace_id) as session:
        events = await repo.take_digest_items(
            session, workspace_id, user_id, before=now, at=now, limit=DIGEST_LIMIT
        )
        if not events:
            return 0
        workspace = await ws_repo.get_workspace(session, workspace_id)
        member = next(
            (m for m in await repo.verified_members(session, workspace_id) if m.user_id == user_id),
            None,
        )
        if workspace is None or member is None:
            return 0
        chosen = await repo.preferences(session, workspace_id, user_id)
        notices = [
            await describe(session, deps, workspace, event)
            for event in events
            if notifications.mode_of(member.role, event.kind, chosen.get(event.kind)) != "off"
        ]
        if not notices:
            return 0
        kinds = sorted({n.kind for n in notices}, key=notifications.KINDS.index)
        unsubscribe = [
            (notifications.TITLES[kind], deps.unsubscribe_links(workspace_id, user_id, kind)[0])
            for kind in kinds
        ]
        headers = None
        if len(kinds) == 1:
            headers = _unsubscribe_headers(
                deps.unsubscribe_links(workspace_id, user_id, kinds[0])[1]
            )
        await deps.mailer.enqueue(
            session,
            to=member.email,
            template="notification_digest",
            mail_headers=headers,
            about_workspace=workspace_id,
            about_leads=[n.lead_id for n in notices if n.lead_id],
            workspace=workspace.name,
            notices=notices,
            titles=notifications.TITLES,
            unsubscribe=unsubscribe,
            preferences=deps.url(f"/app/w/{workspace_id}/team#notifications"),
        )
    return 1


# --- jobs ------------------------------------------------------------------------------------


async def dispatch_job(ctx: dict[str, Any], workspace_id: str) -> int:
    deps: NotificationDeps = ctx[DEPS_KEY]
    return await dispatch(deps, uuid.UUID(workspace_id))


JOBS = {DISPATCH_JOB: dispatch_job}
