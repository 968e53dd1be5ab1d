"""Where an owner was in a list (its filters and its page), carried to a detail page and back.

A list's row links give the detail page the list's query string in ``back``; the detail page
passes it on through its own paging links and forms, and its "← Conversations" or "← Leads"
link (and the redirect after a form) leads to the list with it. Only the list's own parameters,
with values the list takes, are kept from a ``back``: anything else is dropped, and the way
back is always the workspace's own list (never another page or site), at worst its first
page."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from pydantic import TypeAdapter, ValidationError

from api.deps import QueryDatetime

MAX_BACK = 3000
"""The longest ``back`` a detail page takes: a leads search of 200 characters of four UTF-8
bytes each, percent-encoded (2,400), with a cursor and a status."""

Check = Callable[[str], bool]


def _pattern(expression: str) -> Check:
    compiled = re.compile(expression)
    return lambda value: compiled.fullmatch(value) is not None


def _parses(kind: Any) -> Check:
    """A value the list's own parameter of type ``kind`` takes (FastAPI reads it so)."""
    adapter: TypeAdapter[Any] = TypeAdapter(kind)

    def check(value: str) -> bool:
        try:
            adapter.validate_python(value)
        except ValidationError:
            return False
        return True

    return check


def _text(limit: int) -> Check:
    return lambda value: len(value) <= limit and "\x00" not in value


CONVERSATION_PARAMETERS: Mapping[str, Check] = {
    "status": _pattern("open|handoff|closed"),
    "channel": _pattern("widget|owner"),
    "lead": _pattern("yes|no"),
    "before": _parses(QueryDatetime),
    "before_id": _parses(uuid.UUID),
}
"""The conversations list's own query parameters (dashboard/pages/conversations.py)."""

LEAD_PARAMETERS: Mapping[str, Check] = {
    "status": _pattern("new|contacted|qualified|won|lost"),
    "q": _text(200),
    "cursor": _text(200),
}
"""The leads list's own query parameters (dashboard/pages/leads.py)."""


@dataclass(frozen=True)
class ListPlace:
    """A list's place: ``query``, its validated query string ("" for its first page)."""

    query: str = ""

    @property
    def to_list(self) -> str:
        """What follows the list's path in a link back to it: "?status=handoff" or ""."""
        return "?" + self.query if self.query else ""

    @property
    def to_detail(self) -> str:
        """What follows a detail page's path in a link from the list: "?back=..." or ""."""
        return "?back=" + quote(self.query, safe="") if self.query else ""

    @property
    def also(self) -> str:
        """The place added to a detail page's link that has a query already: "&back=..." or
        ""."""
        return "&back=" + quote(self.query, safe="") if self.query else ""

    def after(self, query: str) -> str:
        """A detail page's query ``query`` ("notice=Saved") with the place: "?back=...&..."."""
        return "?" + "&".join(part for part in (self.also[1:], query) if part)


def _place(raw: object, parameters: Mapping[str, Check]) -> ListPlace:
    if not isinstance(raw, str) or not raw or len(raw) > MAX_BACK:
        return ListPlace()
    given: dict[str, str] = {}
    try:
        pairs = parse_qsl(raw, max_num_fields=20)
    except ValueError:
        return ListPlace()
    for name, value in pairs:
        given.setdefault(name, value)
    kept = [
        (name, given[name])
        for name, valid in parameters.items()
        if given.get(name) and valid(given[name])
    ]
    return ListPlace(urlencode(kept))


def conversations_place(raw: object) -> ListPlace:
    """The conversations list's place in ``raw`` (a ``back`` value, or the list's own query)."""
    return _place(raw, CONVERSATION_PARAMETERS)


def leads_place(raw: object) -> ListPlace:
    """The leads list's place in ``raw`` (a ``back`` value, or the list's own query)."""
    return _place(raw, LEAD_PARAMETERS)
