"""Erasure by phone over texts holding many numbers, or digits written on after the visitor's:
an owner's notes holding a call list passed PostgreSQL's 1,664 columns (one per number
compared) and the erasure failed with a 500; "98765 43210 (2 demos)" read as one longer number
kept the visitor's."""

from __future__ import annotations

import httpx

from core.db import Database
from tests.conftest import Owner
from tests.lifecycle.test_erasure_by_phone import _erase, _national, _tag
from tests.lifecycle.test_erasure_redaction import ERASED, _texts, _typed_lead


async def test_notes_holding_thousands_of_numbers_are_redacted(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    n, tag = _national(), _tag()
    lists = []
    for lead in range(3):
        others = "\n".join(f"8{lead}{i:08d}" for i in range(700))
        lists.append(others)
        notes = f"{tag} call list\n{others}\n+91 {n}"
        await _typed_lead(client, owner, email=f"caller{lead}-{tag}@example.com", notes=notes)

    response = await _erase(client, owner, phone=f"+91 {n}")
    assert response.status_code == 200, response.text
    assert response.json()["erased"]["redacted_leads"] == 3
    assert await _texts(owner_db, owner, tag) == sorted(
        f"notes: {tag} call list\n{others}\n{ERASED}" for others in lists
    )


async def test_the_visitors_number_followed_by_more_digits_is_redacted(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    """A number read with the digits after it ("98765 43210 (2 demos)": "98765 43210 (2", or
    the number twice, 20 digits) was no number of the visitor's: the notes kept it. Read from
    its start, the visitor's is taken out, and what follows stays; another country's number
    followed by digits stays whole."""
    n, tag = _national(), _tag()
    spaced = f"{n[:5]} {n[5:]}"
    notes = f"{tag}: Jo {spaced} (2 demos), +91 {spaced} 3 calls; {n} {n}; not +44 {n} 4"
    await _typed_lead(client, owner, email=f"asha-{tag}@example.com", notes=notes)

    response = await _erase(client, owner, phone=f"+91 {n}")
    assert response.status_code == 200, response.text
    assert response.json()["erased"]["redacted_leads"] == 1
    kept = f"{tag}: Jo {ERASED} (2 demos), {ERASED} 3 calls; {ERASED} {ERASED}; not +44 {n} 4"
    assert await _texts(owner_db, owner, tag) == [f"notes: {kept}"]
