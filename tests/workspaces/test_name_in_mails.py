"""A name stored with a line break or a bidirectional override goes on one line in every mail
that shows it, as in the reset mail: the verification mail (sent to whatever address was typed
at sign-up) and an invitation (sent to whatever address the inviter typed). Sign-up refuses
such a name now (422 ``invalid_text``, ``test_names_everywhere``); rows stored before it did are
kept as they are, so these tests write one directly. Before review 13, "Ada\\nYour account is
locked..." wrote lines of its own into those mails, under our greeting."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import text as sql

from core.db import Database
from tests.conftest import login, mail_text, mail_token

PASSWORD = "correct horse battery"
NAME = "Ada\nYour account is locked\r\ncall +1 555 0100 \u202eevil"
ONE_LINE = "Ada Your account is locked call +1 555 0100 evil"


async def _signup(client: httpx.AsyncClient, owner_db: Database) -> str:
    """A new account whose stored name is ``NAME`` (as sign-up stored it before it refused
    one); a verification mail sent after that (the link asked for again)."""
    email = f"lines-{uuid.uuid4().hex[:10]}@example.com"
    body = {"email": email, "password": PASSWORD, "workspace_name": "Lines", "name": "Ada"}
    done = await client.post("/api/v1/auth/signup", json=body)
    assert done.status_code == 202, done.text
    async with owner_db.transaction() as session:
        await session.execute(
            sql("UPDATE users SET name = :name WHERE email = :email"),
            {"name": NAME, "email": email},
        )
    headers = {"Authorization": f"Bearer {(await login(client, email, PASSWORD))['access_token']}"}
    again = await client.post("/api/v1/auth/verify-email/resend", headers=headers)
    assert again.status_code == 202, again.text
    return email


async def test_the_verification_mail_greets_on_one_line(
    client: httpx.AsyncClient, owner_db: Database
) -> None:
    email = await _signup(client, owner_db)
    text = (await mail_text(client, email, "verify_email")).replace("\r\n", "\n")
    assert text.startswith(f"Hello {ONE_LINE},\n"), text
    assert "\u202e" not in text


async def test_an_invitation_names_its_inviter_on_one_line(
    client: httpx.AsyncClient, owner_db: Database
) -> None:
    email = await _signup(client, owner_db)
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
    # Quoted beside the sender's address (``test_invitation_mail_links``).
    assert f'\n"{ONE_LINE}" ({email}) invited you to join' in text, text
    assert f"If you\ndo not know {email}, ignore this message." in text, text
    assert "\u202e" not in text
