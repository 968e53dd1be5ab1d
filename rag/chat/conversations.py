"""Owners' view of conversations: transcripts, feedback, and unanswered questions grouped."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, NotFound, ValidationFailed, refuse_nul
from core.pagination import cursor_scope, decode_cursor, encode_cursor, encode_key
from core.text import ShortTextCache, lowered_as_postgres
from rag.chat import faq as faq_service
from rag.chat.bot_identity import identity_then_question
from rag.chat.call_requests import without_callback
from rag.chat.models import ChatMessage, Conversation, Faq
from rag.chat.normalize import normalize_question
from rag.chat.repository import conversations as conversation_repo
from rag.knowledge.embeddings import Embedder
from workspaces.permissions import Action, authorize
from workspaces.service import WorkspaceAccess

GROUP_SIMILARITY = 0.80
UNANSWERED_WINDOW = 2000
# Questions repeat across requests (the same window read again): normalise each text once; a
# long one (a visitor's) each time, so the cache stays small whatever MAX_MESSAGE_CHARS allows.
_normalized = ShortTextCache(normalize_question, maxsize=4096)


async def list_conversations(
    session: AsyncSession,
    access: WorkspaceAccess,
    *,
    status: str | None,
    limit: int,
    before: datetime | None,
    channel: str | None = None,
    has_lead: bool | None = None,
    before_id: uuid.UUID | None = None,
    started: bool = False,
    after: tuple[datetime, uuid.UUID] | None = None,
    q: str | None = None,
) -> list[Conversation]:
    """A page of the workspace's conversations (``q``: those with a message containing it,
    ignoring case)."""
    authorize(access, Action.CONVERSATIONS_READ)
    return await conversation_repo.list_conversations(
        session,
        workspace_id=access.workspace.id,
        status=status,
        limit=limit,
        before=before,
        channel=channel,
        has_lead=has_lead,
        before_id=before_id,
        started=started,
        after=after,
        q=q,
    )


MENTION_CONTEXT = 60
"""Characters shown either side of a search's text in a conversation's message."""


Mention = tuple[str, str, str]
"""A message's words around a search's text: before it, the text as the message writes it, after
it ("… can I get a ", "Refund", " for my order …")."""


async def mentions(
    session: AsyncSession, access: WorkspaceAccess, conversation_ids: Sequence[uuid.UUID], q: str
) -> dict[uuid.UUID, Mention]:
    """Where each conversation mentions ``q``: its first message containing it, cut to the
    words around it, by id."""
    authorize(access, Action.CONVERSATIONS_READ)
    found = await conversation_repo.mentions(session, access.workspace.id, conversation_ids, q)
    return {cid: around(text, q) for cid, text in found.items()}


def around(text: str, q: str) -> Mention:
    """``text``'s words around its first ``q`` (ignoring case as the search does: both
    lowered by ``lowered_as_postgres``), ``MENTION_CONTEXT`` characters either side, "…" where
    it is cut. Each letter lowers to one, so the span marked is the message's own text that
    matched."""
    match = lowered_as_postgres(q)
    at = lowered_as_postgres(text).find(match) if match else -1
    if at < 0:  # lowered otherwise by the database: the message's start, nothing marked
        cut = text[: 2 * MENTION_CONTEXT]
        return cut, "", "…" if len(cut) < len(text) else ""
    stop = at + len(match)
    start, end = max(0, at - MENTION_CONTEXT), min(len(text), stop + MENTION_CONTEXT)
    before = ("…" if start else "") + text[start:at].lstrip()
    after = text[stop:end].rstrip() + ("…" if end < len(text) else "")
    return before, text[at:stop], after


async def first_visitor_messages(
    session: AsyncSession, access: WorkspaceAccess, conversation_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """What each conversation's visitor wrote first (its first 400 characters), by id: a list
    of conversations says what each is about."""
    authorize(access, Action.CONVERSATIONS_READ)
    return await conversation_repo.first_visitor_messages(
        session, access.workspace.id, conversation_ids
    )


ConversationOrder = Literal["recent", "started"]


@dataclass(frozen=True)
class ConversationsPage:
    """A page of conversations and where the next one starts (None: this is the last):
    ``next_cursor`` in either order, and (latest activity order only) the deprecated
    ``next_before`` and ``next_before_id``."""

    items: list[Conversation]
    next_cursor: str | None
    next_before: datetime | None
    next_before_id: uuid.UUID | None


async def conversations_page(
    session: AsyncSession,
    access: WorkspaceAccess,
    *,
    status: str | None,
    limit: int,
    order: ConversationOrder = "recent",
    cursor: str | None = None,
    before: datetime | None = None,
    before_id: uuid.UUID | None = None,
    q: str | None = None,
) -> ConversationsPage:
    """The API's pages of conversations. ``recent``: latest activity first, which a message
    changes, so a conversation that gets one during a walk can move above the page being read
    and be missed. ``started``: newest started first, by keys that never change: a walk misses
    none and repeats none. A cursor is bound to its order, workspace and ``status`` filter (422
    invalid_cursor: another filter's cursor skipped that filter's newer conversations);
    the deprecated ``before`` only pages ``recent`` and not with a cursor. ``q``: only those
    with a message containing it, ignoring case (its cursor belongs to it too)."""
    if before is not None and (cursor or order == "started"):
        raise ValidationFailed(
            "before pages only order=recent and not with cursor (before is deprecated:"
            " follow next_cursor)",
            details=[{"field": "before", "message": "not with cursor or order=started"}],
        )
    if q is not None:
        refuse_nul(q, "q")
    q = (q or "").strip() or None
    filters = {"status": status, "q": q}  # None is no filter: earlier cursors stay valid
    scope = cursor_scope("conversations", access.workspace.id, order, filters=filters)
    rows = await list_conversations(
        session,
        access,
        status=status,
        limit=limit + 1,
        before=before,
        before_id=before_id,
        started=order == "started",
        after=decode_cursor(cursor, scope=scope) if cursor else None,
        q=q,
    )
    page = rows[:limit]
    more = len(rows) > limit
    last = page[-1] if more else None
    return ConversationsPage(
        items=page,
        next_cursor=None
        if last is None
        else encode_key(
            last.created_at if order == "started" else last.last_message_at, last.id, scope=scope
        ),
        next_before=last.last_message_at if last is not None and order == "recent" else None,
        next_before_id=last.id if last is not None and order == "recent" else None,
    )


async def _conversation(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> Conversation:
    conversation = await conversation_repo.get_conversation(
        session,
        workspace_id=workspace_id,
        conversation_id=conversation_id,
        for_update=for_update,
    )
    if conversation is None:
        raise NotFound("Conversation not found")
    return conversation


TRANSCRIPT_PAGE = 500
"""Messages in a page of a transcript: the default, and the most one request may ask for."""


@dataclass(frozen=True)
class TranscriptPage:
    """A page of a conversation's messages, in the order they were sent, and the cursor of the
    next page (None: there is none): later messages when read oldest first, earlier ones when
    read newest first."""

    conversation: Conversation
    messages: list[ChatMessage]
    next_cursor: str | None


async def transcript(
    session: AsyncSession,
    access: WorkspaceAccess,
    *,
    conversation_id: uuid.UUID,
    limit: int = TRANSCRIPT_PAGE,
    cursor: str | None = None,
    newest: bool = False,
) -> TranscriptPage:
    """A keyset page of a conversation: its first ``limit`` messages after ``cursor``, or
    (``newest``) its latest ones before it. A conversation has no cap on its length: a page of
    a long one says where the rest is, none is left out."""
    authorize(access, Action.CONVERSATIONS_READ)
    workspace_id = access.workspace.id
    # Bound to the conversation and the direction: a cursor of the other one is refused.
    scope = cursor_scope(
        "transcript", workspace_id, conversation_id, "newest" if newest else "oldest"
    )
    after = decode_cursor(cursor, scope=scope) if cursor else None
    conversation = await _conversation(session, workspace_id, conversation_id)
    rows = await conversation_repo.list_messages(
        session,
        workspace_id=workspace_id,
        conversation_id=conversation_id,
        limit=limit + 1,  # one more says whether a next page holds anything
        after=after,
        newest=newest,
    )
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1], scope=scope) if len(rows) > limit else None
    return TranscriptPage(conversation, page[::-1] if newest else page, next_cursor)


STATUSES = ("open", "handoff", "closed")


async def set_status(
    session: AsyncSession, access: WorkspaceAccess, *, conversation_id: uuid.UUID, status: str
) -> Conversation:
    """Open, hand off or close a conversation (404 when it is not this workspace's). Audited
    as ``conversation.updated`` with the status it had and the one it has now."""
    permit = authorize(access, Action.CONVERSATION_UPDATE)
    workspace_id = access.workspace.id
    conversation = await _conversation(session, workspace_id, conversation_id, for_update=True)
    if status not in STATUSES:  # after the lookup: another workspace's id is a 404 whatever
        raise ValidationFailed(
            "Choose open, handoff (waiting for the team) or closed", details={"field": "status"}
        )
    was = conversation.status
    await conversation_repo.set_conversation_status(
        session, workspace_id=workspace_id, conversation_id=conversation_id, status=status
    )
    await session.refresh(conversation)
    await permit.record(
        session,
        target_type="conversation",
        target_id=conversation_id,
        details={"status": {"from": was, "to": status}},
    )
    return conversation


async def give_team_feedback(
    session: AsyncSession,
    access: WorkspaceAccess,
    *,
    message_id: uuid.UUID,
    rating: str,
    comment: str | None,
) -> None:
    """The team's rating of an answer (``give_feedback`` without a visitor's session)."""
    authorize(access, Action.FEEDBACK_GIVE)
    await give_feedback(
        session,
        workspace_id=access.workspace.id,
        message_id=message_id,
        rating=rating,
        comment=comment,
    )


async def feedback_counts(session: AsyncSession, access: WorkspaceAccess) -> dict[str, int]:
    """The workspace's ratings counted (the chat stats): analytics."""
    authorize(access, Action.ANALYTICS_READ)
    return await conversation_repo.feedback_counts(session, workspace_id=access.workspace.id)


async def give_feedback(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    message_id: uuid.UUID,
    rating: str,
    comment: str | None,
    session_id: str | None = None,
) -> None:
    """Thumbs up/down on an assistant answer. A visitor's call passes their ``session_id`` and
    may only rate their own conversation in the widget (again: their latest rating counts, and
    it replaces a team's; the team's test chat is not a visitor's, whatever session id is
    given); a team's call passes none and rates only an answer nobody rated (409
    ``already_rated``): it replaced the visitor's rating and comment. The rating records who
    gave it: analytics and the resolution rule read visitors' ratings only."""
    # Held while the rating goes in: read unlocked, an answer whose conversation the retention
    # sweep (or an erasure) was deleting broke the rating's foreign key once that committed (a
    # 500, where an answer deleted a moment before is not found).
    message = await conversation_repo.get_message(
        session, workspace_id=workspace_id, message_id=message_id, shared=True
    )
    if message is None or message.role != "assistant":
        raise NotFound("Message not found")
    if session_id is not None:
        conversation = await conversation_repo.get_conversation(
            session, workspace_id=workspace_id, conversation_id=message.conversation_id
        )
        if (
            conversation is None
            or conversation.session_id != session_id
            or conversation.channel != "widget"
        ):
            raise NotFound("Message not found")
    stored = await conversation_repo.upsert_feedback(
        session,
        workspace_id=workspace_id,
        message_id=message_id,
        rating=rating,
        comment=comment,
        rater="team" if session_id is None else "visitor",
        replace=session_id is not None,
    )
    if not stored:
        raise Conflict(
            "This answer is already rated; a visitor's rating is kept as they gave it",
            code="already_rated",
        )


async def unanswered_groups(
    session: AsyncSession, access: WorkspaceAccess, *, limit: int
) -> list[dict[str, Any]]:
    """Recent unanswered questions grouped by meaning (greedy, cosine >= GROUP_SIMILARITY),
    biggest groups first."""
    authorize(access, Action.CONVERSATIONS_READ)
    rows = await conversation_repo.recent_unanswered(
        session, workspace_id=access.workspace.id, limit=UNANSWERED_WINDOW
    )
    # Up to UNANSWERED_WINDOW vectors compared in a Python loop (tenths of a second with
    # thousands of distinct questions): in a worker thread, so the event loop keeps serving
    # visitors' answers meanwhile.
    return await asyncio.to_thread(group_questions, rows, limit=limit)


class AskedLike(Protocol):
    """A question as asked: its words and their normalized key."""

    @property
    def question(self) -> str: ...
    @property
    def normalized(self) -> str: ...


class QuestionLike(AskedLike, Protocol):
    """An unanswered question, or any visitor's question shaped like one."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def embedding(self) -> Any: ...
    @property
    def created_at(self) -> datetime: ...


def _times_asked(row: QuestionLike) -> int:
    """How many questions the row stands for (one, or ``count`` when it has one)."""
    return int(getattr(row, "count", 1))


def asked_as(row: AskedLike) -> tuple[str, str]:
    """The question as the owner reads it, and its key. An unanswered question recorded before
    the record kept the question alone (or a visitor's message) may hold "are you a bot?" in
    front of it, or a call asked on the visitor's number after it (``without_callback``): left
    out of both, so it goes with the question asked alone and no FAQ made from the group asks
    "are you a bot? ..." too, nor holds a visitor's number."""
    question = without_callback(identity_then_question(row.question) or row.question)
    if question == row.question:
        return row.question, row.normalized or _normalized(row.question)
    return question, _normalized(question)


def group_questions(rows: Iterable[QuestionLike], *, limit: int) -> list[dict[str, Any]]:
    """Questions (newest first) grouped greedily: the same normalized words, or, when both
    have an embedding, cosine >= GROUP_SIMILARITY to a group's first question; biggest groups
    first, then the most recently asked."""
    window = list(rows)
    groups: list[dict[str, Any]] = []
    # Each group's first vector, row k of one matrix allocated once (stacking the list of them
    # again for every question copied the matrix each time: quadratic in the window).
    centroids: np.ndarray | None = None
    centroid_groups: list[dict[str, Any]] = []
    by_text: dict[str, dict[str, Any]] = {}
    for row in window:  # newest first
        vector = None if row.embedding is None else np.asarray(row.embedding, dtype=np.float32)
        question, key = asked_as(row)
        group = by_text.get(key)
        if group is None and vector is not None and centroids is not None:
            sims = centroids[: len(centroid_groups)] @ vector
            best = int(np.argmax(sims))
            if float(sims[best]) >= GROUP_SIMILARITY:
                group = centroid_groups[best]
        if group is None:
            group = {
                "question": question,
                "count": 0,
                "last_asked_at": row.created_at,
                "examples": [],
                "ids": [],
            }
            groups.append(group)
            if vector is not None:
                if centroids is None:
                    centroids = np.empty((len(window), vector.shape[0]), dtype=np.float32)
                centroids[len(centroid_groups)] = vector
                centroid_groups.append(group)
        by_text.setdefault(key, group)
        group["count"] += _times_asked(row)
        group["ids"].append(str(row.id))
        if len(group["examples"]) < 5 and question not in group["examples"]:
            group["examples"].append(question)
    groups.sort(key=lambda g: (-g["count"], -g["last_asked_at"].timestamp()))
    return groups[:limit]


async def resolve_unanswered(
    session: AsyncSession, access: WorkspaceAccess, *, ids: Sequence[uuid.UUID]
) -> int:
    """Mark unanswered questions as dealt with (after adding an FAQ, say); how many were."""
    authorize(access, Action.UNANSWERED_RESOLVE)
    return await conversation_repo.resolve_unanswered(
        session, workspace_id=access.workspace.id, ids=ids
    )


async def answer_unanswered(
    session: AsyncSession,
    embedder: Embedder,
    access: WorkspaceAccess,
    *,
    question: str,
    answer: str,
    alt_questions: list[str],
    ids: Sequence[uuid.UUID],
) -> tuple[Faq, int]:
    """Turn a group of unanswered questions into an FAQ and resolve the group: the bot answers
    it from now on. Needs both the FAQ and the resolve permission (checked before anything
    changes); the FAQ is audited by its service."""
    authorize(access, Action.UNANSWERED_RESOLVE)
    faq = await faq_service.create(
        session, embedder, access, question=question, answer=answer, alt_questions=alt_questions
    )
    return faq, await resolve_unanswered(session, access, ids=ids)
