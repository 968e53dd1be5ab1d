"""Erasing one visitor's data (a data-subject request), by the email they left, by their phone
number or by the widget session id their browser kept.

By **email** (or **phone**), what goes:

- the leads with that email, and every submission of theirs or sent with that email (by phone:
  the leads and submissions with that number, an address beside it or not; numbers are
  compared as leads without email are told apart, by their national number and their country
  code unless one was written without it: "+91 98765 43210", "098765 43210" and "0091 98765
  43210" are one number, "+44 98765 43210" another visitor's, migration 0045);
- the conversations those leads and submissions name, and every conversation where a visitor
  typed that address (that number, however written) into a message (with lead capture off, no
  lead is made: the messages still hold it). By phone, not one where the number was typed
  only as another's (an order's, an invoice's, a ticket's, an account's... number:
  ``other_numbers.named_span``) beside a phone of that visitor's own ("my order 98765 43210 is
  late, please call me on +91 91234 56789"): that conversation and its lead are another
  person's and stay, the number redacted in its messages and unanswered questions, the
  webhook deliveries quoting it and the mails about it deleted
  (``erasure_named_repository``). Before, they went with the data subject's. A number named
  so with no other of the visitor's ("my account 98765 43210 is locked") is still theirs;
- the submissions whose message holds that address (that number), read as the chat messages
  are (a widget form sent with the email or phone field empty and the address or number in its
  message): the visitor's, as those sent with it; their leads, and the leads whose own message
  holds it, are reached (below), their message cleared or filled again. Only where that field
  is empty or the visitor's: a form or a lead filed under another address (number), whose
  message merely names the visitor's ("my colleague jo@example.com wants a demo too"), is
  that person's and stays (before, it went with its lead and its conversations);
- then one step further: the other conversations of those conversations' browser sessions.

What stays loses the address (number): the names and the messages of the forms and the leads
kept (that person's, "my colleague jo@example.com wants a demo too"; a lead another visitor's
form keeps; one whose name field holds it) and the owner's notes on every lead of the
workspace. Each occurrence the scan reads (an address in any case, a number however written;
never ``ajo@...``, ``...com.au``, a longer number or another country's) becomes "[erased]",
the rest of the text as it was (``erasure_text_repository.redact_written``;
``redacted_leads``, ``redacted_lead_submissions`` count the rows rewritten). The owners' mails
about a lead whose name or message (or a form's) lost it go, sent or not
(``notification_mails``): a "New lead" mail quotes them. The forms'
and the leads' messages are read again once the erasure holds its locks: a form sent meanwhile
with the address in its message goes with the visitor's (before, it escaped with the address),
and one sent later waits for the erasure's commit (``ERASURE_LOCK``, held from its start): a new
form, after it (before, sent after the last read, it committed first and kept the address). So
does a chat message that may hold an address or a number (``shortcuts.wait_for_erasure``): a new
conversation after it (before, typed in a new conversation, it escaped the same way).

A lead with that email (number) is the visitor's: it goes with all its submissions and
conversations, unless its other contact (by email its number, by phone its address) first came
in a submission without the key: another person's lead whose empty address or number the
visitor's form or callback filled (``repo.leads_given_the_key``); that lead is reached, and
loses the key however it is written there. A lead reached otherwise (a submission on it carries
the email or number, or one of the visitor's conversations was linked to it or sent to it:
another person's lead whose address or number the visitor typed, then asked a call on their own
number) is treated as an erasure by session treats a lead: the visitor's submissions on it go
(those sent from their conversations, or with their email or number), and it goes too unless a
submission sent from elsewhere remains; then it stays, the details that came only from what was
erased filled again from what remains or cleared. Its own conversations are not the visitor's
and stay. Before, such a lead went whole: erasing a visitor by the number they asked a call on
deleted the lead (name, address, number, conversations) of the person whose address they had
typed.

By **session id**, what goes:

- the conversations of that session;
- the lead submissions sent from those conversations;
- each lead those conversations were linked to or sent to, unless a submission sent from
  elsewhere remains (another visitor with the same address: a shared mailbox; or the same
  number). That lead stays with the other visitor's submissions; the details that came only
  from the erased submissions or were typed in its conversations, its address included, are
  filled again from the remaining ones or cleared, and its link to the erased conversation is
  dropped. Left without an address, with a number another lead without email has, it goes
  into that lead (one lead per number: ``session_erasure_repository``).

With every conversation go its messages, their feedback, its unanswered questions, and the
webhook deliveries naming the conversation or the session (a handoff quotes the visitor's
message and session id). The owners' "new lead" mails quoting an erased lead (or one the session
way examined), and the handoff summaries quoting an erased conversation's first words, leave the
mail outbox, sent or not; ``Erased.mail_ids`` names them, so the caller deletes what the file
outbox wrote of them after the commit (``Mailer.forget_files``). Such a mail being written as
the erasure starts is waited for (its dispatch holds ``ERASURE_LOCK``, shared) and goes too.

The response cache holds visitors' questions (normalised) for CACHE_TTL_SECONDS under digests no
erasure can pick out: after the commit, before answering, the caller clears the workspace's
whole cache (``ResponseCache.forget_workspace``; the API and the dashboard do,
``api/data_lifecycle.py``), and a chat turn begun before that stores nothing after it
(``rag.chat.cache_fence``: before, one storing its answer after the clearing kept the erased
visitor's question there).

The sessions whose conversations go (by session id; by email or phone, those of the visitor's
conversations) are held from before their conversations are read (``session_locks``): a turn
opening a conversation in one waits for the commit. Before, one opened after the erasure had
locked the session's conversations committed first and outlived it.

The workspace's exports may hold the visitor too. A ready one is withdrawn: ``expired``, its
error saying why, its file deleted after the commit (``Erased.export_files``,
``remove_export_files``). A running one is failed the same way: its build read table by table
(READ COMMITTED), so it may hold rows read before this erasure committed; finding its export no
longer running, it deletes its zip. A queued one stays queued, locked until the erasure commits:
its build claims it afterwards and reads nothing erased. Requests for a new export wait for the
erasure (it holds ``exports.REQUEST_LOCK``).

Audited (``visitor.erased``) with how many rows of each kind went (``leads`` counts the leads
deleted, not those kept and rewritten; ``lead_submissions`` every submission deleted) or were
redacted (``redacted_leads``, ``redacted_lead_submissions``; 0 by session id), which
key was used (``email``, ``phone`` or ``session_id``) and the exports withdrawn, never the
email, the number, the session id or anything erased.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from dataclasses import dataclass, field, replace

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from core import mail_repository as mail_repo
from core.config import Settings
from core.db import lock_workspace
from core.errors import ValidationFailed
from lifecycle import erasure_named_repository as named_repo
from lifecycle import erasure_repository as repo
from lifecycle import erasure_text_repository as text_repo
from lifecycle import export_repository as export_repo
from lifecycle import exports
from lifecycle import session_erasure_repository as session_repo
from rag.chat import session_locks
from rag.chat.contact_details import EMAIL_IN_TEXT
from rag.chat.schemas import SESSION_ID_PATTERN
from workspaces.leads import ERASURE_LOCK
from workspaces.permissions import Action, authorize
from workspaces.schemas import PHONE_DIGITS, Email, phone_digits
from workspaces.service import WorkspaceAccess


@dataclass(frozen=True)
class Erased:
    counts: dict[str, int]
    """Rows erased per kind (all zero when nothing matched: the request is still recorded)."""
    mail_ids: list[uuid.UUID] = field(default_factory=list)
    """The outbox messages deleted (``notification_mails``): their files go after the commit."""
    withdrawn_exports: list[uuid.UUID] = field(default_factory=list)
    """The workspace's exports withdrawn (``WITHDRAWN_READY``, ``WITHDRAWN_RUNNING``)."""
    export_files: list[str] = field(default_factory=list)
    """The withdrawn ready exports' zips: deleted after the commit (``remove_export_files``)."""


ERASURE_KEY = "Name the visitor by exactly one of email, phone and session_id"
SESSION_ID_REFUSED = (
    "A widget session id is 1 to 128 letters, digits, dots, underscores, colons and hyphens"
)
"""A session id no conversation can have (the chat takes none other, ``SESSION_ID_PATTERN``):
refused rather than reported as a visitor erased with nothing found."""

WITHDRAWN_READY = (
    "withdrawn: a visitor's data was erased after this export was built, so its file was"
    " deleted; request a new one"
)
WITHDRAWN_RUNNING = (
    "withdrawn: a visitor's data was erased while this export was being built; request a new one"
)


def remove_export_files(settings: Settings, file_names: list[str]) -> int:
    """Delete the withdrawn exports' zips (after the erasure's commit); how many went. One left
    by a process that stopped first is named by no export row any more: the periodic
    ``delete_expired_exports`` deletes it (``exports.remove_orphan_zips``)."""
    removed = 0
    for name in file_names:
        with contextlib.suppress(FileNotFoundError, ValueError):
            exports.export_path(settings, name).unlink()
            removed += 1
    return removed


EMAIL_REFUSED = (
    "That is not an email address (a comma for a dot, a space, no @?): nothing was erased;"
    " write the address the visitor left"
)
_ADDRESS: TypeAdapter[str] = TypeAdapter(Email)


def _an_address(email: str) -> bool:
    """Whether ``email`` is an address a visitor could have left: one a lead takes
    (``workspaces.schemas.Email``) or one the chat reads in a message (``EMAIL_IN_TEXT``).
    Any text was taken, and a typo ("ann@example,com") was answered "Visitor erased: 0
    conversations", as if the visitor had left nothing."""
    if EMAIL_IN_TEXT.fullmatch(email):
        return True
    try:
        _ADDRESS.validate_python(email)
    except ValidationError:
        return False
    return True


async def erase_visitor(
    session: AsyncSession,
    access: WorkspaceAccess,
    *,
    email: str | None = None,
    session_id: str | None = None,
    phone: str | None = None,
) -> Erased:
    """Erase the visitor named by exactly one of ``email``, ``phone`` and ``session_id``, and
    withdraw the workspace's exports that may hold them. The caller clears the workspace's
    response cache, the deleted mails' files and the withdrawn exports' zips after the commit
    (``api.data_lifecycle.forget_after_erasure``)."""
    permit = authorize(access, Action.VISITOR_ERASE)
    email = email.strip() if email else None  # lowered by the queries, as each compares
    session_id = session_id.strip() if session_id else None
    phone = phone.strip() if phone else None
    keys = {"email": email, "phone": phone, "session_id": session_id}
    given = [name for name, value in keys.items() if value]
    if len(given) != 1:
        raise ValidationFailed(
            ERASURE_KEY, code="erasure_key", details=[{"field": name} for name in keys]
        )
    if phone and not PHONE_DIGITS[0] <= len(phone_digits(phone)) <= PHONE_DIGITS[1]:
        raise ValidationFailed(
            f"A phone number has {PHONE_DIGITS[0]} to {PHONE_DIGITS[1]} digits",
            code="erasure_key",
            details=[{"field": "phone"}],
        )
    if email and not _an_address(email):
        raise ValidationFailed(EMAIL_REFUSED, code="erasure_key", details=[{"field": "email"}])
    if session_id and not re.fullmatch(SESSION_ID_PATTERN, session_id):
        raise ValidationFailed(
            SESSION_ID_REFUSED, code="erasure_key", details=[{"field": "session_id"}]
        )
    workspace_id = access.workspace.id
    # Before anything is erased: no export is requested until this commits, a build that
    # has not started waits for it, and what was built or is being built is withdrawn.
    await lock_workspace(session, exports.REQUEST_LOCK, workspace_id)
    # And no widget form (nor a chat message with an address or a number) is taken until this
    # commits (``leads.wait_for_erasure``): one sent after the last read below escaped it.
    await lock_workspace(session, ERASURE_LOCK, workspace_id)
    withdrawn, export_files = await export_repo.withdraw_exports(
        session,
        workspace_id=workspace_id,
        running_error=WITHDRAWN_RUNNING,
        ready_error=WITHDRAWN_READY,
    )
    if email or phone:
        visitor = repo.Named(email=email, phone=phone)
        counts, leads, conversations = await _erase_named(session, workspace_id, visitor)
    else:
        assert session_id is not None
        # Before the session's conversations are read: a turn opening one waits for the commit.
        await session_locks.lock_for_erasure(session, workspace_id, [session_id])
        conversations, leads = await _lock_session(session, workspace_id, session_id)
        # The submissions first: deleting a conversation leaves its submissions' link dangling.
        lead_counts = await session_repo.erase_session_leads(
            session, workspace_id=workspace_id, lead_ids=leads, conversation_ids=conversations
        )
        counts = await repo.erase_conversations(
            session,
            workspace_id=workspace_id,
            conversation_ids=conversations,
            session_ids={session_id},
        )
        counts |= lead_counts | dict.fromkeys(text_repo.REDACTED_COUNTS, 0)
    # The owners' mails quoting these leads or conversations, queued or kept after sending.
    mail_ids = await mail_repo.forget_about(
        session, workspace_id, leads=sorted(leads), conversations=sorted(conversations)
    )
    counts["notification_mails"] = len(mail_ids)
    await permit.record(
        session,
        target_type="visitor",
        details={
            "by": given[0],
            "erased": counts,
            "withdrawn_exports": [str(export_id) for export_id in withdrawn],
        },
    )
    return Erased(
        counts=counts, mail_ids=mail_ids, withdrawn_exports=withdrawn, export_files=export_files
    )


async def _lock_session(
    session: AsyncSession, workspace_id: uuid.UUID, session_id: str
) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """The session's conversations and the leads they name (read once no turn of theirs is
    under way), locked before the numbers and the leads (``repo.lock_conversations``) with the
    other visitors' conversations linked to those leads (relinked or unlinked): all in one
    statement, by id, as the retention sweep locks its batch. Locked in two (the session's,
    then the others), an erasure held the session's and waited for another visitor's the sweep
    held while it waited for the session's (deadlock_detected). The leads are read first
    without a lock, then again on the locked rows: when those name one more (a turn or a form
    linked it meanwhile), the locks are let go (their savepoint rolled back) and all are taken
    again with it, never a conversation locked after others out of their order."""
    found = await repo.conversations_of(
        session,
        workspace_id=workspace_id,
        session_ids={session_id},
        lead_ids=set(),
        conversation_ids=set(),
    )
    leads = await repo.leads_of_conversations(
        session, workspace_id=workspace_id, conversation_ids={cid for cid, _, _ in found}
    )
    while True:
        savepoint = await session.begin_nested()
        locked = await repo.lock_conversations(
            session,
            workspace_id=workspace_id,
            conversation_ids=set(),
            lead_ids=leads,
            session_ids={session_id},
        )
        conversations = {cid for cid, sid in locked.items() if sid == session_id}
        named = await repo.leads_of_conversations(
            session, workspace_id=workspace_id, conversation_ids=conversations
        )
        if named <= leads:
            await savepoint.commit()
            return conversations, named
        await savepoint.rollback()
        leads |= named


async def _erase_named(
    session: AsyncSession, workspace_id: uuid.UUID, visitor: repo.Named
) -> tuple[dict[str, int], set[uuid.UUID], set[uuid.UUID]]:
    """The visitor's leads (``own``: with their address or number) go whole, with their
    submissions and conversations; a lead reached otherwise (``reached``: a submission sent
    with the visitor's address or number, or one of the visitor's conversations linked to it,
    such as another person's lead whose address the visitor typed) loses what the visitor
    sent and typed, as an erasure by session rewrites a lead (``erase_session_leads``): it
    stays when anything sent from elsewhere remains. Its own conversations are no visitor's.
    A lead with the key whose other contact (address, number) first came without it is
    reached too (the visitor's key filled another person's empty one); before, it went
    whole. The counts, the leads whose mails go (those and the ones redacted) and the
    conversations."""
    # The forms' and the leads' messages holding the address (number): as a conversation
    # holding it is the visitor's, such a submission is theirs and such a lead reached.
    visitor = await _written(session, workspace_id, visitor)
    own = await repo.lead_ids_named(session, workspace_id=workspace_id, named=visitor)
    # A lead whose number (address) only the visitor gave, its address (number) someone
    # else's, is reached.
    own -= (
        given := await repo.leads_given_the_key(
            session, workspace_id=workspace_id, lead_ids=own, named=visitor
        )
    )
    named, reached = await repo.lead_conversation_links(
        session, workspace_id=workspace_id, lead_ids=own, named=visitor
    )
    reached |= given | await repo.leads_not_filed_elsewhere(
        session, workspace_id=workspace_id, lead_ids=visitor.leads_written_in, named=visitor
    )
    mentioning = await repo.conversations_mentioning(
        session, workspace_id=workspace_id, named=visitor
    )
    # A conversation where the number was typed only as another's (an order's, an invoice's...)
    # beside a phone of that visitor's own is not the data subject's: it stays, without it.
    aside = await named_repo.named_as_anothers(
        session, workspace_id=workspace_id, named=visitor, conversation_ids=mentioning
    )
    named |= mentioning - aside
    found = await repo.conversations_of(
        session,
        workspace_id=workspace_id,
        session_ids=set(),
        lead_ids=own,
        conversation_ids=named,
    )
    # The visitor's other conversations (same browser session), and the leads linked to any:
    # read once the sessions are held (a turn opening one there waits for the commit).
    sessions = {sid for _, sid, _ in found}
    await session_locks.lock_for_erasure(session, workspace_id, sessions)
    found = await repo.conversations_of(
        session,
        workspace_id=workspace_id,
        session_ids=sessions,
        lead_ids=own,
        conversation_ids={cid for cid, _, _ in found},
    )
    conversations = {cid for cid, _, _ in found}
    reached |= await repo.leads_of_conversations(
        session, workspace_id=workspace_id, conversation_ids=conversations
    )
    reached -= own
    # Locked before the leads are deleted (``repo.lock_conversations``), with those linked to
    # the leads by then; then the reached leads' numbers (``lock_numbers``, as a form takes a
    # number's lock before its lead's), then the visitor's leads locked, and the leads and
    # their links read again. A conversation linked to the visitor's lead (or sent a
    # submission) since the first reads is theirs too: erased, locked as the others (it
    # outlived the erasure, unlinked, the address in its messages). The leads' locks wait for
    # a turn or a form still writing to one (its conversation not committed when the
    # conversations were locked: it outlived the erasure too); when the links read after them
    # name anything new, the conversations' and the leads' locks are let go (their savepoint
    # rolled back) and all are taken again with those conversations: never a conversation
    # locked after a lead, nor after others out of their order (holding the first ones, the
    # erasure waited for a conversation the retention sweep held while it waited for one of
    # them: deadlock_detected). The reached leads' other conversations are locked too (a lead
    # merged moves them) but not erased.
    while True:
        savepoint = await session.begin_nested()
        locked = await repo.lock_conversations(
            session,
            workspace_id=workspace_id,
            conversation_ids=conversations,
            lead_ids=own | reached,
        )
        await session_repo.lock_numbers(session, workspace_id, reached)
        await repo.lock_leads(session, workspace_id=workspace_id, lead_ids=own)
        # A form sent since the first reads with the address (number) in its message is the
        # visitor's too: read again, its lead and conversation are among the links (before,
        # it escaped, its lead and submission kept with the address).
        visitor = await _written(session, workspace_id, visitor)
        linked, named_leads = await repo.lead_conversation_links(
            session, workspace_id=workspace_id, lead_ids=own, named=visitor
        )
        named_leads |= await repo.leads_not_filed_elsewhere(
            session, workspace_id=workspace_id, lead_ids=visitor.leads_written_in, named=visitor
        )
        linked |= {
            cid
            for cid, _, _ in await repo.conversations_of(
                session,
                workspace_id=workspace_id,
                session_ids=set(),
                lead_ids=own,
                conversation_ids=set(),
            )
        }
        named_leads |= await repo.leads_of_conversations(
            session, workspace_id=workspace_id, conversation_ids=conversations | linked
        )
        if linked <= conversations and named_leads <= own | reached:
            await savepoint.commit()
            break
        await savepoint.rollback()
        conversations |= linked
        reached |= named_leads - own
    # The reached leads first: the visitor's submissions on them, and what the visitor typed,
    # are read before their conversations go.
    lead_counts = await session_repo.erase_session_leads(
        session,
        workspace_id=workspace_id,
        lead_ids=reached,
        conversation_ids=conversations,
        named=visitor,
    )
    own_counts = await repo.erase_leads(
        session, workspace_id=workspace_id, lead_ids=own, named=visitor
    )
    counts = await repo.erase_conversations(
        session,
        workspace_id=workspace_id,
        conversation_ids=conversations,
        session_ids={locked[cid] for cid in conversations if cid in locked}
        | {sid for _, sid, _ in found},
    )
    for kind, count in own_counts.items():
        counts[kind] = lead_counts.get(kind, 0) + count
    # What is kept (another person's form or lead naming the visitor, the owner's notes)
    # loses the address (number), last: after the leads the erasure locked.
    redacted = await text_repo.redact_written(session, workspace_id=workspace_id, named=visitor)
    counts |= redacted.counts
    # The conversations set aside (unless reached otherwise) lose the number too.
    aside -= conversations
    kept = await named_repo.redact_conversations(
        session, workspace_id=workspace_id, named=visitor, conversation_ids=aside
    )
    counts["webhook_deliveries"] += kept.pop("webhook_deliveries")
    counts |= kept
    # The owners' mails about a lead whose message lost it quote it: they go too (before,
    # the "New lead" mail kept the address the lead no longer held), and so do those about a
    # conversation set aside (a handoff's summary quotes its first words).
    return counts, own | reached | redacted.quoted_leads, conversations | aside


async def _written(
    session: AsyncSession, workspace_id: uuid.UUID, visitor: repo.Named
) -> repo.Named:
    """``visitor`` with the submissions and the leads whose message holds their address
    (number) as read now, besides those read before (``written_in``, ``leads_written_in``)."""
    return replace(
        visitor,
        written_in=visitor.written_in
        | await repo.submissions_mentioning(session, workspace_id=workspace_id, named=visitor),
        leads_written_in=visitor.leads_written_in
        | await repo.leads_mentioning(session, workspace_id=workspace_id, named=visitor),
    )
