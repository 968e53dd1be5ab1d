"""Whose number a later callback in the chat may replace, through the real chat path.

A conversation's later "actually call me on ... instead" replaces the number that conversation
gave its lead (``leads.call_back_from_chat``). A conversation is linked to a lead it did not make
when the visitor types an address or a number that lead already has: a lead the owner entered,
or another visitor's. Before, a callback asked in such a conversation replaced that lead's
number with the one typed: anyone who knew a lead's address could have the team call them
instead, and the owner's own entry was overwritten (a visitor's submission fills a lead's empty
fields, never replaces what is there). Now the number given elsewhere stays, and the request is
in the lead's submissions."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest

from tests.conftest import Owner
from tests.rag.test_lead_capture_never import leads_of
from tests.rag.test_phone_callback_requests import _history, _plus91, _Visitor


def _email() -> str:
    return f"ravi.{uuid.uuid4().hex[:8]}@example.com"


async def _entered_by_the_owner(
    client: httpx.AsyncClient, owner: Owner, email: str, n: str
) -> None:
    created = await client.post(
        owner.url("/leads"), json={"email": email, "phone": n}, headers=owner.headers
    )
    assert created.status_code == 201, created.text


async def _left_by_a_visitor(client: httpx.AsyncClient, owner: Owner, email: str, n: str) -> None:
    first = await _Visitor(client, owner).says(f"my email is {email}, please call me on {n}")
    assert first["lead_saved"] is True, first


@pytest.mark.parametrize("given", [_entered_by_the_owner, _left_by_a_visitor])
async def test_a_callback_in_another_conversation_keeps_the_number_given_elsewhere(
    client: httpx.AsyncClient, owner: Owner, given: Callable[..., Awaitable[None]]
) -> None:
    email, theirs, typed = _email(), _plus91(), _plus91()
    await given(client, owner, email, theirs)
    other = _Visitor(client, owner)
    linked = await other.says(f"my email is {email}")
    assert linked["lead_saved"] is True, linked
    body = await other.says(f"actually call me on {typed} instead")
    assert body["lead_saved"] is True, body
    [lead] = await leads_of(client, owner)
    assert lead["phone"] == theirs, lead
    assert typed in await _history(client, owner, lead["id"])


async def test_a_number_typed_again_elsewhere_gives_no_hold_on_the_lead(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """A lead without email is its number: another conversation typing that number is linked
    to it, and may not then move the lead to another number."""
    theirs, typed = _plus91(), _plus91()
    first = await _Visitor(client, owner).says(f"call me on {theirs}")
    assert first["lead_saved"] is True, first
    other = _Visitor(client, owner)
    await other.says(f"call me on {theirs}")
    await other.says(f"actually call me on {typed} instead")
    [lead] = await leads_of(client, owner)
    assert lead["phone"] == theirs, lead


async def test_the_conversations_own_number_is_still_replaced(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """An address first, the number after in the same conversation, then another number: the
    latest is the lead's."""
    email, old, new = _email(), _plus91(), _plus91()
    visitor = _Visitor(client, owner)
    await visitor.says(f"my email is {email}")
    await visitor.says(f"please call me on {old}")
    await visitor.says(f"actually call me on {new} instead")
    [lead] = await leads_of(client, owner)
    assert lead["phone"] == new, lead
    phones = await _history(client, owner, lead["id"])
    assert phones[:2] == [new, old], phones
