"""Keyset pagination for lists ordered newest first by (created_at, id).

The cursor is opaque to clients: the last row's ``created_at`` and ``id`` and a tag of the list it
pages (its name, its workspace and its filters: ``cursor_scope``), URL-safe base64. A cursor
that does not decode, or that another list (or filter) handed out, is a 422 ``invalid_cursor``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import Select, and_, or_

from core.errors import ValidationFailed

S = TypeVar("S", bound=Select[*tuple[Any, ...]])
T = TypeVar("T")
K = TypeVar("K")


class Keyed(Protocol):
    @property
    def created_at(self) -> datetime: ...

    @property
    def id(self) -> uuid.UUID: ...


def cursor_scope(
    list_name: str, *owners: object, filters: Mapping[str, object] | None = None
) -> str:
    """The scope a cursor is bound to: the list it pages (``leads``, ``audit``...), whose list
    it is (the workspace's id, and a lead's or a conversation's for their sub-lists) and the
    ``filters`` it was handed out with (a leads' ``status``, the audit log's ``action``...):
    keyset pages are "the filter's rows older than the cursor's", so a cursor sent with another
    filter silently skipped that filter's newer rows. A filter that is None or empty is no
    filter: an unfiltered list's scope is the same with or without ``filters``."""
    scope = ":".join([list_name, *(str(owner) for owner in owners)])
    named = {name: _filter_value(value) for name, value in (filters or {}).items()}
    named = {name: value for name, value in named.items() if value}
    if named:
        scope += "?" + json.dumps(named, sort_keys=True, separators=(",", ":"))
    return scope


def _filter_value(value: object) -> str:
    """A filter's value as the scope names it: an instant in UTC (the same moment written with
    another offset is the same filter), anything else as text."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat()
    return str(value)


def scope_tag(scope: str) -> str:
    """What a cursor carries of its scope (a forged cursor in a test names it too)."""
    # Not a secret: a cursor names no data the repositories would not filter anyway. The tag
    # only makes a cursor from another list, or another workspace's, a 422 instead of a page
    # that silently starts at an arbitrary point.
    return hashlib.sha256(scope.encode()).hexdigest()[:_TAG_CHARS]


_TAG_CHARS = 12


def encode_key(moment: datetime, ident: uuid.UUID, *, scope: str) -> str:
    """The cursor of the page that continues after the key (``moment``, ``ident``) in the list
    ``scope`` names (``cursor_scope``)."""
    raw = f"{moment.isoformat()}|{ident}|{scope_tag(scope)}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def encode_cursor(row: Keyed, *, scope: str) -> str:
    """The cursor of the page that continues after ``row`` (its created_at and id) in the list
    ``scope`` names."""
    return encode_key(row.created_at, row.id, scope=scope)


def _invalid(message: str = "Invalid cursor") -> ValidationFailed:
    return ValidationFailed(message, code="invalid_cursor", details=[{"field": "cursor"}])


def decode_cursor(cursor: str, *, scope: str) -> tuple[datetime, uuid.UUID]:
    """(created_at, id) of the row a cursor continues after: 422 ``invalid_cursor`` for one
    that does not decode, or that another list (or another workspace's list) handed out."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, ident, tag = base64.urlsafe_b64decode(padded.encode()).decode().split("|")
        moment = datetime.fromisoformat(created)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        # In UTC, as the database compares it: a date at either end of the calendar with an
        # offset past it (0001-01-01T00:00+14:00) overflows here instead of in the driver.
        key = moment.astimezone(UTC), uuid.UUID(ident)
    except (ValueError, UnicodeDecodeError, OverflowError):
        raise _invalid() from None
    if not hmac.compare_digest(tag, scope_tag(scope)):
        raise _invalid("This cursor belongs to another list; start again without a cursor")
    return key


def newest_first(
    stmt: S,
    model: Any,
    *,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
    by: Any = None,
) -> S:
    """``stmt`` ordered newest first by ``model``'s (created_at, id), or (``by``, id) for a
    list keyed by another moment (a sync's ``started_at``), the rows after the decoded cursor
    ``after`` only, at most ``limit`` of them (the repositories' keyset pages)."""
    moment = model.created_at if by is None else by
    if after is not None:
        created, ident = after
        stmt = stmt.where(or_(moment < created, and_(moment == created, model.id < ident)))
    return stmt.order_by(moment.desc(), model.id.desc()).limit(limit)


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


def page_of(
    rows: Sequence[T], limit: int, *, scope: str, moment: Callable[[T], datetime] | None = None
) -> tuple[list[T], str | None]:
    """The page of ``rows`` (read with ``limit + 1``: one more says whether a next page holds
    anything) and the cursor of the next page, None when there is none. ``moment``: what a row
    is ordered by besides its id (its ``created_at`` unless given)."""
    page = list(rows[:limit])
    if len(rows) <= limit:
        return page, None
    last: Any = page[-1]
    when = moment(last) if moment is not None else last.created_at
    return page, encode_key(when, last.id, scope=scope)


def start_after(
    cursor: str | None, offset: int, *, scope: str
) -> tuple[datetime, uuid.UUID] | None:
    """The key a page of a list that still takes the deprecated ``offset`` starts after: the
    decoded ``cursor``, or None (from the top, ``offset`` rows in). Both at once is a 422: a
    cursor already says where the page starts."""
    if cursor and offset:
        raise ValidationFailed(
            "Pass cursor or offset, not both (offset is deprecated: follow next_cursor)",
            details=[{"field": "offset", "message": "not with cursor"}],
        )
    return decode_cursor(cursor, scope=scope) if cursor else None


Key = tuple[datetime, uuid.UUID]


async def counted_page(
    read: Callable[[Key | None, int, int], Awaitable[tuple[Sequence[T], int]]],
    *,
    limit: int,
    cursor: str | None,
    offset: int,
    scope: str,
    moment: Callable[[T], datetime] | None = None,
) -> tuple[list[T], int, str | None]:
    """A page of a list that also says its total and still takes the deprecated ``offset``:
    ``read(after, limit, offset)`` reads the rows and the total; returns the page, the total
    and the next page's cursor (None: there is none). ``moment`` as for ``page_of``."""
    rows, total = await read(start_after(cursor, offset, scope=scope), limit + 1, offset)
    page, next_cursor = page_of(rows, limit, scope=scope, moment=moment)
    return page, total, next_cursor
