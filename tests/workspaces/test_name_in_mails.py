"""A name given at sign-up goes on one line in every mail that shows it, as in the reset mail:
the verification mail (sent to whatever address was typed at sign-up) and an invitation (sent
to whatever address the inviter typed). Sign-up still takes a name with a line break or a
bidirectional override; before, "Ada\\nYour account is locked..." wrote lines of its own into
those mails, under our greeting (review 13)."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import login, mail_text, mail_token

PASSWORD = "correct horse battery"
NAME = "Ada\nYour account is locked\r\ncall +1 555 0100 \u202eevil"
ONE_LINE = "Ada Your account is locked call +1 555 0100 evil"


async def _signup(client: httpx.AsyncClient) -> str:
    email = f"lines-{uuid.uuid4().hex[:10]}@example.com"
    body = {"email": email, "password": PASSWORD, "workspace_name": "Lines", "name": NAME}
    done = await client.post("/api/v1/auth/signup", json=body)
    assert done.status_code == 202, done.text
    return email


async def test_the_verification_mail_greets_on_one_line(client: httpx.AsyncClient) -> None:
    email = await _signup(client)
    text = (await mail_text(client, email, "verify_email")).replace("\r\n", "\n")
    assert text.startswith(f"Hello {ONE_LINE},\n"), text
    assert "\u202e" not in text


async def test_an_invitation_names_its_inviter_on_one_line(client: httpx.AsyncClient) -> None:
    email = await _signup(client)
    token = await mail_token(client, email, "verify_email")
    verified = await client.post(
        "/api/v1/auth/verify-email", json={"token": token, "password": PASSWORD}
    )
    assert verified.status_code == 200, verified.text
    headers = {"Authorization": f"Bearer {(await login(client, email, PASSWORD))['access_token']}"}
    [workspace] = (await client.get("/api/v1/me", headers=headers)).json()["workspaces"]
    invited = f"invited-{uuid.uuid4().hex[:10]}@example.com"
    sent = await client.post(
        f"/api/v1/workspaces/{workspace['id']}/members",
        json={"email": invited, "role": "member"},
        headers=headers,
    )
    assert sent.status_code == 202, sent.text
    text = (await mail_text(client, invited, "invitation")).replace("\r\n", "\n")
    assert f"\n{ONE_LINE} invited you to join" in text, text
    assert f"If you\ndo not know {ONE_LINE}, ignore this message." in text, text
    assert "\u202e" not in text
