"""An erasure by email or phone takes the visitor's address (number) out of the NAME of the
forms and leads it keeps, as it does out of their messages: a visitor who typed their address
(number) into the form's name field, the form filed under another contact, or an owner who
named a lead by it. Before, the name was read by no erasure: the address (number) outlived
it in the lead, its submission and the owners' "New lead" mail quoting the name."""

from __future__ import annotations

import httpx
import pytest

from api.runtime import Runtime
from core.db import Database
from core.jobs import JobQueue
from tests.conftest import Owner
from tests.lifecycle.data import first_column
from tests.lifecycle.test_erasure_by_phone import _erase, _national, _tag
from tests.lifecycle.test_erasure_form_message import _form
from tests.lifecycle.test_erasure_redaction import ERASED
from tests.lifecycle.test_erasure_redaction_mail import _mails_quoting
from workspaces import notifications


async def _names(owner_db: Database, owner: Owner, tag: str) -> list[str]:
    """The names of the workspace's leads and submissions that hold ``tag`` (sorted here)."""
    names = await first_column(
        owner_db,
        "SELECT 'lead: ' || name FROM leads WHERE workspace_id = :ws AND name LIKE :n"
        " UNION ALL SELECT 'submission: ' || name FROM lead_submissions"
        " WHERE workspace_id = :ws AND name LIKE :n",
        ws=owner.workspace_id,
        n=f"%{tag}%",
    )
    return sorted(names)


@pytest.mark.parametrize("by", ["email", "phone"])
async def test_a_kept_forms_and_leads_name_loses_the_visitors_address_or_number(
    by: str,
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    jobs: JobQueue,
    runtime: Runtime,
) -> None:
    n, tag = _national(), _tag()
    jo = f"jo-{tag}@example.com"
    named, needle = (jo, jo) if by == "email" else (f"+91 {n}", n)
    # Filed under another contact (a number, an address): kept, its name rewritten.
    theirs = {"phone": f"+91 {_national()}"} if by == "email" else {"email": f"asha-{tag}@x.org"}
    await _form(client, owner, **theirs, name=f"{named} ({tag})", message=f"a demo ({tag})")
    await notifications.settle_kicks()
    await jobs.drain()
    assert await _mails_quoting(runtime, owner_db, owner, needle) >= 1  # "New lead", its name

    response = await _erase(client, owner, **{by: named})
    assert response.status_code == 200, response.text
    assert await _names(owner_db, owner, tag) == [
        f"lead: {ERASED} ({tag})",
        f"submission: {ERASED} ({tag})",
    ]
    erased = response.json()["erased"]
    assert (erased["leads"], erased["lead_submissions"]) == (0, 0), erased
    assert (erased["redacted_leads"], erased["redacted_lead_submissions"]) == (1, 1), erased
    assert erased["notification_mails"] >= 1, erased
    await jobs.drain()
    assert await _mails_quoting(runtime, owner_db, owner, needle) == 0


@pytest.mark.parametrize("at", ["end", "start"])
async def test_a_full_length_name_holding_a_short_address_is_still_erased(
    at: str, client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    """A name of the most characters a form takes (200) holding a short address ("q@x.io", 6
    characters: fewer than "[erased]"): redacted, it is cut to fit, the mark kept whole.
    Before, the name grew past its column's 200 characters and the erasure failed (500): the
    visitor could not be erased at all."""
    tag, jo = _tag(), "q@x.io"
    filler = "x" * (200 - len(tag) - len(jo) - 2)
    name = f"{tag} {filler} {jo}" if at == "end" else f"{jo} {tag} {filler}"
    assert len(name) == 200
    await _form(client, owner, phone=f"+91 {_national()}", name=name, message=f"hi ({tag})")

    response = await _erase(client, owner, email=jo)
    assert response.status_code == 200, response.text
    names = await _names(owner_db, owner, tag)
    assert len(names) == 2, names
    for kind, kept in zip(("lead", "submission"), names, strict=True):
        kept = kept.removeprefix(f"{kind}: ")
        assert jo not in kept, kept
        assert len(kept) <= 200, kept
        assert kept.endswith(f" {ERASED}") if at == "end" else kept.startswith(f"{ERASED} {tag}")
    erased = response.json()["erased"]
    assert (erased["redacted_leads"], erased["redacted_lead_submissions"]) == (1, 1), erased
