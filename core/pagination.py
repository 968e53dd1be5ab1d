"""Keyset pagination for lists ordered newest first by (created_at, id).

The cursor is opaque to clients: the last row's ``created_at`` and ``id``, URL-safe base64. A
cursor that does not decode is a 422 ``invalid_cursor``.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Protocol

from core.errors import ValidationFailed


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
        return datetime.fromisoformat(created), uuid.UUID(ident)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed(
            "Invalid cursor", code="invalid_cursor", details=[{"field": "cursor"}]
        ) from None
