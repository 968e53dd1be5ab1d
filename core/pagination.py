"""Keyset pagination for lists ordered newest first by (created_at, id).

The cursor is opaque to clients: the last row's ``created_at`` and ``id``, URL-safe base64. A
cursor that does not decode is a 422 ``invalid_cursor``.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import Select, and_, or_

from core.errors import ValidationFailed

S = TypeVar("S", bound=Select[Any])
T = TypeVar("T")
K = TypeVar("K")


class Keyed(Protocol):
    @property
    def created_at(self) -> datetime: ...

    @property
    def id(self) -> uuid.UUID: ...


def encode_cursor(row: Keyed) -> str:
    """The cursor of the page that continues after ``row``."""
    raw = f"{row.created_at.isoformat()}|{row.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """(created_at, id) of the row a cursor continues after."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, ident = base64.urlsafe_b64decode(padded.encode()).decode().split("|")
        moment = datetime.fromisoformat(created)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        # In UTC, as the database compares it: a date at either end of the calendar with an
        # offset past it (0001-01-01T00:00+14:00) overflows here instead of in the driver.
        return moment.astimezone(UTC), uuid.UUID(ident)
    except (ValueError, UnicodeDecodeError, OverflowError):
        raise ValidationFailed(
            "Invalid cursor", code="invalid_cursor", details=[{"field": "cursor"}]
        ) from None


def newest_first(stmt: S, model: Any, *, after: tuple[datetime, uuid.UUID] | None, limit: int) -> S:
    """``stmt`` ordered newest first by ``model``'s (created_at, id), the rows after the decoded
    cursor ``after`` only, at most ``limit`` of them (the repositories' keyset pages)."""
    if after is not None:
        created, ident = after
        stmt = stmt.where(
            or_(model.created_at < created, and_(model.created_at == created, model.id < ident))
        )
    return stmt.order_by(model.created_at.desc(), model.id.desc()).limit(limit)


async def keyset_pages(
    read_page: Callable[[K | None], Awaitable[Sequence[T]]],
    key: Callable[[T], K],
    size: int,
) -> AsyncIterator[T]:
    """Every row, page after page: ``read_page(after)`` reads up to ``size`` rows after the key
    ``after`` (None: from the start), in a transaction of its own that has ended before its
    rows are yielded, so a slow consumer holds no connection. A short page is the last."""
    after: K | None = None
    while True:
        page = await read_page(after)
        for row in page:
            yield row
        if len(page) < size:
            return
        after = key(page[-1])
