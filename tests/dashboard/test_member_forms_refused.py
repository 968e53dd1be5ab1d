"""A member's role limits hold on the dashboard as on the API (docs/permissions.md): every form
of an action the table keeps from members, posted by a member's own browser with its valid
CSRF token, is refused with 403 and changes nothing; the pages they may open show nothing of
what only admins or owners read."""

from __future__ import annotations

import re
import uuid

import httpx

from api.runtime import Runtime
from tests.dashboard.conftest import SAME_ORIGIN, WebOwner, csrf_of, new_api_key, widget_key
from tests.dashboard.test_team_page import _joined, _member_row, signed_in_as


async def test_a_member_is_refused_every_form_kept_from_members(
    client: httpx.AsyncClient, runtime: Runtime, web: WebOwner
) -> None:
    mark = uuid.uuid4().hex[:10]
    hook = f"https://hooks-{mark}.example.com/in"
    saved = await web.post(web.url("settings"), {"name": f"Acme {mark}", "webhook_url": hook})
    assert saved.status_code == 303, saved.text
    secret = re.search(r"whsec_[A-Za-z0-9_-]+", (await web.client.get(web.url("settings"))).text)
    assert secret
    api_key = await new_api_key(web, f"key-{mark}")
    faq = await web.post(web.url("knowledge/faqs"), {"question": f"Q {mark}?", "answer": "A."})
    assert faq.status_code == 303, faq.text
    uploaded = await web.client.post(
        web.url("knowledge/upload"),
        data={"csrf_token": web.csrf},
        files=[("files", (f"doc-{mark}.txt", b"We open at nine.\n", "text/plain"))],
    )
    assert uploaded.status_code == 303, uploaded.text
    await runtime.jobs.drain()
    lead = await client.post(
        "/api/v1/widget/leads",
        json={"email": f"lead-{mark}@example.com", "name": "Lead"},
        headers={"X-Widget-Key": await widget_key(runtime, web)},
    )
    assert lead.status_code == 202, lead.text
    knowledge = (await web.client.get(web.url("knowledge"))).text
    leads = (await web.client.get(web.url("leads"))).text
    team = (await web.client.get(web.url("team"))).text
    ids = {
        "faq": re.search(r'data-faq="([^"]+)"', knowledge),
        "document": re.search(r'data-document="([^"]+)"', knowledge),
        "lead": re.search(r'data-lead="([^"]+)"', leads),
        "key": re.search(r'action="[^"]*/team/api-keys/([^/"]+)/revoke"', team),
    }
    assert all(ids.values()), ids
    faq_id, document_id, lead_id, key_id = (found.group(1) for found in ids.values())  # type: ignore[union-attr]
    public_key = await widget_key(runtime, web)
    person, _ = await _joined(client, web, "member")
    own_id, _ = await _member_row(web, web.email)

    forms: list[tuple[str, dict[str, str]]] = [
        ("settings", {"name": "Taken over", "webhook_url": "https://evil.example.com/x"}),
        ("settings/rotate-webhook-secret", {}),
        ("settings/webhooks/confirm", {}),
        ("settings/exports", {}),
        ("settings/retention", {"days": "1"}),
        ("settings/erasures", {"key": "email", "value": f"lead-{mark}@example.com"}),
        ("settings/delete", {"confirm": f"Acme {mark}"}),
        ("widget", {"bot_name": "Taken over"}),
        ("widget/rotate-key", {}),
        ("team/api-keys", {"name": "mine now"}),
        (f"team/api-keys/{key_id}/revoke", {}),
        ("team/members", {"email": f"friend-{mark}@example.com", "role": "owner"}),
        (f"team/members/{own_id}/role", {"role": "member"}),
        (f"team/members/{own_id}/remove", {}),
        ("knowledge/faqs", {"question": "Added?", "answer": "By a member."}),
        (f"knowledge/faqs/{faq_id}", {"question": "Changed?", "answer": "By a member."}),
        (f"knowledge/faqs/{faq_id}/delete", {}),
        ("knowledge/web", {"url": "https://example.com/", "kind": "page"}),
        (f"knowledge/documents/{document_id}/delete", {}),
        (f"knowledge/documents/{document_id}/retry", {}),
        (f"leads/{lead_id}/delete", {}),
    ]
    async with signed_in_as(runtime, person) as browser:
        csrf = csrf_of((await browser.get(web.url())).text)
        for page, data in forms:
            refused = await browser.post(web.url(page), data={"csrf_token": csrf, **data})
            assert refused.status_code == 403, (page, refused.status_code)
            assert "Not allowed" in refused.text, page
        upload = await browser.post(
            web.url("knowledge/upload"),
            data={"csrf_token": csrf},
            files=[("files", ("member.txt", b"Added by a member.\n", "text/plain"))],
        )
        assert upload.status_code == 403
        # Pages that only admins or owners read.
        for page in ("settings/webhooks", "unanswered/export"):
            closed = await browser.get(web.url(page), headers=SAME_ORIGIN)
            assert closed.status_code == 403, page
        # The pages a member reads show nothing of the webhook, the keys or the audit log.
        for page in ("", "settings", "team", "widget", "knowledge", "plan"):
            shown = await browser.get(web.url(page))
            assert shown.status_code == 200, page
            for hidden in (hook, secret.group(0), f"key-{mark}", api_key[:12]):
                assert hidden not in shown.text, (page, hidden)

    # Nothing changed.
    settings = (await web.client.get(web.url("settings"))).text
    assert f"Acme {mark}" in settings
    assert hook in settings
    assert secret.group(0) in settings
    assert await widget_key(runtime, web) == public_key
    knowledge = (await web.client.get(web.url("knowledge"))).text
    assert f"Q {mark}?" in knowledge
    assert f"doc-{mark}.txt" in knowledge
    assert "Added?" not in knowledge
    assert "member.txt" not in knowledge
    assert f"lead-{mark}@example.com" in (await web.client.get(web.url("leads"))).text
    team = (await web.client.get(web.url("team"))).text
    assert f"key-{mark}" in team
    assert "mine now" not in team
    assert f"friend-{mark}" not in team
    assert (await _member_row(web, web.email))[1] == "owner"
    assert (await _member_row(web, person.email))[1] == "member"


async def test_an_admin_is_refused_every_form_kept_for_owners(
    client: httpx.AsyncClient, runtime: Runtime, web: WebOwner
) -> None:
    """Admins run knowledge, the widget and keys; members, the workspace's data and its
    existence stay the owners' (docs/permissions.md): each such form is 403, nothing changes."""
    mark = uuid.uuid4().hex[:10]
    renamed = await web.post(web.url("settings"), {"name": f"Acme {mark}"})
    assert renamed.status_code == 303, renamed.text
    person, admin_id = await _joined(client, web, "admin")
    own_id, _ = await _member_row(web, web.email)
    forms: list[tuple[str, dict[str, str]]] = [
        ("team/members", {"email": f"friend-{mark}@example.com", "role": "owner"}),
        (f"team/members/{own_id}/role", {"role": "member"}),
        (f"team/members/{admin_id}/role", {"role": "owner"}),  # promoting oneself
        (f"team/members/{own_id}/remove", {}),
        ("settings/exports", {}),
        ("settings/retention", {"days": "1"}),
        ("settings/erasures", {"key": "email", "value": f"someone-{mark}@example.com"}),
        ("settings/delete", {"confirm": f"Acme {mark}"}),
        ("settings/webhooks/confirm", {}),
    ]
    async with signed_in_as(runtime, person) as browser:
        csrf = csrf_of((await browser.get(web.url())).text)
        for page, data in forms:
            refused = await browser.post(web.url(page), data={"csrf_token": csrf, **data})
            assert refused.status_code == 403, (page, refused.status_code)
        settings = await browser.get(web.url("settings"))
        assert "settings/exports" not in settings.text  # no export offered, none listed
    assert (await _member_row(web, web.email))[1] == "owner"
    assert (await _member_row(web, person.email))[1] == "admin"
    team = (await web.client.get(web.url("team"))).text
    assert f"friend-{mark}" not in team
    settings = (await web.client.get(web.url("settings"))).text
    assert f"Acme {mark}" in settings
    assert "data-export-status" not in settings  # no export was requested
