"""An erasure by phone compares every number the texts it found hold with the visitor's in one
statement, a column per number: the owner's notes holding a call list (hundreds of numbers, the
visitor's among them) passed PostgreSQL's 1,664 columns and the erasure failed with a 500."""

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
