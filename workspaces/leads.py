"""Leads: captured contacts of a workspace, deduplicated per email (a lead without one, who
left only a phone number, per the number's digits).

Two ways in. The workspace's people (and its API keys) create, work and read leads, as far as
``workspaces.permissions`` allows; updates, deletions and exports are audited (which fields,
never the values). Visitors, with the public widget key, only *submit*: each submission is kept
as history and fills a lead's empty fields, and the caller learns nothing back (not even whether
the email was already a lead).
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core import mail_repository as mail_repo
from core.db import lock_workspace
from core.errors import Conflict, NotFound, ValidationFailed
from core.lock_waits import wait_out
from core.pagination import cursor_scope, decode_cursor, keyset_pages, page_of
from workspaces import lead_repository as repo
from workspaces import notifications
from workspaces.csv_cells import csv_safe
from workspaces.models import Lead, LeadSubmission
from workspaces.permissions import Action, Permit, authorize
from workspaces.schemas import PHONE_DIGITS, phone_digits
from workspaces.service import WorkspaceAccess, require_verified

CSV_COLUMNS = (
    "id",
    "email",
    "name",
    "phone",
    "message",
    "source",
    "status",
    "notes",
    "conversation_id",
    "created_at",
    "updated_at",
    "submissions",
    "latest_submission_at",
    "latest_submission_message",
    # Last, so that the columns before it keep their places: when conversation retention
    # deleted the lead's conversation (its conversation_id then empty).
    "conversation_deleted_at",
)


CONTACT_REQUIRED = (
    "A lead needs an email address or a phone number of "
    f"{PHONE_DIGITS[0]} to {PHONE_DIGITS[1]} digits"
)


def _contact(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with the email trimmed (None when blank), and the phone number: a lead is
    reached by one or the other. 422 ``contact_required`` for neither, or for a phone number
    alone that no one could call (fewer than 7 digits, or more than 15)."""
    values = dict(values)
    email = (values.get("email") or "").strip() or None
    phone = (values.get("phone") or "").strip() or None
    values["email"], values["phone"] = email, phone
    if email is None:
        digits = len(phone_digits(phone or ""))
        if not PHONE_DIGITS[0] <= digits <= PHONE_DIGITS[1]:
            raise ValidationFailed(
                CONTACT_REQUIRED,
                code="contact_required",
                details=[{"field": "email"}, {"field": "phone"}],
            )
    return values


async def capture(
    session: AsyncSession, access: WorkspaceAccess, *, values: dict[str, Any]
) -> tuple[Lead, bool]:
    """Create a lead, or update the workspace's lead with the same email (without an email,
    the one with the same phone number)."""
    authorize(access, Action.LEAD_CREATE)
    values = _contact(values)
    lead, created = await repo.upsert_lead(session, workspace_id=access.workspace.id, values=values)
    if created:
        await notifications.emit(
            session, lead.workspace_id, "lead.created", str(lead.id), {"lead_id": str(lead.id)}
        )
    return lead, created


ERASURE_LOCK = "visitor_erasure"
"""The workspace's advisory lock a visitor's erasure (a lead's deletion) holds (exclusive) to its
commit, and a widget form (a chat message that may hold an address or a number,
``rag.chat.shortcuts.wait_for_erasure``; the owners' notification mails,
``notification_delivery``) takes (shared) before anything else: ``wait_for_erasure``."""


async def wait_for_erasure(
    session: AsyncSession, workspace_id: uuid.UUID, *, wait: bool = True
) -> bool:
    """A widget form or a chat turn leaving contact details, first of all (before its
    conversation's lock, its number's and its lead): wait for an erasure of the workspace that
    is running (``lifecycle.erasure``). Sent after the erasure's last read, a form naming the
    visitor only in its message (a message typed in a new conversation) took no lock of theirs
    and committed before the erasure did, escaping it; now it is a new form (conversation),
    after the erasure. They do not wait for one another (shared). Taken first, it never waits
    while holding what the erasure locks: no deadlock. Not ``wait``: whether no erasure runs
    (the lock then taken), never waiting for one (a chat turn waits without its gate slot)."""
    return await lock_workspace(session, ERASURE_LOCK, workspace_id, shared=True, wait=wait)


async def wait_out_erasure(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    """``wait_for_erasure`` however long the erasure runs: a wait the statement timeout
    (DB_STATEMENT_TIMEOUT_MS) cancels is rolled back to its savepoint and waited again, the
    request's own timeout its bound; the transaction keeps its tenant context and what it did
    before. Before, a form sent during a large workspace's erasure got 500."""
    await wait_out(session, ERASURE_LOCK, workspace_id, shared=True)


async def submit_from_visitor(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    values: dict[str, Any],
    conversation_id: uuid.UUID | None,
    source: str = "widget",
    conversation_lead: uuid.UUID | None = None,
) -> uuid.UUID:
    """A visitor's form (or contact details typed in the chat): recorded as a submission; a new
    email (without one, a new phone number) becomes a lead, a known one only gets its empty
    fields filled. ``conversation_id`` must already be proven to be the visitor's own. Returns
    the lead's id for linking, never the lead.

    ``conversation_lead``: the lead that conversation already has (an address or a number
    typed in the chat). The contact the form brings goes on it where it lacks that one (an
    address no other lead has, or a number), rather than making a second lead that takes the
    conversation from it."""
    values = _contact(values)
    email = values["email"]
    fields = {k: values.get(k) for k in ("name", "phone", "message")}
    created = False
    lead_id = None
    if conversation_lead is not None:
        lead = (workspace_id, conversation_lead)
        lead_id = await repo.complete_lead(session, lead, email, fields)
    if lead_id is None:
        lead_id, created = await repo.add_visitor_lead(
            session,
            workspace_id=workspace_id,
            values={
                "email": email,
                "source": source,
                "conversation_id": conversation_id,
                **fields,
            },
        )
    await _submitted(
        session, (workspace_id, lead_id), email=email, source=source,
        conversation_id=conversation_id, fields=fields,
    )  # fmt: skip
    if created:
        await notifications.emit(
            session, workspace_id, "lead.created", str(lead_id), {"lead_id": str(lead_id)}
        )
    return lead_id


async def add_contact_from_chat(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    lead_id: uuid.UUID,
    email: str | None,
    phone: str | None,
) -> None:
    """Contact details the visitor typed in a conversation that already has its lead (their
    address first and "you can also call me on ..." later, or the other way round): the
    lead's email or phone where it has none. An address another lead has stays that lead's."""
    email = (email or "").strip() or None
    await repo.fill_empty_contact(session, (workspace_id, lead_id), email, phone)


async def call_back_from_chat(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    lead_id: uuid.UUID,
    phone: str,
    message: str,
    conversation_id: uuid.UUID,
) -> None:
    """A call asked on ``phone`` in a conversation that already has its lead ("actually call me
    on ... instead"): the visitor's latest number for a call is the one the team must call, so
    it becomes the lead's number (the list and the export show it), and the request is kept as
    a submission (source ``chat``), the lead's history of what the visitor gave. The number it
    has already, however written, changes nothing and adds no submission. A number another lead
    without email has stays that lead's (one lead per number): this lead keeps its own, and the
    request is in its history. So does a number the lead was given elsewhere than in this
    conversation (the owner's entry, another conversation's): a conversation linked to a lead
    by an address or a number typed replaces no number it did not give."""
    try:
        if not await repo.give_phone(session, (workspace_id, lead_id), phone, conversation_id):
            return
    except repo.PhoneTaken:
        pass
    await _submitted(
        session, (workspace_id, lead_id), email=None, source="chat",
        conversation_id=conversation_id, fields={"phone": phone, "message": message},
    )  # fmt: skip


async def _submitted(
    session: AsyncSession,
    lead: tuple[uuid.UUID, uuid.UUID],
    *,
    email: str | None,
    source: str,
    conversation_id: uuid.UUID | None,
    fields: dict[str, Any],
) -> None:
    """What a visitor sent for the lead (``(workspace_id, lead_id)``), kept as a submission."""
    await repo.insert_lead_submission(
        session,
        LeadSubmission(
            id=uuid.uuid4(),
            workspace_id=lead[0],
            lead_id=lead[1],
            email=email,
            source=source,
            conversation_id=conversation_id,
            **fields,
        ),
    )


async def submissions_page(
    session: AsyncSession,
    access: WorkspaceAccess,
    *,
    lead_id: uuid.UUID,
    limit: int,
    cursor: str | None,
) -> tuple[list[LeadSubmission], str | None]:
    """A lead's submissions, newest first (404 when the lead is not this workspace's)."""
    await get(session, access, lead_id=lead_id)
    workspace_id = access.workspace.id
    scope = cursor_scope("lead_submissions", workspace_id, lead_id)
    rows = await repo.list_lead_submissions(
        session,
        workspace_id=workspace_id,
        lead_id=lead_id,
        limit=limit + 1,
        cursor=decode_cursor(cursor, scope=scope) if cursor else None,
    )
    return page_of(rows, limit, scope=scope)


async def conversation_submissions(
    session: AsyncSession,
    access: WorkspaceAccess,
    *,
    lead_id: uuid.UUID,
    conversation_id: uuid.UUID,
    limit: int = 20,
) -> list[LeadSubmission]:
    """The contact forms a conversation's lead sent from it, oldest first: what a transcript
    shows after the bot asked for an address (the widget's form is no message)."""
    authorize(access, Action.LEADS_READ)
    return list(
        await repo.conversation_submissions(
            session,
            workspace_id=access.workspace.id,
            lead_id=lead_id,
            conversation_id=conversation_id,
            limit=limit,
        )
    )


async def count_submissions(
    session: AsyncSession, access: WorkspaceAccess, *, lead_id: uuid.UUID
) -> int:
    """How many submissions a lead has (404 when the lead is not this workspace's)."""
    await get(session, access, lead_id=lead_id)
    return await repo.count_lead_submissions(
        session, workspace_id=access.workspace.id, lead_id=lead_id
    )


async def get(session: AsyncSession, access: WorkspaceAccess, *, lead_id: uuid.UUID) -> Lead:
    authorize(access, Action.LEADS_READ)
    lead = await repo.get_lead(session, workspace_id=access.workspace.id, lead_id=lead_id)
    if lead is None:
        raise NotFound("Lead not found")
    return lead


async def update(
    session: AsyncSession, access: WorkspaceAccess, *, lead_id: uuid.UUID, values: dict[str, Any]
) -> Lead:
    """Work a lead (status, notes, details). Audited: which fields, never their values. A lead
    without email (or whose email the edit removes) keeps a number someone could call (422
    ``contact_required``), its own: one another such lead of the workspace has is 409
    ``lead_exists`` (``details``: that lead)."""
    permit = authorize(access, Action.LEAD_UPDATE)
    workspace_id = access.workspace.id
    if "phone" in values or "email" in values:
        current = await repo.get_lead(session, workspace_id=workspace_id, lead_id=lead_id)
        if current is None:
            raise NotFound("Lead not found")
        email = values.get("email", current.email)
        if email is None or not str(email).strip():
            phone = values.get("phone", current.phone)
            contact = _contact({"email": email, "phone": phone})
            values = {**values, **{k: contact[k] for k in ("email", "phone") if k in values}}
    try:
        lead = await repo.update_lead(
            session, workspace_id=workspace_id, lead_id=lead_id, values=values
        )
    except repo.PhoneTaken as taken:
        raise Conflict(
            "Another lead without email has this phone number",
            code="lead_exists",
            details=[{"lead_id": str(taken.lead_id)}],
        ) from None
    if lead is None:
        raise NotFound("Lead not found")
    await permit.record(
        session, target_type="lead", target_id=lead_id, details={"fields": sorted(values)}
    )
    return lead


async def delete(
    session: AsyncSession, access: WorkspaceAccess, *, lead_id: uuid.UUID
) -> list[uuid.UUID]:
    """Delete a lead and its personal data: its submissions go with it, and the owners' mails
    quoting it ("New lead", digests) leave the outbox, sent or not, as an erasure's do: once the
    lead is gone, nothing ties them to the visitor any more. A mail being written meanwhile is
    waited for (``ERASURE_LOCK``, as an erasure: before, one whose dispatch had read the lead
    was queued after the delete and sent). Audited. The deleted mails' ids: the caller deletes
    what the file outbox wrote of them after the commit (``Mailer.forget_files``)."""
    permit = authorize(access, Action.LEAD_DELETE)
    await lock_workspace(session, ERASURE_LOCK, access.workspace.id)
    if not await repo.delete_lead(session, workspace_id=access.workspace.id, lead_id=lead_id):
        raise NotFound("Lead not found")
    mail_ids = await mail_repo.forget_about(session, access.workspace.id, leads=[lead_id])
    await permit.record(session, target_type="lead", target_id=lead_id)
    return mail_ids


async def list_page(
    session: AsyncSession,
    access: WorkspaceAccess,
    *,
    limit: int,
    cursor: str | None,
    **filters: Any,
) -> tuple[list[Lead], int, str | None]:
    """A page of the leads matching ``filters`` (status, q, created_after, created_before), the
    total, and the next page's cursor: it continues these filters only (a cursor handed out
    under other filters is 422 ``invalid_cursor``; it skipped their newer rows)."""
    authorize(access, Action.LEADS_READ)
    workspace_id = access.workspace.id
    scope = cursor_scope("leads", workspace_id, filters=filters)
    decoded = decode_cursor(cursor, scope=scope) if cursor else None
    rows = await repo.list_leads(
        session, workspace_id=workspace_id, limit=limit + 1, cursor=decoded, **filters
    )
    total = await repo.count_leads(session, workspace_id=workspace_id, **filters)
    page, next_cursor = page_of(rows, limit, scope=scope)
    return page, total, next_cursor


async def check_export(session: AsyncSession, access: WorkspaceAccess) -> Permit:
    """Whether ``access`` may export the leads (a HEAD of the export asks this alone)."""
    permit = authorize(access, Action.LEADS_EXPORT)
    await require_verified(session, access)  # personal data leaves: a verified person only
    return permit


async def start_export(
    session: AsyncSession, access: WorkspaceAccess, filters: dict[str, Any]
) -> None:
    """Check and record an export (the filters, but not the search text) in this unit of work;
    the rows then stream from ``export_csv`` in transactions of their own."""
    permit = await check_export(session, access)
    details = {k: str(v) for k, v in filters.items() if v is not None and k != "q"}
    await permit.record(
        session,
        target_type="leads",
        details=details | ({"q": True} if filters.get("q") else {}),
    )


EXPORT_PAGE = 500
"""Leads per short read transaction of a download (``paged_rows``)."""


async def paged_rows(
    transaction: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    *,
    workspace_id: uuid.UUID,
    **filters: Any,
) -> AsyncIterator[repo.LeadRow]:
    """The export's rows in keyset pages of ``EXPORT_PAGE``, each read in a transaction of its
    own that ends before its rows go out: a download read slowly holds no connection (one
    cursor over the whole export held one for as long as the client took)."""

    async def read(after: tuple[datetime, uuid.UUID] | None) -> list[repo.LeadRow]:
        async with transaction() as session:
            return await repo.leads_page_with_submissions(
                session, workspace_id=workspace_id, after=after, limit=EXPORT_PAGE, **filters
            )

    def key(row: repo.LeadRow) -> tuple[datetime, uuid.UUID]:
        return row[0].created_at, row[0].id

    async for row in keyset_pages(read, key, EXPORT_PAGE):
        yield row


async def export_csv(rows: AsyncIterator[repo.LeadRow]) -> AsyncIterator[str]:
    """The CSV of ``start_export`` from ``rows`` (``paged_rows``, or one cursor in a job), in
    pieces of about 16 KB."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    async for lead, count, latest_at, latest_message in rows:
        extra = {
            "submissions": count,
            "latest_submission_at": latest_at,
            "latest_submission_message": latest_message,
        }
        writer.writerow(
            [
                csv_safe(extra[column] if column in extra else getattr(lead, column))
                for column in CSV_COLUMNS
            ]
        )
        if buffer.tell() > 16_384:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
