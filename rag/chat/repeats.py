"""A visitor's message sent again: answered from what its first try recorded, never recorded or
metered twice.

A client may send a ``client_message_id`` with a message (the widget makes one per message the
visitor sends and sends it again on every try of that message: a stream lost after its first
event, an error after the message was recorded, the visitor's Retry). The first try records it
with the message, unique in the workspace (``uq_messages_client_message_id``), and claims the
answering (``reply_claimed_at``). Another try of the same message fails to record it (the
statement rolls back: nothing recorded, nothing metered), and ``take_up`` answers it instead:

- the answer is recorded: that answer, as the first try's response (``replayed``);
- a try is answering it (its claim younger than ``LEASE``): 409 ``message_in_progress`` with
  Retry-After; the client asks again later;
- the try that recorded it failed without an answer (an embedding outage after the message was
  recorded: its claim was released, ``rag.chat.pipeline``), or its claim is older than ``LEASE``
  (its process ended mid-turn): this try takes the claim and answers the recorded message in
  its conversation (``stages.resume``), metering no message or conversation again; the answer's
  tokens are metered with the answer, once.

The id names one message: a try with another text, from another session or channel, is refused
with 409 ``client_message_id_reused`` (a client that reuses ids would otherwise get another
message's answer).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database
from core.errors import AppError
from core.models import utcnow
from rag.chat.exchange import ChatResult
from rag.chat.generator import Spent
from rag.chat.intents import Intent, question_of
from rag.chat.normalize import normalize_question
from rag.chat.repository import client_messages
from rag.chat.repository import conversations as conversation_repo
from rag.chat.repository.client_messages import ClientMessage
from rag.chat.stages import (
    Channel,
    Claim,
    Source,
    Turn,
    bot_name_of,
    looks_like_follow_up,
    lookups_wanted,
)
from rag.chat.token_reservations import TokenEstimate, reservation_wanted, reserved
from workspaces import usage
from workspaces.models import Workspace
from workspaces.widget_keys import WorkspaceChanged

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
"""How long a try's claim on answering a message holds without an answer: longer than a turn
takes (a JSON turn ends at REQUEST_TIMEOUT_SECONDS, 60 s by default, and releases its claim; a
streamed one is bounded by the model's timeouts), so only a try whose process ended is taken
over."""
RETRY_AFTER_SECONDS = 2
"""What a 409 ``message_in_progress`` tells the client to wait before asking again."""


class MessageInProgress(AppError):
    code = "message_in_progress"
    status_code = 409
    message = "This message is still being answered; ask again shortly"

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


class ClientMessageReused(AppError):
    code = "client_message_id_reused"
    status_code = 409
    message = "This client_message_id was sent with another message; use a new id per message"


async def already_sent(db: Database, workspace_id: uuid.UUID, client_message_id: str) -> bool:
    """Whether a try of the message with ``client_message_id`` was recorded: another try of it
    starts no conversation (``take_up`` answers it in the first try's), so a cap on new
    conversations does not count it."""
    async with db.transaction(workspace_id=workspace_id) as session:
        return await client_messages.client_message_recorded(
            session, workspace_id=workspace_id, client_message_id=client_message_id
        )


async def take_up(
    session: AsyncSession,
    workspace: Workspace,
    *,
    client_message_id: str,
    session_id: str,
    channel: Channel,
    message: str,
    history_turns: int,
    workspace_version: str | None = None,
    estimate: TokenEstimate | None = None,
) -> ChatResult | Turn:
    """A try of a message already recorded with ``client_message_id``: its recorded answer, or
    the turn to answer it with (this try's claim on it); ``MessageInProgress`` while another try
    is answering it. ``workspace_version``: as for ``stages.record`` (``WorkspaceChanged``: the
    caller's transaction rolls back, the claim with it)."""
    found = await client_messages.find_client_message(
        session, workspace_id=workspace.id, client_message_id=client_message_id
    )
    if found is None:
        # Recorded by a try, and gone since (erased): the next try records it anew.
        raise MessageInProgress()
    conversation = found.conversation
    if (
        conversation.session_id != session_id
        or conversation.channel != channel
        or found.message.text != message
    ):
        raise ClientMessageReused()
    if found.answer is not None:
        return replayed(found)
    now = utcnow()
    taken = await client_messages.claim_reply(
        session,
        workspace_id=workspace.id,
        message_id=found.message.id,
        now=now,
        stale_before=now - LEASE,
    )
    if not taken:
        raise MessageInProgress()
    claim = Claim(client_message_id, found.message.id, now)
    return await resume(
        session,
        workspace,
        found,
        claim=claim,
        history_turns=history_turns,
        workspace_version=workspace_version,
        estimate=estimate,
    )


@asynccontextmanager
async def unclaimed_on_failure(
    db: Database, turn: Turn, spent: Spent | None = None
) -> AsyncIterator[None]:
    """A turn failing (or cancelled) before its answer is recorded releases its claim, when its
    message came with a client_message_id (the next try of the message answers it), and gives
    back the LLM tokens it reserved under the daily cap (``Turn.reservation``). With ``spent``
    (what its models cost so far: a streamed answer's words, a JSON answer once the model
    returned it, a follow-up's rewrite), what the turn's models spent (that, the follow-up's
    rewrite and the reranker on ``turn``) is counted this month and today: in place of the
    reservation, or on its own when the turn reserved nothing. Nothing is counted once the
    answer is recorded with its tokens (``Spent.closed``). The release outlives a cancellation
    (shielded); one that fails leaves the claim to lapse (``LEASE``) and the reservation
    counted for the day."""
    try:
        yield
    except BaseException:
        tokens = 0
        if spent is not None and not spent.closed:
            tokens = spent.tokens + sum(turn.rewrite_tokens) + sum(turn.rerank_tokens)
        if turn.claim is not None or turn.reservation is not None or tokens:
            await asyncio.shield(
                _release(db, turn.workspace.id, turn.claim, turn.reservation, tokens)
            )
        raise


async def _release(
    db: Database,
    workspace_id: uuid.UUID,
    claim: Claim | None,
    reservation: usage.TokenReservation | None,
    spent: int = 0,
) -> None:
    try:
        async with db.transaction(workspace_id=workspace_id) as session:
            if claim is not None:
                await client_messages.release_reply(
                    session,
                    workspace_id=workspace_id,
                    message_id=claim.message_id,
                    claimed_at=claim.claimed_at,
                )
            await settle_spent(session, workspace_id, reservation, spent)
    except Exception:
        log.warning("could not release what the turn in %s held", workspace_id, exc_info=True)


async def settle_spent(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    reservation: usage.TokenReservation | None,
    spent: int,
) -> None:
    """``spent`` tokens counted this month and today, in place of ``reservation`` when it is
    still held (given back whole when nothing was spent)."""
    if reservation is not None and spent and not reservation.closed:
        await usage.settle_tokens(session, reservation, spent)
    elif reservation is not None:
        await usage.release_tokens(session, reservation)
    elif spent:
        await usage.record_llm_tokens(session, workspace_id, spent)


async def recorded_answer(session: AsyncSession, workspace: Workspace, turn: Turn) -> ChatResult:
    """The answer another try recorded for ``turn``'s message while this one answered it too (a
    claim taken over from a try that was slow, not gone): one answer is kept, and both tries
    respond with it."""
    assert turn.claim is not None
    found = await client_messages.find_client_message(
        session, workspace_id=workspace.id, client_message_id=turn.claim.client_message_id
    )
    if found is None or found.answer is None:
        raise MessageInProgress()
    return replayed(found)


async def resume(
    session: AsyncSession,
    workspace: Workspace,
    found: ClientMessage,
    *,
    claim: Claim,
    history_turns: int,
    workspace_version: str | None = None,
    estimate: TokenEstimate | None = None,
) -> Turn:
    """The turn of a visitor's message that an earlier try recorded and metered, then failed to
    answer, for the try that now ``claim``-s it: the same conversation, the history before the
    message, the answer under the id the message names; nothing recorded or metered again.
    ``WorkspaceChanged`` when ``workspace`` (cached, at ``workspace_version``) is not the row
    any more: a retry within WIDGET_KEY_CACHE_SECONDS of a change answered from the old one."""
    visitor, conversation = found.message, found.conversation
    recent = await conversation_repo.recent_messages(
        session,
        workspace_id=workspace.id,
        conversation_id=conversation.id,
        limit=history_turns,
        before=visitor,
    )
    history = tuple((m.role, m.text) for m in recent)
    intent = cast(Intent, visitor.intent or "question")
    asked = question_of(visitor.text, intent)
    normalized = normalize_question(asked)
    faq_wanted, daily_day = lookups_wanted(workspace, intent)
    follow_up = bool(history) and looks_like_follow_up(asked)
    reserve = reservation_wanted(workspace, daily_day, estimate, visitor.text, history, follow_up)
    faq, daily, version, granted = await client_messages.turn_lookups(
        session,
        workspace_id=workspace.id,
        faq_normalized=normalized if faq_wanted else None,
        daily_tokens_day=daily_day,
        reserve=reserve,
    )
    if workspace_version is not None and version != workspace_version:
        raise WorkspaceChanged(str(workspace.id))
    reservation = reserved(workspace, daily_day, reserve, granted)
    return Turn(
        workspace=workspace,
        session_id=conversation.session_id,
        conversation_id=conversation.id,
        message_id=visitor.reply_id or uuid.uuid4(),
        message=visitor.text,
        intent=intent,
        history=history,
        follow_up=follow_up,
        normalized=normalized,
        knowledge_version=int(workspace.knowledge_version),
        bot_name=bot_name_of(workspace),
        standalone=asked,
        exact_faq=faq,
        daily_tokens=daily,
        reservation=reservation,
        reserve_refused=reserve is not None and reservation is None,
        channel=cast(Channel, conversation.channel),
        claim=claim,
        resumed=True,
        lead_given=conversation.lead_id is not None,
    )


def replayed(found: ClientMessage) -> ChatResult:
    """The recorded answer as the response of the try that recorded it (ChatOut)."""
    answer = found.answer
    assert answer is not None
    flags = answer.answer_flags or {}
    return ChatResult(
        conversation_id=found.conversation.id,
        message_id=answer.id,
        answer=answer.text,
        intent=answer.intent or found.message.intent or "question",
        source=cast(Source, answer.source),
        citations=list(answer.citations or []),
        lead_capture=bool(flags.get("lead_capture")),
        timings_ms=dict(answer.timings or {}),
        extractive=bool(flags.get("extractive")),
        lead_saved=bool(flags.get("lead_saved")),
    )


def replay_events(result: ChatResult) -> list[tuple[str, dict[str, Any]]]:
    """A recorded answer as a stream's events: meta, the whole text as one delta, citations,
    done (what a stream of an FAQ's answer sends)."""
    done = result.to_dict()
    meta = {
        k: done[k]
        for k in ("conversation_id", "message_id", "intent", "source", "lead_capture", "lead_saved")
    }
    return [
        ("meta", meta),
        ("delta", {"text": result.answer}),
        ("citations", {"citations": result.citations}),
        ("done", done),
    ]


def answer_flags(
    *,
    lead_capture: bool,
    lead_saved: bool,
    extractive: bool,
    interrupted: bool = False,
    truncated: bool = False,
    routed: bool = False,
) -> dict[str, bool]:
    """What an answer's row keeps of its response beyond its columns (``replayed``): the flags
    that are set, or nothing. ``interrupted``: the model's streamed answer broke off partway
    and the fallback was given in its place (for the owner: ``ChatMessage.interrupted``).
    ``truncated``: the model stopped before its answer's end (max_tokens, or the length cap),
    and the visitor got what it wrote, ending with "…" (``ChatMessage.truncated``).
    ``routed``: a sales lead the bot sent to the team instead of answering it from the
    knowledge (``rag.chat.recording.routed_to_team``): analytics counts it apart, neither
    answered nor unanswered (``ChatMessage.routed``)."""
    flags = {
        "lead_capture": lead_capture,
        "lead_saved": lead_saved,
        "extractive": extractive,
        "interrupted": interrupted,
        "truncated": truncated,
        "routed": routed,
    }
    return {name: True for name, value in flags.items() if value}
