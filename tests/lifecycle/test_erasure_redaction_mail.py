"""An erasure by email or phone that keeps another person's lead naming the visitor ("my
colleague jo@example.com wants a demo too", its message redacted) must not keep the owners'
"New lead" mail quoting that message: the outbox row (sent or not) and the file outbox's copy
held the visitor's address after the lead itself had lost it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from api.runtime import Runtime
from core.db import Database
from core.jobs import JobQueue
from tests.conftest import Owner
from tests.lifecycle.data import first_column
from tests.lifecycle.test_erasure_by_phone import _erase, _national, _tag
from tests.lifecycle.test_erasure_form_message import _form
from workspaces import notifications


async def _mails_quoting(runtime: Runtime, owner_db: Database, owner: Owner, needle: str) -> int:
    """How many of the workspace's mails (outbox rows, file outbox copies) quote ``needle``."""
    rows = await first_column(
        owner_db,
        "SELECT id::text FROM mail_outbox WHERE about_workspace = :ws AND text_body LIKE :n",
        ws=owner.workspace_id,
        n=f"%{needle}%",
    )
    outbox = Path(runtime.settings.data_dir) / "outbox"
    files = [p for p in outbox.glob("*.eml") if needle.encode() in p.read_bytes()]
    return len(rows) + len(files)


@pytest.mark.parametrize("by", ["email", "phone"])
async def test_the_new_lead_mail_quoting_a_kept_leads_message_goes(
    by: str,
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    jobs: JobQueue,
    runtime: Runtime,
) -> None:
    n, tag = _national(), _tag()
    jo = f"jo-{tag}@example.com"
    named, key = (jo, {"email": jo}) if by == "email" else (n, {"phone": f"+91 {n}"})
    asha = f"asha-{tag}@example.com"
    # Filed under Asha's own address (number): her lead, kept.
    theirs = {"email": asha} if by == "email" else {"email": asha, "phone": f"+91 {_national()}"}
    await _form(client, owner, **theirs, message=f"my colleague {named} wants a demo too")
    await notifications.settle_kicks()
    await jobs.drain()
    assert await _mails_quoting(runtime, owner_db, owner, named) >= 1  # the "New lead" mail

    response = await _erase(client, owner, **key)
    assert response.status_code == 200, response.text
    erased = response.json()["erased"]
    assert (erased["leads"], erased["redacted_leads"]) == (0, 1), erased
    assert erased["notification_mails"] >= 1, erased
    await jobs.drain()
    assert await _mails_quoting(runtime, owner_db, owner, named) == 0
    # Asha's lead stays, named by her address.
    leads = await client.get(owner.url("/leads"), headers=owner.headers)
    assert [lead["email"] for lead in leads.json()["items"]] == [asha]
