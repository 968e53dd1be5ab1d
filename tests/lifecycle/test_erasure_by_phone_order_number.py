"""Erasure by phone, now that an order's number beside a call asked on another ("my order
5779079277 is late, please call me on +91 98765 43210") is no candidate for the visitor's
number (``rag.chat.contact_details.others_blanked``): the erasure still reads every number typed
(``phones_in``), so it finds the visitor by the number they asked to be called on, and still
finds one who typed a bare ten digits as theirs ("my number 5779079277")."""

from __future__ import annotations

import uuid

import httpx

from core.db import Database
from tests.conftest import Owner
from tests.lifecycle.test_erasure_by_phone import _chat, _erase, _tag, _user_messages


def _order() -> str:
    """Ten digits starting with 5: never the "+91 9..." numbers below, nor inside one."""
    return f"5{uuid.uuid4().int % 10**9:09d}"


async def test_erasure_by_the_number_called_on_finds_the_visitor_who_named_an_order(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    n, order, tag = f"9{uuid.uuid4().int % 10**9:09d}", _order(), _tag()
    phone = f"+91 {n[:5]} {n[5:]}"
    message = f"my order {order} is late, please call me on {phone}"
    said = await _chat(client, owner, f"{message} ({tag})", f"o-{tag}")
    assert said["lead_saved"] is True, said
    leads = (await client.get(owner.url("/leads"), headers=owner.headers)).json()["items"]
    assert [lead["phone"] for lead in leads] == [phone]

    response = await _erase(client, owner, phone=f"0{n}")
    assert response.status_code == 200, response.text
    erased = response.json()["erased"]
    assert (erased["leads"], erased["conversations"]) == (1, 1), erased
    assert await _user_messages(owner_db, owner, tag) == []


async def test_erasure_by_a_bare_number_still_finds_it_typed_as_theirs(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    number, tag = _order(), _tag()
    await _chat(client, owner, f"my number {number} ({tag})", f"n-{tag}")
    response = await _erase(client, owner, phone=number)
    assert response.status_code == 200, response.text
    assert response.json()["erased"]["conversations"] == 1, response.json()
    assert await _user_messages(owner_db, owner, tag) == []
