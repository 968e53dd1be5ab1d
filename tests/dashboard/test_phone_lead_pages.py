"""A lead who left only a phone number on the owners' pages: listed and titled by the number
(a lead without email would have read "None" there: Jinja writes None as text), and worked with
the same form as any lead."""

from __future__ import annotations

import uuid

from api.runtime import Runtime
from tests.dashboard.conftest import WebOwner
from workspaces import lead_repository, leads


async def test_a_phone_only_lead_is_listed_titled_and_worked_by_its_number(
    runtime: Runtime, web: WebOwner
) -> None:
    workspace_id = uuid.UUID(web.workspace_id)
    number = f"+91 9{uuid.uuid4().int % 10**9:09d}"
    async with runtime.db.transaction(workspace_id=workspace_id) as session:
        lead_id = await leads.submit_from_visitor(
            session,
            workspace_id=workspace_id,
            values={"phone": number, "message": "call me after 6"},
            conversation_id=None,
            source="chat",
        )
    listing = await web.client.get(web.url("leads"))
    assert listing.status_code == 200
    assert f"{web.url(f'leads/{lead_id}')}" in listing.text
    assert f">{number}</a>" in listing.text
    page = await web.client.get(web.url(f"leads/{lead_id}"))
    assert page.status_code == 200
    assert f"<h1>{number}</h1>" in page.text
    assert "None" not in page.text.split("<h1>", 1)[1].split("</h1>", 1)[0]
    saved = await web.post(web.url(f"leads/{lead_id}"), {"status": "contacted", "notes": "rang"})
    assert saved.status_code == 303, saved.text
    async with runtime.db.transaction(workspace_id=workspace_id) as session:
        lead = await lead_repository.get_lead(session, workspace_id=workspace_id, lead_id=lead_id)
    assert lead is not None
    assert (lead.email, lead.phone, lead.status, lead.notes) == (None, number, "contacted", "rang")
