"""Widget keys resolved without a transaction: a short-lived, per-process cache of the
workspace each public key opened, checked against the row on every chat turn.

A cached entry carries the workspace row's version (PostgreSQL's ``xmin``, new with every
update of the row). The chat pipeline's first statement returns the row's current version
(``rag.chat.repository.turn_statements.record_message_metered``); when it differs, the turn is
rolled back (``WorkspaceChanged``: nothing recorded, nothing metered) and answered again from a
fresh lookup. So a rotated key, a deleted workspace, a new plan, new allowed origins or a new
knowledge version are seen by the next turn in every process. What is decided before the
turn's first statement (the allowed origins, the per-hour conversation caps) is never refused on
a cached row: a refusal is checked again against the row as it is now
(api/routers/widget_chat.py), so an owner who allows a site or raises a cap sees it at once; an
owner who removes a site or lowers a cap may see up to ``WIDGET_KEY_CACHE_SECONDS`` of the old
setting (the turn's version check catches the origins at the first statement; caps are counted
as the cached row says).
"""

from __future__ import annotations

from dataclasses import dataclass

from cachetools import TTLCache

from workspaces.models import Workspace

MAX_KEYS = 10_000


class WorkspaceChanged(Exception):
    """The cached workspace is not the row's current version: retry with a fresh lookup."""


@dataclass(frozen=True)
class CachedWorkspace:
    workspace: Workspace
    """Detached and shared by concurrent requests: read, never changed."""
    version: str
    """The row's ``xmin`` when it was read."""


class WidgetKeyCache:
    """public key -> ``CachedWorkspace`` for ``seconds`` (0: nothing is cached)."""

    def __init__(self, seconds: float, maxsize: int = MAX_KEYS) -> None:
        self.seconds = seconds
        self._entries: TTLCache[str, CachedWorkspace] | None = (
            TTLCache(maxsize=maxsize, ttl=seconds) if seconds > 0 else None
        )

    def get(self, public_key: str) -> CachedWorkspace | None:
        return None if self._entries is None else self._entries.get(public_key)

    def put(self, public_key: str, entry: CachedWorkspace) -> None:
        if self._entries is not None:
            self._entries[public_key] = entry

    def forget(self, public_key: str) -> None:
        if self._entries is not None:
            self._entries.pop(public_key, None)
