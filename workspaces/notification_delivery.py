"""Turning notification events into mail: the dispatch job, the sweep, the daily digest.

- ``dispatch`` (job ``notifications.dispatch``, one workspace): claims the workspace's
  undispatched events (``FOR UPDATE SKIP LOCKED``, so two workers never take one), and in the
  same transaction writes one mail per member in mode ``immediate`` to the mail outbox, one
  digest item per member in mode ``daily_digest``, and marks the events dispatched. A crash
  before the commit leaves the events pending; after it, the mails are in the outbox.
- ``sweep`` (scheduled every minute): dispatches workspaces whose events a lost kick left
  behind (the process died between the commit and the job), then sends the summaries of the
  events held past an hourly cap.
- Hourly caps (``CAPPED``): "New lead" mails (``NOTIFICATION_LEAD_MAILS_PER_HOUR``) and handoff
  request mails (``NOTIFICATION_HANDOFF_MAILS_PER_HOUR``), each its own budget per workspace and
  clock hour: a flood of lead forms cannot use up the mails of visitors asking for a person (the
  more urgent news), nor the other way round. An event past its kind's cap is held (not an
  erasure asked in the chat, mailed at once: it is no request for a person); once the
  hour is over, each member who gets that kind at once gets one summary mail of them.
- ``send_digests`` (scheduled daily at ``NOTIFICATION_DIGEST_HOUR`` UTC): one mail per member
  with the digest items not sent yet; the items are marked sent in the transaction that writes
  the mail, so an event is never in two digests, and a member with nothing gets nothing.

Each of them waits for a running erasure of the workspace first (``leads.wait_out_erasure``):
a mail quoting a lead or a visitor's words that it read before the erasure deleted them would be
queued after the erasure's delete of their mails, and kept.

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
from core.mail import KINDS_HEADER, Mailer, StillMember
from workspaces import leads, notifications
from workspaces import notification_repository as repo
from workspaces import repository as ws_repo
from workspaces.models import Workspace
from workspaces.notification_text import (
    Notice,
    describe,
    handoff_summary,
    lead_summary,
    one_line,
)

log = logging.getLogger("trulybot.notifications")

DEPS_KEY = "notifications"  # where the job context holds NotificationDeps
DISPATCH_JOB = "notifications.dispatch"
BATCH = 100
SWEEP_PAGE = 500
DIGEST_LIMIT = 500  # events in one digest mail (more wait for the next)
SWEEP_GRACE = timedelta(seconds=30)  # an event younger than this still has its kick coming
UNSUBSCRIBE_PAGE = "/app/unsubscribe"  # the page a person opens (asks, then turns it off)
UNSUBSCRIBE_API = "/api/v1/notifications/unsubscribe"  # one-click POST (RFC 8058)
LEAD_MAILS_PER_HOUR = 20  # NOTIFICATION_LEAD_MAILS_PER_HOUR: "New lead" mails per workspace, hour
HANDOFF_MAILS_PER_HOUR = 10  # NOTIFICATION_HANDOFF_MAILS_PER_HOUR: handoff request mails, the same
CAPPED: Final = frozenset({"lead.created", "handoff.requested"})  # kinds with an hourly cap
SUMMARY_LATEST = 5  # held handoffs a summary quotes (the newest), by their visitor's first words
HOUR = timedelta(hours=1)

FirstMessages = Callable[
    [AsyncSession, uuid.UUID, Sequence[uuid.UUID]], Awaitable[Mapping[uuid.UUID, str]]
]
"""The first visitor message of each of these conversations of the workspace, each held until
the summary's transaction ends, so that retention deleting one waits for the mail quoting it and
deletes it too (the chat's repository: rag.chat.repository.conversations.quoted_first_messages,
wired by the runtime; workspaces does not read the chat's tables)."""


@dataclass
class NotificationDeps:
    db: Database
    mailer: Mailer
    signing_key: str
    base_url: str
    enqueue_job: Callable[..., Awaitable[Any]] | None = None
    lead_mails_per_hour: int = LEAD_MAILS_PER_HOUR
    handoff_mails_per_hour: int = HANDOFF_MAILS_PER_HOUR
    first_messages: FirstMessages | None = None  # None: summaries quote no visitor
    _remove_kicker: Callable[[], None] | None = field(default=None, repr=False)

    def cap(self, kind: str) -> int:
        """Immediate mails of ``kind`` (one of ``CAPPED``) per workspace and clock hour."""
        return self.lead_mails_per_hour if kind == "lead.created" else self.handoff_mails_per_hour

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


# --- dispatch -----------------------------------------------------------------------------------


async def dispatch(deps: NotificationDeps, workspace_id: uuid.UUID) -> int:
    """Turn the workspace's pending events into mails and digest items; how many events."""
    done = 0
    while True:
        async with deps.db.transaction(workspace_id=workspace_id) as session:
            await leads.wait_out_erasure(session, workspace_id)  # before a lead is read
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
    mailed: dict[tuple[str, datetime], int] = {}  # (kind, hour start) -> mails dispatched in it
    if any(e.kind in CAPPED for e in events):
        await repo.lock_capped_mails(session, workspace.id)
    for event in events:
        notice: Notice | None = None
        held = False
        if event.kind in CAPPED and not event.data.get("erasure"):
            # An erasure asked in the chat is no request for a person to sum up an hour later
            # ("N more visitors asked for a person"): mailed at once, whatever the cap.
            held = await _over_cap(session, deps, workspace.id, event, mailed)
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
        mail_headers=_headers([notice.kind], one_click),
        about_workspace=workspace.id,
        about_leads=[notice.lead_id] if notice.lead_id else [],
        about_conversations=notice.conversation_ids,
        workspace=_name(workspace),
        notice=notice,
        title=notifications.TITLES[notice.kind],
        unsubscribe=page,
        preferences=deps.url(f"/app/w/{workspace.id}/team#notifications"),
    )


async def _over_cap(
    session: AsyncSession,
    deps: NotificationDeps,
    workspace_id: uuid.UUID,
    event: repo.EventRow,
    counted: dict[tuple[str, datetime], int],
) -> bool:
    """Whether the event is past the workspace's mails of its kind in its hour (then it is held
    for the summary sent when the hour is over); counts it otherwise. The caller holds
    ``repo.lock_capped_mails``, so dispatchers in other processes count after this one."""
    start = event.created_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    key = (event.kind, start)
    if key not in counted:
        counted[key] = await repo.mails_in(
            session, workspace_id, event.kind, start=start, end=start + HOUR
        )
    if counted[key] >= deps.cap(event.kind):
        await repo.hold(session, event.id, until=start + HOUR)
        return True
    counted[key] += 1
    return False


def still_member(db: Database) -> StillMember:
    """The mailer's check before a notification or digest goes out: its recipient is still a
    member of the workspace (a member removed while the mail waited behind a failing relay got
    it, with the leads it quotes; so did a deleted account), may still receive each kind it
    tells of (an owner demoted to admin got the payment mail), and has not turned them all off
    meanwhile (the unsubscribe link clicked, the mail came anyway)."""

    async def check(workspace_id: uuid.UUID, email: str, kinds: tuple[str, ...]) -> bool:
        async with db.transaction(workspace_id=workspace_id) as session:
            member = await repo.member_by_email(session, workspace_id, email)
            known = [kind for kind in kinds if kind in notifications.KINDS]
            if member is None or not known:
                return member is not None
            user_id, role = member
            if not all(notifications.may_receive(role, kind) for kind in known):
                return False
            chosen = await repo.preferences(session, workspace_id, user_id)
            return any(notifications.mode_of(role, k, chosen.get(k)) != "off" for k in known)

    return check


def _headers(kinds: Sequence[str], one_click: str | None) -> dict[str, str]:
    """The kinds the mail tells of (checked again before it is sent) and, for one kind, the
    one-click unsubscribe address."""
    headers = {KINDS_HEADER: ", ".join(kinds)}
    if one_click is not None:
        headers["List-Unsubscribe"] = f"<{one_click}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return headers


async def sweep(deps: NotificationDeps, now: datetime) -> int:
    """Dispatch the workspaces with events older than ``SWEEP_GRACE`` still pending, then send
    the summaries of the events held over an hourly cap whose hour is over; how many
    workspaces were dispatched."""
    async with deps.db.transaction(lookup=repo.PENDING_LOOKUP) as session:
        workspaces = await repo.workspaces_with_pending(
            session, created_before=now - SWEEP_GRACE, limit=SWEEP_PAGE
        )
    for workspace_id in workspaces:
        await dispatch(deps, workspace_id)
    await send_summaries(deps, now)
    return len(workspaces)


async def send_summaries(deps: NotificationDeps, now: datetime) -> int:
    """For each workspace, kind and hour over by ``now`` with events held past the kind's
    hourly cap: one mail to each member who gets that kind at once, naming how many more there
    were (handoffs: with the latest few visitors' first words), with a link to the page that
    lists them (the leads and conversations themselves are stored as any other; digest-mode
    members have them in their digest). How many summaries (workspace, kind, hour)."""
    async with deps.db.transaction(lookup=repo.PENDING_LOOKUP) as session:
        due = await repo.held_due(session, now=now, limit=SWEEP_PAGE)
    sent = 0
    for workspace_id, kind, until in due:
        async with deps.db.transaction(workspace_id=workspace_id) as session:
            await leads.wait_out_erasure(session, workspace_id)  # before a message is read
            held, latest = await repo.take_held(
                session, workspace_id, kind, until=until, at=now, latest=SUMMARY_LATEST
            )
            workspace = await ws_repo.get_workspace(session, workspace_id)
            if not held or workspace is None:
                continue
            if kind == "handoff.requested":
                notice = handoff_summary(
                    deps, workspace, held, until, await _first_words(session, deps, latest)
                )
            else:
                notice = lead_summary(deps, workspace, held, until)
            await _mail_summary(session, deps, workspace, notice)
            sent += 1
    return sent


async def _first_words(
    session: AsyncSession, deps: NotificationDeps, events: Sequence[repo.EventRow]
) -> list[tuple[uuid.UUID, datetime, str]]:
    """(conversation, when, the visitor's first message) of the held handoffs ``events`` whose
    conversation is still there, in their order."""
    if deps.first_messages is None or not events:
        return []
    conversations: dict[uuid.UUID, datetime] = {}
    for event in events:
        try:
            conversations[uuid.UUID(str(event.data.get("conversation_id")))] = event.created_at
        except ValueError:
            continue
    found = await deps.first_messages(session, events[0].workspace_id, list(conversations))
    return [(cid, at, found[cid]) for cid, at in conversations.items() if cid in found]


async def _mail_summary(
    session: AsyncSession, deps: NotificationDeps, workspace: Workspace, notice: Notice
) -> None:
    members = await repo.verified_members(session, workspace.id)
    chosen = await repo.all_preferences(session, workspace.id)
    kind = notice.kind
    for member in members:
        if notifications.mode_of(member.role, kind, chosen.get((member.user_id, kind))) != (
            "immediate"
        ):
            continue
        await _mail_notice(session, deps, workspace, member, notice)


# --- the daily digest ---------------------------------------------------------------------------


def _name(workspace: Workspace) -> str:
    """The workspace's name as its mails show it: on one line, without a bidirectional override
    (an admin's or an API key's name turned the subject's own words around)."""
    return one_line(workspace.name, 200)


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
        await leads.wait_out_erasure(session, workspace_id)  # before a lead is read
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
        one_click = None
        if len(kinds) == 1:
            one_click = deps.unsubscribe_links(workspace_id, user_id, kinds[0])[1]
        headers = _headers(kinds, one_click)
        await deps.mailer.enqueue(
            session,
            to=member.email,
            template="notification_digest",
            mail_headers=headers,
            about_workspace=workspace_id,
            about_leads=[n.lead_id for n in notices if n.lead_id],
            workspace=_name(workspace),
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
