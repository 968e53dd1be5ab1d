"""The password-reset mail greets the owner by name when the account has one (given at sign-up
or on the dashboard's account page), on one line and escaped in the HTML part; read from a
real SMTP server (aiosmtpd)."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from api.runtime import Runtime
from core.db import Database
from tests.conftest import client_for
from tests.dashboard.conftest import web_signup
from tests.fakes.smtp import Received, SmtpServer

PASSWORD = "correct horse battery"


async def _reset_mail(runtime: Runtime, smtp: SmtpServer, email: str) -> Received:
    async with client_for(runtime) as client:
        asked = await client.post("/api/v1/auth/password-reset", json={"email": email})
        assert asked.status_code == 202, asked.text
    await runtime.mailer.settle()
    await runtime.jobs.drain()
    found = [m for m in smtp.to(email) if "Reset your" in str(m.message["Subject"])]
    assert len(found) == 1, [str(m.message["Subject"]) for m in smtp.to(email)]
    return found[0]


async def _api_signup(runtime: Runtime, name: str | None) -> str:
    email = f"greet-{uuid.uuid4().hex[:10]}@example.com"
    body = {"email": email, "password": PASSWORD, "workspace_name": "Greetings"}
    async with client_for(runtime) as client:
        done = await client.post("/api/v1/auth/signup", json={**body, "name": name})
        assert done.status_code == 202, done.text
    return email


async def test_the_reset_mail_greets_by_the_name_given_at_sign_up(
    mailing: Runtime, smtp: SmtpServer
) -> None:
    email = await _api_signup(mailing, " Ada Lovelace <b> ")
    mail = await _reset_mail(mailing, smtp, email)
    assert "Hello Ada Lovelace <b>,\n" in mail.text.replace("\r\n", "\n")
    assert mail.html is not None
    assert "Hello Ada Lovelace &lt;b&gt;," in mail.html


async def test_a_name_stored_on_two_lines_greets_on_one(
    mailing: Runtime, smtp: SmtpServer, owner_db: Database
) -> None:
    """Sign-up refuses "Ada\nLovelace" now (422 ``invalid_text``); a row stored before it did
    is kept as it is, and the mail puts it on the greeting's one line."""
    email = await _api_signup(mailing, "Ada")
    async with owner_db.transaction() as session:
        await session.execute(
            text("UPDATE users SET name = :name WHERE email = :email"),
            {"name": "Ada\nLovelace <b>", "email": email},
        )
    mail = await _reset_mail(mailing, smtp, email)
    assert "Hello Ada Lovelace <b>,\n" in mail.text.replace("\r\n", "\n")
    assert mail.html is not None
    assert "Hello Ada Lovelace &lt;b&gt;," in mail.html


async def test_without_a_name_the_reset_mail_says_hello(mailing: Runtime, smtp: SmtpServer) -> None:
    email = await _api_signup(mailing, None)
    mail = await _reset_mail(mailing, smtp, email)
    assert mail.text.replace("\r\n", "\n").startswith("Hello,\n")


async def test_a_name_set_on_the_account_page_greets_in_the_next_reset_mail(
    mailing: Runtime, smtp: SmtpServer
) -> None:
    async with client_for(mailing) as browser:
        web = await web_signup(browser, verify=False)
        saved = await web.post("/app/account/name", {"name": "Grace Hopper"})
        assert saved.status_code == 303, saved.text
    mail = await _reset_mail(mailing, smtp, web.email)
    assert mail.text.replace("\r\n", "\n").startswith("Hello Grace Hopper,\n")
