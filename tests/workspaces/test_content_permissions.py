"""FAQs and leads: who may change them, and the audit entry every change leaves.

FAQs are answered verbatim to visitors (links included), so writing them is an admin's job, like
documents; deleting a lead destroys a customer's contact. Members keep reading both and working
leads (status, notes); every change is in the audit log, without the lead's personal data.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from core.config import Settings
from tests.conftest import Owner, join, make_settings, signup


@pytest.fixture
def settings() -> Settings:
    """Room for several members, so only permissions (not the plan's quota) decide."""
    return make_settings(default_plan="unlimited")


async def _join(client: httpx.AsyncClient, owner: Owner, role: str) -> Owner:
    person = await signup(client, f"{role.title()} Person")
    await join(client, owner, person, role)
    return person


async def _faq(
    client: httpx.AsyncClient, owner: Owner, question: str, as_: Owner | None = None
) -> dict[str, Any]:
    created = await client.post(
        owner.url("/faqs"),
        json={"question": question, "answer": "Mon-Fri 9 to 5."},
        headers=(as_ or owner).headers,
    )
    assert created.status_code == 201, created.text
    return created.json()  # type: ignore[no-any-return]


async def _lead(client: httpx.AsyncClient, owner: Owner, email: str) -> dict[str, Any]:
    created = await client.post(
        owner.url("/leads"), json={"email": email, "name": "Jane Customer"}, headers=owner.headers
    )
    assert created.status_code == 201, created.text
    return created.json()  # type: ignore[no-any-return]


async def _audit(client: httpx.AsyncClient, owner: Owner) -> list[dict[str, Any]]:
    response = await client.get(owner.url("/audit"), headers=owner.headers)
    assert response.status_code == 200
    return response.json()["items"]  # type: ignore[no-any-return]


async def test_members_cannot_write_faqs_or_delete_leads_but_can_read_them(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    member = await _join(client, owner, "member")
    faq = await _faq(client, owner, "When are you open?")
    lead = await _lead(client, owner, "jane.member-test@example.com")
    h = member.headers
    attempts = [
        await client.post(
            owner.url("/faqs"),
            json={"question": "Refunds?", "answer": "Wire money to [us](https://evil.example)"},
            headers=h,
        ),
        await client.patch(
            owner.url(f"/faqs/{faq['id']}"),
            json={"answer": "Closed. See https://evil.example"},
            headers=h,
        ),
        await client.delete(owner.url(f"/faqs/{faq['id']}"), headers=h),
        await client.delete(owner.url(f"/leads/{lead['id']}"), headers=h),
    ]
    for response in attempts:
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "insufficient_role"
    # Nothing changed.
    kept = await client.get(owner.url(f"/faqs/{faq['id']}"), headers=owner.headers)
    assert kept.json()["answer"] == "Mon-Fri 9 to 5."
    faqs = await client.get(owner.url("/faqs"), headers=owner.headers)
    assert faqs.json()["total"] == 1
    assert (await client.get(owner.url(f"/leads/{lead['id']}"), headers=h)).status_code == 200
    # Reading stays open to members.
    assert (await client.get(owner.url("/faqs"), headers=h)).status_code == 200
    assert (await client.get(owner.url(f"/faqs/{faq['id']}"), headers=h)).status_code == 200
    assert (await client.get(owner.url("/leads"), headers=h)).status_code == 200
    by_member = [
        i["action"] for i in await _audit(client, owner) if i["actor_user_id"] == member.user_id
    ]
    assert by_member == ["member.joined"]  # refusals change nothing, so they log nothing


async def test_faq_changes_are_audited_with_the_actor(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    admin = await _join(client, owner, "admin")
    faq = await _faq(client, owner, "Do you ship abroad?", as_=admin)
    key = await client.post(owner.url("/api-keys"), json={"name": "cms"}, headers=owner.headers)
    key_headers = {"Authorization": f"Bearer {key.json()['key']}"}
    updated = await client.patch(
        owner.url(f"/faqs/{faq['id']}"), json={"answer": "Yes, to the EU."}, headers=key_headers
    )
    assert updated.status_code == 200
    deleted = await client.delete(owner.url(f"/faqs/{faq['id']}"), headers=admin.headers)
    assert deleted.status_code == 204
    entries = {i["action"]: i for i in await _audit(client, owner)}
    created = entries["faq.created"]
    assert created["actor_user_id"] == admin.user_id
    assert created["target_type"] == "faq"
    assert created["target_id"] == faq["id"]
    # Never the text: a question is often a visitor's words, and the log is append-only.
    assert created["details"] == {"alt_questions": 0, "enabled": True}
    changed = entries["faq.updated"]
    assert changed["actor_api_key_id"] == key.json()["id"]
    assert changed["target_id"] == faq["id"]
    assert changed["details"] == {"fields": ["answer"]}
    removed = entries["faq.deleted"]
    assert removed["actor_user_id"] == admin.user_id
    assert removed["target_id"] == faq["id"]
    assert removed["details"] == {"alt_questions": 0}


async def test_lead_changes_and_exports_are_audited_without_personal_data(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    member = await _join(client, owner, "member")
    email = "jane.audit-test@example.com"
    lead = await _lead(client, owner, email)
    worked = await client.patch(
        owner.url(f"/leads/{lead['id']}"),
        json={"status": "contacted", "notes": "Called Jane at +1 555 0100 (Quixotic Walrus)"},
        headers=member.headers,
    )
    assert worked.status_code == 200  # members work leads
    exported = await client.get(owner.url("/leads/export"), headers=member.headers)
    assert exported.status_code == 200
    deleted = await client.delete(owner.url(f"/leads/{lead['id']}"), headers=owner.headers)
    assert deleted.status_code == 204
    items = await _audit(client, owner)
    entries = {i["action"]: i for i in items}
    assert entries["lead.updated"]["actor_user_id"] == member.user_id
    assert entries["lead.updated"]["target_id"] == lead["id"]
    assert entries["lead.updated"]["details"] == {"fields": ["notes", "status"]}
    assert entries["leads.exported"]["actor_user_id"] == member.user_id
    assert entries["lead.deleted"]["actor_user_id"] == owner.user_id
    assert entries["lead.deleted"]["target_id"] == lead["id"]
    text = str(items)
    assert email not in text
    assert "Jane" not in text
    # Text that cannot occur in ids, timestamps or action names (hex, digits, dots).
    assert "Quixotic Walrus" not in text


async def test_a_refused_or_missing_target_leaves_no_audit_entry(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    assert (
        await client.delete(owner.url(f"/faqs/{missing}"), headers=owner.headers)
    ).status_code == 404
    assert (
        await client.delete(owner.url(f"/leads/{missing}"), headers=owner.headers)
    ).status_code == 404
    assert (
        await client.patch(
            owner.url(f"/leads/{missing}"), json={"status": "won"}, headers=owner.headers
        )
    ).status_code == 404
    assert await _audit(client, owner) == []
