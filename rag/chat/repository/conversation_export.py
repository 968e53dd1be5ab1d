"""SQL of the conversation export: keyset pages of the messages of the conversations started in a
range, in conversation order (created_at, id), then message order (created_at, id).

A page is read in two levels, so each costs about its own size, wherever it is in the range:

1. the rest of the conversation the previous page stopped inside, from the message after the
   last one sent, through ``ix_messages_conversation``;
2. the next conversations after it, through ``ix_conversations_workspace_created``
   (workspace_id, created_at, id), each with its messages, until the page is full.

One statement comparing ``(c.created_at, c.id, m.created_at, m.id)`` across both tables (as
before) could use no index: every page joined all the range's messages and filtered them, so an
export's work grew with the square of its size.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from rag.chat.repository.analytics import ROUTED

ExportKey = tuple[datetime, uuid.UUID, datetime, uuid.UUID]
ExportChannel = Literal["widget", "owner", "all"]
"""Whose conversations: visitors' (``widget``, what the analytics count), the owners' own test
chats (``owner``), or both."""


@dataclass(frozen=True)
class ExportRow:
    conversation_id: uuid.UUID
    session_id: str
    channel: str
    status: str
    lead_id: uuid.UUID | None
    conversation_created_at: datetime
    message_id: uuid.UUID
    role: str
    text: str
    intent: str | None
    source: str | None
    rating: str | None
    rater: str | None
    created_at: datetime
    sales_routed: bool

    @property
    def key(self) -> ExportKey:
        return (
            self.conversation_created_at,
            self.conversation_id,
            self.created_at,
            self.message_id,
        )


_COLUMNS = (
    "c.id AS conversation_id, c.session_id, c.channel, c.status, c.lead_id,"
    " c.created_at AS conversation_created_at, m.id AS message_id, m.role, m.text,"
    " m.intent, m.source, f.rating, f.rater, m.created_at,"
    f" {ROUTED} AS sales_routed"
)
# Each message's rating by its key (one row at most): a lateral lookup, never a join of the
# workspace's every rating.
_FEEDBACK = (
    " LEFT JOIN LATERAL (SELECT f.rating, f.rater FROM message_feedback f"
    " WHERE f.message_id = m.id AND f.workspace_id = :ws LIMIT 1) f ON true"
)

# 1. The rest of one conversation: its messages after (:a_msg_at, :a_msg). ``created_at >=``
#    bounds the index range; the row comparison only drops the ties before the last one sent.
_REST = text(
    f"SELECT {_COLUMNS} FROM conversations c"  # noqa: S608 - constant fragments only
    " JOIN messages m ON m.workspace_id = :ws AND m.conversation_id = c.id"
    f"{_FEEDBACK}"
    " WHERE c.workspace_id = :ws AND c.id = :a_conv"
    " AND m.created_at >= :a_msg_at AND (m.created_at, m.id) > (:a_msg_at, :a_msg)"
    " ORDER BY m.created_at, m.id LIMIT :limit"
)


def _next(channel: ExportChannel, *, first: bool) -> Any:
    """2. The conversations after (:a_conv_at, :a_conv) (from the range's start when ``first``)
    in index order, each joined laterally to its messages through their index (a nested loop:
    never a scan of the range's messages), in the order they come: the sort by message within a
    conversation is incremental, so the page stops reading when it is full."""
    where = [
        "workspace_id = :ws",
        "created_at >= :t1",
        "created_at < :t2",
        # with a message at least (a page short of ``limit`` is the last one)
        "EXISTS (SELECT 1 FROM messages e WHERE e.workspace_id = :ws"
        " AND e.conversation_id = conversations.id)",
    ]
    if channel != "all":
        where.append("channel = :channel")
    if not first:
        where.append("(created_at, id) > (:a_conv_at, :a_conv)")
    return text(
        f"SELECT {_COLUMNS} FROM ("  # noqa: S608 - constant fragments only
        " SELECT id, session_id, channel, status, lead_id, created_at FROM conversations"
        f" WHERE {' AND '.join(where)} ORDER BY created_at, id LIMIT :limit"
        ") c CROSS JOIN LATERAL (SELECT m.id, m.role, m.text, m.intent, m.source, m.created_at,"
        " m.answer_flags"
        " FROM messages m WHERE m.workspace_id = :ws AND m.conversation_id = c.id"
        " ORDER BY m.created_at, m.id LIMIT :limit) m"
        f"{_FEEDBACK}"
        " ORDER BY c.created_at, c.id, m.created_at, m.id LIMIT :limit"
    )


_NEXT = {
    (channel, first): _next(channel, first=first)
    for channel in ("widget", "owner", "all")
    for first in (True, False)
}


async def export_page(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    start: datetime,
    end: datetime,
    after: ExportKey | None,
    limit: int,
    channel: ExportChannel = "widget",
) -> list[ExportRow]:
    """Messages of the conversations of ``channel`` created in [start, end), in conversation
    order then message order, the next ``limit`` after ``after``."""
    rows: list[ExportRow] = []
    params: dict[str, Any] = {"ws": workspace_id, "t1": start, "t2": end, "channel": channel}
    if after is not None:
        params |= dict(zip(("a_conv_at", "a_conv", "a_msg_at", "a_msg"), after, strict=True))
        result = await session.execute(_REST, params | {"limit": limit})
        rows = [ExportRow(**row._mapping) for row in result]
        if len(rows) == limit:
            return rows
    result = await session.execute(
        _NEXT[(channel, after is None)], params | {"limit": limit - len(rows)}
    )
    return rows + [ExportRow(**row._mapping) for row in result]
