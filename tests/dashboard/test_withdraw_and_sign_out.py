"""Journeys that were only in the JSON API: withdrawing a pending invitation (Team page) and
ending every other session at once (Sessions page)."""

from __future__ import annotations

import re
import uuid

from api.runtime import Runtime
from tests.conftest import client_for, mail_token
from tests.dashboard.conftest import PASSWORD, WebOwner, csrf_of, web_login


async def test_an_owner_withdraws_a_pending_invitation(web: WebOwner) -> None:
    email = f"late-{uuid.uuid4().hex[:10]}@example.com"
    assert (
        await web.post(web.url("team/members"), {"email": email, "role": "member"})
    ).status_code == 303
    token = await mail_token(web.client, email, "invitation")
    team = await web.client.get(web.url("team"))
    found = re.search(r'data-invitation="([^"]+)">' + re.escape(email), team.text)
    assert found is not None
    withdrawn = await web.post(web.url(f"team/invitations/{found.group(1)}/withdraw"))
    assert withdrawn.status_code == 303
    after = await web.client.get(withdrawn.headers["location"])
    assert "Invitation withdrawn" in after.text
    assert email not in after.text.split("Audit log")[0]
    assert "invitation.revoked" in after.text  # the audit log
    accepted = await web.client.post(
        "/api/v1/invitations/accept", json={"token": token, "password": PASSWORD}
    )
    assert accepted.status_code in (400, 404, 410), accepted.text
    again = await web.post(web.url(f"team/invitations/{found.group(1)}/withdraw"))
    assert again.status_code == 404


async def test_end_all_other_sessions_keeps_this_browser(runtime: Runtime, web: WebOwner) -> None:
    async with client_for(runtime) as other:
        assert (await web_login(other, web.email, PASSWORD)).status_code == 303
        assert (await other.get(web.url())).status_code == 200
        page = await web.client.get("/app/sessions")
        assert "End all other sessions" in page.text
        ended = await web.client.post(
            "/app/sessions/revoke-others", data={"csrf_token": csrf_of(page.text)}
        )
        assert ended.status_code == 303
        shown = await web.client.get(ended.headers["location"])
        assert "1 other session ended" in shown.text
        assert "End all other sessions" not in shown.text  # only this browser is left
        signed_out = await other.get(web.url())
        assert signed_out.status_code == 303
        assert signed_out.headers["location"].startswith("/app/login")
    assert (await web.client.get(web.url())).status_code == 200
