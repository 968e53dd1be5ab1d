"""An erasure by email or phone takes the visitor's address (number) out of the records it
keeps: the messages of the forms and leads filed under another address (number) that merely
name the visitor's ("my colleague jo@example.com wants a demo too"), and the owner's notes on
any lead of the workspace. Each occurrence, read as the erasure's scan reads it (an address
in any case, a number however written), becomes ``[erased]``; the rest of the text stays,
and so do the near-misses (``ajo@...``, ``...com.au``, a longer number).

Before, the form and the lead stayed (rightly) with the visitor's address in their message,
and no erasure read a lead's notes: the visitor's address or number outlived their erasure."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest

from core.db import Database
from lifecycle import erasure
from tests.conftest import Owner
from tests.lifecycle.data import first_column
from tests.lifecycle.test_erasure_by_phone import _erase, _national, _tag
from tests.lifecycle.test_erasure_form_message import _form
from tests.lifecycle.test_erasure_session_race import _Stop

ERASED = "[erased]"


async def _texts(owner_db: Database, owner: Owner, tag: str) -> list[str]:
    """The messages and notes of the workspace's leads, and the messages of its submissions,
    that hold ``tag``, each marked with the kind of text it is (sorted here: the database's
    collation may order punctuation otherwise)."""
    texts = await first_column(
        owner_db,
        "SELECT 'lead: ' || message FROM leads WHERE workspace_id = :ws AND message LIKE :n"
        " UNION ALL SELECT 'notes: ' || notes FROM leads"
        " WHERE workspace_id = :ws AND notes LIKE :n"
        " UNION ALL SELECT 'submission: ' || message FROM lead_submissions"
        " WHERE workspace_id = :ws AND message LIKE :n",
        ws=owner.workspace_id,
        n=f"%{tag}%",
    )
    return sorted(texts)


async def _typed_lead(client: httpx.AsyncClient, owner: Owner, **body: str) -> None:
    typed = await client.post(owner.url("/leads"), json=body, headers=owner.headers)
    assert typed.status_code == 201, typed.text


async def _audit_counts(client: httpx.AsyncClient, owner: Owner) -> dict[str, int]:
    audit = await client.get(
        owner.url("/audit"), params={"action": "visitor.erased"}, headers=owner.headers
    )
    [entry] = audit.json()["items"]
    counts: dict[str, int] = entry["details"]["erased"]
    return counts


async def _one_form_kept(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database, tag: str, kept: str, **key: str
) -> None:
    """Erasing the visitor named by ``key`` deleted nothing and left the one form holding
    ``tag``, and its lead, with the message ``kept``."""
    response = await _erase(client, owner, **key)
    assert response.status_code == 200, response.text
    assert await _texts(owner_db, owner, tag) == [f"lead: {kept}", f"submission: {kept}"]
    erased = response.json()["erased"]
    assert (erased["leads"], erased["lead_submissions"]) == (0, 0), erased
    assert (erased["redacted_leads"], erased["redacted_lead_submissions"]) == (1, 1), erased


async def test_a_kept_forms_and_leads_message_loses_the_visitors_address(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    tag = _tag()
    jo = f"jo-{tag}@example.com"
    # The address in capitals, then longer ones that hold it (others'), then it again.
    said = "my colleague {0} wants a demo too; cc a{1}, {1}.au and <{2}>.".format
    await _form(client, owner, email=f"asha-{tag}@example.com", message=said(jo.upper(), jo, jo))
    kept = said(ERASED, jo, ERASED)
    await _one_form_kept(client, owner, owner_db, tag, kept, email=jo)
    counts = await _audit_counts(client, owner)
    assert (counts["redacted_leads"], counts["redacted_lead_submissions"]) == (1, 1)


async def test_a_kept_forms_message_loses_the_visitors_number_however_written(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    n, tag = _national(), _tag()
    devanagari = n.translate(str.maketrans("0123456789", "०१२३४५६७८९"))
    message = f"ring him on 0{n}, +91 {n[:5]} {n[5:]} or {devanagari} ({tag}), not 4{n} or +44 {n}"
    await _form(client, owner, phone=f"+91 {_national()}", message=message)

    kept = f"ring him on {ERASED}, {ERASED} or {ERASED} ({tag}), not 4{n} or +44 {n}"
    await _one_form_kept(client, owner, owner_db, tag, kept, phone=f"+91 {n}")


@pytest.mark.parametrize("by", ["email", "phone"])
async def test_the_owners_notes_on_every_lead_lose_the_visitors_address_or_number(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database, by: str
) -> None:
    """Notes are the owner's own, on leads no erasure otherwise touches: the visitor's lead
    goes whole, Asha's and Ravi's stay with the rest of their notes."""
    n, tag = _national(), _tag()
    jo = f"jo-{tag}@example.com"
    key = {"email": jo} if by == "email" else {"phone": f"0{n}"}
    await _typed_lead(client, owner, email=jo, phone=f"+91 {n}", notes=f"jo's own {tag}")
    await _typed_lead(
        client,
        owner,
        email=f"asha-{tag}@example.com",
        notes=f"{tag}: knows Jo ({jo.title()}, +91 {n}),\nnot a{jo} or 4{n}",
    )
    await _typed_lead(client, owner, phone=f"+91 {_national()}", notes=f"{tag} untouched")

    response = await _erase(client, owner, **key)
    assert response.status_code == 200, response.text
    jo_left, n_left = (ERASED, f"+91 {n}") if by == "email" else (jo.title(), ERASED)
    assert await _texts(owner_db, owner, tag) == sorted(
        [
            f"notes: {tag} untouched",
            f"notes: {tag}: knows Jo ({jo_left}, {n_left}),\nnot a{jo} or 4{n}",
        ]
    )
    erased = response.json()["erased"]
    assert (erased["leads"], erased["redacted_leads"]) == (1, 1), erased
    assert tag not in json.dumps(await _audit_counts(client, owner))


async def test_nothing_to_redact_counts_zero(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    """An erasure by session id reads no address: its counts say none was redacted."""
    response = await _erase(client, owner, session_id=f"nobody-{uuid.uuid4().hex[:8]}")
    assert response.status_code == 200, response.text
    erased = response.json()["erased"]
    assert (erased["redacted_leads"], erased["redacted_lead_submissions"]) == (0, 0), erased


async def test_a_form_sent_between_the_scan_and_the_locks_waits_for_the_erasure(
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The erasure read the forms' messages before it locked anything: a form sent meanwhile
    with the address in its message (its email field empty) escaped it, its lead and
    submission kept with the address. Then the erasure read them again once locked; now such a
    form waits for the erasure to commit (``test_erasure_form_lock``): a new form, after it."""
    tag = _tag()
    jo = f"jo-{tag}@example.com"
    await _form(client, owner, email=jo, message=f"first form {tag}")
    stop = _Stop()
    held = stop.before(erasure.repo.lock_conversations)
    monkeypatch.setattr(erasure.repo, "lock_conversations", held)
    erasing = asyncio.create_task(_erase(client, owner, email=jo))
    second = await stop.meanwhile(
        owner_db,
        lambda: _form(client, owner, phone=f"+91 {_national()}", message=f"me again: {jo}"),
    )
    response = await erasing
    await second
    assert response.status_code == 200, response.text
    erased = response.json()["erased"]
    assert (erased["leads"], erased["lead_submissions"]) == (1, 1), erased
    again = f"me again: {jo}"
    assert await _texts(owner_db, owner, tag) == [f"lead: {again}", f"submission: {again}"]


async def test_the_schema_names_the_redacted_counts(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    erased = spec["components"]["schemas"]["ErasureOut"]["properties"]["erased"]
    for kind in ("redacted_leads", "redacted_lead_submissions", "[erased]"):
        assert kind in erased["description"], erased
