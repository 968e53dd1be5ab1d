"""Erasing a visitor who left only a phone number, by that number however it is written
(``POST .../erasures`` with ``phone``, and the dashboard's form). Before, erasure took an email
or a widget session id only (``phone`` was 422 ``validation_error``): a visitor asking by their
number could not be found, and the owner could not erase their phone-only lead the way an
address's is erased."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from core.db import Database
from core.jobs import JobQueue
from tests.conftest import Owner
from tests.lifecycle.data import first_column, widget


def _tag() -> str:
    """A mark of one test's messages, never all digits: "(12345678)" after a number would read
    as more of its digits."""
    return f"t{uuid.uuid4().hex[:8]}"


def _national() -> str:
    return f"9{uuid.uuid4().int % 10**9:09d}"


async def _erase(client: httpx.AsyncClient, owner: Owner, **body: Any) -> httpx.Response:
    return await client.post(owner.url("/erasures"), json=body, headers=owner.headers)


async def _chat(
    client: httpx.AsyncClient, owner: Owner, message: str, session: str
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/chat", json={"message": message, "session_id": session}, headers=widget(owner)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _user_messages(owner_db: Database, owner: Owner, needle: str) -> list[str]:
    """The sessions of the conversations whose visitor's words hold ``needle``."""
    return await first_column(
        owner_db,
        "SELECT c.session_id FROM messages m JOIN conversations c"
        " ON c.id = m.conversation_id WHERE m.workspace_id = :ws AND m.role = 'user'"
        " AND m.text LIKE :n ORDER BY c.session_id",
        ws=owner.workspace_id,
        n=f"%{needle}%",
    )


async def test_an_owner_erases_a_phone_only_visitor_by_their_number_written_otherwise(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database, jobs: JobQueue
) -> None:
    n, other = _national(), _national()
    tag = _tag()
    visitor, bystander = f"ravi-{tag}", f"asha-{tag}"
    await _chat(client, owner, f"Do you deliver to Pune? {tag}", visitor)
    said = await _chat(client, owner, f"call me on +91 {n[:5]} {n[5:]}", visitor)
    assert (said["intent"], said["lead_saved"]) == ("contact", True), said
    form = await client.post(
        "/api/v1/widget/leads",
        json={"phone": f"0{n}", "name": "Ravi", "message": f"RAVI-{tag}"},
        headers=widget(owner),
    )
    assert form.status_code == 202, form.text
    await _chat(client, owner, f"call me on +91 {other[:5]} {other[5:]}", bystander)
    # A lead the owner typed in with an address and the same number: the visitor's too.
    typed = await client.post(
        owner.url("/leads"),
        json={"email": f"ravi-{tag}@example.com", "phone": f"+91-{n}"},
        headers=owner.headers,
    )
    assert typed.status_code == 201, typed.text
    await jobs.drain()

    response = await _erase(client, owner, phone=f"0091 {n}")
    assert response.status_code == 200, response.text
    erased = response.json()["erased"]
    # Both of its browser's conversations (one a message each), as by email.
    assert (erased["leads"], erased["lead_submissions"], erased["conversations"]) == (2, 2, 2)

    leads = (await client.get(owner.url("/leads"), headers=owner.headers)).json()["items"]
    assert [lead["phone"] for lead in leads] == [f"+91 {other[:5]} {other[5:]}"]
    assert await _user_messages(owner_db, owner, tag) == []
    assert await _user_messages(owner_db, owner, other[5:]) == [bystander]
    audit = await client.get(
        owner.url("/audit"), params={"action": "visitor.erased"}, headers=owner.headers
    )
    [entry] = audit.json()["items"]
    assert entry["details"]["by"] == "phone"
    assert n[5:] not in json.dumps(entry)


_DEVANAGARI = str.maketrans("0123456789", "".join(chr(0x0966 + d) for d in range(10)))
_FULLWIDTH = str.maketrans("0123456789", "".join(chr(0xFF10 + d) for d in range(10)))


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        # No lead is made, but the messages keep the number: only that number counts, not a
        # longer one holding its digits.
        (["my number is {a}-{b}", "reach me on 4{n}", "my number is {n}1"], [1, 2]),
        # Typed in Devanagari or fullwidth digits (the chat reads both as a number): before,
        # the messages kept it after the erasure.
        (["मेरा नंबर {deva} है", "电话 {wide}", "my number is {n}1"], [2]),
    ],
)
async def test_erasure_by_phone_finds_the_number_typed_with_lead_capture_off(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database, typed: list[str], kept: list[int]
) -> None:
    n, tag = _national(), _tag()
    digits = {"n": n, "a": n[:5], "b": n[5:]}
    digits |= {"deva": n.translate(_DEVANAGARI), "wide": n.translate(_FULLWIDTH)}
    off = await client.patch(
        owner.url("/widget"), json={"lead_capture": "off"}, headers=owner.headers
    )
    assert off.status_code == 200, off.text
    for i, message in enumerate(typed):
        await _chat(client, owner, f"{message.format(**digits)} ({tag})", f"{i}-{tag}")
    response = await _erase(client, owner, phone=f"+91 {n}")
    assert response.status_code == 200, response.text
    assert response.json()["erased"]["conversations"] == len(typed) - len(kept)
    assert await _user_messages(owner_db, owner, tag) == [f"{i}-{tag}" for i in kept]


async def test_erasure_by_phone_needs_a_number_someone_could_call_and_one_key(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    n = _national()
    for body in (
        {"phone": "12345"},
        {"phone": "+1 234 567 890 123 456 7"},
        {"phone": n, "email": "jo@example.com"},
        {"phone": n, "session_id": "jo-session"},
    ):
        response = await _erase(client, owner, **body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["code"] == "erasure_key", body


async def test_erasure_by_phone_finds_a_taiwanese_number_written_with_its_country_code(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """Taiwan's 886 (and Bangladesh's 880) were missing from the country codes: "+886 912 345
    678" kept "0886..." as its key, so an erasure by the number as written at home ("0912 345
    678") left that lead, its conversation and the mail quoting it."""
    n, tag = f"9{uuid.uuid4().int % 10**8:08d}", _tag()
    said = await _chat(client, owner, f"call me on +886 {n[:3]} {n[3:6]} {n[6:]}", f"tw-{tag}")
    assert (said["intent"], said["lead_saved"]) == ("contact", True), said

    response = await _erase(client, owner, phone=f"0{n[:3]} {n[3:6]} {n[6:]}")
    assert response.status_code == 200, response.text
    assert (response.json()["erased"]["leads"], response.json()["erased"]["conversations"]) == (
        1,
        1,
    )


async def test_erasure_by_phone_leaves_another_countrys_number_with_the_same_digits(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    """A London visitor ("+44 7911 123456") erased; a Delhi visitor ("+91 79111 23456": the same
    national digits) stays, their lead, their form and their conversation."""
    tail, tag = f"{uuid.uuid4().int % 10**6:06d}", _tag()
    uk, india = f"+44 7911 {tail}", f"+91 7911{tail[0]} {tail[1:]}"
    said = await _chat(client, owner, f"call me on {uk}", f"uk-{tag}")
    assert said["lead_saved"] is True, said
    said = await _chat(client, owner, f"call me on {india} ({tag})", f"in-{tag}")
    assert said["lead_saved"] is True, said

    response = await _erase(client, owner, phone=uk)
    assert response.status_code == 200, response.text
    assert response.json()["erased"]["leads"] == 1
    leads = (await client.get(owner.url("/leads"), headers=owner.headers)).json()["items"]
    assert [lead["phone"] for lead in leads] == [india]
    assert await _user_messages(owner_db, owner, tag) == [f"in-{tag}"]
