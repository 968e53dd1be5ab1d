"""Where an owner was in a list (its filters and its page), carried to a detail page and back.

A list's row links give the detail page the list's query string in ``back``; the detail page
passes it on through its own paging links and forms, and its "← Conversations" or "← Leads"
link (and the redirect after a form) leads to the list with it. Only the list's own parameters,
with values the list takes, are kept from a ``back``: anything else is dropped, and the way
back is always the workspace's own list (never another page or site), at worst its first
page.

A lead and its conversation link to each other; the link carries both places (``Trail``): the
page's own list's in ``back``, the other list's in ``other``, swapped on the way across, so
that "← Conversations" on a transcript reached through its lead still leads to the filtered
page of conversations the owner started from, and "← Leads" on a lead reached through its
conversation to the searched leads."""

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
    "q": _text(200),
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


@dataclass(frozen=True)
class Trail:
    """A page's places: its own list's (``own``, sent as ``back``) and the other list's
    (``other``: the conversations list's on a lead's page, the leads list's on a transcript),
    kept by every link and form of the page."""

    own: ListPlace = ListPlace()
    other: ListPlace = ListPlace()

    def _parameters(self, *extra: str) -> str:
        given = (("back", self.own.query), ("other", self.other.query))
        parts = [name + "=" + quote(query, safe="") for name, query in given if query]
        return "&".join([*parts, *(part for part in extra if part)])

    @property
    def query(self) -> str:
        """The own list's query string (a form's ``back`` field)."""
        return self.own.query

    @property
    def other_query(self) -> str:
        """The other list's query string (a form's ``other`` field)."""
        return self.other.query

    @property
    def to_list(self) -> str:
        """What follows the own list's path in a link back to it: "?status=handoff" or ""."""
        return self.own.to_list

    @property
    def to_detail(self) -> str:
        """What follows a detail page's path in a link to it: "?back=...&other=..." or ""."""
        query = self._parameters()
        return "?" + query if query else ""

    @property
    def also(self) -> str:
        """The places added to a link that has a query already: "&back=...&other=..." or
        ""."""
        query = self._parameters()
        return "&" + query if query else ""

    def after(self, query: str) -> str:
        """A detail page's query ``query`` ("notice=Saved") with the places."""
        return "?" + self._parameters(query)

    @property
    def across(self) -> Trail:
        """The trail of the other detail page (a lead's from its conversation, or back)."""
        return Trail(self.other, self.own)


def conversation_trail(back: object, other: object = None) -> Trail:
    """A transcript's places: the conversations list's in ``back``, the leads list's in
    ``other``."""
    return Trail(conversations_place(back), leads_place(other))


def lead_trail(back: object, other: object = None) -> Trail:
    """A lead page's places: the leads list's in ``back``, the conversations list's in
    ``other``."""
    return Trail(leads_place(back), conversations_place(other))
